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

/// `wallet_item.expires_at_ms`: the expiry in clear beside the issue date (both already
/// readable from the certificate's QR), so "expiring within 30 days" is an index range
/// instead of opening every sealed body; `expiry_known = 0` marks a row stored before
/// this column, filled from its sealed body on the next look. `wallet_item_received`:
/// newest received first. `wallet_seen`: when the person last looked at the wallet.
pub const EXPIRY_AND_SEEN: &str = "ALTER TABLE wallet_item ADD COLUMN expires_at_ms INTEGER;
              ALTER TABLE wallet_item ADD COLUMN expiry_known INTEGER NOT NULL DEFAULT 0;
              CREATE INDEX wallet_item_expires ON wallet_item (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
              CREATE INDEX wallet_item_unknown_expiry ON wallet_item (expiry_known) WHERE expiry_known = 0;
              CREATE INDEX wallet_item_received ON wallet_item (received_at_ms);
              CREATE TABLE wallet_seen (
                  slot        INTEGER PRIMARY KEY CHECK (slot = 1),
                  seen_at_ms  INTEGER NOT NULL
              ) STRICT;";
