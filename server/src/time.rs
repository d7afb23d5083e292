//! The server clock, the one the whole system trusts, and `GET /v1/time`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use taipei_protocol::api::ServerTime;

/// Now, UTC milliseconds.
pub fn now_ms() -> i64 {
    // A clock before 1970 is a broken host; 0 keeps every comparison well defined.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now, UTC seconds (the unit of DPoP `iat`).
pub fn now_s() -> i64 {
    now_ms() / 1000
}

/// Adds a duration to a millisecond timestamp without overflow.
pub fn after(now_ms: i64, ttl: std::time::Duration) -> i64 {
    now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

#[utoipa::path(
    get,
    path = "/v1/time",
    operation_id = "getTime",
    summary = "Server clock.",
    responses(
        (status = 200, description = "Now.", body = taipei_protocol::api::ServerTime),
        (status = 500, response = crate::openapi::Internal),
    ),
)]
pub async fn get_time() -> Json<ServerTime> {
    Json(ServerTime { now_ms: now_ms() })
}
