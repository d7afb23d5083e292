//! The table of `login`. Each constant is one step of `store::migrations`, in the
//! order listed there; a step a phone has run is never edited, only followed by another.

/// `login_decision`: a signed decision about to be sent, written before the request
/// leaves: the exact request and its idempotency key. A call cancelled mid-way resends
/// exactly this (the server answers a repeated key with its first reply), so the
/// person's approval counts once. Deleted when the server refuses it; otherwise kept (a
/// repeated call gets the server's first answer again) and dropped after a day.
pub const DECISION: &str = "CREATE TABLE login_decision (
                  rid             TEXT PRIMARY KEY,
                  idempotency_key TEXT NOT NULL,
                  request         TEXT NOT NULL,
                  created_at_ms   INTEGER NOT NULL
              ) STRICT;";
