//! The tables of `meetings`. Each constant is one step of `store::migrations`, in the
//! order listed there; a step a phone has run is never edited, only followed by another.

/// `meetings_sign_in`: one row per sign-in, keyed by its outbox item id, settled by the receipt.
pub const SIGN_IN: &str = "CREATE TABLE meetings_sign_in (
                  id             TEXT PRIMARY KEY,
                  mid            TEXT NOT NULL,
                  slot           INTEGER NOT NULL,
                  signed_at_ms   INTEGER NOT NULL,
                  state          TEXT NOT NULL DEFAULT 'queued'
                                 CHECK (state IN ('queued', 'accepted', 'rejected')),
                  late           INTEGER NOT NULL DEFAULT 0,
                  reason         TEXT,
                  settled_at_ms  INTEGER
              ) STRICT;";

/// `meetings_sign_in.code`: the refusal code of a rejected sign-in, beside its words.
pub const SIGN_IN_CODE: &str = "ALTER TABLE meetings_sign_in ADD COLUMN code TEXT;";
