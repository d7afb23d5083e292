//! The push message itself: what the backend signs, and the wire types around it.
//!
//! The push service, FCM and APNs may drop, repeat, reorder or delay a message, so a
//! message carries what the phone needs to repair that on its own: a unique `id` to
//! drop repeats, the user's gap-free `seq` to notice a loss (then sync fetches it from
//! the server's log), an expiry, and a collapse key. The server signs it with its own
//! key (ES256 over the layout of [`signed_bytes`]) so a push service cannot forge one.
//!
//! When the content would not fit the platforms' 4 KB the server sends a *tickle*
//! instead: same id and sequence number, no content; the phone syncs to fetch it.

use ring::signature::{ECDSA_P256_SHA256_FIXED, EcdsaKeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use super::encryption::MAX_PLAINTEXT_LEN;
use crate::ProtocolError;
use crate::signed::{SignedMessage, tags};

/// Bytes in a message id (random, sent as base64url).
pub const ID_LEN: usize = 16;
/// APNs refuses a longer `apns-collapse-id`; FCM's limit is looser, so this one rules.
pub const MAX_COLLAPSE_KEY_LEN: usize = 64;
/// FCM keeps at most this many collapse keys pending per device; more are lost.
pub const MAX_COLLAPSE_KEYS_PER_DEVICE: usize = 4;
/// FCM drops *all* pending non-collapsible messages past this many and tells the app
/// (`onDeletedMessages`): the phone must then sync in full.
pub const MAX_PENDING_NON_COLLAPSIBLE: usize = 100;
pub const MAX_TITLE_LEN: usize = 200;
pub const MAX_TEXT_LEN: usize = 1_000;
pub const MAX_ROUTE_LEN: usize = 256;
pub const MAX_KIND_LEN: usize = 64;
/// A message may live at most four weeks, RFC 8030's practical TTL ceiling.
pub const MAX_TTL_MS: i64 = 28 * 86_400_000;
/// Messages per sync page, at most (and the default).
pub const MAX_SYNC_PAGE: u32 = 100;
/// Read marks in one request, at most.
pub const MAX_READ_IDS: usize = 500;
/// FCM tokens expire after about 270 days without use; the registry drops older ones.
pub const SUBSCRIPTION_MAX_AGE_MS: i64 = 270 * 86_400_000;
/// A device re-registers its subscription at most once a day.
pub const REVERIFY_INTERVAL_MS: i64 = 86_400_000;
pub const MAX_ENDPOINT_LEN: usize = 2_048;

/// What the message is about. Unknown kinds from a newer server are kept, not refused,
/// so an old app still counts, stores and routes them generically.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PushKind {
    ApprovalItem,
    MeetingReminder,
    PunchSettled,
    CertificateIssued,
    Unknown(String),
}

impl PushKind {
    pub fn as_str(&self) -> &str {
        match self {
            Self::ApprovalItem => "approval_item",
            Self::MeetingReminder => "meeting_reminder",
            Self::PunchSettled => "punch_settled",
            Self::CertificateIssued => "certificate_issued",
            Self::Unknown(s) => s,
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "approval_item" => Self::ApprovalItem,
            "meeting_reminder" => Self::MeetingReminder,
            "punch_settled" => Self::PunchSettled,
            "certificate_issued" => Self::CertificateIssued,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl Serialize for PushKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PushKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// RFC 8030 §5.3 urgency; also picks FCM/APNs priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PushUrgency))]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    VeryLow,
    Low,
    Normal,
    High,
}

impl Urgency {
    /// The value of the `Urgency` header.
    pub fn header_value(self) -> &'static str {
        match self {
            Self::VeryLow => "very-low",
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }

    fn code(self) -> u64 {
        match self {
            Self::VeryLow => 0,
            Self::Low => 1,
            Self::Normal => 2,
            Self::High => 3,
        }
    }
}

/// What the user sees, or nothing but "sync".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PushContent {
    Body {
        title: String,
        text: String,
        /// Where a tap leads in the app, e.g. `approval/42`.
        route: String,
    },
    Tickle,
}

/// The signed fields of one push message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushMessage {
    /// Random, base64url of [`ID_LEN`] bytes; the same on every copy and in sync.
    pub id: String,
    pub user_id: String,
    /// Per user, starting at 1, without gaps.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub seq: u64,
    /// `approval_item`, `meeting_reminder`, `punch_settled`, `certificate_issued`, or a
    /// kind a newer server added (kept, not refused).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: PushKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 64, pattern = "^[A-Za-z0-9_-]+$"))]
    pub collapse_key: Option<String>,
    pub created_ms: i64,
    /// After this the message is not shown (sync still lists it for the count).
    pub expires_ms: i64,
    pub urgency: Urgency,
    pub content: PushContent,
}

/// A message with the server's signature (`r ‖ s`, base64url): the plaintext of a
/// Web Push body and one entry of a sync page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PushSignedPush))]
pub struct SignedPush {
    pub message: PushMessage,
    /// ES256 `r‖s`, base64url, over protocol::push::message::signed_bytes, with the push
    /// signing key.
    pub signature: String,
}

fn bounded(what: &str, value: &str, max: usize) -> Result<(), ProtocolError> {
    if value.len() > max {
        return Err(ProtocolError::Malformed(format!("push {what} is {} bytes, at most {max}", value.len())));
    }
    Ok(())
}

impl PushMessage {
    /// The bounds every message keeps; checked before signing and after verifying.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let id = crate::b64::decode(&self.id)?;
        if id.len() != ID_LEN {
            return Err(ProtocolError::Malformed(format!("push id is {} bytes, expected {ID_LEN}", id.len())));
        }
        if self.seq == 0 {
            return Err(ProtocolError::Malformed("push sequence numbers start at 1".into()));
        }
        if self.user_id.is_empty() {
            return Err(ProtocolError::Malformed("push message without a user".into()));
        }
        bounded("user id", &self.user_id, MAX_KIND_LEN * 2)?;
        bounded("kind", self.kind.as_str(), MAX_KIND_LEN)?;
        if let Some(key) = &self.collapse_key {
            validate_collapse_key(key)?;
        }
        if self.expires_ms <= self.created_ms || self.expires_ms - self.created_ms > MAX_TTL_MS {
            return Err(ProtocolError::Malformed("push expiry must be after creation and within 28 days".into()));
        }
        if let PushContent::Body { title, text, route } = &self.content {
            bounded("title", title, MAX_TITLE_LEN)?;
            bounded("text", text, MAX_TEXT_LEN)?;
            bounded("route", route, MAX_ROUTE_LEN)?;
        }
        Ok(())
    }

    /// This message without its content, for when the full one does not fit.
    pub fn tickle(&self) -> Self {
        Self { content: PushContent::Tickle, ..self.clone() }
    }

    pub fn is_expired(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_ms
    }
}

/// Collapse keys go into an HTTP `Topic` header (RFC 8030 §5.4: base64url alphabet)
/// and an APNs collapse id (≤ 64 bytes).
pub fn validate_collapse_key(key: &str) -> Result<(), ProtocolError> {
    bounded("collapse key", key, MAX_COLLAPSE_KEY_LEN)?;
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ProtocolError::Malformed("a push collapse key is 1–64 characters of A–Z a–z 0–9 - _".into()));
    }
    Ok(())
}

/// `PUSH ‖ id ‖ user ‖ seq ‖ kind ‖ collapse ‖ created ‖ expires ‖ urgency ‖ content`,
/// content being `"body" ‖ title ‖ text ‖ route` or `"tickle"`. A tickle and its full
/// message differ in bytes, so each needs its own signature.
pub fn signed_bytes(m: &PushMessage) -> Vec<u8> {
    let mut s = SignedMessage::new(tags::PUSH)
        .text(&m.id)
        .text(&m.user_id)
        .u64(m.seq)
        .text(m.kind.as_str())
        // An absent key and an empty one must differ; empty keys are refused anyway.
        .bytes(m.collapse_key.as_deref().map_or(&[][..], |k| k.as_bytes()))
        .i64(m.created_ms)
        .i64(m.expires_ms)
        .u64(m.urgency.code());
    s = match &m.content {
        PushContent::Body { title, text, route } => s.text("body").text(title).text(text).text(route),
        PushContent::Tickle => s.text("tickle"),
    };
    s.finish()
}

impl SignedPush {
    /// Signs with the server's push key (`ECDSA_P256_SHA256_FIXED_SIGNING`).
    pub fn sign(message: PushMessage, key: &EcdsaKeyPair, rng: &dyn ring::rand::SecureRandom) -> Result<Self, ProtocolError> {
        message.validate()?;
        let sig = key
            .sign(rng, &signed_bytes(&message))
            .map_err(|_| ProtocolError::Malformed("push signing failed".into()))?;
        Ok(Self { message, signature: crate::b64::encode(sig.as_ref()) })
    }

    /// Checks the signature against the server's push public key (SEC1 uncompressed),
    /// then the bounds.
    pub fn verify(&self, server_public_key: &[u8]) -> Result<&PushMessage, ProtocolError> {
        let sig = crate::b64::decode(&self.signature)?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, server_public_key)
            .verify(&signed_bytes(&self.message), &sig)
            .map_err(|_| ProtocolError::SignatureInvalid)?;
        self.message.validate()?;
        Ok(&self.message)
    }

    /// Parses a decrypted push body, refusing oversized input before parsing.
    pub fn from_json(plaintext: &[u8]) -> Result<Self, ProtocolError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(ProtocolError::Malformed(format!("push body is {} bytes, at most {MAX_PLAINTEXT_LEN}", plaintext.len())));
        }
        serde_json::from_slice(plaintext).map_err(|e| ProtocolError::Malformed(format!("push body: {e}")))
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The plaintext to encrypt for one push: the full message if it fits one Web Push
/// record, otherwise its signed tickle.
pub fn push_plaintext(message: &PushMessage, key: &EcdsaKeyPair, rng: &dyn ring::rand::SecureRandom) -> Result<Vec<u8>, ProtocolError> {
    let full = SignedPush::sign(message.clone(), key, rng)?.to_json();
    if full.len() <= MAX_PLAINTEXT_LEN {
        return Ok(full);
    }
    let tickle = SignedPush::sign(message.tickle(), key, rng)?.to_json();
    if tickle.len() > MAX_PLAINTEXT_LEN {
        return Err(ProtocolError::Malformed("even the push tickle does not fit 4 KB".into()));
    }
    Ok(tickle)
}

/// Which push channel a subscription uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushPlatform {
    /// RFC 8030 endpoint URL (also FCM/APNs through a Web Push gateway).
    WebPush,
    Fcm,
    Apns,
}

/// `PUT /v1/push/subscription`: a device registers (or renews) its push channel. A new
/// subscription replaces the device's previous one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PushSubscriptionRequest))]
pub struct SubscriptionRequest {
    /// `web_push`: an RFC 8030 endpoint URL the server POSTs to. `fcm`/`apns`: the OS
    /// token, kept for a deployment's own gateway (the reference server sends only Web
    /// Push).
    pub platform: PushPlatform,
    /// Web Push endpoint URL, or the FCM/APNs token.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2048))]
    pub endpoint: String,
    /// The phone's ECDH P-256 public key, uncompressed SEC1, base64url (RFC 8291 `p256dh`).
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]+$"))]
    pub p256dh: String,
    /// RFC 8291 auth secret, 16 bytes, base64url.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]+$"))]
    pub auth: String,
}

impl SubscriptionRequest {
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if self.endpoint.is_empty() || self.endpoint.len() > MAX_ENDPOINT_LEN {
            return Err(ProtocolError::Malformed(format!("push endpoint must be 1–{MAX_ENDPOINT_LEN} bytes")));
        }
        if self.platform == PushPlatform::WebPush && !self.endpoint.starts_with("https://") && !self.endpoint.starts_with("http://") {
            return Err(ProtocolError::Malformed("a Web Push endpoint is an http(s) URL".into()));
        }
        let key = crate::b64::decode(&self.p256dh)?;
        crate::ecdsa::PublicKey::from_sec1(&key)?;
        // Only an agreement checks that the point lies on the curve; a key that fails
        // here would fail every send, so it is refused at registration.
        let rng = ring::rand::SystemRandom::new();
        let ours = ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::ECDH_P256, &rng)
            .map_err(|_| ProtocolError::Malformed("no randomness for the key check".into()))?;
        ring::agreement::agree_ephemeral(ours, &ring::agreement::UnparsedPublicKey::new(&ring::agreement::ECDH_P256, &key), |_| ())
            .map_err(|_| ProtocolError::BadPublicKey("push p256dh is not a point on P-256".into()))?;
        let auth = crate::b64::decode(&self.auth)?;
        if auth.len() != super::encryption::AUTH_SECRET_LEN {
            return Err(ProtocolError::Malformed(format!("push auth secret is {} bytes, expected 16", auth.len())));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PushSubscriptionResponse))]
pub struct SubscriptionResponse {
    /// When the device should register again (to prove the token still lives).
    pub reverify_after_ms: i64,
    /// The server's push public key (SEC1, base64url), which signs every message.
    pub server_public_key: String,
}

/// `GET /v1/push/messages?after=N&limit=L`: the user's log, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PushSyncPage))]
pub struct SyncPage {
    pub messages: Vec<SignedPush>,
    /// Ids of this user's messages marked read on any device (of those on this page).
    pub read: Vec<String>,
    /// The user's newest sequence number; the phone has a gap while its own is lower.
    pub latest_seq: u64,
    /// `after` for the next page, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

/// `POST /v1/push/read`: marks messages read for all of the user's devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PushReadRequest))]
pub struct ReadRequest {
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 500))]
    pub ids: Vec<String>,
}

impl ReadRequest {
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if self.ids.is_empty() || self.ids.len() > MAX_READ_IDS {
            return Err(ProtocolError::Malformed(format!("mark 1–{MAX_READ_IDS} messages read at a time")));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PushReadResponse))]
pub struct ReadResponse {
    /// Of the ids sent, how many were the user's and newly marked.
    pub marked: u32,
    /// The user's unread, unexpired messages left.
    pub unread: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, KeyPair as _};

    fn key() -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
    }

    fn message(text: &str) -> PushMessage {
        PushMessage {
            id: crate::b64::encode([7u8; ID_LEN]),
            user_id: "u1".into(),
            seq: 3,
            kind: PushKind::ApprovalItem,
            collapse_key: Some("approvals".into()),
            created_ms: 1_000,
            expires_ms: 1_000 + 3_600_000,
            urgency: Urgency::High,
            content: PushContent::Body { title: "Leave request".into(), text: text.into(), route: "approval/42".into() },
        }
    }

    #[test]
    fn signed_message_verifies_and_any_change_breaks_it() {
        let k = key();
        let rng = SystemRandom::new();
        let signed = SignedPush::sign(message("hi"), &k, &rng).unwrap();
        let back = SignedPush::from_json(&signed.to_json()).unwrap();
        assert_eq!(back.verify(k.public_key().as_ref()).unwrap(), &message("hi"));
        for change in [
            |m: &mut PushMessage| m.seq += 1,
            |m: &mut PushMessage| m.user_id = "u2".into(),
            |m: &mut PushMessage| m.collapse_key = None,
            |m: &mut PushMessage| m.urgency = Urgency::Low,
            |m: &mut PushMessage| m.content = PushContent::Tickle,
            |m: &mut PushMessage| m.kind = PushKind::Unknown("approval_item2".into()),
        ] {
            let mut forged = back.clone();
            change(&mut forged.message);
            assert_eq!(forged.verify(k.public_key().as_ref()), Err(ProtocolError::SignatureInvalid));
        }
        assert_eq!(back.verify(key().public_key().as_ref()), Err(ProtocolError::SignatureInvalid));
    }

    #[test]
    fn unknown_kinds_round_trip() {
        let mut m = message("x");
        m.kind = PushKind::Unknown("parking_fee".into());
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"kind\":\"parking_fee\""));
        let back: PushMessage = serde_json::from_str(&json).unwrap();
        assert_eq!(back.kind, PushKind::Unknown("parking_fee".into()));
        assert_eq!(PushKind::parse("punch_settled"), PushKind::PunchSettled);
    }

    #[test]
    fn bounds_are_refused() {
        let mut m = message("x");
        m.collapse_key = Some("k".repeat(65));
        assert!(m.validate().is_err());
        m.collapse_key = Some("has space".into());
        assert!(m.validate().is_err());
        m.collapse_key = Some("k".repeat(64));
        assert!(m.validate().is_ok());
        let mut m = message("x");
        m.seq = 0;
        assert!(m.validate().is_err());
        let mut m = message("x");
        m.expires_ms = m.created_ms + MAX_TTL_MS + 1;
        assert!(m.validate().is_err());
        let mut m = message("x");
        m.id = crate::b64::encode([1u8; 8]);
        assert!(m.validate().is_err());
        assert!(SignedPush::from_json(&vec![b' '; MAX_PLAINTEXT_LEN + 1]).is_err());
        assert!(SignedPush::from_json(b"{\"message\":").is_err());
    }

    #[test]
    fn content_too_big_for_4kb_becomes_a_signed_tickle() {
        let k = key();
        let rng = SystemRandom::new();
        let small = push_plaintext(&message("short"), &k, &rng).unwrap();
        assert!(matches!(SignedPush::from_json(&small).unwrap().message.content, PushContent::Body { .. }));
        // 1000 bytes of text, but as 3-byte CJK chars past the bound is refused; use
        // escaped control characters to grow the JSON past one record instead.
        let big = push_plaintext(&message(&"\u{1}".repeat(MAX_TEXT_LEN)), &k, &rng).unwrap();
        assert!(big.len() <= MAX_PLAINTEXT_LEN);
        let tickle = SignedPush::from_json(&big).unwrap();
        assert_eq!(tickle.message.content, PushContent::Tickle);
        assert_eq!(tickle.message.seq, 3);
        tickle.verify(k.public_key().as_ref()).unwrap();
    }

    #[test]
    fn subscription_request_is_checked() {
        let k = key();
        let ok = SubscriptionRequest {
            platform: PushPlatform::WebPush,
            endpoint: "https://push.example/abc".into(),
            p256dh: crate::b64::encode(k.public_key().as_ref()),
            auth: crate::b64::encode([1u8; 16]),
        };
        ok.validate().unwrap();
        let mut bad = ok.clone();
        bad.auth = crate::b64::encode([1u8; 15]);
        assert!(bad.validate().is_err());
        let mut bad = ok.clone();
        bad.p256dh = crate::b64::encode([4u8; 65]);
        assert!(bad.validate().is_err());
        let mut bad = ok;
        bad.endpoint = "ftp://x".into();
        assert!(bad.validate().is_err());
        assert!(ReadRequest { ids: vec![] }.validate().is_err());
    }
}
