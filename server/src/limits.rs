//! Rate limits on every endpoint a stranger can call or guess at: the login steps a
//! browser makes, kiosk pickup, the verifier, the room display, device registration and
//! tokens, and every admin-token check. `governor` (GCRA, keyed) does the counting in
//! each process.
//!
//! Keys: a caller without a device is its client address (see `middleware::client_ip`);
//! a signed-in device is its access token's digest, so phones behind one city NAT do
//! not share a budget. Over the limit: 429 with `Retry-After` (whole seconds) and the
//! usual JSON error. The keyed state is pruned when it grows, so a flood from many
//! addresses cannot grow memory without bound.
//!
//! On PostgreSQL, where several processes serve one database, the budget is shared: a
//! request the process's own governor lets through then draws on the same GCRA kept in
//! the `rate_limits` table (one row per class and key holding the theoretical arrival
//! time), by one atomic upsert outside the serialised write lock (only requests of the
//! same key wait on each other's row lock). All processes together accept no more than
//! one budget; the local check first keeps a flood from one key off the database once
//! the process alone has spent the budget. Rows whose time has passed are a full budget
//! and each process deletes them every `ServerConfig::purge_interval`, at most
//! [`MAX_SHARED_PURGE_EVERY`] apart, so a flood of made-up keys leaves at most the keys
//! of the last burst window plus that interval. On SQLite (one process) the local
//! count is the whole budget.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::auth::sha256;
use crate::db::{Db, Value};
use crate::error::ApiError;
use crate::middleware::RequestContext;

/// Error code of a reply over the limit.
pub const RATE_LIMITED: &str = "rate_limited";

/// Above this many tracked keys, keys whose budget is full again are dropped.
const MAX_TRACKED_KEYS: usize = 50_000;

/// The longest a process goes without deleting the shared rows whose budget is full
/// again (a shorter `ServerConfig::purge_interval` is used as it is).
pub const MAX_SHARED_PURGE_EVERY: Duration = Duration::from_secs(10);

/// One budget: a sustained rate and the burst allowed on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub per_minute: u32,
    pub burst: u32,
}

/// The budgets, per key. `None` turns a class off (a deployment that limits at its
/// proxy instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Callers without a device, by address: browsers, kiosks, displays, admin tools.
    pub anonymous: Option<Limit>,
    /// Signed-in devices on the endpoints a device could guess at (login decisions,
    /// pickup codes, meeting sign-ins), by token.
    pub device: Option<Limit>,
    /// Endpoints behind the admin token (portal, organisers, agencies), by address:
    /// their callers are city systems doing batch work, so the budget is larger; it
    /// still caps guessing at the token.
    pub admin: Option<Limit>,
}

impl RateLimits {
    /// No limits at all: for a deployment that limits at its proxy, and for benches
    /// that measure the server's own throughput from one address.
    pub const fn off() -> Self {
        Self { anonymous: None, device: None, admin: None }
    }
}

impl Default for RateLimits {
    /// A sign-in page polls twice a second for up to two minutes; a kiosk or verifier
    /// desk serves a queue of people. 600 a minute with a burst of 120 per address
    /// carries that with room for a small office behind one NAT, and caps a single
    /// flooding address at 10 requests a second.
    fn default() -> Self {
        Self {
            anonymous: Some(Limit { per_minute: 600, burst: 120 }),
            device: Some(Limit { per_minute: 300, burst: 60 }),
            admin: Some(Limit { per_minute: 6_000, burst: 600 }),
        }
    }
}

/// Which budget an endpoint draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Anonymous,
    Device,
    Admin,
}

type Keyed = DefaultKeyedRateLimiter<String>;

/// One class's budget: this process's count, and the GCRA's terms for the shared one.
#[derive(Debug)]
struct Budget {
    local: Keyed,
    /// Time between two requests at the sustained rate (µs).
    interval_us: i64,
    /// How far ahead of now the theoretical arrival time may run: the burst (µs).
    tolerance_us: i64,
}

/// The limiters of one server.
#[derive(Debug, Clone)]
pub struct Limiters {
    anonymous: Option<Arc<Budget>>,
    device: Option<Arc<Budget>>,
    admin: Option<Arc<Budget>>,
    /// The shared budget's database (PostgreSQL only).
    shared: Option<Shared>,
}

#[derive(Debug, Clone)]
struct Shared {
    db: Db,
    /// When this process last purged the shared rows (µs since the epoch).
    purged_us: Arc<AtomicI64>,
    purge_every_us: i64,
}

fn budget(limit: Option<Limit>) -> Option<Arc<Budget>> {
    let limit = limit?;
    let per_minute = NonZeroU32::new(limit.per_minute)?;
    let burst = NonZeroU32::new(limit.burst).unwrap_or(per_minute);
    let period = Duration::from_secs(60) / per_minute.get();
    let quota = Quota::with_period(period)?.allow_burst(burst);
    let interval_us = i64::try_from(period.as_micros()).unwrap_or(i64::MAX);
    Some(Arc::new(Budget { local: Keyed::keyed(quota), interval_us, tolerance_us: interval_us.saturating_mul(i64::from(burst.get())) }))
}

fn now_us() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

impl Limiters {
    /// The budgets of `limits`; shared through `db` when it is PostgreSQL, its lapsed
    /// rows deleted every `purge_every` (at most [`MAX_SHARED_PURGE_EVERY`]).
    pub fn new(limits: RateLimits, db: &Db, purge_every: Duration) -> Self {
        let purge_every_us = i64::try_from(purge_every.min(MAX_SHARED_PURGE_EVERY).as_micros()).unwrap_or(i64::MAX);
        let shared = (db.engine_name() == "postgres").then(|| Shared { db: db.clone(), purged_us: Arc::new(AtomicI64::new(0)), purge_every_us });
        Self { anonymous: budget(limits.anonymous), device: budget(limits.device), admin: budget(limits.admin), shared }
    }

    /// `Err(wait)` when `key` is over the budget of `class`.
    async fn check(&self, class: Class, key: String) -> Result<(), Duration> {
        let (budget, tag) = match class {
            Class::Anonymous => (&self.anonymous, 'n'),
            Class::Device => (&self.device, 'd'),
            Class::Admin => (&self.admin, 'm'),
        };
        let Some(budget) = budget else { return Ok(()) };
        if budget.local.len() > MAX_TRACKED_KEYS {
            budget.local.retain_recent();
        }
        budget.local.check_key(&key).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))?;
        match &self.shared {
            Some(shared) => shared.check(format!("{tag}{key}"), budget.interval_us, budget.tolerance_us).await,
            None => Ok(()),
        }
    }
}

impl Shared {
    /// One request drawn from the shared GCRA of `key`: the theoretical arrival time
    /// moves one interval on, unless that would put it more than the burst ahead of now.
    /// A database failure lets the request through (the local budget still holds, and
    /// the request's own work fails on the same database).
    async fn check(&self, key: String, interval_us: i64, tolerance_us: i64) -> Result<(), Duration> {
        let now = now_us();
        let last = self.purged_us.load(Ordering::Relaxed);
        if now - last > self.purge_every_us && self.purged_us.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            let db = self.db.clone();
            tokio::spawn(async move {
                let purge = db.statement("DELETE FROM rate_limits WHERE tat_us < CAST(?1 AS BIGINT)", vec![Value::Int(now)]).await;
                if let Err(e) = purge {
                    tracing::warn!(error = %e, "purging the shared rate limits failed");
                }
            });
        }
        // One statement, one round trip: the upsert, and (read from the snapshot before
        // it) the arrival time that refused the request, for its `Retry-After`.
        let verdict = self
            .db
            .statement(
                "WITH drawn AS (INSERT INTO rate_limits AS r (key, tat_us) VALUES (?1, CAST(?2 AS BIGINT) + CAST(?3 AS BIGINT)) \
                 ON CONFLICT (key) DO UPDATE SET tat_us = GREATEST(r.tat_us, CAST(?2 AS BIGINT)) + CAST(?3 AS BIGINT) \
                 WHERE GREATEST(r.tat_us, CAST(?2 AS BIGINT)) + CAST(?3 AS BIGINT) <= CAST(?2 AS BIGINT) + CAST(?4 AS BIGINT) \
                 RETURNING tat_us) \
                 SELECT (SELECT COUNT(*) FROM drawn), coalesce((SELECT tat_us FROM rate_limits WHERE key = ?1), 0)",
                vec![Value::Text(key), Value::Int(now), Value::Int(interval_us), Value::Int(tolerance_us)],
            )
            .await
            .and_then(|rows| {
                let row = rows.first().ok_or_else(|| ApiError::internal("the rate-limit statement returned no row"))?;
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            });
        match verdict {
            Ok((1, _)) => Ok(()),
            Ok((_, tat)) => Err(Duration::from_micros(u64::try_from(tat + interval_us - tolerance_us - now).unwrap_or(0))),
            Err(e) => {
                tracing::warn!(error = %e, "shared rate limit unavailable; the local one alone applies");
                Ok(())
            }
        }
    }
}

/// The key of a request: its token's digest on device endpoints, else its address.
fn key_of(class: Class, req: &Request) -> String {
    if class == Class::Device
        && let Some(auth) = req.headers().get(header::AUTHORIZATION)
    {
        let digest = sha256(auth.as_bytes());
        return format!("t:{}", taipei_protocol::b64::encode(&digest[..12]));
    }
    let ip = req.extensions().get::<Arc<RequestContext>>().and_then(|c| c.ip.clone());
    format!("a:{}", ip.unwrap_or_default())
}

/// The reply over the limit: 429, `Retry-After`, JSON.
pub fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        RATE_LIMITED,
        format!("too many requests; try again in {secs} s"),
    )
    .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Route layer: draws one request from the budget of its class.
pub async fn limit(State((limiters, class)): State<(Limiters, Class)>, req: Request, next: Next) -> Response {
    match limiters.check(class, key_of(class, &req)).await {
        Ok(()) => next.run(req).await,
        Err(wait) => too_many(wait),
    }
}
