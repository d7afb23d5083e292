//! The tables of `wallet`. Each constant is one step of `store::migrations`, in the
//! order listed there; a step a phone has run is never edited, only followed by another.

/// `wallet_item`: sealed certificates with HMAC tags for type and issuer filters.
/// `wallet_secret`: the tag key. `wallet_list`: the signed trust and status lists with their
/// as-of times. `wallet_contract`: sealed signed contracts.
pub const ITEMS_LISTS_CONTRACTS: &str = "CREATE TABLE wallet_item (
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
              ) STRICT;";
