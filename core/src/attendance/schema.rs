//! The tables of `attendance`. Each constant is one step of `store::migrations`, in the
//! order listed there; a step a phone has run is never edited, only followed by another.

/// `attendance_punch`: every punch with its state, keyed by punch id, linked to its outbox item;
/// `announced = 0` marks a settled punch the person has not been told about.
/// `attendance_office`: the one office configuration kept for offline use.
pub const PUNCH_AND_OFFICE: &str = "CREATE TABLE attendance_punch (
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
              ) STRICT;";
