//! The approval module's own tables (migration owner `approval`): items from the change
//! feed with their sealed summary and detail, the person's actions with their verdicts,
//! and the feed's cursor. Nothing here touches the network.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use taipei_protocol::approval::{Action, ItemDetail, ItemSummary, KindCounts};

use super::{ActionRecord, ActionState, InboxFilter};
use crate::store::StoreError;
use crate::store::seal::{DataKey, SealContext};

/// Past this many items, the oldest ones the person can no longer act on are forgotten
/// (a manager's history grows for years; the phone keeps what is useful offline).
pub(crate) const MAX_ITEMS: i64 = 20_000;

fn ctx<'a>(column: &'a str, item_id: &'a str) -> SealContext<'a> {
    SealContext { table: "approval_item", column, row: item_id }
}

fn bad_row(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("approval row: {e}"))
}

fn seal_json<T: serde::Serialize>(key: &DataKey, column: &str, item_id: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    let text = serde_json::to_vec(value).map_err(bad_row)?;
    key.seal(ctx(column, item_id), &text)
}

fn open_json<T: serde::de::DeserializeOwned>(key: &DataKey, column: &str, item_id: &str, sealed: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(&key.unseal(ctx(column, item_id), sealed)?).map_err(bad_row)
}

/// Upserts one line of the change feed. A version newer than the detail kept marks it stale.
pub(crate) fn put_summary(tx: &Transaction<'_>, key: &DataKey, s: &ItemSummary) -> Result<(), StoreError> {
    let sealed = seal_json(key, "summary", &s.item_id, s)?;
    tx.execute(
        "INSERT INTO approval_item (item_id, kind, urgency, agency, due_at_ms, version, actionable, classified, seq, summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (item_id) DO UPDATE SET kind = ?2, urgency = ?3, agency = ?4, due_at_ms = ?5, version = ?6,
             actionable = ?7, classified = ?8, seq = max(seq, ?9), summary = ?10,
             stale = stale OR coalesce(detail_version <> ?6, 0)",
        params![
            s.item_id,
            s.kind.as_str(),
            s.urgency.as_str(),
            s.agency,
            s.due_at_ms,
            s.version,
            s.actionable,
            s.classified,
            s.seq,
            sealed
        ],
    )?;
    Ok(())
}

/// Keeps the detail as read (its body is what the phone rendered and will sign the hash of).
pub(crate) fn put_detail(tx: &Transaction<'_>, key: &DataKey, d: &ItemDetail) -> Result<(), StoreError> {
    put_summary(tx, key, &d.summary)?;
    let sealed = seal_json(key, "detail", &d.summary.item_id, d)?;
    tx.execute(
        "UPDATE approval_item SET detail = ?2, detail_version = ?3, stale = 0 WHERE item_id = ?1",
        params![d.summary.item_id, sealed, d.summary.version],
    )?;
    Ok(())
}

/// The detail last read and whether the phone knows it is out of date.
pub(crate) fn detail(conn: &Connection, key: &DataKey, item_id: &str) -> Result<Option<(ItemDetail, bool)>, StoreError> {
    let row: Option<(Option<Vec<u8>>, bool)> = conn
        .query_row("SELECT detail, stale FROM approval_item WHERE item_id = ?1", [item_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        Some((Some(sealed), stale)) => Ok(Some((open_json(key, "detail", item_id, &sealed)?, stale))),
        _ => Ok(None),
    }
}

/// A stored line of the inbox.
pub(crate) struct Line {
    pub summary: ItemSummary,
    pub has_detail: bool,
    pub pending: Option<Action>,
}

fn line(key: &DataKey, r: &Row<'_>) -> Result<Line, StoreError> {
    let item_id: String = r.get(0)?;
    let sealed: Vec<u8> = r.get(1)?;
    let mut summary: ItemSummary = open_json(key, "summary", &item_id, &sealed)?;
    // The clear column also knows about the phone's own accepted actions.
    summary.actionable = r.get(2)?;
    let pending: Option<String> = r.get(4)?;
    Ok(Line { summary, has_detail: r.get(3)?, pending: pending.as_deref().and_then(action_of) })
}

pub(crate) fn action_of(text: &str) -> Option<Action> {
    [
        Action::SaveDraft,
        Action::Forward,
        Action::RequestCosign,
        Action::Cosign,
        Action::Approve,
        Action::Return,
        Action::Recall,
    ]
    .into_iter()
    .find(|a| a.as_str() == text)
}

const LINE: &str = "SELECT i.item_id, i.summary, i.actionable, i.detail IS NOT NULL,
        (SELECT a.action FROM approval_action a WHERE a.item_id = i.item_id AND a.state = 'queued'
         ORDER BY a.created_at_ms DESC LIMIT 1)
     FROM approval_item i";

/// One page of the inbox from the store: due first, the id breaking ties (the cursor).
pub(crate) fn page(conn: &Connection, key: &DataKey, f: &InboxFilter, after: Option<(i64, String)>, limit: usize) -> Result<Vec<Line>, StoreError> {
    let (after_due, after_id) = after.unwrap_or((i64::MIN, String::new()));
    let sql = format!(
        "{LINE} WHERE (?1 OR i.actionable = 1)
           AND (?2 IS NULL OR i.kind = ?2) AND (?3 IS NULL OR i.urgency = ?3) AND (?4 IS NULL OR i.agency = ?4)
           AND (?5 IS NULL OR i.due_at_ms < ?5)
           AND (i.due_at_ms, i.item_id) > (?6, ?7)
         ORDER BY i.due_at_ms, i.item_id LIMIT ?8"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![
        f.include_inactive,
        f.kind.map(|k| k.as_str()),
        f.urgency.map(|u| u.as_str()),
        f.agency,
        f.due_before_ms,
        after_due,
        after_id,
        i64::try_from(limit).unwrap_or(i64::MAX)
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(line(key, r)?);
    }
    Ok(out)
}

pub(crate) fn line_of(conn: &Connection, key: &DataKey, item_id: &str) -> Result<Option<Line>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{LINE} WHERE i.item_id = ?1"))?;
    let mut rows = stmt.query([item_id])?;
    rows.next()?.map(|r| line(key, r)).transpose()
}

/// Actionable items per kind, and how many of them are past due at `now`.
pub(crate) fn counts(conn: &Connection, now: i64) -> Result<KindCounts, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, count(*), coalesce(sum(due_at_ms <= ?1), 0) FROM approval_item WHERE actionable = 1 GROUP BY kind",
    )?;
    let mut rows = stmt.query([now])?;
    let mut c = KindCounts::default();
    while let Some(r) = rows.next()? {
        let kind: String = r.get(0)?;
        let n: u32 = r.get(1)?;
        let overdue: u32 = r.get(2)?;
        match kind.as_str() {
            "document" => c.document = n,
            "form" => c.form = n,
            "leave" => c.leave = n,
            _ => continue,
        }
        c.overdue += overdue;
    }
    Ok(c)
}

/// Actionable items marked 最速件 or 速件.
pub(crate) fn urgent(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM approval_item WHERE actionable = 1 AND urgency IN ('most', 'urgent')",
        [],
        |r| r.get(0),
    )?)
}

/// The `limit` actionable items the feed changed last (highest `seq` first).
pub(crate) fn newest(conn: &Connection, key: &DataKey, limit: usize) -> Result<Vec<Line>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{LINE} WHERE i.actionable = 1 ORDER BY i.seq DESC, i.item_id LIMIT ?1"))?;
    let mut rows = stmt.query([i64::try_from(limit).unwrap_or(i64::MAX)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(line(key, r)?);
    }
    Ok(out)
}

pub(crate) fn cursor(conn: &Connection) -> Result<(i64, Option<i64>), StoreError> {
    Ok(conn
        .query_row("SELECT cursor, synced_at_ms FROM approval_sync WHERE slot = 1", [], |r| Ok((r.get(0)?, Some(r.get(1)?))))
        .optional()?
        .unwrap_or((0, None)))
}

pub(crate) fn set_cursor(tx: &Transaction<'_>, cursor: i64, now: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO approval_sync (slot, cursor, synced_at_ms) VALUES (1, ?1, ?2)
         ON CONFLICT (slot) DO UPDATE SET cursor = max(cursor, ?1), synced_at_ms = ?2",
        params![cursor, now],
    )?;
    Ok(())
}

/// Forgets the oldest items beyond [`MAX_ITEMS`] that nobody can act on and no action waits for.
pub(crate) fn prune(tx: &Transaction<'_>) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "DELETE FROM approval_item WHERE item_id IN (
             SELECT item_id FROM approval_item i WHERE actionable = 0
               AND NOT EXISTS (SELECT 1 FROM approval_action a WHERE a.item_id = i.item_id AND a.state = 'queued')
             ORDER BY seq LIMIT max(0, (SELECT count(*) FROM approval_item) - ?1))",
        [MAX_ITEMS],
    )?)
}

const ACTION_COLUMNS: &str = "action_id, item_id, action, version, request, state, code, message, created_at_ms, settled_at_ms";

fn record(r: &Row<'_>) -> rusqlite::Result<ActionRecord> {
    let action: String = r.get(2)?;
    let request: String = r.get(4)?;
    let state: String = r.get(5)?;
    let signed: Option<taipei_protocol::approval::SignedAction> = serde_json::from_str(&request).ok();
    Ok(ActionRecord {
        action_id: r.get(0)?,
        item_id: r.get(1)?,
        // The table only ever holds what `Action::as_str` wrote.
        action: action_of(&action).unwrap_or(Action::SaveDraft),
        version: r.get(3)?,
        opinion: signed.as_ref().map(|s| s.opinion.clone()).unwrap_or_default(),
        cosigners: signed.map(|s| s.cosigners).unwrap_or_default(),
        state: match state.as_str() {
            "done" => ActionState::Done,
            "conflict" => ActionState::Conflict,
            "refused" => ActionState::Refused,
            _ => ActionState::Queued,
        },
        code: r.get(6)?,
        message: r.get(7)?,
        created_at_ms: r.get(8)?,
        settled_at_ms: r.get(9)?,
    })
}

pub(crate) fn insert_action(tx: &Transaction<'_>, action_id: &str, outbox_id: &str, signed: &taipei_protocol::approval::SignedAction, now: i64) -> Result<(), StoreError> {
    let request = serde_json::to_string(signed).map_err(bad_row)?;
    tx.execute(
        "INSERT INTO approval_action (action_id, outbox_id, item_id, action, version, request, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![action_id, outbox_id, signed.item_id, signed.action.as_str(), signed.version, request, now],
    )?;
    Ok(())
}

pub(crate) fn action(conn: &Connection, action_id: &str) -> Result<Option<ActionRecord>, StoreError> {
    Ok(conn
        .query_row(&format!("SELECT {ACTION_COLUMNS} FROM approval_action WHERE action_id = ?1"), [action_id], record)
        .optional()?)
}

/// The person's actions, newest first; `item_id` narrows to one item.
pub(crate) fn actions(conn: &Connection, item_id: Option<&str>, limit: usize) -> Result<Vec<ActionRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ACTION_COLUMNS} FROM approval_action WHERE ?1 IS NULL OR item_id = ?1 ORDER BY created_at_ms DESC, rowid DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![item_id, i64::try_from(limit).unwrap_or(i64::MAX)], record)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether an action other than a draft waits to be sent for this item.
pub(crate) fn queued_for(conn: &Connection, item_id: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM approval_action WHERE item_id = ?1 AND state = 'queued' AND action <> 'save_draft')",
        [item_id],
        |r| r.get(0),
    )?)
}

/// The verdict on the action sent as outbox item `outbox_id`, in the outbox's transaction.
/// An accepted step or a conflict means the detail kept is no longer the item's.
pub(crate) fn settle(tx: &Transaction<'_>, outbox_id: &str, state: ActionState, code: Option<&str>, message: Option<&str>, at_ms: Option<i64>) -> Result<(), StoreError> {
    let row: Option<(String, String)> = tx
        .query_row("SELECT item_id, action FROM approval_action WHERE outbox_id = ?1", [outbox_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((item_id, action)) = row else { return Ok(()) };
    tx.execute(
        "UPDATE approval_action SET state = ?2, code = ?3, message = ?4, settled_at_ms = ?5 WHERE outbox_id = ?1",
        params![outbox_id, state.as_str(), code, message, at_ms],
    )?;
    let moved = match state {
        ActionState::Done => action != Action::SaveDraft.as_str(),
        ActionState::Conflict => true,
        ActionState::Queued | ActionState::Refused => false,
    };
    if moved {
        // Done: it left this person's hands (until the feed says otherwise).
        tx.execute(
            "UPDATE approval_item SET stale = 1, actionable = CASE WHEN ?2 THEN 0 ELSE actionable END WHERE item_id = ?1",
            params![item_id, state == ActionState::Done],
        )?;
    }
    Ok(())
}

/// Marks a refusal whose outbox item the outbox kills (the row keeps the reason).
pub(crate) fn mark_dead_outbox(tx: &Transaction<'_>, outbox_id: &str) -> Result<(), StoreError> {
    tx.execute("UPDATE approval_action SET dead_outbox = 1 WHERE outbox_id = ?1", [outbox_id])?;
    Ok(())
}

/// Outbox ids of refused actions whose dead outbox item can now go, marked as cleared.
pub(crate) fn take_dead_outbox(tx: &Transaction<'_>) -> Result<Vec<String>, StoreError> {
    let ids = {
        let mut stmt = tx.prepare_cached("SELECT outbox_id FROM approval_action WHERE dead_outbox = 1")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<Vec<String>, _>>()?
    };
    tx.execute("UPDATE approval_action SET dead_outbox = 0 WHERE dead_outbox = 1", [])?;
    Ok(ids)
}
