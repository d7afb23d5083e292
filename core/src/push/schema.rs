//! The tables of `push`. Each constant is one step of `store::migrations`, in the
//! order listed there; a step a phone has run is never edited, only followed by another.

/// `push_subscription`: this device's Web Push keys (the P-256 private scalar and the
/// auth secret sealed; the public key clear, it is sent to the server anyway), what it
/// last registered (the OS token or endpoint sealed: it addresses this phone), the
/// server's push public key that signs every message, and whose messages these are.
/// `push_inbox`: one row per message shown to the person (the signed message sealed;
/// kind, collapse key, sequence, expiry and read state clear, for badges and
/// queries); `read_pending = 1` while a read mark made here has not reached the server.
/// `push_seen`: the tombstone of every message id taken in (inbox, expired or
/// collapsed), kept at least 30 days so a repeat is dropped; `push_state` keeps the
/// highest sequence number below which nothing is missing (`contiguous_seq`; repeats at
/// or below `floor_seq` are dropped even after their tombstone is pruned), the highest
/// known to exist, whether a sync is due, and the tapped route waiting for the UI.
/// `push_quiet`: quiet hours per kind, in minutes of the Taipei day.
pub const SUBSCRIPTION_INBOX: &str = "CREATE TABLE push_subscription (
                  slot               INTEGER PRIMARY KEY CHECK (slot = 1),
                  private_key        BLOB NOT NULL,
                  public_key         BLOB NOT NULL,
                  auth_secret        BLOB NOT NULL,
                  platform           TEXT,
                  endpoint           BLOB,
                  server_key         BLOB,
                  user_id            TEXT,
                  registered_at_ms   INTEGER,
                  reverify_after_ms  INTEGER
              ) STRICT;
              CREATE TABLE push_inbox (
                  id            TEXT PRIMARY KEY,
                  seq           INTEGER NOT NULL,
                  kind          TEXT NOT NULL,
                  collapse_key  TEXT,
                  urgency       TEXT NOT NULL,
                  created_ms    INTEGER NOT NULL,
                  expires_ms    INTEGER NOT NULL,
                  signed        BLOB NOT NULL,
                  read          INTEGER NOT NULL DEFAULT 0,
                  read_pending  INTEGER NOT NULL DEFAULT 0,
                  received_ms   INTEGER NOT NULL
              ) STRICT;
              CREATE INDEX push_inbox_seq ON push_inbox (seq);
              CREATE INDEX push_inbox_unread ON push_inbox (read, kind, expires_ms);
              CREATE INDEX push_inbox_collapse ON push_inbox (kind, collapse_key) WHERE collapse_key IS NOT NULL;
              CREATE TABLE push_seen (
                  id       TEXT PRIMARY KEY,
                  seq      INTEGER NOT NULL,
                  seen_ms  INTEGER NOT NULL
              ) STRICT;
              CREATE INDEX push_seen_seq ON push_seen (seq);
              CREATE TABLE push_state (
                  slot            INTEGER PRIMARY KEY CHECK (slot = 1),
                  contiguous_seq  INTEGER NOT NULL DEFAULT 0,
                  latest_seq      INTEGER NOT NULL DEFAULT 0,
                  floor_seq       INTEGER NOT NULL DEFAULT 0,
                  sync_due        INTEGER NOT NULL DEFAULT 0,
                  synced_at_ms    INTEGER,
                  pending_route   TEXT,
                  pending_id      TEXT
              ) STRICT;
              CREATE TABLE push_quiet (
                  kind       TEXT PRIMARY KEY,
                  start_min  INTEGER NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
                  end_min    INTEGER NOT NULL CHECK (end_min BETWEEN 0 AND 1439)
              ) STRICT;";
