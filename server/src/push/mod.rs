//! Push, the server's side: each user's message log, which the push sender draws from
//! and the phone syncs from, and read state shared by a user's devices.
//!
//! A push service may lose a message; the log may not. So a message is first written
//! here, signed, with the user's next sequence number in the same transaction (gap-free
//! even under concurrent writers, since `Db::write` holds SQLite's write lock), and
//! only then handed to the sender. A phone that sees a gap in the numbers syncs.

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use crate::db::{Conn, OptionalExtension as _};
use crate::params;
use taipei_protocol::b64;
use taipei_protocol::push::message::{MAX_SYNC_PAGE, PushContent, PushKind, PushMessage, SignedPush, SyncPage, Urgency};

use crate::error::ApiError;
use crate::sealing::{Kek, labels};

pub mod registry;
pub mod reminders;
pub mod routes;
pub mod sender;

pub use sender::{Outgoing, PushConfig};

const SIGNING_KEY: &str = "signing";
const VAPID_KEY: &str = "vapid";

/// What a trigger (approval, meeting, attendance, wallet) asks to send to one user.
#[derive(Debug, Clone)]
pub struct Notice {
    pub user_id: String,
    pub kind: PushKind,
    pub collapse_key: Option<String>,
    pub ttl_ms: i64,
    pub urgency: Urgency,
    pub content: PushContent,
}

/// Makes the push signing key and the VAPID key if the database has none, sealed
/// under the operator's key-encryption key, at start-up. Both must outlive restarts:
/// phones verify every message with the first, and push services bind a subscription
/// to the second.
pub async fn init(db: &crate::db::Db, kek: &Kek) -> Result<(), ApiError> {
    let kek = kek.clone();
    db.write(move |tx| {
        for name in [SIGNING_KEY, VAPID_KEY] {
            let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM push_keys WHERE name = ?1)", [name], |r| r.get(0))?;
            if !exists {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                    .map_err(|_| ApiError::internal("push key generation failed"))?;
                tx.execute(
                    "INSERT INTO push_keys (name, pkcs8) VALUES (?1, ?2)",
                    params![name, kek.seal(&labels::push_key(name), pkcs8.as_ref())?],
                )?;
            }
        }
        Ok(())
    })
    .await
}

fn stored_key(conn: &Conn<'_>, kek: &Kek, name: &str) -> Result<EcdsaKeyPair, ApiError> {
    let sealed: Vec<u8> = conn
        .query_row("SELECT pkcs8 FROM push_keys WHERE name = ?1", [name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| ApiError::internal(format!("no push {name} key: push::init makes it at start-up")))?;
    let pkcs8 = kek.open(&labels::push_key(name), &sealed)?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &SystemRandom::new())
        .map_err(|_| ApiError::internal(format!("the stored push {name} key is unreadable")))
}

/// The server's push signing key (made by [`init`]).
pub fn signing_key(conn: &Conn<'_>, kek: &Kek) -> Result<EcdsaKeyPair, ApiError> {
    stored_key(conn, kek, SIGNING_KEY)
}

/// The key the server signs its VAPID tokens with (made by [`init`]).
pub fn vapid_key(conn: &Conn<'_>, kek: &Kek) -> Result<EcdsaKeyPair, ApiError> {
    stored_key(conn, kek, VAPID_KEY)
}

/// The push public key phones verify messages with (SEC1, base64url).
pub fn public_key(conn: &Conn<'_>, kek: &Kek) -> Result<String, ApiError> {
    Ok(b64::encode(signing_key(conn, kek)?.public_key().as_ref()))
}

/// A trigger's one call: appends the notice to the user's log ([`record`]) and queues
/// it for each of the user's Web Push subscriptions, in the caller's transaction, so
/// the event, the message and its deliveries commit together. Wake the sender
/// ([`Outgoing::wake`]) after the commit.
/// Someone who never bound a phone (an invitee, a certificate's holder before their
/// first login) has no log: `None`.
pub fn notify(conn: &Conn<'_>, kek: &Kek, notice: Notice, now_ms: i64) -> Result<Option<SignedPush>, ApiError> {
    let known: bool = conn.query_row("SELECT EXISTS(SELECT 1 FROM users WHERE user_id = ?1)", [&notice.user_id], |r| r.get(0))?;
    if !known {
        return Ok(None);
    }
    let signed = record(conn, kek, notice, now_ms)?;
    sender::enqueue(conn, &signed.message, now_ms)?;
    Ok(Some(signed))
}

/// A collapse key from a prefix and an id, or none when the id would make it invalid.
pub fn collapse_key(prefix: &str, id: &str) -> Option<String> {
    Some(format!("{prefix}-{id}")).filter(|k| taipei_protocol::push::message::validate_collapse_key(k).is_ok())
}

/// Appends a notice to the user's log: next sequence number, signed. Call inside a
/// write transaction so the number and the row commit together.
pub fn record(conn: &Conn<'_>, kek: &Kek, notice: Notice, now_ms: i64) -> Result<SignedPush, ApiError> {
    let seq: i64 = conn.query_row(
        "INSERT INTO push_sequences (user_id, last_seq) VALUES (?1, 1) \
         ON CONFLICT (user_id) DO UPDATE SET last_seq = push_sequences.last_seq + 1 RETURNING last_seq",
        [&notice.user_id],
        |r| r.get(0),
    )?;
    let message = PushMessage {
        id: crate::random::id()?,
        user_id: notice.user_id,
        seq: u64::try_from(seq).map_err(|_| ApiError::internal("negative push sequence"))?,
        kind: notice.kind,
        collapse_key: notice.collapse_key,
        created_ms: now_ms,
        expires_ms: now_ms.saturating_add(notice.ttl_ms),
        urgency: notice.urgency,
        content: notice.content,
    };
    let signed = SignedPush::sign(message, &signing_key(conn, kek)?, &SystemRandom::new())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let json = serde_json::to_string(&signed).map_err(|e| ApiError::internal(e.to_string()))?;
    conn.execute(
        "INSERT INTO push_messages (id, user_id, seq, signed, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![signed.message.id, signed.message.user_id, seq, json, signed.message.expires_ms],
    )?;
    Ok(signed)
}

/// One page of the user's log after sequence `after`, oldest first.
pub fn sync_page(conn: &Conn<'_>, user_id: &str, after: u64, limit: u32) -> Result<SyncPage, ApiError> {
    let limit = limit.clamp(1, MAX_SYNC_PAGE);
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let latest: i64 = conn
        .query_row("SELECT last_seq FROM push_sequences WHERE user_id = ?1", [user_id], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let mut stmt = conn.prepare(
        "SELECT signed, read_at_ms IS NOT NULL FROM push_messages WHERE user_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let mut messages = Vec::new();
    let mut read = Vec::new();
    for row in stmt.query_map(params![user_id, after, limit], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))? {
        let (json, is_read) = row?;
        let signed: SignedPush = serde_json::from_str(&json).map_err(|e| ApiError::internal(e.to_string()))?;
        if is_read {
            read.push(signed.message.id.clone());
        }
        messages.push(signed);
    }
    let last = messages.last().map_or(0, |m| m.message.seq);
    let next_after = (messages.len() == limit as usize && i64::try_from(last).unwrap_or(i64::MAX) < latest).then_some(last);
    Ok(SyncPage { messages, read, latest_seq: u64::try_from(latest).unwrap_or(0), next_after })
}

/// Marks the user's messages read (others' ids are ignored); returns (newly marked, unread left).
pub fn mark_read(conn: &Conn<'_>, user_id: &str, ids: &[String], now_ms: i64) -> Result<(u32, u64), ApiError> {
    let mut marked = 0u32;
    for id in ids {
        let n = conn.execute(
            "UPDATE push_messages SET read_at_ms = ?3 WHERE id = ?1 AND user_id = ?2 AND read_at_ms IS NULL",
            params![id, user_id, now_ms],
        )?;
        marked = marked.saturating_add(u32::try_from(n).unwrap_or(0));
    }
    let unread: i64 = conn.query_row(
        "SELECT COUNT(*) FROM push_messages WHERE user_id = ?1 AND read_at_ms IS NULL AND expires_ms > ?2",
        params![user_id, now_ms],
        |r| r.get(0),
    )?;
    Ok((marked, u64::try_from(unread).unwrap_or(0)))
}
