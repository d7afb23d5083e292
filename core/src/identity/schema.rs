//! The tables of `identity` (the device and its session). Each constant is one step of `store::migrations`, in the
//! order listed there; a step a phone has run is never edited, only followed by another.

/// `identity_device`: the one bound device (its key, sealed when a software key) and its signature counter.
/// `identity_session`: the one access token, sealed, with its expiry.
pub const DEVICE_AND_SESSION: &str = "CREATE TABLE identity_device (
                  slot          INTEGER PRIMARY KEY CHECK (slot = 1),
                  device_id     TEXT NOT NULL,
                  user_id       TEXT NOT NULL,
                  display_name  TEXT NOT NULL,
                  assurance     TEXT NOT NULL,
                  public_key    BLOB NOT NULL,
                  software_key  BLOB,
                  counter       INTEGER NOT NULL DEFAULT 0,
                  status        TEXT NOT NULL DEFAULT 'active',
                  bound_at_ms   INTEGER NOT NULL
              ) STRICT;
              CREATE TABLE identity_session (
                  slot          INTEGER PRIMARY KEY CHECK (slot = 1),
                  token         BLOB NOT NULL,
                  expires_at_ms INTEGER NOT NULL
              ) STRICT;";

/// `identity_binding_intent`: a binding about to be sent, written before the request
/// leaves: the exact request, its idempotency key and (sealed) the software key it
/// signs for. A call cancelled mid-way resumes from here with the same key, so the
/// server registers one device, never two; accepting the binding deletes the row.
pub const BINDING_INTENT: &str = "CREATE TABLE identity_binding_intent (
                  slot            INTEGER PRIMARY KEY CHECK (slot = 1),
                  bid             TEXT NOT NULL,
                  idempotency_key TEXT NOT NULL,
                  request         TEXT NOT NULL,
                  software_key    BLOB,
                  created_at_ms   INTEGER NOT NULL
              ) STRICT;";
