//! The RFC 8030 sender: a queue stored in the database (`push_outgoing`, one row per
//! message and subscription) drained by one background task started and stopped with
//! the server.
//!
//! A row is written in the trigger's transaction and deleted only once the push
//! service took the message (2xx), said the subscription is gone (404/410: the
//! subscription goes too), or the message expired or was given up on after
//! [`PushConfig::max_attempts`]; so a stopped process loses nothing. A row that cannot
//! be delivered is no loss either: the message stays in the user's log and the phone's
//! next sync fetches it.
//!
//! Every process on the database runs a sender, so a round first claims its batch in
//! one write transaction: due rows whose lease has lapsed get this sender's
//! `claimed_by` and a `lease_until_ms` [`PushConfig::lease`] ahead, and no other sender
//! loads them until it lapses. Settling a row (delete, or reschedule with the lease
//! cleared) ends the claim. A sender posts only while its lease still covers the whole
//! request ([`PushConfig::request_timeout`]), so a message is sent once; only a process
//! that dies between the push service's answer and the settling write leaves a lease
//! that lapses into a second delivery (the phone drops repeats by the signed id).
//!
//! Each request is `POST endpoint` with the RFC 8291 `aes128gcm` body (the signed
//! message, or its signed tickle when it would not fit 4 KB or the service answered
//! 413), `TTL` (seconds left until the message expires), `Urgency`, `Topic` (the
//! collapse key) and a VAPID `Authorization` (RFC 8292) for the endpoint's origin.
//! 429 and 5xx are tried again with exponential backoff (or the service's
//! `Retry-After`, whichever is later).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use ring::rand::SystemRandom;
use ring::signature::EcdsaKeyPair;
use crate::db::{Conn, OptionalExtension as _};
use crate::params;
use taipei_protocol::push::encryption::{self, MAX_PLAINTEXT_LEN};
use taipei_protocol::push::message::{PushMessage, SignedPush};
use taipei_protocol::push::vapid;
use tokio::sync::Notify;

use crate::background::Background;
use crate::db::Db;
use crate::error::ApiError;
use crate::ops::metrics::Metrics;
use crate::sealing::Kek;
use crate::time::now_ms;

use super::registry::{self, Subscription};

/// How the sender behaves; [`PushConfig::default`] suits a deployment.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The VAPID `sub` claim: how a push service's operator reaches the city's.
    pub contact: String,
    /// The longest the sender sleeps between looks at the queue and the meeting
    /// reminders (a trigger wakes it at once).
    pub tick: Duration,
    /// The first retry's delay after a 429, a 5xx or a network failure; doubled per try.
    pub retry_base: Duration,
    /// The longest delay between tries.
    pub retry_max: Duration,
    /// Tries per delivery before it is given up (the phone's sync still gets the message).
    pub max_attempts: u32,
    /// Deliveries given up in a row before the subscription is dropped.
    pub max_failures: u32,
    /// Per request, connection included.
    pub request_timeout: Duration,
    /// Requests in flight at once.
    pub parallel: usize,
    /// How long before a meeting's start its invitees are reminded.
    pub meeting_reminder_lead: Duration,
    /// How long a claimed batch is this sender's alone. Rows still unsent when it is
    /// about to lapse are left for whichever sender claims them next; a process that
    /// died leaves its rows to the others after this long. At least twice
    /// `request_timeout` is used, so a lease always leaves time to post.
    pub lease: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            contact: "mailto:push-operator@taipei.invalid".into(),
            tick: Duration::from_secs(30),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(3600),
            max_attempts: 10,
            max_failures: 5,
            request_timeout: Duration::from_secs(15),
            parallel: 8,
            meeting_reminder_lead: Duration::from_secs(10 * 60),
            lease: Duration::from_secs(5 * 60),
        }
    }
}

/// Wakes the sender after a trigger's transaction committed. Cloned into every
/// handler through the server's settings.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    notify: Arc<Notify>,
}

impl Outgoing {
    /// Call after the commit that queued messages; a wake before it is harmless (the
    /// sender then finds the rows on its next look).
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// Queues `message` for every Web Push subscription of its user (active devices only).
/// FCM and APNs tokens are kept in the registry for a deployment's own gateway; this
/// server speaks RFC 8030 only.
pub fn enqueue(conn: &Conn<'_>, message: &PushMessage, now_ms: i64) -> Result<usize, ApiError> {
    Ok(conn.execute(
        "INSERT INTO push_outgoing (message_id, device_id, next_at_ms, created_at_ms) \
         SELECT ?1, s.device_id, CAST(?2 AS BIGINT), CAST(?2 AS BIGINT) FROM push_subscriptions s JOIN devices d ON d.device_id = s.device_id \
         WHERE s.user_id = ?3 AND s.platform = 'web_push' AND d.status = 'active' ON CONFLICT DO NOTHING",
        params![message.id, now_ms, message.user_id],
    )?)
}

/// One queued delivery, loaded with everything the request needs.
struct Due {
    id: i64,
    /// Until when this sender may post it.
    lease_until_ms: i64,
    tickle: bool,
    attempts: u32,
    signed: String,
    expires_ms: i64,
    subscription: Subscription,
}

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    /// 404 or 410: the subscription no longer exists.
    Gone,
    /// 413: send the tickle instead.
    TooLarge,
    /// 429, 5xx or no answer: try again, not before this many ms.
    Retry { after_ms: Option<i64> },
    /// Any other refusal (a bad VAPID token, a malformed request): no retry helps.
    Refused(u16),
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Gone => "gone",
            Self::TooLarge => "too_large",
            Self::Retry { .. } => "retry",
            Self::Refused(_) => "refused",
        }
    }
}

/// The sender's running task; [`Sender::stop`] ends it between two rounds.
#[derive(Debug)]
pub struct Sender(Background);

struct Worker {
    db: Db,
    kek: Kek,
    config: PushConfig,
    http: reqwest::Client,
    signing: EcdsaKeyPair,
    vapid: EcdsaKeyPair,
    rng: SystemRandom,
    /// This sender's name in `push_outgoing.claimed_by`, random per start.
    claimant: String,
    metrics: Arc<Metrics>,
}

/// The HTTP client for push services: rustls on ring with the operating system's root
/// certificates, no redirects (a push service that redirects is answering wrongly, and
/// following could aim the server at its own network), no proxy from the environment.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ApiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // One unreadable root of the system's store is no reason to trust none.
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::internal(format!("TLS versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| ApiError::internal(format!("push HTTP client: {e}")))
}

impl Sender {
    /// Starts the task. The keys are read once here (made by [`super::init`]).
    pub async fn spawn(db: Db, kek: Kek, config: PushConfig, outgoing: Outgoing, metrics: Arc<Metrics>) -> Result<Self, ApiError> {
        let k = kek.clone();
        let (signing, vapid) = db.read(move |c| Ok((super::signing_key(c, &k)?, super::vapid_key(c, &k)?))).await?;
        let http = http_client(config.request_timeout)?;
        let claimant = crate::random::id()?;
        let worker = Arc::new(Worker { db, kek, config, http, signing, vapid, rng: SystemRandom::new(), claimant, metrics });
        Ok(Self(Background::spawn("push sender", move |mut stopping| async move {
            loop {
                let pause = match worker.round().await {
                    Ok(pause) => pause,
                    Err(e) => {
                        tracing::warn!(error = %e, "push round failed; trying again later");
                        worker.config.tick
                    }
                };
                tokio::select! {
                    () = outgoing.notify.notified() => {}
                    () = tokio::time::sleep(pause) => {}
                    () = stopping.requested() => break,
                }
            }
        })))
    }

    /// Lets the current request batch finish, then ends the task. What is still queued
    /// stays in the database for the next start.
    pub async fn stop(self) {
        self.0.stop().await;
    }
}

impl Worker {
    /// Records due meeting reminders, sends every due delivery, and says how long to
    /// sleep until the next one falls due.
    async fn round(self: &Arc<Self>) -> Result<Duration, ApiError> {
        let now = now_ms();
        let lead = i64::try_from(self.config.meeting_reminder_lead.as_millis()).unwrap_or(i64::MAX);
        let kek = self.kek.clone();
        let reminded = self.db.write(move |tx| super::reminders::record_due(tx, &kek, now, lead)).await?;
        if reminded > 0 {
            tracing::debug!(reminded, "meeting reminders queued");
        }
        loop {
            let batch = self.claim_due(now_ms()).await?;
            if batch.is_empty() {
                break;
            }
            let n = batch.len();
            futures::stream::iter(batch)
                .for_each_concurrent(self.config.parallel.max(1), |due| {
                    let me = Arc::clone(self);
                    async move {
                        if let Err(e) = me.deliver(due).await {
                            tracing::warn!(error = %e, "push delivery could not be settled; it stays queued");
                        }
                    }
                })
                .await;
            if n < BATCH {
                break;
            }
        }
        let next: Option<i64> = self
            .db
            .read(|c| {
                Ok(c.query_row("SELECT MIN(CASE WHEN lease_until_ms > next_at_ms THEN lease_until_ms ELSE next_at_ms END) FROM push_outgoing", [], |r| r.get(0))?)
            })
            .await?;
        let tick = self.config.tick;
        Ok(match next {
            Some(at) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0).max(1)).min(tick),
            None => tick,
        })
    }

    /// Claims up to [`BATCH`] due rows no other sender holds, in one write transaction
    /// (writers are serialised, so two senders never claim one row), and loads them.
    async fn claim_due(&self, now: i64) -> Result<Vec<Due>, ApiError> {
        let kek = self.kek.clone();
        let claimant = self.claimant.clone();
        let lease = self.config.lease.max(self.config.request_timeout.saturating_mul(2));
        let lease_until_ms = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        // A look first, so a round with nothing due takes no write lock.
        let due = "SELECT 1 FROM push_outgoing WHERE next_at_ms <= ?1 AND lease_until_ms <= ?1";
        if !self.db.read(move |c| Ok(c.prepare(due)?.exists([now])?)).await? {
            return Ok(Vec::new());
        }
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE push_outgoing SET claimed_by = ?1, lease_until_ms = ?2 WHERE id IN (SELECT id FROM push_outgoing \
                     WHERE next_at_ms <= ?3 AND lease_until_ms <= ?3 ORDER BY next_at_ms, id LIMIT ?4)",
                    params![claimant, lease_until_ms, now, BATCH as i64],
                )?;
                let mut stmt = c.prepare(
                    "SELECT o.id, o.device_id, o.tickle, o.attempts, m.signed, m.expires_ms FROM push_outgoing o \
                     JOIN push_messages m ON m.id = o.message_id WHERE o.claimed_by = ?1 AND o.lease_until_ms = ?2 ORDER BY o.next_at_ms, o.id",
                )?;
                let rows = stmt
                    .query_map(params![claimant, lease_until_ms], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?, r.get::<_, u32>(3)?, r.get::<_, String>(4)?, r.get::<_, i64>(5)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut out = Vec::with_capacity(rows.len());
                for (id, device_id, tickle, attempts, signed, expires_ms) in rows {
                    // The row cascades away with its subscription; one missing here was
                    // deleted between the two reads and will be gone from the queue too.
                    if let Some(subscription) = registry::get(c, &kek, &device_id)? {
                        out.push(Due { id, lease_until_ms, tickle, attempts, signed, expires_ms, subscription });
                    }
                }
                Ok(out)
            })
            .await
    }

    /// The plaintext for one delivery: the stored signed message when it fits one
    /// record and the service has not refused it, else its signed tickle.
    fn plaintext(&self, due: &Due) -> Result<Vec<u8>, ApiError> {
        if !due.tickle && due.signed.len() <= MAX_PLAINTEXT_LEN {
            return Ok(due.signed.clone().into_bytes());
        }
        let full: SignedPush = serde_json::from_str(&due.signed).map_err(|e| ApiError::internal(format!("stored push message: {e}")))?;
        let tickle = SignedPush::sign(full.message.tickle(), &self.signing, &self.rng).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(tickle.to_json())
    }

    async fn deliver(&self, due: Due) -> Result<(), ApiError> {
        let now = now_ms();
        if now >= due.expires_ms {
            return self.reschedule(due.id, None).await;
        }
        let timeout = i64::try_from(self.config.request_timeout.as_millis()).unwrap_or(i64::MAX);
        if now.saturating_add(timeout) >= due.lease_until_ms {
            // Another sender may claim it before this request would end: leave it to
            // the next claim rather than risk two deliveries.
            return Ok(());
        }
        let message: SignedPush = serde_json::from_str(&due.signed).map_err(|e| ApiError::internal(format!("stored push message: {e}")))?;
        let body = encryption::seal(&self.plaintext(&due)?, &due.subscription.p256dh, &due.subscription.auth, PAD_TO, &self.rng)
            .map_err(|e| ApiError::internal(format!("push encryption: {e}")))?;
        let outcome = self.post(&due.subscription.endpoint, body, &message.message, now).await;
        self.metrics.push_request(outcome.label());
        let device = due.subscription.device_id.clone();
        match outcome {
            Outcome::Delivered => {
                let id = due.id;
                self.db
                    .write(move |tx| {
                        tx.execute("DELETE FROM push_outgoing WHERE id = ?1", [id])?;
                        registry::delivered(tx, &device)
                    })
                    .await
            }
            Outcome::Gone => {
                tracing::info!(device_id = %device, "push subscription gone (404/410); dropped");
                self.db.write(move |tx| registry::delete(tx, &device).map(|_| ())).await
            }
            Outcome::TooLarge if !due.tickle => {
                let id = due.id;
                self.db
                    .write(move |tx| {
                        tx.execute("UPDATE push_outgoing SET tickle = 1, next_at_ms = ?2, claimed_by = NULL, lease_until_ms = 0 WHERE id = ?1", params![id, now])?;
                        Ok(())
                    })
                    .await
            }
            Outcome::Retry { after_ms } if due.attempts + 1 < self.config.max_attempts => {
                let at = now.saturating_add(self.backoff(due.attempts).max(after_ms.unwrap_or(0)));
                self.reschedule(due.id, Some(at)).await
            }
            other => {
                tracing::info!(device_id = %device, outcome = ?other, attempts = due.attempts + 1, "push delivery given up; the phone's sync fetches the message");
                let (id, max) = (due.id, self.config.max_failures);
                self.db
                    .write(move |tx| {
                        tx.execute("DELETE FROM push_outgoing WHERE id = ?1", [id])?;
                        if registry::failed(tx, &device, max, now)? {
                            tracing::info!(device_id = %device, "push subscription dropped after repeated failures");
                        }
                        Ok(())
                    })
                    .await
            }
        }
    }

    /// Tries the row again at `at` (one more attempt counted), or drops it (`None`).
    async fn reschedule(&self, id: i64, at: Option<i64>) -> Result<(), ApiError> {
        self.db
            .write(move |tx| {
                match at {
                    Some(at) => tx.execute(
                        "UPDATE push_outgoing SET attempts = attempts + 1, next_at_ms = ?2, claimed_by = NULL, lease_until_ms = 0 WHERE id = ?1",
                        params![id, at],
                    )?,
                    None => tx.execute("DELETE FROM push_outgoing WHERE id = ?1", [id])?,
                };
                Ok(())
            })
            .await
    }

    fn backoff(&self, attempts: u32) -> i64 {
        let base = i64::try_from(self.config.retry_base.as_millis()).unwrap_or(i64::MAX);
        let max = i64::try_from(self.config.retry_max.as_millis()).unwrap_or(i64::MAX);
        base.saturating_mul(1i64 << attempts.min(30)).min(max)
    }

    async fn post(&self, endpoint: &str, body: Vec<u8>, message: &PushMessage, now: i64) -> Outcome {
        let Some(audience) = origin(endpoint) else {
            return Outcome::Refused(0);
        };
        let claims = vapid::Claims { aud: audience, exp: now / 1000 + VAPID_LIFETIME_SECS, sub: self.config.contact.clone() };
        let Ok(authorization) = vapid::authorization(&self.vapid, &claims, &self.rng) else {
            return Outcome::Refused(0);
        };
        let ttl = (message.expires_ms - now).max(0) / 1000;
        let mut request = self
            .http
            .post(endpoint)
            .header("TTL", ttl.to_string())
            .header("Urgency", message.urgency.header_value())
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", authorization)
            .body(body);
        if let Some(topic) = &message.collapse_key {
            request = request.header("Topic", topic);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match status {
                    200..=299 => Outcome::Delivered,
                    404 | 410 => Outcome::Gone,
                    413 => Outcome::TooLarge,
                    429 | 500..=599 => Outcome::Retry { after_ms: retry_after_ms(response.headers()) },
                    other => Outcome::Refused(other),
                }
            }
            // No logging of the error's text: it can carry the endpoint URL.
            Err(e) => {
                tracing::debug!(timeout = e.is_timeout(), connect = e.is_connect(), "push request failed");
                Outcome::Retry { after_ms: None }
            }
        }
    }
}

/// Deliveries loaded per look at the queue.
const BATCH: usize = 64;
/// Bodies are padded to a multiple of this, so a push service cannot tell messages
/// apart by their exact length.
const PAD_TO: usize = 128;
/// VAPID tokens are made per request and live 12 hours (RFC 8292 allows 24).
const VAPID_LIFETIME_SECS: i64 = 12 * 3600;

/// The `aud` of a VAPID token: the endpoint's origin, `scheme://host[:port]`.
pub fn origin(endpoint: &str) -> Option<String> {
    let (scheme, rest) = endpoint.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// `Retry-After` in seconds (the form push services use), bounded to a day.
fn retry_after_ms(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let secs: i64 = headers.get("retry-after")?.to_str().ok()?.trim().parse().ok()?;
    Some(secs.clamp(0, 86_400) * 1000)
}

/// Deliveries still queued (for tests and the operator).
pub fn queued(conn: &Conn<'_>) -> Result<i64, ApiError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM push_outgoing", [], |r| r.get(0))?)
}

/// The next due time of a device's queued delivery of `message_id`, if any.
pub fn queued_for(conn: &Conn<'_>, message_id: &str, device_id: &str) -> Result<Option<(u32, bool)>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT attempts, tickle FROM push_outgoing WHERE message_id = ?1 AND device_id = ?2",
            params![message_id, device_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}
