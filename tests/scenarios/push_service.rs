//! A loopback push service for tests: an RFC 8030 server on 127.0.0.1 that behaves like
//! FCM where FCM is unkind, and a test phone that holds a subscription's keys.
//!
//! The service hands out subscription endpoints ([`PushService::subscribe`]), takes
//! `POST endpoint` with an `aes128gcm` body, `TTL`, `Urgency`, `Topic` and a VAPID
//! `Authorization` (checked with `protocol::push::vapid`: audience = this service's
//! origin, the key the subscription was made for when one was given), and keeps what
//! it accepted pending for the phone, imitating FCM's limits:
//! - a body over 4,096 bytes is refused with 413;
//! - messages with a `Topic` collapse (the newest kept), and at most
//!   [`MAX_COLLAPSE_KEYS_PER_DEVICE`] topics are kept per device (the oldest goes);
//! - a message whose TTL has passed is not delivered;
//! - past [`MAX_PENDING_NON_COLLAPSIBLE`] pending messages without a topic, all of them
//!   are dropped and the phone is told so (`deleted_messages`, FCM's
//!   `onDeletedMessages`).
//!
//! On demand ([`Faults`], with a seed so a failing run repeats) it drops accepted
//! messages, delivers some twice and hands them over in shuffled order, and answers
//! chosen statuses ([`PushService::respond`], [`PushService::gone`]). [`PushService::fetch`]
//! is the phone's side: the raw encrypted bodies, exactly what the OS hands the app.
//!
//! The file is also compiled into the server's own tests (`server/tests/push.rs`), so it
//! depends only on crates both have.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use taipei_protocol::b64;
use taipei_protocol::push::encryption::{self, MAX_BODY_LEN, WebPushError};
use taipei_protocol::push::message::{MAX_COLLAPSE_KEYS_PER_DEVICE, MAX_PENDING_NON_COLLAPSIBLE, PushPlatform, SubscriptionRequest};
use taipei_protocol::push::vapid;

/// Injected misbehaviour, as percentages of accepted messages, drawn from `seed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Accepted (201) and never delivered.
    pub drop_percent: u8,
    /// Delivered twice.
    pub duplicate_percent: u8,
    /// Each fetch hands the pending messages over in a shuffled order.
    pub reorder: bool,
    pub seed: u64,
}

/// One request the service accepted, as it arrived (for assertions on the headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub token: String,
    pub ttl_secs: u64,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    /// The VAPID public key (base64url) the request was signed with.
    pub vapid_key: String,
    pub body_len: usize,
}

/// What the phone receives from one fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Raw `aes128gcm` bodies, in the order the OS would hand them over.
    pub bodies: Vec<Vec<u8>>,
    /// FCM's "deleted messages" signal: pending messages were dropped; sync in full.
    pub deleted_messages: bool,
}

#[derive(Debug)]
struct Pending {
    body: Vec<u8>,
    topic: Option<String>,
    expires_ms: i64,
    /// Arrival order; collapse keeps the newest.
    order: u64,
}

#[derive(Debug, Default)]
struct Subscriber {
    vapid_key: Option<String>,
    pending: Vec<Pending>,
    deleted_messages: bool,
    gone: bool,
    /// Statuses to answer instead of accepting, first in first out.
    scripted: VecDeque<u16>,
}

#[derive(Debug, Default)]
struct Inner {
    subscribers: HashMap<String, Subscriber>,
    faults: Faults,
    rng: u64,
    order: u64,
    accepted: Vec<Accepted>,
    /// `(status, reason)` of every refusal.
    refused: Vec<(u16, String)>,
}

impl Inner {
    /// splitmix64: enough for reproducible fault draws, no dependency.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn chance(&mut self, percent: u8) -> bool {
        percent > 0 && self.next() % 100 < u64::from(percent)
    }
}

#[derive(Debug, Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    origin: String,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running service. Dropping it stops the server task.
#[derive(Debug)]
pub struct PushService {
    shared: Shared,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PushService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl PushService {
    /// Binds a free loopback port and serves on the current tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Shared { inner: Arc::new(Mutex::new(Inner::default())), origin: format!("http://{addr}") };
        let app = Router::new().route("/push/{token}", axum::routing::post(receive)).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { shared, addr, task })
    }

    /// `http://127.0.0.1:PORT`, the audience VAPID tokens must name.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A new subscription endpoint. With `vapid_key` (base64url, the server's
    /// `applicationServerKey`), requests signed with any other key are refused (403).
    pub fn subscribe(&self, vapid_key: Option<&str>) -> String {
        let mut raw = [0u8; 16];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw);
        let token = b64::encode(raw);
        self.shared.lock().subscribers.insert(token.clone(), Subscriber { vapid_key: vapid_key.map(str::to_owned), ..Subscriber::default() });
        format!("{}/push/{token}", self.shared.origin)
    }

    pub fn set_faults(&self, faults: Faults) {
        let mut inner = self.shared.lock();
        inner.faults = faults;
        inner.rng = faults.seed;
    }

    /// The endpoint's next requests are answered with these statuses (e.g. 429, 500,
    /// 413), one each, before it accepts again.
    pub fn respond(&self, endpoint: &str, statuses: &[u16]) {
        if let Some(s) = self.shared.lock().subscribers.get_mut(token_of(endpoint)) {
            s.scripted.extend(statuses);
        }
    }

    /// The subscription expires: every later request is answered 410 Gone.
    pub fn gone(&self, endpoint: &str) {
        if let Some(s) = self.shared.lock().subscribers.get_mut(token_of(endpoint)) {
            s.gone = true;
        }
    }

    /// Every request accepted so far, in arrival order.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.shared.lock().accepted.clone()
    }

    /// `(status, reason)` of every refusal so far.
    pub fn refused(&self) -> Vec<(u16, String)> {
        self.shared.lock().refused.clone()
    }

    /// What the phone of `endpoint` receives now (and no longer pending).
    pub fn fetch(&self, endpoint: &str) -> Delivery {
        self.fetch_at(endpoint, now_ms())
    }

    /// [`PushService::fetch`] as if the phone came online at `at_ms` (TTL tests).
    pub fn fetch_at(&self, endpoint: &str, at_ms: i64) -> Delivery {
        let mut inner = self.shared.lock();
        let reorder = inner.faults.reorder;
        let Some(sub) = inner.subscribers.get_mut(token_of(endpoint)) else {
            return Delivery::default();
        };
        let mut pending = std::mem::take(&mut sub.pending);
        let deleted_messages = std::mem::take(&mut sub.deleted_messages);
        pending.retain(|p| p.expires_ms > at_ms);
        pending.sort_by_key(|p| p.order);
        let mut bodies: Vec<Vec<u8>> = pending.into_iter().map(|p| p.body).collect();
        if reorder {
            // Fisher–Yates with the seeded generator.
            for i in (1..bodies.len()).rev() {
                let j = usize::try_from(inner.next() % (i as u64 + 1)).unwrap_or(0);
                bodies.swap(i, j);
            }
        }
        Delivery { bodies, deleted_messages }
    }

    /// Messages pending for `endpoint` (not fetched, not expired or collapsed away).
    pub fn pending(&self, endpoint: &str) -> usize {
        self.shared.lock().subscribers.get(token_of(endpoint)).map_or(0, |s| s.pending.len())
    }
}

fn token_of(endpoint: &str) -> &str {
    endpoint.rsplit('/').next().unwrap_or("")
}

fn refuse(shared: &Shared, status: StatusCode, reason: impl Into<String>) -> Response {
    let reason = reason.into();
    shared.lock().refused.push((status.as_u16(), reason.clone()));
    (status, reason).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /push/{token}`: RFC 8030 §5.
async fn receive(State(shared): State<Shared>, Path(token): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let scripted = {
        let mut inner = shared.lock();
        match inner.subscribers.get_mut(&token) {
            None => None,
            Some(s) if s.gone => Some(410),
            Some(s) => s.scripted.pop_front(),
        }
    };
    if !shared.lock().subscribers.contains_key(&token) {
        return refuse(&shared, StatusCode::NOT_FOUND, "no such subscription");
    }
    if let Some(status) = scripted {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = refuse(&shared, status, "scripted");
        if status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("0"));
        }
        return response;
    }
    if body.len() > MAX_BODY_LEN {
        return refuse(&shared, StatusCode::PAYLOAD_TOO_LARGE, format!("{} bytes; at most {MAX_BODY_LEN}", body.len()));
    }
    let now = now_ms();
    let authorization = header(&headers, "authorization").unwrap_or("");
    let vapid_key = match vapid::verify(authorization, &shared.origin, now / 1000) {
        Ok((key, _)) => key,
        Err(e) => return refuse(&shared, StatusCode::UNAUTHORIZED, format!("{}: {e}", e.code())),
    };
    let Some(ttl_secs) = header(&headers, "ttl").and_then(|t| t.trim().parse::<u64>().ok()) else {
        return refuse(&shared, StatusCode::BAD_REQUEST, "TTL header missing or not a number");
    };
    let urgency = header(&headers, "urgency").map(str::to_owned);
    if urgency.as_deref().is_some_and(|u| !["very-low", "low", "normal", "high"].contains(&u)) {
        return refuse(&shared, StatusCode::BAD_REQUEST, "unknown Urgency");
    }
    let topic = header(&headers, "topic").map(str::to_owned);
    if topic.as_deref().is_some_and(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')) {
        return refuse(&shared, StatusCode::BAD_REQUEST, "Topic is base64url characters");
    }
    if header(&headers, "content-encoding") != Some("aes128gcm") {
        return refuse(&shared, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Encoding must be aes128gcm");
    }
    if let Err(e) = encryption::parse(&body) {
        return refuse(&shared, StatusCode::BAD_REQUEST, format!("not an aes128gcm body: {e}"));
    }
    let mut inner = shared.lock();
    let faults = inner.faults;
    let dropped = inner.chance(faults.drop_percent);
    let duplicated = inner.chance(faults.duplicate_percent);
    inner.order += 1;
    let order = inner.order;
    let Some(sub) = inner.subscribers.get_mut(&token) else {
        drop(inner);
        return refuse(&shared, StatusCode::NOT_FOUND, "no such subscription");
    };
    if sub.vapid_key.as_deref().is_some_and(|k| k != vapid_key) {
        drop(inner);
        return refuse(&shared, StatusCode::FORBIDDEN, "signed with a VAPID key the subscription was not made for");
    }
    let expires_ms = now.saturating_add(i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX));
    if !dropped {
        let copies = if duplicated { 2 } else { 1 };
        for copy in 0..copies {
            enqueue(sub, Pending { body: body.to_vec(), topic: topic.clone(), expires_ms, order: order * 2 + copy }, copy > 0);
        }
    }
    inner.accepted.push(Accepted { token: token.clone(), ttl_secs, urgency, topic, vapid_key, body_len: body.len() });
    drop(inner);
    let mut response = StatusCode::CREATED.into_response();
    if let Ok(location) = axum::http::HeaderValue::from_str(&format!("/message/{token}/{order}")) {
        response.headers_mut().insert("location", location);
    }
    response
}

/// FCM's rules for what stays pending on a device.
fn enqueue(sub: &mut Subscriber, message: Pending, duplicate: bool) {
    match &message.topic {
        // A duplicate of a collapsible message collapses into itself: FCM cannot repeat one.
        Some(_) if duplicate => {}
        Some(topic) => {
            sub.pending.retain(|p| p.topic.as_deref() != Some(topic));
            sub.pending.push(message);
            let mut topics: Vec<(u64, String)> = sub.pending.iter().filter_map(|p| p.topic.clone().map(|t| (p.order, t))).collect();
            if topics.len() > MAX_COLLAPSE_KEYS_PER_DEVICE {
                topics.sort();
                let oldest = topics[0].1.clone();
                sub.pending.retain(|p| p.topic.as_deref() != Some(&oldest));
            }
        }
        None => {
            sub.pending.push(message);
            if sub.pending.iter().filter(|p| p.topic.is_none()).count() > MAX_PENDING_NON_COLLAPSIBLE {
                sub.pending.retain(|p| p.topic.is_some());
                sub.deleted_messages = true;
            }
        }
    }
}

/// The phone's half of a Web Push subscription: the P-256 key pair and auth secret it
/// registers, and the decryption of what the push service delivers (ECDH with `p256`,
/// as a phone with a stored key must; the rest with `protocol::push::encryption`).
pub struct TestPhone {
    scalar: [u8; 32],
    public: Vec<u8>,
    auth: [u8; 16],
}

impl std::fmt::Debug for TestPhone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestPhone { .. }")
    }
}

impl TestPhone {
    pub fn new() -> Self {
        let rng = ring::rand::SystemRandom::new();
        loop {
            let mut scalar = [0u8; 32];
            let mut auth = [0u8; 16];
            if ring::rand::SecureRandom::fill(&rng, &mut scalar).is_err() || ring::rand::SecureRandom::fill(&rng, &mut auth).is_err() {
                continue;
            }
            // A random 32 bytes is a valid scalar but for a negligible few; draw again then.
            if let Ok(secret) = p256::SecretKey::from_slice(&scalar) {
                let public = secret.public_key().to_sec1_bytes().to_vec();
                if public.len() == encryption::PUBLIC_KEY_LEN {
                    return Self { scalar, public, auth };
                }
            }
        }
    }

    /// The registration body for `endpoint`.
    pub fn subscription(&self, endpoint: &str) -> SubscriptionRequest {
        SubscriptionRequest { platform: PushPlatform::WebPush, endpoint: endpoint.to_owned(), p256dh: b64::encode(&self.public), auth: b64::encode(self.auth) }
    }

    /// Decrypts one delivered body to the plaintext (the signed message JSON).
    pub fn open(&self, body: &[u8]) -> Result<Vec<u8>, WebPushError> {
        let envelope = encryption::parse(body)?;
        let secret = p256::SecretKey::from_slice(&self.scalar).map_err(|_| WebPushError::BadKey("phone scalar"))?;
        let sender = p256::PublicKey::from_sec1_bytes(envelope.sender_public).map_err(|_| WebPushError::BadKey("sender key"))?;
        let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), sender.as_affine());
        encryption::open(&envelope, &shared.raw_secret_bytes().to_vec(), &self.public, &self.auth)
    }
}

impl Default for TestPhone {
    fn default() -> Self {
        Self::new()
    }
}
