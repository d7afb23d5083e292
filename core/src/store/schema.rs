//! The store's own table. Each constant is one step of `store::migrations`, in the
//! order listed there; a step a phone has run is never edited, only followed by another.

/// `store_meta`: named values of the store itself (the data-key check).
pub const META: &str = "CREATE TABLE store_meta (
                  name  TEXT PRIMARY KEY,
                  value BLOB NOT NULL
              ) STRICT;";
