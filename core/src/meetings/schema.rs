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

/// `meetings_known`: each meeting the phone was shown (a scanned room code's
/// `MeetingInfo`), so today's meetings and the next one can be listed offline. The
/// times are clear (to order and pick a day); title, room and organizer are sealed.
/// `meetings_sign_in_mid`: a meeting's sign-ins.
pub const KNOWN: &str = "CREATE TABLE meetings_known (
                  mid            TEXT PRIMARY KEY,
                  starts_at_ms   INTEGER NOT NULL,
                  ends_at_ms     INTEGER NOT NULL,
                  info           BLOB NOT NULL,
                  seen_at_ms     INTEGER NOT NULL
              ) STRICT;
              CREATE INDEX meetings_known_starts ON meetings_known (starts_at_ms);
              CREATE INDEX meetings_sign_in_mid ON meetings_sign_in (mid, signed_at_ms);
              CREATE INDEX meetings_sign_in_signed ON meetings_sign_in (signed_at_ms);";
