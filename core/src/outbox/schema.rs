//! The table of `outbox`. Each constant is one step of `store::migrations`, in the
//! order listed there; a step a phone has run is never edited, only followed by another.

/// `outbox_item`: the durable queue, oldest first by `seq`; an item leaves with its receipt
/// or turns `dead` with the server's refusal.
pub const ITEM: &str = "CREATE TABLE outbox_item (
                  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
                  id              TEXT NOT NULL UNIQUE,
                  kind            TEXT NOT NULL,
                  method          TEXT NOT NULL,
                  path            TEXT NOT NULL,
                  body            TEXT NOT NULL,
                  idempotency_key TEXT NOT NULL UNIQUE,
                  created_at_ms   INTEGER NOT NULL,
                  attempts        INTEGER NOT NULL DEFAULT 0,
                  last_error      TEXT,
                  next_attempt_at_ms INTEGER NOT NULL,
                  state           TEXT NOT NULL DEFAULT 'pending'
                                  CHECK (state IN ('pending', 'dead'))
              ) STRICT;
              CREATE INDEX outbox_item_state ON outbox_item (state, seq);";

/// `outbox_item.last_code`: the stable code of the last failure, beside its words.
pub const ITEM_LAST_CODE: &str = "ALTER TABLE outbox_item ADD COLUMN last_code TEXT;";
