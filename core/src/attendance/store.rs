//! The attendance module's own tables (migration owner `attendance`): one row per punch
//! (written in the same transaction as its outbox item) and the current office's
//! configuration, so presence and history work offline and across restarts.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use taipei_protocol::attendance::{OfficeConfig, PunchKind};

use super::rules::Earlier;
use crate::store::StoreError;

/// A punch as the phone keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PunchRecord {
    pub punch_id: String,
    pub office_id: String,
    pub kind: PunchKind,
    /// Server-clock time.
    pub time_ms: i64,
    /// Working day (days since 1970-01-01, Asia/Taipei, office's day start).
    pub workday: i64,
    /// Set for a manual punch (no beacon seen).
    pub manual_reason: Option<String>,
    /// `queued`, `accepted` or `rejected`.
    pub state: String,
    /// The server's words when it rejected the punch (`code: message`), or its flags.
    pub reason: Option<String>,
    /// Accepted after waiting offline.
    pub late: bool,
}

const COLUMNS: &str = "punch_id, office_id, kind, time_ms, workday, manual_reason, state, reason, late";

fn record(r: &Row<'_>) -> rusqlite::Result<PunchRecord> {
    let kind: String = r.get(2)?;
    Ok(PunchRecord {
        punch_id: r.get(0)?,
        office_id: r.get(1)?,
        // The table's CHECK allows only these two.
        kind: PunchKind::parse(&kind).unwrap_or(PunchKind::In),
        time_ms: r.get(3)?,
        workday: r.get(4)?,
        manual_reason: r.get(5)?,
        state: r.get(6)?,
        reason: r.get(7)?,
        late: r.get(8)?,
    })
}

pub(crate) fn insert(tx: &Transaction<'_>, p: &PunchRecord, outbox_id: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO attendance_punch (punch_id, outbox_id, office_id, kind, time_ms, workday, manual_reason) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![p.punch_id, outbox_id, p.office_id, p.kind.as_str(), p.time_ms, p.workday, p.manual_reason],
    )?;
    Ok(())
}

/// Punches of working days `from..to`, oldest first.
pub(crate) fn between(conn: &Connection, from_day: i64, to_day: i64) -> Result<Vec<PunchRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM attendance_punch WHERE workday >= ?1 AND workday < ?2 ORDER BY time_ms, rowid"
    ))?;
    let rows = stmt.query_map(params![from_day, to_day], record)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(crate) fn by_id(conn: &Connection, punch_id: &str) -> Result<Option<PunchRecord>, StoreError> {
    Ok(conn
        .query_row(&format!("SELECT {COLUMNS} FROM attendance_punch WHERE punch_id = ?1"), [punch_id], record)
        .optional()?)
}

/// What the rules need: the punches of yesterday and today.
pub(crate) fn recent(conn: &Connection, today: i64) -> Result<Vec<Earlier>, StoreError> {
    Ok(between(conn, today - 1, today + 1)?
        .into_iter()
        .map(|p| Earlier { kind: p.kind, time_ms: p.time_ms, workday: p.workday, rejected: p.state == "rejected" })
        .collect())
}

/// The server's verdict on the punch behind outbox item `outbox_id`; the person is told
/// after the transaction commits ([`take_unannounced`]).
/// `late` comes from the receipt's own field: the reason is words, never parsed.
pub(crate) fn settle(tx: &Transaction<'_>, outbox_id: &str, accepted: bool, late: bool, reason: Option<&str>) -> Result<(), StoreError> {
    let late = accepted && late;
    tx.execute(
        "UPDATE attendance_punch SET state = ?2, reason = ?3, late = ?4, announced = 0 WHERE outbox_id = ?1",
        params![outbox_id, if accepted { "accepted" } else { "rejected" }, reason, late],
    )?;
    Ok(())
}

/// Settled punches the person has not been told about: marked told in the same
/// transaction; returns them with their outbox item id.
pub(crate) fn take_unannounced(tx: &Transaction<'_>) -> Result<Vec<(PunchRecord, String)>, StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {COLUMNS}, outbox_id FROM attendance_punch WHERE announced = 0 ORDER BY time_ms, rowid"
    ))?;
    let rows = stmt.query_map([], |r| Ok((record(r)?, r.get::<_, String>(9)?)))?.collect::<Result<Vec<_>, _>>()?;
    // Every sync passes here; most find nothing and write nothing.
    if !rows.is_empty() {
        tx.execute("UPDATE attendance_punch SET announced = 1 WHERE announced = 0", [])?;
    }
    Ok(rows)
}

pub(crate) fn save_office(tx: &Transaction<'_>, config: &OfficeConfig) -> Result<(), StoreError> {
    let json = serde_json::to_string(config).map_err(|e| StoreError::BadRow(format!("office config: {e}")))?;
    tx.execute(
        "INSERT INTO attendance_office (slot, office_id, config) VALUES (1, ?1, ?2) \
         ON CONFLICT (slot) DO UPDATE SET office_id = excluded.office_id, config = excluded.config",
        params![config.office_id, json],
    )?;
    Ok(())
}

pub(crate) fn load_office(conn: &Connection) -> Result<Option<OfficeConfig>, StoreError> {
    let json: Option<String> = conn.query_row("SELECT config FROM attendance_office WHERE slot = 1", [], |r| r.get(0)).optional()?;
    json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::BadRow(format!("office config: {e}")))).transpose()
}
