//! Deadline reminders: which items are due soon (or overdue) and who must act on them,
//! recorded so the push work can deliver them — at most once per 4 hours per item.

use crate::db::Conn;
use crate::params;
use serde::Serialize;

use super::store;
use crate::db::Db;
use crate::error::ApiError;

/// An item is reminded of this long before its deadline, and after it until decided.
pub const LEAD_MS: i64 = 24 * 60 * 60 * 1000;
/// At most one reminder per item in this long.
pub const MIN_INTERVAL_MS: i64 = 4 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminder {
    pub item_id: String,
    /// Who acts now: the holder, or their proxy when they are away.
    pub user_id: String,
    pub due_at_ms: i64,
}

/// Records and returns the reminders due at `now_ms`. Run it inside a transaction (as
/// [`record_due_reminders`] does) so two schedulers cannot both record one.
pub fn record_due(conn: &Conn<'_>, now_ms: i64) -> Result<Vec<Reminder>, ApiError> {
    let sql = format!(
        "SELECT {} FROM approval_items i WHERE state <> 'decided' AND due_at_ms - ?1 <= ?2 \
         AND NOT EXISTS (SELECT 1 FROM approval_reminders r WHERE r.item_id = i.item_id AND r.recorded_at_ms > CAST(?1 AS BIGINT) - ?3) \
         ORDER BY due_at_ms, item_id",
        store::ITEM_COLUMNS
    );
    let mut stmt = conn.prepare(&sql)?;
    let items = stmt.query_map(params![now_ms, LEAD_MS, MIN_INTERVAL_MS], store::item_of)?.collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for item in items {
        let mut recipients = Vec::new();
        for p in store::principals(conn, &item)? {
            // A proxy loop must not stop everyone else's reminders: the holder is reminded.
            let who = store::resolve(conn, &p, now_ms).unwrap_or(p);
            if !recipients.contains(&who) {
                recipients.push(who);
            }
        }
        for user_id in recipients {
            conn.execute(
                "INSERT INTO approval_reminders (item_id, user_id, due_at_ms, recorded_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![item.item_id, user_id, item.due_at_ms, now_ms],
            )?;
            out.push(Reminder { item_id: item.item_id.clone(), user_id, due_at_ms: item.due_at_ms });
        }
    }
    Ok(out)
}

/// [`record_due`] in one write transaction on the server's database.
pub async fn record_due_reminders(db: &Db, now_ms: i64) -> Result<Vec<Reminder>, ApiError> {
    db.write(move |tx| record_due(tx, now_ms)).await
}
