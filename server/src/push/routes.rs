//! The phone's push routes: register its subscription, forget it, sync the log, mark
//! messages read. All are device routes (DPoP-bound token).
//!
//! `PUT` and `DELETE` of the subscription are idempotent by their meaning (the same
//! subscription put twice, or deleted twice, leaves the same state), so they take no
//! `Idempotency-Key`; `POST /v1/push/read` answers with counts that a retry would
//! change, so it needs one, as every POST of a device.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use taipei_protocol::push::message::{MAX_SYNC_PAGE, REVERIFY_INTERVAL_MS, ReadRequest, ReadResponse, SubscriptionRequest, SubscriptionResponse, SyncPage};

use crate::AppState;
use crate::audit::{self, Entry, actions};
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::extract::{JsonBody, query_of};
use crate::idempotency::{self, IdempotencyKey};
use crate::time::now_ms;

fn entry(action: &'static str, device: &AuthedDevice) -> Entry {
    Entry::new(action, &device.user_id).device(&device.device_id).ip(device.ip.clone())
}

/// `PUT /v1/push/subscription`.
#[utoipa::path(
    put,
    path = "/v1/push/subscription",
    operation_id = "putPushSubscription",
    summary = "Phone: register (or renew, at most daily) this device's push subscription; it replaces the device's previous one.",
    description = "Idempotent by meaning (no `Idempotency-Key`). Messages already queued for the device go to the new endpoint. Stored: platform, endpoint, p256dh, the auth secret sealed. Dropped by the server after 270 days without renewal, at once on a 404/410 from the push service, or after 5 deliveries given up in a row. A `push.subscribe` audit row.",
    request_body(content = taipei_protocol::push::message::SubscriptionRequest),
    responses(
        (status = 200, description = "Registered.", body = taipei_protocol::push::message::SubscriptionResponse),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, response = crate::openapi::DeviceRevoked),
    ),
    security(("dpop" = [])),
)]
pub async fn put_subscription(State(state): State<AppState>, device: AuthedDevice, body: JsonBody<SubscriptionRequest>) -> Result<Json<SubscriptionResponse>, ApiError> {
    let entry = entry(actions::PUSH_SUBSCRIBE, &device);
    let request = body.value;
    if let Err(e) = super::registry::check_endpoint(&request) {
        return audit::unless_refused(&state.db, entry, Err(ApiError::bad_request(e))).await;
    }
    let kek = state.settings.kek.clone();
    let ok = entry.clone();
    let result = state
        .db
        .write(move |tx| {
            let now = now_ms();
            super::registry::put(tx, &kek, &device.device_id, &device.user_id, &request, now)?;
            audit::record(tx, &ok)?;
            Ok(Json(SubscriptionResponse { reverify_after_ms: now + REVERIFY_INTERVAL_MS, server_public_key: super::public_key(tx, &kek)? }))
        })
        .await;
    // Messages queued before this device had a subscription are not sent now: sync
    // fetches them, and an old message arriving late as a push helps nobody.
    state.settings.push.wake();
    audit::unless_refused(&state.db, entry, result).await
}

/// `DELETE /v1/push/subscription`: 204 whether or not there was one.
#[utoipa::path(
    delete,
    path = "/v1/push/subscription",
    operation_id = "deletePushSubscription",
    summary = "Phone: forget this device's push subscription and what was queued for it (204 also when there was none).",
    responses(
        (status = 204, description = "Forgotten."),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, response = crate::openapi::DeviceRevoked),
    ),
    security(("dpop" = [])),
)]
pub async fn delete_subscription(State(state): State<AppState>, device: AuthedDevice) -> Result<StatusCode, ApiError> {
    let entry = entry(actions::PUSH_UNSUBSCRIBE, &device);
    let ok = entry.clone();
    state
        .db
        .write(move |tx| {
            super::registry::delete(tx, &device.device_id)?;
            audit::record(tx, &ok)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    #[serde(default)]
    pub after: u64,
    pub limit: Option<u32>,
}

/// `GET /v1/push/messages?after=N&limit=M`: the user's log after `N`, oldest first.
#[utoipa::path(
    get,
    path = "/v1/push/messages",
    operation_id = "getPushMessages",
    summary = "Phone: the user's push message log after sequence `after`, oldest first, with read marks (what push lost, sync finds).",
    params(
        ("after" = Option<i64>, Query, description = "The highest sequence number the phone holds; 0 for everything.", minimum = 0),
        ("limit" = Option<i64>, Query, description = "1 to 100 (default 100).", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "One page.", body = taipei_protocol::push::message::SyncPage),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, response = crate::openapi::DeviceRevoked),
    ),
    security(("dpop" = [])),
)]
pub async fn messages(State(state): State<AppState>, device: AuthedDevice, q: Result<Query<MessagesQuery>, QueryRejection>) -> Result<Json<SyncPage>, ApiError> {
    let q = query_of(q)?;
    let limit = q.limit.unwrap_or(MAX_SYNC_PAGE);
    if limit == 0 || limit > MAX_SYNC_PAGE {
        return Err(ApiError::bad_request(format!("limit is 1 to {MAX_SYNC_PAGE}")));
    }
    let user_id = device.user_id;
    Ok(Json(state.db.read(move |c| super::sync_page(c, &user_id, q.after, limit)).await?))
}

/// `POST /v1/push/read`: marks the user's messages read for all of their devices.
#[utoipa::path(
    post,
    path = "/v1/push/read",
    operation_id = "markPushRead",
    summary = "Phone: mark messages read for all of the user's devices (other users' ids are ignored).",
    params(
        ("Idempotency-Key" = String, Header),
    ),
    request_body(content = taipei_protocol::push::message::ReadRequest),
    responses(
        (status = 200, description = "Counts.", body = taipei_protocol::push::message::ReadResponse),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 422, description = "`idempotency_key_reused`: the key was used for a different request.", body = taipei_protocol::api::ErrorBody),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, response = crate::openapi::DeviceRevoked),
    ),
    security(("dpop" = [])),
)]
pub async fn read(State(state): State<AppState>, device: AuthedDevice, key: IdempotencyKey, body: JsonBody<ReadRequest>) -> Result<Response, ApiError> {
    let request = body.value;
    if let Err(e) = request.validate() {
        return Err(ApiError::bad_request(e.to_string()));
    }
    if request.ids.iter().any(|id| id.is_empty() || id.len() > 64) {
        return Err(ApiError::bad_request("a message id is 1 to 64 characters"));
    }
    let user_id = device.user_id.clone();
    idempotency::once(&state.db, device.device_id.clone(), key, body.request_hash, StatusCode::OK, move |tx| {
        let (marked, unread) = super::mark_read(tx, &user_id, &request.ids, now_ms())?;
        Ok(ReadResponse { marked, unread })
    })
    .await
}
