#![doc = include_str!("README.md")]

mod keys;
mod store;

use std::path::Path;
use std::sync::Arc;

use taipei_protocol::b64;
use taipei_protocol::push::encryption::{self, PUBLIC_KEY_LEN, WebPushError};
pub use taipei_protocol::push::message::{PushKind, PushPlatform, Urgency};
use taipei_protocol::push::message::{
    MAX_READ_IDS, MAX_SYNC_PAGE, PushContent, REVERIFY_INTERVAL_MS, ReadRequest, ReadResponse, SignedPush, SubscriptionRequest,
    SubscriptionResponse, SyncPage,
};
use taipei_protocol::ProtocolError;

use crate::ctx::{self, Account, AfterSync, CommonError, Ctx, Queue, common_error};
use crate::events::{Event, EventBus};
use crate::net::{self, Method, parse_json};
use crate::outbox::Outbox;
use crate::secrets::SecretStore;
use crate::store::Store;

/// Sync pages read in one pass before handing back (the rest waits for the next).
const MAX_SYNC_PAGES: usize = 100;
/// Minutes in a day, and Taipei's offset from UTC (no daylight saving since 1979).
const DAY_MIN: u32 = 1_440;
const TAIPEI_OFFSET_MIN: i64 = 8 * 60;

/// Why a push call failed. A bad payload is always one of these, and stores nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("push is not registered on this phone yet: register first")]
    NotRegistered,
    #[error("the push payload of {len} bytes is over the 4096 bytes push services carry")]
    Oversized { len: usize },
    #[error("the push payload does not decrypt with this phone's keys: {0}")]
    Undecryptable(String),
    #[error("the push payload is malformed: {0}")]
    Malformed(String),
    #[error("the push message is not signed by the server this phone registered with")]
    Forged,
    #[error("the push message is for another person")]
    WrongUser,
    #[error("the server's push reply breaks the protocol: {0}")]
    BadReply(String),
    #[error("no message {0} in the push inbox")]
    UnknownMessage(String),
    #[error(transparent)]
    Common(CommonError),
}

common_error!(PushError);

impl PushError {
    pub fn code(&self) -> &str {
        match self {
            Self::NotRegistered => "push_not_registered",
            Self::Oversized { .. } => "push_too_large",
            Self::Undecryptable(_) => "push_undecryptable",
            Self::Malformed(_) => "push_malformed",
            Self::Forged => "push_forged",
            Self::WrongUser => "push_wrong_user",
            Self::BadReply(_) => "push_bad_reply",
            Self::UnknownMessage(_) => "push_unknown_message",
            Self::Common(e) => e.code(),
        }
    }
}

impl From<WebPushError> for PushError {
    fn from(e: WebPushError) -> Self {
        match e {
            WebPushError::TooLarge { len } => Self::Oversized { len },
            WebPushError::Undecryptable | WebPushError::BadPadding | WebPushError::BadKey(_) => Self::Undecryptable(e.to_string()),
            other => Self::Malformed(other.to_string()),
        }
    }
}

/// A message's signature or bounds failed: forged, or malformed.
fn verified(e: ProtocolError) -> PushError {
    match e {
        ProtocolError::SignatureInvalid => PushError::Forged,
        other => PushError::Malformed(other.to_string()),
    }
}

/// Where a message leads when tapped, typed for the screens the apps have. The id is
/// the last segment of the message's route (`approval/42` → `42`); an unknown kind, or
/// a route without an id, leads to the inbox only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum PushRoute {
    ApprovalItem { item_id: String },
    MeetingReminder { meeting_id: String },
    PunchSettled { punch_id: String },
    CertificateIssued { certificate_id: String },
    InboxOnly,
}

pub(crate) fn route_of(kind: &PushKind, route: &str) -> PushRoute {
    let id = route.rsplit_once('/').map(|(_, id)| id).filter(|id| !id.is_empty()).map(str::to_owned);
    match (kind, id) {
        (PushKind::ApprovalItem, Some(item_id)) => PushRoute::ApprovalItem { item_id },
        (PushKind::MeetingReminder, Some(meeting_id)) => PushRoute::MeetingReminder { meeting_id },
        (PushKind::PunchSettled, Some(punch_id)) => PushRoute::PunchSettled { punch_id },
        (PushKind::CertificateIssued, Some(certificate_id)) => PushRoute::CertificateIssued { certificate_id },
        _ => PushRoute::InboxOnly,
    }
}

/// One message of the inbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InboxMessage {
    pub id: String,
    pub seq: u64,
    pub kind: PushKind,
    pub collapse_key: Option<String>,
    pub urgency: Urgency,
    pub title: String,
    pub text: String,
    /// The route as the server wrote it, e.g. `approval/42`.
    pub route: String,
    pub target: PushRoute,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub read: bool,
}

/// What became of one payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Taken into the inbox.
    New,
    /// Already taken in (a repeat from the push service, a reinstall, a sync).
    Duplicate,
    /// Past its expiry: remembered (so a repeat is dropped), not kept.
    Expired,
    /// A newer message of the same kind and collapse key is already held.
    Superseded,
    /// A signed "fetch me" without content: a sync brings it.
    Tickle,
}

/// What to show for a payload, or `None` in [`Received::notification`] for nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub message_id: String,
    pub kind: PushKind,
    pub title: String,
    pub text: String,
    pub route: String,
    pub target: PushRoute,
}

/// The result of one payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub outcome: Outcome,
    /// The message as kept (for [`Outcome::New`]).
    pub message: Option<InboxMessage>,
    /// What to show now; `None` when nothing is (a repeat, a tickle, quiet hours, data only).
    pub notification: Option<Notification>,
    /// The badge to set (unread, not expired): a count, never an increment.
    pub badge: u32,
    /// A message is missing (a gap in the numbers, a tickle): the phone syncs.
    pub sync_needed: bool,
}

/// A quiet window in minutes of the Taipei day, `start_min` included, `end_min` not; a
/// window may cross midnight (`22:00–07:00` is 1320–420); equal ends mean all day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start_min: u32,
    pub end_min: u32,
}

impl QuietHours {
    fn check(self) -> Result<Self, PushError> {
        if self.start_min >= DAY_MIN || self.end_min >= DAY_MIN {
            return Err(CommonError::InvalidInput("quiet hours are minutes of the day, 0 to 1439".into()).into());
        }
        Ok(self)
    }

    /// Whether `now_ms` (UTC) falls in the window, on the Taipei clock.
    pub fn contains(self, now_ms: i64) -> bool {
        let minute = u32::try_from((now_ms.div_euclid(60_000) + TAIPEI_OFFSET_MIN).rem_euclid(i64::from(DAY_MIN))).unwrap_or(0);
        match self.start_min.cmp(&self.end_min) {
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Less => (self.start_min..self.end_min).contains(&minute),
            std::cmp::Ordering::Greater => minute >= self.start_min || minute < self.end_min,
        }
    }
}

/// A tapped notification, kept until the UI is ready to go there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRoute {
    pub message_id: String,
    pub route: String,
    pub target: PushRoute,
}

/// Unread messages of one kind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KindCount {
    pub kind: PushKind,
    pub unread: u32,
}

/// The inbox at a glance (the dashboard's push section), read in one go so the counts
/// and the list agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxOverview {
    /// Unread, not expired: the badge.
    pub badge: u32,
    pub unread_by_kind: Vec<KindCount>,
    /// The newest messages (read or not, not expired), highest sequence first.
    pub newest: Vec<InboxMessage>,
}

/// The registration as the server confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub platform: PushPlatform,
    /// When the phone registers again, even with the same token.
    pub reverify_after_ms: i64,
    /// False when the stored registration was still fresh and nothing was sent.
    pub sent: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushSyncReport {
    /// Messages taken into the inbox by this sync (those push lost or only tickled).
    pub new: u32,
    /// Messages marked read here because another device read them.
    pub read_elsewhere: u32,
    /// Read marks made here delivered to the server.
    pub reads_sent: u32,
    pub badge: u32,
    /// More pages wait (the sync stopped after its page budget).
    pub more: bool,
}

/// [`ctx::blocking`] with this capability's error.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, PushError> + Send + 'static) -> Result<T, PushError> {
    ctx::blocking(f).await
}

fn now_wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Decrypts and verifies one payload with the stored subscription: no network, no
/// client, nothing written.
fn open_payload(sub: &store::Subscription, payload: &[u8]) -> Result<SignedPush, PushError> {
    if payload.len() > encryption::MAX_BODY_LEN {
        return Err(PushError::Oversized { len: payload.len() });
    }
    let server_key = sub.server_key.as_deref().ok_or(PushError::NotRegistered)?;
    let envelope = encryption::parse(payload)?;
    let secret = keys::agree(&sub.scalar, envelope.sender_public)?;
    let plain = encryption::open(&envelope, &secret, &sub.public, &sub.auth)?;
    let signed = SignedPush::from_json(&plain).map_err(verified)?;
    signed.verify(server_key).map_err(verified)?;
    if sub.user_id.as_deref() != Some(signed.message.user_id.as_str()) {
        return Err(PushError::WrongUser);
    }
    Ok(signed)
}

/// Whether a message is shown now: content with words, not expired, not in its kind's
/// quiet hours unless urgent.
fn show(conn: &rusqlite::Connection, m: &InboxMessage, now_ms: i64) -> Result<bool, PushError> {
    if m.title.is_empty() && m.text.is_empty() {
        return Ok(false); // data only: the app syncs, nothing to show
    }
    if m.urgency == Urgency::High {
        return Ok(true);
    }
    Ok(!store::quiet(conn, &m.kind)?.is_some_and(|q| q.contains(now_ms)))
}

/// The whole pipeline after the bytes arrive, on one store, in one write transaction:
/// decrypt, verify, de-duplicate, drop expired, collapse, keep, decide what to show.
fn process(store: &Store, payload: &[u8], now_ms: i64) -> Result<Received, PushError> {
    let sub = store.read(|c| store::subscription(c, store.key()))?.ok_or(PushError::NotRegistered)?;
    let signed = open_payload(&sub, payload)?;
    let seq = signed.message.seq;
    store.write(|tx| {
        let outcome = store::apply(tx, store.key(), &signed, now_ms)?;
        if seq % 100 == 0 {
            store::prune(tx, now_ms)?;
        }
        let message = match outcome {
            Outcome::New => store::message(tx, store.key(), &signed.message.id)?,
            _ => None,
        };
        let notification = match &message {
            Some(m) if show(tx, m, now_ms)? => Some(Notification {
                message_id: m.id.clone(),
                kind: m.kind.clone(),
                title: m.title.clone(),
                text: m.text.clone(),
                route: m.route.clone(),
                target: m.target.clone(),
            }),
            _ => None,
        };
        Ok(Received {
            outcome,
            message,
            notification,
            badge: store::badge(tx, now_ms)?,
            sync_needed: store::state(tx)?.needs_sync(),
        })
    })
}

/// The light entry point for the iOS notification service extension and the Android
/// messaging service: opens the profile's store without a client and without network,
/// decrypts, verifies, keeps the message, and returns what to show and the badge. A
/// missing message it notices is only flagged; the app syncs when it next runs.
///
/// In the app's own process with a `Client` open on the profile, the store is held
/// (`store_in_use`): hand the payload to `client.push().receive()` instead.
pub fn receive_light(data_dir: &Path, profile: &str, secrets: &dyn SecretStore, payload: &[u8]) -> Result<Received, PushError> {
    let (path, key_name) = crate::store::profile_location(data_dir, profile).map_err(CommonError::Config)?;
    if !path.exists() {
        return Err(PushError::NotRegistered);
    }
    let store = Store::open(&path, secrets, &key_name)?;
    let result = process(&store, payload, now_wall_ms());
    store.close()?;
    result
}

/// A profile registered as `register` leaves it, without a server: for benches and
/// the bindings' test hooks, which seal payloads to the returned keys and sign them
/// with their own server key. Never in an app build.
#[cfg(feature = "push-fixture")]
pub fn fixture_register(
    data_dir: &Path,
    profile: &str,
    secrets: &dyn SecretStore,
    server_public_key: &[u8],
    user_id: &str,
) -> Result<(Vec<u8>, Vec<u8>), PushError> {
    let (path, key_name) = crate::store::profile_location(data_dir, profile).map_err(CommonError::Config)?;
    let store = Store::open(&path, secrets, &key_name)?;
    let k = keys::generate()?;
    let now = now_wall_ms();
    let r = store::Registered {
        platform: PushPlatform::WebPush,
        endpoint: "http://127.0.0.1/fixture",
        server_key: server_public_key,
        user_id,
        now_ms: now,
        reverify_after_ms: now + REVERIFY_INTERVAL_MS,
    };
    store.write(|tx| {
        store::insert_keys(tx, store.key(), &k)?;
        store::save_registration(tx, store.key(), &r)
    })?;
    let sub = store.read(|c| store::subscription(c, store.key()))?.ok_or(PushError::NotRegistered)?;
    store.close()?;
    Ok((sub.public, sub.auth))
}

/// The parts push works with; shared with its after-sync hook (which must not hold
/// the outbox queue that holds it).
struct Engine {
    store: Arc<Store>,
    account: Arc<Account>,
    events: Arc<EventBus>,
    /// One payload or sync at a time.
    lock: tokio::sync::Mutex<()>,
}

/// Push from the phone's side; see `Client::push`. Its context: the store (its
/// subscription, inbox, tombstone, state and quiet-hour tables), the account (the
/// registration, the log and read marks as authenticated calls; the server clock;
/// whose messages these are), the events (a routed message, the badge) and the outbox
/// queue (an after-sync hook that syncs the push log when a message is missing and
/// delivers read marks; `kick()` to have that happen soon).
#[derive(Clone)]
pub struct Push {
    engine: Arc<Engine>,
    outbox: Arc<Queue>,
}

impl std::fmt::Debug for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Push(..)")
    }
}

struct SyncWhenDue(Arc<Engine>);

impl AfterSync for SyncWhenDue {
    fn after_sync<'a>(&'a self, _outbox: &'a Outbox) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let engine = &self.0;
            let due = {
                let store = Arc::clone(&engine.store);
                blocking(move || {
                    let registered = store.read(|c| store::subscription(c, store.key()))?.is_some_and(|s| s.server_key.is_some());
                    let pending = !store.read(|c| store::pending_reads(c, 1))?.is_empty();
                    Ok(registered && (pending || store.read(store::state)?.needs_sync()))
                })
                .await
            };
            match due {
                Ok(true) => {
                    if let Err(e) = engine.sync().await {
                        tracing::info!(code = e.code(), "the push log sync did not finish");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(code = e.code(), "could not read the push state"),
            }
        })
    }
}

impl Push {
    pub(crate) fn new(ctx: &Ctx) -> Self {
        let engine = Arc::new(Engine {
            store: Arc::clone(&ctx.store),
            account: Arc::clone(&ctx.account),
            events: Arc::clone(&ctx.events),
            lock: tokio::sync::Mutex::new(()),
        });
        ctx.outbox.on_after_sync(Arc::new(SyncWhenDue(Arc::clone(&engine))));
        Self { engine, outbox: Arc::clone(&ctx.outbox) }
    }

    /// Registers the OS's token (FCM, APNs) or Web Push endpoint with the server, making
    /// this device's push keys on first use. The same token again within the server's
    /// re-verification time is not sent (at most daily); a new token replaces the old
    /// one on the server. The server's push key, which signs every message, is kept.
    pub async fn register(&self, platform: PushPlatform, endpoint: &str) -> Result<Registration, PushError> {
        let e = &self.engine;
        let device = e.account.active()?.info;
        let now = e.account.now_ms().await?;
        let store = Arc::clone(&e.store);
        let sub = blocking(move || {
            if store.read(|c| store::subscription(c, store.key()))?.is_none() {
                let k = keys::generate()?;
                store.write(|tx| store::insert_keys(tx, store.key(), &k))?;
            }
            store.read(|c| store::subscription(c, store.key()))?.ok_or_else(|| CommonError::Internal("push keys not kept".into()).into())
        })
        .await?;
        let fresh = sub.platform == Some(platform)
            && sub.endpoint.as_deref() == Some(endpoint)
            && sub.server_key.is_some()
            && sub.user_id.as_deref() == Some(device.user_id.as_str())
            && sub.reverify_after_ms.is_some_and(|t| now < t);
        if let (true, Some(reverify_after_ms)) = (fresh, sub.reverify_after_ms) {
            return Ok(Registration { platform, reverify_after_ms, sent: false });
        }
        let request = SubscriptionRequest { platform, endpoint: endpoint.to_owned(), p256dh: b64::encode(&sub.public), auth: b64::encode(&sub.auth) };
        request.validate().map_err(|err| CommonError::InvalidInput(err.to_string()))?;
        let body = serde_json::to_vec(&request).map_err(|err| CommonError::Internal(err.to_string()))?;
        let reply = e.account.authed(Method::Put, "/v1/push/subscription", Some(body), Some(net::new_idempotency_key())).await?;
        let answer: SubscriptionResponse = parse_json(&reply, "SubscriptionResponse")?;
        let server_key = b64::decode(&answer.server_public_key).map_err(|err| PushError::BadReply(format!("server push key: {err}")))?;
        taipei_protocol::ecdsa::PublicKey::from_sec1(&server_key)
            .map_err(|err| PushError::BadReply(format!("server push key: {err}")))?;
        if server_key.len() != PUBLIC_KEY_LEN {
            return Err(PushError::BadReply("the server push key is not an uncompressed P-256 key".into()));
        }
        // Never later than a day, whatever the server says: a token that died must be
        // noticed; never in the past, so a clock-skewed reply does not loop.
        let reverify_after_ms = answer.reverify_after_ms.clamp(now + 60_000, now + REVERIFY_INTERVAL_MS);
        let (store, endpoint) = (Arc::clone(&e.store), endpoint.to_owned());
        blocking(move || {
            let r = store::Registered { platform, endpoint: &endpoint, server_key: &server_key, user_id: &device.user_id, now_ms: now, reverify_after_ms };
            Ok(store.write(|tx| store::save_registration(tx, store.key(), &r))?)
        })
        .await?;
        Ok(Registration { platform, reverify_after_ms, sent: true })
    }

    /// Tells the server to stop pushing to this device and forgets the token.
    pub async fn unregister(&self) -> Result<(), PushError> {
        let e = &self.engine;
        e.account.authed(Method::Delete, "/v1/push/subscription", None, None).await?;
        let store = Arc::clone(&e.store);
        blocking(move || Ok(store.write(store::clear_registration)?)).await
    }

    /// When the registration is to be renewed (even if the token did not change), or
    /// `None` when there is none.
    pub async fn reverify_after_ms(&self) -> Result<Option<i64>, PushError> {
        let store = Arc::clone(&self.engine.store);
        blocking(move || Ok(store.read(|c| store::subscription(c, store.key()))?.and_then(|s| s.reverify_after_ms))).await
    }

    /// One payload as the OS handed it over: decrypted, verified, de-duplicated, kept,
    /// routed and told as an event. A missing message (a gap, a tickle) wakes the
    /// background sync, which fetches it from the server's log.
    pub async fn receive(&self, payload: Vec<u8>) -> Result<Received, PushError> {
        let e = &self.engine;
        e.account.check_open()?;
        let _one = e.lock.lock().await;
        let store = Arc::clone(&e.store);
        let now = e.account.server_now_ms();
        let received = blocking(move || process(&store, &payload, now)).await?;
        if let Some(m) = &received.message {
            e.events.emit(Event::PushReceived {
                message_id: m.id.clone(),
                kind: m.kind.as_str().to_owned(),
                route: m.route.clone(),
                shown: received.notification.is_some(),
            });
        }
        if received.outcome == Outcome::New {
            e.events.emit(Event::BadgeChanged { count: received.badge });
        }
        if received.sync_needed {
            self.outbox.kick();
        }
        Ok(received)
    }

    /// The OS says it dropped messages (FCM's `onDeletedMessages`): a full sync is due.
    pub async fn on_deleted_messages(&self) -> Result<(), PushError> {
        let store = Arc::clone(&self.engine.store);
        blocking(move || Ok(store.write(|tx| store::note_latest(tx, 0, true))?)).await?;
        self.outbox.kick();
        Ok(())
    }

    /// Pulls the server's log now: what push lost or only tickled, and read marks made
    /// on other devices; sends the read marks made here.
    pub async fn sync(&self) -> Result<PushSyncReport, PushError> {
        self.engine.sync().await
    }

    /// The badge: unread messages not expired, counted from the inbox.
    pub async fn badge(&self) -> Result<u32, PushError> {
        let store = Arc::clone(&self.engine.store);
        let now = self.engine.account.server_now_ms();
        blocking(move || Ok(store.read(|c| store::badge(c, now))?)).await
    }

    /// Unread messages per kind (the dashboard's counts).
    pub async fn unread_by_kind(&self) -> Result<Vec<KindCount>, PushError> {
        let store = Arc::clone(&self.engine.store);
        let now = self.engine.account.server_now_ms();
        blocking(move || Ok(store.read(|c| store::unread_by_kind(c, now))?)).await
    }

    /// The newest messages, optionally of one kind or unread only; at most `limit` (≤ 500).
    pub async fn inbox(&self, kind: Option<PushKind>, unread_only: bool, limit: u32) -> Result<Vec<InboxMessage>, PushError> {
        let store = Arc::clone(&self.engine.store);
        let now = self.engine.account.server_now_ms();
        let limit = limit.clamp(1, 500);
        blocking(move || Ok(store.read(|c| store::newest(c, store.key(), kind.as_ref(), unread_only, limit, now))?)).await
    }

    /// The badge, unread per kind and the `limit` newest messages (1–500) as of
    /// `now_ms`, from the store alone, in one read.
    pub async fn overview(&self, now_ms: i64, limit: u32) -> Result<InboxOverview, PushError> {
        let store = Arc::clone(&self.engine.store);
        let limit = limit.clamp(1, 500);
        blocking(move || {
            Ok(store.read(|c| store::overview(c, store.key(), now_ms, limit))?)
        })
        .await
    }

    /// One message of the inbox.
    pub async fn message(&self, id: &str) -> Result<InboxMessage, PushError> {
        let (store, id) = (Arc::clone(&self.engine.store), id.to_owned());
        blocking(move || store.read(|c| store::message(c, store.key(), &id))?.ok_or(PushError::UnknownMessage(id))).await
    }

    /// Marks messages read here (the badge drops at once) and keeps the marks to send;
    /// they reach the server, and through it the person's other devices, at the next
    /// sync. Returns the new badge.
    pub async fn mark_read(&self, ids: Vec<String>) -> Result<u32, PushError> {
        if ids.is_empty() || ids.len() > MAX_READ_IDS {
            return Err(CommonError::InvalidInput(format!("mark 1–{MAX_READ_IDS} messages read at a time")).into());
        }
        let store = Arc::clone(&self.engine.store);
        let now = self.engine.account.server_now_ms();
        let badge = blocking(move || {
            Ok(store.write(|tx| {
                store::mark_read(tx, &ids, true)?;
                store::badge(tx, now)
            })?)
        })
        .await?;
        self.engine.events.emit(Event::BadgeChanged { count: badge });
        self.outbox.kick();
        Ok(badge)
    }

    /// The person tapped a notification: keeps where it leads until the UI asks
    /// ([`Push::take_pending_route`]), across a restart if need be, and marks it read.
    pub async fn tapped(&self, message_id: &str) -> Result<PendingRoute, PushError> {
        let m = self.message(message_id).await?;
        let pending = PendingRoute { message_id: m.id.clone(), route: m.route.clone(), target: m.target.clone() };
        let (store, p) = (Arc::clone(&self.engine.store), pending.clone());
        blocking(move || Ok(store.write(|tx| store::set_pending_route(tx, &p))?)).await?;
        self.mark_read(vec![m.id]).await?;
        Ok(pending)
    }

    /// The tapped route, once: the UI calls this when it is ready to navigate.
    pub async fn take_pending_route(&self) -> Result<Option<PendingRoute>, PushError> {
        let store = Arc::clone(&self.engine.store);
        blocking(move || Ok(store.write(|tx| store::take_pending_route(tx, store.key()))?)).await
    }

    /// Sets (or with `None` clears) the quiet hours of one kind. Urgent messages are
    /// shown anyway; quiet ones are kept and counted, not shown.
    pub async fn set_quiet_hours(&self, kind: PushKind, hours: Option<QuietHours>) -> Result<(), PushError> {
        let hours = hours.map(QuietHours::check).transpose()?;
        let store = Arc::clone(&self.engine.store);
        blocking(move || Ok(store.write(|tx| store::set_quiet(tx, &kind, hours))?)).await
    }

    pub async fn quiet_hours(&self, kind: PushKind) -> Result<Option<QuietHours>, PushError> {
        let store = Arc::clone(&self.engine.store);
        blocking(move || Ok(store.read(|c| store::quiet(c, &kind))?)).await
    }
}

impl Engine {
    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&Store) -> Result<T, PushError> + Send + 'static) -> Result<T, PushError> {
        let store = Arc::clone(&self.store);
        blocking(move || f(&store)).await
    }

    /// Sends read marks made here, in requests of at most 500.
    async fn send_reads(&self) -> Result<u32, PushError> {
        let mut sent = 0u32;
        for _ in 0..64 {
            let ids = self.run(|s| Ok(s.read(|c| store::pending_reads(c, MAX_READ_IDS))?)).await?;
            if ids.is_empty() {
                break;
            }
            let reply = self.account.post_json("/v1/push/read", &ReadRequest { ids: ids.clone() }).await?;
            let _: ReadResponse = parse_json(&reply, "ReadResponse")?;
            sent = sent.saturating_add(u32::try_from(ids.len()).unwrap_or(u32::MAX));
            self.run(move |s| Ok(s.write(|tx| store::reads_sent(tx, &ids))?)).await?;
        }
        Ok(sent)
    }

    async fn sync(&self) -> Result<PushSyncReport, PushError> {
        self.account.check_open()?;
        let _one = self.lock.lock().await;
        let mut report = PushSyncReport { reads_sent: self.send_reads().await?, ..PushSyncReport::default() };
        let now = self.account.server_now_ms();
        let (sub, st, oldest_unread) = self
            .run(move |s| {
                let sub = s.read(|c| store::subscription(c, s.key()))?.ok_or(PushError::NotRegistered)?;
                Ok((sub, s.read(store::state)?, s.read(|c| store::oldest_unread(c, now))?))
            })
            .await?;
        let server_key = sub.server_key.clone().ok_or(PushError::NotRegistered)?;
        let user_id = sub.user_id.clone().unwrap_or_default();
        // From below the oldest unread message too, so read marks made elsewhere come back.
        let mut after = oldest_unread.map_or(st.contiguous, |u| st.contiguous.min(u.saturating_sub(1)));
        let mut complete = false;
        for _ in 0..MAX_SYNC_PAGES {
            let page: SyncPage = self.account.get_json(&format!("/v1/push/messages?after={after}&limit={MAX_SYNC_PAGE}"), "SyncPage").await?;
            check_page(&page, after)?;
            for m in &page.messages {
                m.verify(&server_key).map_err(verified)?;
                if m.message.user_id != user_id {
                    return Err(PushError::WrongUser);
                }
            }
            let next = page.next_after;
            let now = self.account.server_now_ms();
            let (new, read) = self
                .run(move |s| {
                    Ok(s.write(|tx| {
                        let mut new = 0u32;
                        for m in &page.messages {
                            if store::apply(tx, s.key(), m, now)? == Outcome::New {
                                new += 1;
                            }
                        }
                        let read = store::mark_read(tx, &page.read, false)?;
                        store::note_latest(tx, page.latest_seq, false)?;
                        if page.next_after.is_none() {
                            store::synced_to(tx, page.latest_seq, now)?;
                            store::prune(tx, now)?;
                        }
                        Ok::<_, PushError>((new, read))
                    })?)
                })
                .await?;
            report.new = report.new.saturating_add(new);
            report.read_elsewhere = report.read_elsewhere.saturating_add(read);
            match next {
                Some(n) => after = n,
                None => {
                    complete = true;
                    break;
                }
            }
        }
        report.more = !complete;
        report.badge = self.run(move |s| Ok(s.read(|c| store::badge(c, now))?)).await?;
        self.events.emit(Event::BadgeChanged { count: report.badge });
        Ok(report)
    }
}

/// A page is taken only if a server following the protocol could have sent it.
fn check_page(page: &SyncPage, after: u64) -> Result<(), PushError> {
    if page.messages.len() > MAX_SYNC_PAGE as usize || page.read.len() > page.messages.len() {
        return Err(PushError::BadReply("a sync page larger than asked".into()));
    }
    let mut last = after;
    for m in &page.messages {
        if m.message.seq <= last {
            return Err(PushError::BadReply("sync messages out of order or before the cursor".into()));
        }
        last = m.message.seq;
    }
    if page.latest_seq < last || page.next_after.is_some_and(|n| n <= after || n > last) {
        return Err(PushError::BadReply("a sync page whose cursor does not move forward".into()));
    }
    if page.messages.iter().any(|m| m.message.content == PushContent::Tickle) {
        return Err(PushError::BadReply("a tickle in the server's log".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
