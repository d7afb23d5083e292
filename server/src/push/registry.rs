//! The subscription registry (`push_subscriptions`): one push channel per device, the
//! newest registration replacing the older one, the auth secret sealed.
//!
//! A token goes stale without notice (FCM's expire after about 270 days unused, and an
//! uninstalled app's may still accept messages for a while), so a subscription not
//! re-registered within [`SUBSCRIPTION_MAX_AGE_MS`] is dropped by the purge, one the push
//! service answers 404/410 at once, and one whose deliveries keep failing after
//! [`PushConfig::max_failures`](super::PushConfig) given-up deliveries in a row.

use crate::db::{Conn, OptionalExtension as _};
use crate::params;
use taipei_protocol::b64;
use taipei_protocol::push::message::{PushPlatform, SUBSCRIPTION_MAX_AGE_MS, SubscriptionRequest};

use crate::error::ApiError;
use crate::sealing::Kek;

fn auth_label(device_id: &str) -> String {
    format!("push_subscriptions/{device_id}")
}

pub fn platform_str(p: PushPlatform) -> &'static str {
    match p {
        PushPlatform::WebPush => "web_push",
        PushPlatform::Fcm => "fcm",
        PushPlatform::Apns => "apns",
    }
}

/// A stored subscription with its auth secret opened, as the sender needs it.
#[derive(Clone)]
pub struct Subscription {
    pub device_id: String,
    pub user_id: String,
    pub platform: String,
    pub endpoint: String,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
    pub failures: u32,
}

// The endpoint is a capability URL and the auth secret a key: neither goes to a log.
impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("device_id", &self.device_id)
            .field("user_id", &self.user_id)
            .field("platform", &self.platform)
            .field("endpoint", &"<redacted>")
            .field("auth", &"<redacted>")
            .field("failures", &self.failures)
            .finish()
    }
}

/// A Web Push endpoint the server will POST to: `https://`, or plain `http://` only to
/// a loopback host (tests, a push service on the same machine). Anything else would let
/// a phone point the server's requests at the city's internal network unencrypted.
pub fn check_endpoint(request: &SubscriptionRequest) -> Result<(), String> {
    request.validate().map_err(|e| e.to_string())?;
    if request.platform != PushPlatform::WebPush {
        return Ok(());
    }
    let rest = if let Some(rest) = request.endpoint.strip_prefix("https://") {
        rest
    } else if let Some(rest) = request.endpoint.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let name = if host.starts_with('[') { host.split(']').next().map(|h| &h[1..]).unwrap_or("") } else { host.split(':').next().unwrap_or("") };
        let loopback = name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err("a Web Push endpoint must be https (plain http only to a loopback address)".into());
        }
        rest
    } else {
        return Err("a Web Push endpoint is an http(s) URL".into());
    };
    if rest.is_empty() || rest.starts_with('/') || rest.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err("the Web Push endpoint has no host or holds spaces".into());
    }
    Ok(())
}

/// Registers (or renews) the device's subscription. A new endpoint replaces the old one;
/// deliveries still queued for the device go to the new one.
pub fn put(conn: &Conn<'_>, kek: &Kek, device_id: &str, user_id: &str, request: &SubscriptionRequest, now_ms: i64) -> Result<(), ApiError> {
    let p256dh = b64::decode(&request.p256dh).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let auth = b64::decode(&request.auth).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let sealed = kek.seal(&auth_label(device_id), &auth)?;
    conn.execute(
        "INSERT INTO push_subscriptions (device_id, user_id, platform, endpoint, p256dh, auth_sealed, created_at_ms, verified_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
         ON CONFLICT (device_id) DO UPDATE SET user_id = ?2, platform = ?3, endpoint = ?4, p256dh = ?5, auth_sealed = ?6, \
         created_at_ms = CASE WHEN push_subscriptions.endpoint = ?4 AND push_subscriptions.p256dh = ?5 THEN push_subscriptions.created_at_ms ELSE ?7 END, \
         verified_at_ms = ?7, failures = 0, last_failure_ms = NULL",
        params![device_id, user_id, platform_str(request.platform), request.endpoint, p256dh, sealed, now_ms],
    )?;
    Ok(())
}

/// Forgets the device's subscription and what was queued for it; `false` if it had none.
pub fn delete(conn: &Conn<'_>, device_id: &str) -> Result<bool, ApiError> {
    Ok(conn.execute("DELETE FROM push_subscriptions WHERE device_id = ?1", [device_id])? > 0)
}

/// The device's subscription, with its auth secret opened.
pub fn get(conn: &Conn<'_>, kek: &Kek, device_id: &str) -> Result<Option<Subscription>, ApiError> {
    let row = conn
        .query_row(
            "SELECT device_id, user_id, platform, endpoint, p256dh, auth_sealed, failures FROM push_subscriptions WHERE device_id = ?1",
            [device_id],
            |r| {
                Ok((
                    Subscription {
                        device_id: r.get(0)?,
                        user_id: r.get(1)?,
                        platform: r.get(2)?,
                        endpoint: r.get(3)?,
                        p256dh: r.get(4)?,
                        auth: Vec::new(),
                        failures: r.get(6)?,
                    },
                    r.get::<_, Vec<u8>>(5)?,
                ))
            },
        )
        .optional()?;
    match row {
        None => Ok(None),
        Some((mut sub, sealed)) => {
            sub.auth = kek.open(&auth_label(&sub.device_id), &sealed)?;
            Ok(Some(sub))
        }
    }
}

/// A delivery to the device went through: its failure count starts again.
pub fn delivered(conn: &Conn<'_>, device_id: &str) -> Result<(), ApiError> {
    conn.execute("UPDATE push_subscriptions SET failures = 0 WHERE device_id = ?1 AND failures <> 0", [device_id])?;
    Ok(())
}

/// A delivery was given up on. Returns true if that dropped the subscription (the
/// `max_failures`-th in a row).
pub fn failed(conn: &Conn<'_>, device_id: &str, max_failures: u32, now_ms: i64) -> Result<bool, ApiError> {
    let failures: Option<u32> = conn
        .query_row(
            "UPDATE push_subscriptions SET failures = failures + 1, last_failure_ms = ?2 WHERE device_id = ?1 RETURNING failures",
            params![device_id, now_ms],
            |r| r.get(0),
        )
        .optional()?;
    if failures.is_some_and(|f| f >= max_failures) {
        delete(conn, device_id)?;
        return Ok(true);
    }
    Ok(false)
}

/// Drops subscriptions not re-registered for [`SUBSCRIPTION_MAX_AGE_MS`] and those of
/// revoked devices (the scheduled purge). Returns how many went.
pub fn purge(conn: &Conn<'_>, now_ms: i64) -> Result<usize, ApiError> {
    Ok(conn.execute(
        "DELETE FROM push_subscriptions WHERE verified_at_ms < ?1 \
         OR device_id IN (SELECT device_id FROM devices WHERE status <> 'active')",
        [now_ms.saturating_sub(SUBSCRIPTION_MAX_AGE_MS)],
    )?)
}
