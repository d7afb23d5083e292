//! The push trigger of approval: when an item comes to wait for someone (a new item on
//! its first desk, or an action that moved it on), each person it now waits for — or
//! their proxy — gets a message in the same transaction. People it waited for already
//! get none again.

use crate::db::Conn;
use taipei_protocol::approval::Urgency as ItemUrgency;
use taipei_protocol::push::message::{MAX_TEXT_LEN, MAX_TTL_MS, PushContent, PushKind, Urgency};

use super::store;
use crate::error::ApiError;
use crate::push;
use crate::sealing::Kek;

/// Who `item_id` waits for at `now_ms` (proxies resolved); empty for an unknown item.
pub fn waiting(conn: &Conn<'_>, item_id: &str, now_ms: i64) -> Result<Vec<String>, ApiError> {
    let Some(item) = store::load(conn, item_id)? else {
        return Ok(Vec::new());
    };
    let mut out: Vec<String> = Vec::new();
    for p in store::principals(conn, &item)? {
        // A proxy loop must not stop the message: the principal is told then.
        let who = store::resolve(conn, &p, now_ms).unwrap_or(p);
        if !out.contains(&who) {
            out.push(who);
        }
    }
    Ok(out)
}

/// Tells whoever `item_id` waits for now and did not in `before`.
pub fn newly_waiting(conn: &Conn<'_>, kek: &Kek, item_id: &str, before: &[String], now_ms: i64) -> Result<usize, ApiError> {
    let Some(item) = store::load(conn, item_id)? else {
        return Ok(0);
    };
    let mut sent = 0;
    for user_id in waiting(conn, item_id, now_ms)?.into_iter().filter(|u| !before.contains(u)) {
        // A classified item's subject never reaches a phone, nor a push service.
        let text = if item.classified { "一件機密案件待您處理".to_owned() } else { push::reminders::truncate(&item.subject, MAX_TEXT_LEN) };
        let notice = push::Notice {
            user_id,
            kind: PushKind::ApprovalItem,
            collapse_key: push::collapse_key("approval", &item.item_id),
            ttl_ms: MAX_TTL_MS,
            urgency: if item.urgency == ItemUrgency::Normal { Urgency::Normal } else { Urgency::High },
            content: PushContent::Body { title: "待辦公文".into(), text, route: format!("approval/{}", item.item_id) },
        };
        sent += usize::from(push::notify(conn, kek, notice, now_ms)?.is_some());
    }
    Ok(sent)
}
