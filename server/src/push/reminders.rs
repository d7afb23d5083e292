//! Meeting reminders: a scheduled check (each round of the sender) that tells a
//! meeting's invitees, once, when it starts within the lead time (10 minutes).
//! `push_meeting_reminders` marks a meeting reminded in the same transaction as the
//! messages, so a restart neither repeats nor skips one.

use crate::db::Conn;
use crate::params;
use taipei_protocol::push::message::{PushContent, PushKind, Urgency};

use super::Notice;
use crate::approval::page::taipei_time;
use crate::error::ApiError;
use crate::sealing::Kek;

/// A reminder is no use after the meeting began; it lives at least this long so a
/// phone that was briefly offline still gets it.
const MIN_TTL_MS: i64 = 60_000;

/// Queues the reminders of meetings starting in `(now, now + lead]` not reminded yet.
/// Returns how many messages were queued. Invitees who are not users get none.
pub fn record_due(conn: &Conn<'_>, kek: &Kek, now_ms: i64, lead_ms: i64) -> Result<usize, ApiError> {
    let mut stmt = conn.prepare(
        "SELECT mid, title, room, starts_at_ms FROM meetings m WHERE starts_at_ms > ?1 AND starts_at_ms <= ?2 \
         AND NOT EXISTS (SELECT 1 FROM push_meeting_reminders r WHERE r.mid = m.mid) ORDER BY starts_at_ms",
    )?;
    let meetings = stmt
        .query_map(params![now_ms, now_ms.saturating_add(lead_ms)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut queued = 0;
    for (mid, title, room, starts_at_ms) in meetings {
        conn.execute("INSERT INTO push_meeting_reminders (mid, sent_at_ms) VALUES (?1, ?2)", params![mid, now_ms])?;
        let mut invitees = conn.prepare(
            "SELECT i.user_id FROM meeting_invitees i JOIN users u ON u.user_id = i.user_id WHERE i.mid = ?1 ORDER BY i.user_id",
        )?;
        let users = invitees.query_map([&mid], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        let collapse_key = super::collapse_key("meeting", &mid);
        let starts = taipei_time(starts_at_ms);
        for user_id in users {
            let notice = Notice {
                user_id,
                kind: PushKind::MeetingReminder,
                collapse_key: collapse_key.clone(),
                ttl_ms: (starts_at_ms - now_ms).max(MIN_TTL_MS),
                urgency: Urgency::High,
                content: PushContent::Body {
                    title: truncate(&format!("會議提醒：{title}"), taipei_protocol::push::message::MAX_TITLE_LEN),
                    text: truncate(&format!("{} 開始，地點 {room}", starts.rsplit(' ').next().unwrap_or(&starts)), taipei_protocol::push::message::MAX_TEXT_LEN),
                    route: format!("meetings/{mid}"),
                },
            };
            queued += usize::from(super::notify(conn, kek, notice, now_ms)?.is_some());
        }
    }
    Ok(queued)
}

/// At most `max` bytes, cut on a character boundary.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
