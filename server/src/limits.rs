//! Rate limits on every endpoint a stranger can call or guess at: the login steps a
//! browser makes, kiosk pickup, the verifier, the room display, device registration and
//! tokens, and every admin-token check. `governor` (GCRA, keyed) does the counting.
//!
//! Keys: a caller without a device is its client address (see `middleware::client_ip`);
//! a signed-in device is its access token's digest, so phones behind one city NAT do
//! not share a budget. Over the limit: 429 with `Retry-After` (whole seconds) and the
//! usual JSON error. The keyed state is pruned when it grows, so a flood from many
//! addresses cannot grow memory without bound.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::auth::sha256;
use crate::error::ApiError;
use crate::middleware::RequestContext;

/// Error code of a reply over the limit.
pub const RATE_LIMITED: &str = "rate_limited";

/// Above this many tracked keys, keys whose budget is full again are dropped.
const MAX_TRACKED_KEYS: usize = 50_000;

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

/// The limiters of one server.
#[derive(Debug, Clone)]
pub struct Limiters {
    anonymous: Option<Arc<Keyed>>,
    device: Option<Arc<Keyed>>,
    admin: Option<Arc<Keyed>>,
}

fn limiter(limit: Option<Limit>) -> Option<Arc<Keyed>> {
    let limit = limit?;
    let per_minute = NonZeroU32::new(limit.per_minute)?;
    let burst = NonZeroU32::new(limit.burst).unwrap_or(per_minute);
    let quota = Quota::with_period(Duration::from_secs(60) / per_minute.get())?.allow_burst(burst);
    Some(Arc::new(Keyed::keyed(quota)))
}

impl Limiters {
    pub fn new(limits: RateLimits) -> Self {
        Self { anonymous: limiter(limits.anonymous), device: limiter(limits.device), admin: limiter(limits.admin) }
    }

    /// `Err(wait)` when `key` is over the budget of `class`.
    fn check(&self, class: Class, key: &str) -> Result<(), Duration> {
        let limiter = match class {
            Class::Anonymous => &self.anonymous,
            Class::Device => &self.device,
            Class::Admin => &self.admin,
        };
        let Some(limiter) = limiter else { return Ok(()) };
        if limiter.len() > MAX_TRACKED_KEYS {
            limiter.retain_recent();
        }
        limiter.check_key(&key.to_owned()).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
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
    match limiters.check(class, &key_of(class, &req)) {
        Ok(()) => next.run(req).await,
        Err(wait) => too_many(wait),
    }
}
