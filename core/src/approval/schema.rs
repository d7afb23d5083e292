//! The tables of `approval`. Each constant is one step of `store::migrations`, in the
//! order listed there; a step a phone has run is never edited, only followed by another.

/// `approval_item`: one row per item the person takes part in, as the server's change
/// feed last described it. The clear columns are what the inbox filters and sorts on;
/// `summary` (subject included) and `detail` (the body as last opened) are sealed.
/// `stale = 1`: the phone knows the item moved on since `detail` was read (a newer
/// version in the feed, a conflict, its own accepted action) and must read it again.
/// `approval_action`: every action the person took, written in the same transaction as
/// its outbox item; the receipt settles it (`done`, `conflict`, `refused`) and keeps the
/// server's code, so a refused or conflicting action stays visible with its opinion.
/// `approval_sync`: the change-feed cursor.
pub const ITEMS_ACTIONS: &str = "CREATE TABLE approval_item (
                  item_id         TEXT PRIMARY KEY,
                  kind            TEXT NOT NULL,
                  urgency         TEXT NOT NULL,
                  agency          TEXT NOT NULL,
                  due_at_ms       INTEGER NOT NULL,
                  version         INTEGER NOT NULL,
                  actionable      INTEGER NOT NULL,
                  classified      INTEGER NOT NULL,
                  seq             INTEGER NOT NULL,
                  summary         BLOB NOT NULL,
                  detail          BLOB,
                  detail_version  INTEGER,
                  stale           INTEGER NOT NULL DEFAULT 0
              ) STRICT;
              CREATE INDEX approval_item_inbox ON approval_item (actionable, due_at_ms, item_id);
              CREATE INDEX approval_item_seq ON approval_item (seq);
              CREATE TABLE approval_action (
                  action_id      TEXT PRIMARY KEY,
                  outbox_id      TEXT NOT NULL UNIQUE,
                  item_id        TEXT NOT NULL,
                  action         TEXT NOT NULL,
                  version        INTEGER NOT NULL,
                  request        TEXT NOT NULL,
                  state          TEXT NOT NULL DEFAULT 'queued'
                                 CHECK (state IN ('queued', 'done', 'conflict', 'refused')),
                  code           TEXT,
                  message        TEXT,
                  created_at_ms  INTEGER NOT NULL,
                  settled_at_ms  INTEGER,
                  -- 1 while a refusal's dead outbox item is still to be cleared (the row
                  -- keeps the reason, so the outbox need not show it twice).
                  dead_outbox    INTEGER NOT NULL DEFAULT 0
              ) STRICT;
              CREATE INDEX approval_action_item ON approval_action (item_id, state);
              CREATE TABLE approval_sync (
                  slot           INTEGER PRIMARY KEY CHECK (slot = 1),
                  cursor         INTEGER NOT NULL,
                  synced_at_ms   INTEGER NOT NULL
              ) STRICT;";
