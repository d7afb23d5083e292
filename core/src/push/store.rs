//! The push module's own tables (migration owner `push`): the subscription's keys, the
//! inbox, the tombstones of ids taken in, the sequence state and quiet hours. Nothing
//! here touches the network, so the light entry point uses it as the client does.

use rusqlite::{Connection, OptionalExtension as _, Transaction, params};
use taipei_protocol::push::message::{PushContent, PushKind, PushPlatform, SignedPush, Urgency};

use super::{InboxMessage, InboxOverview, KindCount, Outcome, PendingRoute, QuietHours, route_of};
use crate::store::StoreError;
use crate::store::seal::{DataKey, SealContext};

/// A person's inbox keeps this many messages; past it the oldest read ones go first.
pub(crate) const MAX_INBOX: i64 = 2_000;
/// Tombstones are kept at least this long (FCM keeps undelivered messages up to 28
/// days, so a repeat can come that late).
pub(crate) const TOMBSTONE_MS: i64 = 30 * 86_400_000;
/// And at most this many: past it the oldest (all below the contiguous sequence, so
/// `floor_seq` still refuses their repeats) are pruned early.
pub(crate) const MAX_TOMBSTONES: i64 = 50_000;

fn bad_row(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("push row: {e}"))
}

fn sub_ctx(column: &str) -> SealContext<'_> {
    SealContext { table: "push_subscription", column, row: "1" }
}

/// What `push_subscription` holds.
pub(crate) struct Subscription {
    pub scalar: Vec<u8>,
    pub public: Vec<u8>,
    pub auth: Vec<u8>,
    pub platform: Option<PushPlatform>,
    pub endpoint: Option<String>,
    pub server_key: Option<Vec<u8>>,
    pub user_id: Option<String>,
    pub reverify_after_ms: Option<i64>,
}

pub(crate) fn platform_str(p: PushPlatform) -> &'static str {
    match p {
        PushPlatform::WebPush => "web_push",
        PushPlatform::Fcm => "fcm",
        PushPlatform::Apns => "apns",
    }
}

fn platform_of(s: &str) -> Option<PushPlatform> {
    [PushPlatform::WebPush, PushPlatform::Fcm, PushPlatform::Apns].into_iter().find(|p| platform_str(*p) == s)
}

pub(crate) fn subscription(conn: &Connection, key: &DataKey) -> Result<Option<Subscription>, StoreError> {
    type Row = (Vec<u8>, Vec<u8>, Vec<u8>, Option<String>, Option<Vec<u8>>, Option<Vec<u8>>, Option<String>, Option<i64>);
    let row: Option<Row> = conn
        .query_row(
            "SELECT private_key, public_key, auth_secret, platform, endpoint, server_key, user_id, reverify_after_ms
             FROM push_subscription WHERE slot = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)),
        )
        .optional()?;
    let Some((scalar, public, auth, platform, endpoint, server_key, user_id, reverify_after_ms)) = row else {
        return Ok(None);
    };
    let endpoint = match endpoint {
        Some(sealed) => Some(String::from_utf8(key.unseal(sub_ctx("endpoint"), &sealed)?).map_err(bad_row)?),
        None => None,
    };
    Ok(Some(Subscription {
        scalar: key.unseal(sub_ctx("private_key"), &scalar)?,
        public,
        auth: key.unseal(sub_ctx("auth_secret"), &auth)?,
        platform: platform.as_deref().and_then(platform_of),
        endpoint,
        server_key,
        user_id,
        reverify_after_ms,
    }))
}

/// Stores a new key set (only when there is none: keys change only with the profile).
pub(crate) fn insert_keys(tx: &Transaction<'_>, key: &DataKey, k: &super::keys::NewKeys) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO push_subscription (slot, private_key, public_key, auth_secret) VALUES (1, ?1, ?2, ?3)",
        params![key.seal(sub_ctx("private_key"), &k.scalar)?, k.public, key.seal(sub_ctx("auth_secret"), &k.auth)?],
    )?;
    Ok(())
}

/// What the server answered to a registration.
pub(crate) struct Registered<'a> {
    pub platform: PushPlatform,
    pub endpoint: &'a str,
    pub server_key: &'a [u8],
    pub user_id: &'a str,
    pub now_ms: i64,
    pub reverify_after_ms: i64,
}

pub(crate) fn save_registration(tx: &Transaction<'_>, key: &DataKey, r: &Registered<'_>) -> Result<(), StoreError> {
    let n = tx.execute(
        "UPDATE push_subscription SET platform = ?1, endpoint = ?2, server_key = ?3, user_id = ?4,
             registered_at_ms = ?5, reverify_after_ms = ?6 WHERE slot = 1",
        params![
            platform_str(r.platform),
            key.seal(sub_ctx("endpoint"), r.endpoint.as_bytes())?,
            r.server_key,
            r.user_id,
            r.now_ms,
            r.reverify_after_ms
        ],
    )?;
    if n != 1 {
        return Err(StoreError::Corrupt("push keys vanished during registration".into()));
    }
    Ok(())
}

/// Forgets the registration (keys, server key and inbox stay: a later registration
/// of the same person goes on where this one stopped).
pub(crate) fn clear_registration(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("UPDATE push_subscription SET platform = NULL, endpoint = NULL, reverify_after_ms = NULL WHERE slot = 1", [])?;
    Ok(())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub contiguous: u64,
    pub latest: u64,
    pub floor: u64,
    /// Asked for (a tickle, the OS's overflow signal) until a sync completes; a gap
    /// in the numbers needs no flag, it is `contiguous < latest`.
    pub sync_due: bool,
}

impl State {
    pub fn needs_sync(&self) -> bool {
        self.sync_due || self.contiguous < self.latest
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn state(conn: &Connection) -> Result<State, StoreError> {
    Ok(conn
        .query_row("SELECT contiguous_seq, latest_seq, floor_seq, sync_due FROM push_state WHERE slot = 1", [], |r| {
            Ok(State { contiguous: to_u64(r.get(0)?), latest: to_u64(r.get(1)?), floor: to_u64(r.get(2)?), sync_due: r.get(3)? })
        })
        .optional()?
        .unwrap_or_default())
}

fn ensure_state(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("INSERT OR IGNORE INTO push_state (slot) VALUES (1)", [])?;
    Ok(())
}

/// Notes that sequence `seq` exists; `force_sync` asks for a sync whatever the numbers
/// say (a tickle, the OS's "messages dropped").
pub(crate) fn note_latest(tx: &Transaction<'_>, seq: u64, force_sync: bool) -> Result<State, StoreError> {
    ensure_state(tx)?;
    tx.execute(
        "UPDATE push_state SET latest_seq = max(latest_seq, ?1), sync_due = sync_due OR ?2 WHERE slot = 1",
        params![to_i64(seq), force_sync],
    )?;
    state(tx)
}

/// Advances the contiguous sequence over the tombstones that follow it.
fn advance(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let mut s = state(tx)?;
    let mut stmt = tx.prepare_cached("SELECT 1 FROM push_seen WHERE seq = ?1")?;
    while stmt.exists([to_i64(s.contiguous + 1)])? {
        s.contiguous += 1;
    }
    tx.execute(
        "UPDATE push_state SET contiguous_seq = ?1, latest_seq = max(latest_seq, ?1) WHERE slot = 1",
        [to_i64(s.contiguous)],
    )?;
    Ok(())
}

fn urgency_str(u: Urgency) -> &'static str {
    u.header_value()
}

fn inbox_ctx(id: &str) -> SealContext<'_> {
    SealContext { table: "push_inbox", column: "signed", row: id }
}

/// Takes one verified message in: repeat → `Duplicate`; tickle → a sync is due; expired
/// → tombstone only; a newer one of the same (kind, collapse key) already held →
/// `Superseded`; else it replaces the older ones of its collapse key and enters the inbox.
pub(crate) fn apply(tx: &Transaction<'_>, key: &DataKey, signed: &SignedPush, now_ms: i64) -> Result<Outcome, StoreError> {
    let m = &signed.message;
    ensure_state(tx)?;
    let st = state(tx)?;
    let seen = tx.prepare_cached("SELECT 1 FROM push_seen WHERE id = ?1")?.exists([&m.id])?;
    if seen || m.seq <= st.floor {
        return Ok(Outcome::Duplicate);
    }
    if m.content == PushContent::Tickle {
        // The full message comes by sync with this same id, so no tombstone yet.
        note_latest(tx, m.seq, true)?;
        return Ok(Outcome::Tickle);
    }
    tx.execute("INSERT INTO push_seen (id, seq, seen_ms) VALUES (?1, ?2, ?3)", params![m.id, to_i64(m.seq), now_ms])?;
    note_latest(tx, m.seq, false)?;
    advance(tx)?;
    if m.is_expired(now_ms) {
        return Ok(Outcome::Expired);
    }
    if let Some(ck) = &m.collapse_key {
        let newer = tx
            .prepare_cached("SELECT 1 FROM push_inbox WHERE kind = ?1 AND collapse_key = ?2 AND seq > ?3")?
            .exists(params![m.kind.as_str(), ck, to_i64(m.seq)])?;
        if newer {
            return Ok(Outcome::Superseded);
        }
        tx.execute("DELETE FROM push_inbox WHERE kind = ?1 AND collapse_key = ?2", params![m.kind.as_str(), ck])?;
    }
    let json = serde_json::to_vec(signed).map_err(bad_row)?;
    tx.execute(
        "INSERT INTO push_inbox (id, seq, kind, collapse_key, urgency, created_ms, expires_ms, signed, received_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            m.id,
            to_i64(m.seq),
            m.kind.as_str(),
            m.collapse_key,
            urgency_str(m.urgency),
            m.created_ms,
            m.expires_ms,
            key.seal(inbox_ctx(&m.id), &json)?,
            now_ms
        ],
    )?;
    bound_inbox(tx)?;
    Ok(Outcome::New)
}

fn bound_inbox(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let n: i64 = tx.query_row("SELECT count(*) FROM push_inbox", [], |r| r.get(0))?;
    if n > MAX_INBOX {
        tx.execute(
            "DELETE FROM push_inbox WHERE id IN (SELECT id FROM push_inbox WHERE read_pending = 0 ORDER BY read DESC, seq LIMIT ?1)",
            [n - MAX_INBOX],
        )?;
    }
    Ok(())
}

/// Drops tombstones older than 30 days, and the oldest past [`MAX_TOMBSTONES`], of
/// messages at or below the contiguous sequence; `floor_seq` remembers the highest
/// pruned, so their repeats are still refused.
pub(crate) fn prune(tx: &Transaction<'_>, now_ms: i64) -> Result<u64, StoreError> {
    ensure_state(tx)?;
    let st = state(tx)?;
    let cut = to_i64(st.contiguous);
    let old: Option<i64> = tx.query_row(
        "SELECT max(seq) FROM push_seen WHERE seq <= ?1 AND seen_ms < ?2",
        params![cut, now_ms.saturating_sub(TOMBSTONE_MS)],
        |r| r.get(0),
    )?;
    let total: i64 = tx.query_row("SELECT count(*) FROM push_seen", [], |r| r.get(0))?;
    let over: Option<i64> = if total > MAX_TOMBSTONES {
        tx.query_row(
            "SELECT max(seq) FROM (SELECT seq FROM push_seen WHERE seq <= ?1 ORDER BY seq LIMIT ?2)",
            params![cut, total - MAX_TOMBSTONES],
            |r| r.get(0),
        )?
    } else {
        None
    };
    let Some(floor) = old.max(over) else { return Ok(0) };
    let n = tx.execute("DELETE FROM push_seen WHERE seq <= ?1", [floor])?;
    tx.execute("UPDATE push_state SET floor_seq = max(floor_seq, ?1) WHERE slot = 1", [floor])?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The badge: unread messages not expired. Computed, never incremented.
pub(crate) fn badge(conn: &Connection, now_ms: i64) -> Result<u32, StoreError> {
    let n: i64 = conn.query_row("SELECT count(*) FROM push_inbox WHERE read = 0 AND expires_ms > ?1", [now_ms], |r| r.get(0))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Unread, not expired, per kind.
pub(crate) fn unread_by_kind(conn: &Connection, now_ms: i64) -> Result<Vec<KindCount>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, count(*) FROM push_inbox WHERE read = 0 AND expires_ms > ?1 GROUP BY kind ORDER BY kind",
    )?;
    let rows = stmt.query_map([now_ms], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    rows.map(|r| r.map(|(k, n)| KindCount { kind: PushKind::parse(&k), unread: u32::try_from(n).unwrap_or(u32::MAX) }).map_err(StoreError::from))
        .collect()
}

fn message_of(key: &DataKey, id: &str, sealed: &[u8], read: bool) -> Result<InboxMessage, StoreError> {
    let signed: SignedPush = serde_json::from_slice(&key.unseal(inbox_ctx(id), sealed)?).map_err(bad_row)?;
    let m = signed.message;
    let (title, text, route) = match m.content {
        PushContent::Body { title, text, route } => (title, text, route),
        PushContent::Tickle => (String::new(), String::new(), String::new()),
    };
    Ok(InboxMessage {
        target: route_of(&m.kind, &route),
        id: m.id,
        seq: m.seq,
        kind: m.kind,
        collapse_key: m.collapse_key,
        urgency: m.urgency,
        title,
        text,
        route,
        created_ms: m.created_ms,
        expires_ms: m.expires_ms,
        read,
    })
}

/// Newest first; `kind` narrows, `unread_only` leaves read ones out; expired ones are
/// never listed.
pub(crate) fn newest(
    conn: &Connection,
    key: &DataKey,
    kind: Option<&PushKind>,
    unread_only: bool,
    limit: u32,
    now_ms: i64,
) -> Result<Vec<InboxMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, signed, read FROM push_inbox
         WHERE (?1 IS NULL OR kind = ?1) AND (?2 = 0 OR read = 0) AND expires_ms > ?3
         ORDER BY seq DESC LIMIT ?4",
    )?;
    let mut rows = stmt.query(params![kind.map(PushKind::as_str), unread_only, now_ms, i64::from(limit)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let sealed: Vec<u8> = r.get(1)?;
        out.push(message_of(key, &id, &sealed, r.get(2)?)?);
    }
    Ok(out)
}

/// The badge, unread per kind and the `limit` newest, from one connection under the
/// store's lock, so no write lands between the counts and the list.
pub(crate) fn overview(conn: &Connection, key: &DataKey, now_ms: i64, limit: u32) -> Result<InboxOverview, StoreError> {
    Ok(InboxOverview {
        badge: badge(conn, now_ms)?,
        unread_by_kind: unread_by_kind(conn, now_ms)?,
        newest: newest(conn, key, None, false, limit, now_ms)?,
    })
}

pub(crate) fn message(conn: &Connection, key: &DataKey, id: &str) -> Result<Option<InboxMessage>, StoreError> {
    let row: Option<(Vec<u8>, bool)> =
        conn.query_row("SELECT signed, read FROM push_inbox WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    row.map(|(sealed, read)| message_of(key, id, &sealed, read)).transpose()
}

/// Marks read here; `pending` = the server is still to be told. Returns how many changed.
pub(crate) fn mark_read(tx: &Transaction<'_>, ids: &[String], pending: bool) -> Result<u32, StoreError> {
    let mut stmt = tx.prepare_cached("UPDATE push_inbox SET read = 1, read_pending = read_pending OR ?2 WHERE id = ?1 AND read = 0")?;
    let mut n = 0u32;
    for id in ids {
        n = n.saturating_add(u32::try_from(stmt.execute(params![id, pending])?).unwrap_or(0));
    }
    Ok(n)
}

pub(crate) fn pending_reads(conn: &Connection, limit: usize) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM push_inbox WHERE read_pending = 1 ORDER BY seq LIMIT ?1")?;
    let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| r.get(0))?;
    rows.map(|r| r.map_err(StoreError::from)).collect()
}

pub(crate) fn reads_sent(tx: &Transaction<'_>, ids: &[String]) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached("UPDATE push_inbox SET read_pending = 0 WHERE id = ?1")?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}

/// The lowest sequence still unread here: a sync starts below it to learn read marks
/// made on other devices.
pub(crate) fn oldest_unread(conn: &Connection, now_ms: i64) -> Result<Option<u64>, StoreError> {
    let v: Option<i64> = conn.query_row("SELECT min(seq) FROM push_inbox WHERE read = 0 AND expires_ms > ?1", [now_ms], |r| r.get(0))?;
    Ok(v.map(to_u64))
}

/// A complete sync reached the server's newest: nothing below it is missing any more
/// (what the server no longer has, it purged as expired).
pub(crate) fn synced_to(tx: &Transaction<'_>, latest: u64, now_ms: i64) -> Result<(), StoreError> {
    ensure_state(tx)?;
    tx.execute(
        "UPDATE push_state SET contiguous_seq = max(contiguous_seq, ?1), latest_seq = max(latest_seq, ?1),
             sync_due = 0, synced_at_ms = ?2 WHERE slot = 1",
        params![to_i64(latest), now_ms],
    )?;
    Ok(())
}

pub(crate) fn set_pending_route(tx: &Transaction<'_>, p: &PendingRoute) -> Result<(), StoreError> {
    ensure_state(tx)?;
    tx.execute("UPDATE push_state SET pending_route = ?1, pending_id = ?2 WHERE slot = 1", params![p.route, p.message_id])?;
    Ok(())
}

pub(crate) fn take_pending_route(tx: &Transaction<'_>, key: &DataKey) -> Result<Option<PendingRoute>, StoreError> {
    let row: Option<(Option<String>, Option<String>)> = tx
        .query_row("SELECT pending_route, pending_id FROM push_state WHERE slot = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((Some(route), Some(id))) = row else { return Ok(None) };
    tx.execute("UPDATE push_state SET pending_route = NULL, pending_id = NULL WHERE slot = 1", [])?;
    let target = match message(tx, key, &id)? {
        Some(m) => m.target,
        None => super::PushRoute::InboxOnly,
    };
    Ok(Some(PendingRoute { message_id: id, route, target }))
}

pub(crate) fn set_quiet(tx: &Transaction<'_>, kind: &PushKind, hours: Option<QuietHours>) -> Result<(), StoreError> {
    match hours {
        Some(q) => tx.execute(
            "INSERT INTO push_quiet (kind, start_min, end_min) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind) DO UPDATE SET start_min = ?2, end_min = ?3",
            params![kind.as_str(), q.start_min, q.end_min],
        )?,
        None => tx.execute("DELETE FROM push_quiet WHERE kind = ?1", [kind.as_str()])?,
    };
    Ok(())
}

pub(crate) fn quiet(conn: &Connection, kind: &PushKind) -> Result<Option<QuietHours>, StoreError> {
    Ok(conn
        .query_row("SELECT start_min, end_min FROM push_quiet WHERE kind = ?1", [kind.as_str()], |r| {
            Ok(QuietHours { start_min: r.get(0)?, end_min: r.get(1)? })
        })
        .optional()?)
}
