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

// Each owner's SQL lives beside it (`<owner>/schema.rs`) and is included here by path
// rather than through the owner's module: every app build keeps the same schema history
// whether or not it compiles that capability (see the crate's features), so one profile
// file has one shape and `user_version` means the same step in TaipeiON and TaipeiPASS.
#[path = "../approval/schema.rs"]
mod approval;
#[path = "../attendance/schema.rs"]
mod attendance;
#[path = "../identity/schema.rs"]
mod identity;
#[path = "../login/schema.rs"]
mod login;
#[path = "../meetings/schema.rs"]
mod meetings;
#[path = "../outbox/schema.rs"]
mod outbox;
#[path = "../push/schema.rs"]
mod push;
#[path = "schema.rs"]
mod store;
#[path = "../wallet/schema.rs"]
mod wallet;

pub static MIGRATIONS: &[Migration] = &[
    Migration { version: 1, owner: "store", sql: store::META },
    Migration { version: 2, owner: "identity", sql: identity::DEVICE_AND_SESSION },
    Migration { version: 3, owner: "outbox", sql: outbox::ITEM },
    Migration { version: 4, owner: "meetings", sql: meetings::SIGN_IN },
    Migration { version: 5, owner: "attendance", sql: attendance::PUNCH_AND_OFFICE },
    Migration { version: 6, owner: "wallet", sql: wallet::ITEMS_LISTS_CONTRACTS },
    Migration { version: 7, owner: "outbox", sql: outbox::ITEM_LAST_CODE },
    Migration { version: 8, owner: "meetings", sql: meetings::SIGN_IN_CODE },
    Migration { version: 9, owner: "identity", sql: identity::BINDING_INTENT },
    Migration { version: 10, owner: "login", sql: login::DECISION },
    Migration { version: 11, owner: "approval", sql: approval::ITEMS_ACTIONS },
    Migration { version: 12, owner: "push", sql: push::SUBSCRIPTION_INBOX },
    Migration { version: 13, owner: "wallet", sql: wallet::EXPIRY_AND_SEEN },
    Migration { version: 14, owner: "meetings", sql: meetings::KNOWN },
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
