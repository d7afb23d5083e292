//! The approval tables as the rules read them: an item's routing state, who holds it,
//! who stands in for whom (職務代理), and what a reader may see.

use std::collections::HashSet;

use axum::http::StatusCode;
use crate::db::{Conn, OptionalExtension, Row};
use crate::params;
use taipei_protocol::approval::{ItemState, ItemSummary, Kind, Urgency, codes};

use crate::error::ApiError;

/// Proxy chains longer than this are refused as if they looped: no office delegates
/// through more people, and the bound keeps resolution cheap.
const MAX_PROXY_HOPS: usize = 8;

/// An item without its body and attachments.
#[derive(Debug, Clone)]
pub struct Item {
    pub item_id: String,
    pub kind: Kind,
    pub subject: String,
    pub body_type: String,
    pub body_sha256: Vec<u8>,
    pub classified: bool,
    pub urgency: Urgency,
    pub agency: String,
    pub decision_level: u8,
    pub chain: Vec<String>,
    pub details: Option<String>,
    pub state: ItemState,
    pub step: usize,
    pub holder: String,
    pub cosign_mode: Option<String>,
    pub sent_by: Option<String>,
    pub sent_step: Option<usize>,
    pub opened_at_ms: Option<i64>,
    pub version: i64,
    pub seq: i64,
    pub due_at_ms: i64,
}

pub const ITEM_COLUMNS: &str = "item_id, kind, subject, body_type, body_sha256, classified, urgency, agency, \
     decision_level, chain, details, state, step, holder, cosign_mode, sent_by, sent_step, opened_at_ms, version, seq, due_at_ms";

fn stored(what: &str) -> crate::db::Error {
    crate::db::Error::Invalid(format!("a stored {what} is not what this server writes"))
}

pub fn state_str(state: ItemState) -> &'static str {
    match state {
        ItemState::Routing => "routing",
        ItemState::Cosigning => "cosigning",
        ItemState::Decided => "decided",
    }
}

fn parse_state(text: &str) -> Option<ItemState> {
    [ItemState::Routing, ItemState::Cosigning, ItemState::Decided].into_iter().find(|s| state_str(*s) == text)
}

pub fn item_of(r: &Row) -> crate::db::Result<Item> {
    let chain: String = r.get(9)?;
    let step: i64 = r.get(12)?;
    let sent_step: Option<i64> = r.get(16)?;
    Ok(Item {
        item_id: r.get(0)?,
        kind: Kind::parse(&r.get::<_, String>(1)?).ok_or_else(|| stored("kind"))?,
        subject: r.get(2)?,
        body_type: r.get(3)?,
        body_sha256: r.get(4)?,
        classified: r.get(5)?,
        urgency: Urgency::parse(&r.get::<_, String>(6)?).ok_or_else(|| stored("urgency"))?,
        agency: r.get(7)?,
        decision_level: r.get(8)?,
        chain: serde_json::from_str(&chain).map_err(|_| stored("chain"))?,
        details: r.get(10)?,
        state: parse_state(&r.get::<_, String>(11)?).ok_or_else(|| stored("state"))?,
        step: usize::try_from(step).map_err(|_| stored("step"))?,
        holder: r.get(13)?,
        cosign_mode: r.get(14)?,
        sent_by: r.get(15)?,
        sent_step: sent_step.and_then(|s| usize::try_from(s).ok()),
        opened_at_ms: r.get(17)?,
        version: r.get(18)?,
        seq: r.get(19)?,
        due_at_ms: r.get(20)?,
    })
}

pub fn load(conn: &Conn<'_>, item_id: &str) -> Result<Option<Item>, ApiError> {
    let sql = format!("SELECT {ITEM_COLUMNS} FROM approval_items WHERE item_id = ?1");
    Ok(conn.query_row(&sql, [item_id], item_of).optional()?)
}

pub fn unknown_item() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN_ITEM, "no such item for this person")
}

/// The next value of the change sequence the phones sync by.
pub fn next_seq(conn: &Conn<'_>) -> Result<i64, ApiError> {
    Ok(conn.query_row("SELECT coalesce(max(seq), 0) + 1 FROM approval_items", [], |r| r.get(0))?)
}

pub fn person_exists(conn: &Conn<'_>, user_id: &str) -> Result<bool, ApiError> {
    Ok(conn.query_row("SELECT EXISTS(SELECT 1 FROM approval_people WHERE user_id = ?1)", [user_id], |r| r.get(0))?)
}

pub fn level_of(conn: &Conn<'_>, user_id: &str) -> Result<Option<u8>, ApiError> {
    Ok(conn.query_row("SELECT level FROM approval_people WHERE user_id = ?1", [user_id], |r| r.get(0)).optional()?)
}

/// Who stands in for `user_id` at `at_ms` directly (the latest set wins if periods overlap).
fn proxy_of(conn: &Conn<'_>, user_id: &str, at_ms: i64) -> Result<Option<String>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT proxy_id FROM approval_proxies WHERE user_id = ?1 AND from_ms <= ?2 AND ?2 < until_ms \
             ORDER BY created_at_ms DESC, id DESC LIMIT 1",
            params![user_id, at_ms],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn proxy_cycle(who: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, codes::PROXY_CYCLE, format!("the proxies of {who} lead back to themselves"))
}

/// Who acts for `user_id` at `at_ms`: themselves when present, else their proxy's
/// resolution (A absent → B; B absent too → C). A loop is an error, never a hang.
pub fn resolve(conn: &Conn<'_>, user_id: &str, at_ms: i64) -> Result<String, ApiError> {
    let mut path = proxy_path(conn, user_id, at_ms)?;
    Ok(path.pop().unwrap_or_else(|| user_id.to_owned()))
}

/// `user_id`, then each proxy in turn as far as [`resolve`] follows them.
pub fn proxy_path(conn: &Conn<'_>, user_id: &str, at_ms: i64) -> Result<Vec<String>, ApiError> {
    let mut path = vec![user_id.to_owned()];
    let mut current = user_id.to_owned();
    while let Some(next) = proxy_of(conn, &current, at_ms)? {
        if path.contains(&next) || path.len() > MAX_PROXY_HOPS {
            return Err(proxy_cycle(user_id));
        }
        path.push(next.clone());
        current = next;
    }
    Ok(path)
}

/// Whether proxies set for periods overlapping `[from_ms, until_ms)` lead from
/// `start` back to `target`: the check that refuses a new proxy closing a loop.
pub fn reaches(conn: &Conn<'_>, start: &str, target: &str, from_ms: i64, until_ms: i64) -> Result<bool, ApiError> {
    let mut stmt = conn.prepare(
        "SELECT proxy_id FROM approval_proxies WHERE user_id = ?1 AND from_ms < ?3 AND ?2 < until_ms",
    )?;
    let mut seen = HashSet::new();
    let mut queue = vec![start.to_owned()];
    while let Some(user) = queue.pop() {
        if user == target {
            return Ok(true);
        }
        if !seen.insert(user.clone()) {
            continue;
        }
        let next = stmt.query_map(params![user, from_ms, until_ms], |r| r.get::<_, String>(0))?;
        for p in next {
            queue.push(p?);
        }
    }
    Ok(false)
}

/// The people an item waits for now: its holder while routing; the co-signers whose
/// turn it is during a co-sign round (all pending ones in parallel, the first in
/// sequence); nobody once decided.
pub fn principals(conn: &Conn<'_>, item: &Item) -> Result<Vec<String>, ApiError> {
    match item.state {
        ItemState::Routing => Ok(vec![item.holder.clone()]),
        ItemState::Decided => Ok(Vec::new()),
        ItemState::Cosigning => {
            let mut stmt = conn.prepare(
                "SELECT user_id FROM approval_cosigners WHERE item_id = ?1 AND done_at_ms IS NULL \
                 AND round = (SELECT max(round) FROM approval_cosigners WHERE item_id = ?1) ORDER BY pos",
            )?;
            let pending = stmt.query_map([&item.item_id], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            Ok(if item.cosign_mode.as_deref() == Some("sequential") { pending.into_iter().take(1).collect() } else { pending })
        }
    }
}

/// How `user_id` may act on `item` now: `Some(principal)` — themselves, or the absent
/// person they stand in for (preferring `acting_for` when given).
pub fn acting_as(conn: &Conn<'_>, item: &Item, user_id: &str, at_ms: i64) -> Result<Option<String>, ApiError> {
    let mut proxied = None;
    for p in principals(conn, item)? {
        if p == user_id {
            return Ok(Some(p));
        }
        if proxied.is_none() && resolve(conn, &p, at_ms)? == user_id {
            proxied = Some(p);
        }
    }
    Ok(proxied)
}

/// Whether `user_id` takes part in `item` (chain, co-signer, or standing in for a
/// current principal) and so may read it.
pub fn may_read(conn: &Conn<'_>, item: &Item, user_id: &str, at_ms: i64) -> Result<bool, ApiError> {
    if item.chain.iter().any(|u| u == user_id) {
        return Ok(true);
    }
    let cosigner: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM approval_cosigners WHERE item_id = ?1 AND user_id = ?2) \
         OR EXISTS(SELECT 1 FROM approval_events WHERE item_id = ?1 AND actor = ?2)",
        params![item.item_id, user_id],
        |r| r.get(0),
    )?;
    Ok(cosigner || acting_as(conn, item, user_id, at_ms)?.is_some())
}

/// The inbox line of `item` as `user_id` sees it.
pub fn summary(conn: &Conn<'_>, item: &Item, user_id: &str, at_ms: i64) -> Result<ItemSummary, ApiError> {
    let principal = acting_as(conn, item, user_id, at_ms)?;
    Ok(ItemSummary {
        item_id: item.item_id.clone(),
        kind: item.kind,
        subject: (!item.classified).then(|| item.subject.clone()),
        classified: item.classified,
        urgency: item.urgency,
        agency: item.agency.clone(),
        version: item.version,
        state: item.state,
        due_at_ms: item.due_at_ms,
        actionable: principal.is_some(),
        acting_for: principal.filter(|p| p != user_id),
        seq: item.seq,
    })
}

/// Everyone `user_id` acts for at `at_ms`: themselves and each absent person whose
/// proxies resolve to them.
pub fn represented(conn: &Conn<'_>, user_id: &str, at_ms: i64) -> Result<Vec<String>, ApiError> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT user_id FROM approval_proxies WHERE from_ms <= ?1 AND ?1 < until_ms",
    )?;
    let absent = stmt.query_map([at_ms], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    let mut out = vec![user_id.to_owned()];
    for a in absent {
        // A loop among others' proxies must not hide this person's own inbox.
        if a != user_id && resolve(conn, &a, at_ms).is_ok_and(|r| r == user_id) {
            out.push(a);
        }
    }
    Ok(out)
}
