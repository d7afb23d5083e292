//! The ordered schema history of a profile database.
//!
//! `user_version` holds the number of migrations applied. Each capability module owns
//! its own tables and appends its migrations here (never edits an applied one: phones
//! in the field already ran it). Each entry names its owner so a reader knows whose
//! tables these are.

/// One schema step, applied in its own transaction.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// 1-based position; must equal the index + 1 (checked by a test).
    pub version: u32,
    /// The module that owns the tables this step creates or changes.
    pub owner: &'static str,
    pub sql: &'static str,
}

pub static MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        owner: "store",
        sql: "CREATE TABLE store_meta (
                  name  TEXT PRIMARY KEY,
                  value BLOB NOT NULL
              ) STRICT;",
    },
    Migration {
        version: 2,
        owner: "identity",
        sql: "CREATE TABLE identity_device (
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
              ) STRICT;",
    },
    Migration {
        version: 3,
        owner: "outbox",
        sql: "CREATE TABLE outbox_item (
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
              CREATE INDEX outbox_item_state ON outbox_item (state, seq);",
    },
    Migration {
        version: 4,
        owner: "meetings",
        sql: "CREATE TABLE meetings_sign_in (
                  id             TEXT PRIMARY KEY,
                  mid            TEXT NOT NULL,
                  slot           INTEGER NOT NULL,
                  signed_at_ms   INTEGER NOT NULL,
                  state          TEXT NOT NULL DEFAULT 'queued'
                                 CHECK (state IN ('queued', 'accepted', 'rejected')),
                  late           INTEGER NOT NULL DEFAULT 0,
                  reason         TEXT,
                  settled_at_ms  INTEGER
              ) STRICT;",
    },
    Migration {
        version: 5,
        owner: "attendance",
        sql: "CREATE TABLE attendance_punch (
                  punch_id       TEXT PRIMARY KEY,
                  outbox_id      TEXT NOT NULL UNIQUE,
                  office_id      TEXT NOT NULL,
                  kind           TEXT NOT NULL CHECK (kind IN ('in', 'out')),
                  time_ms        INTEGER NOT NULL,
                  workday        INTEGER NOT NULL,
                  manual_reason  TEXT,
                  state          TEXT NOT NULL DEFAULT 'queued'
                                 CHECK (state IN ('queued', 'accepted', 'rejected')),
                  reason         TEXT,
                  late           INTEGER NOT NULL DEFAULT 0,
                  -- 0 once settled until the person was told (an event after the commit).
                  announced      INTEGER NOT NULL DEFAULT 1
              ) STRICT;
              CREATE INDEX attendance_punch_day ON attendance_punch (workday, time_ms);
              CREATE INDEX attendance_punch_unannounced ON attendance_punch (announced) WHERE announced = 0;
              CREATE TABLE attendance_office (
                  slot           INTEGER PRIMARY KEY CHECK (slot = 1),
                  office_id      TEXT NOT NULL,
                  config         TEXT NOT NULL
              ) STRICT;",
    },
    Migration {
        version: 6,
        owner: "wallet",
        sql: "CREATE TABLE wallet_item (
                  id             TEXT PRIMARY KEY,
                  body           BLOB NOT NULL,
                  type_tag       BLOB NOT NULL,
                  issuer_tag     BLOB NOT NULL,
                  issued_at_ms   INTEGER NOT NULL,
                  received_at_ms INTEGER NOT NULL
              ) STRICT;
              CREATE INDEX wallet_item_issued ON wallet_item (issued_at_ms);
              CREATE INDEX wallet_item_type ON wallet_item (type_tag, issued_at_ms);
              CREATE TABLE wallet_secret (
                  slot    INTEGER PRIMARY KEY CHECK (slot = 1),
                  tag_key BLOB NOT NULL
              ) STRICT;
              CREATE TABLE wallet_list (
                  kind     TEXT PRIMARY KEY CHECK (kind IN ('trust', 'status')),
                  payload  TEXT NOT NULL,
                  as_of_ms INTEGER NOT NULL
              ) STRICT;
              CREATE TABLE wallet_contract (
                  id   TEXT PRIMARY KEY,
                  body BLOB NOT NULL
              ) STRICT;",
    },
];

/// The schema version this build knows.
pub fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_contiguous_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "migration of {} is out of order", m.owner);
            assert!(!m.sql.trim().is_empty());
        }
        assert_eq!(latest() as usize, MIGRATIONS.len());
    }
}
