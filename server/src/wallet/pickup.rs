//! Pickup codes: the convenience-store kiosk flow. The owner asks for a one-time,
//! short-lived 10-digit code for one certificate; the kiosk redeems it once and gets
//! the certificate to print. The owner can revoke an unused code. Only the code's
//! SHA-256 is stored, so the database alone cannot redeem anything.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use rusqlite::{OptionalExtension, params};
use taipei_protocol::wallet::{
    DEFAULT_PICKUP_TTL_SECS, NewPickupCode, PickedUp, PickupCode, RedeemPickup, codes,
};

use super::actions;
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::{AuthedDevice, sha256};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::idempotency::{self, IdempotencyKey};
use crate::middleware::Ctx;
use crate::random;
use crate::time::now_ms;

fn invalid() -> ApiError {
    // One answer for unknown, used, expired and revoked: a guesser learns nothing.
    ApiError::new(StatusCode::NOT_FOUND, codes::PICKUP_INVALID, "this pickup code is unknown, used, expired or revoked")
}

/// Ten uniformly random digits (rejection sampling avoids a modulo bias).
fn new_code() -> Result<String, ApiError> {
    loop {
        let n = u64::from_be_bytes(random::bytes::<8>()?);
        let limit = u64::MAX - u64::MAX % 10_000_000_000;
        if n < limit {
            return Ok(format!("{:010}", n % 10_000_000_000));
        }
    }
}

/// `POST /v1/wallet/pickup-codes` (owner's phone).
pub async fn create(
    State(state): State<AppState>,
    device: AuthedDevice,
    key: IdempotencyKey,
    body: JsonBody<NewPickupCode>,
) -> Result<Response, ApiError> {
    let request = body.value;
    taipei_protocol::limits::check_pickup_ttl(request.ttl_secs).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let ttl = request.ttl_secs.unwrap_or(DEFAULT_PICKUP_TTL_SECS);
    let entry = Entry::new(actions::PICKUP_CREATE, &device.user_id).device(&device.device_id).ip(device.ip.clone());
    let entry2 = entry.clone();
    let result = idempotency::once(&state.db, device.device_id.clone(), key, body.request_hash, StatusCode::CREATED, move |tx| {
        let owned: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM wallet_certificates WHERE id = ?1 AND user_id = ?2)",
            params![request.certificate_id, device.user_id],
            |r| r.get(0),
        )?;
        if !owned {
            return Err(ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN_CERTIFICATE, "no such certificate in your wallet"));
        }
        let code = new_code()?;
        let now = now_ms();
        let expires_at_ms = now + i64::from(ttl) * 1000;
        tx.execute(
            "INSERT INTO wallet_pickup_codes (code_hash, certificate_id, user_id, expires_at_ms, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha256(code.as_bytes()).as_slice(), request.certificate_id, device.user_id, expires_at_ms, now],
        )?;
        audit::record(tx, &entry2)?;
        Ok(PickupCode { code, certificate_id: request.certificate_id, expires_at_ms })
    })
    .await;
    audit::unless_refused(&state.db, entry, result).await
}

/// `POST /v1/wallet/pickup-codes/{code}/revoke` (owner's phone): an unused code stops
/// working at once.
pub async fn revoke(State(state): State<AppState>, device: AuthedDevice, Path(code): Path<String>) -> Result<StatusCode, ApiError> {
    let entry = Entry::new(actions::PICKUP_REVOKE, &device.user_id).device(&device.device_id).ip(device.ip.clone());
    let entry2 = entry.clone();
    let result = state
        .db
        .write(move |tx| {
            let changed = tx.execute(
                "UPDATE wallet_pickup_codes SET revoked_at_ms = ?3 WHERE code_hash = ?1 AND user_id = ?2 AND used_at_ms IS NULL AND revoked_at_ms IS NULL",
                params![sha256(code.as_bytes()).as_slice(), device.user_id, now_ms()],
            )?;
            if changed == 0 {
                return Err(invalid());
            }
            audit::record(tx, &entry2)
        })
        .await;
    audit::unless_refused(&state.db, entry, result).await.map(|()| StatusCode::NO_CONTENT)
}

/// `POST /v1/kiosk/pickup` (the kiosk): redeems a code exactly once.
pub async fn redeem(State(state): State<AppState>, ctx: Ctx, body: JsonBody<RedeemPickup>) -> Result<Json<PickedUp>, ApiError> {
    let code = body.value.code;
    let entry = Entry::new(actions::PICKUP_REDEEM, "kiosk").ip(ctx.ip());
    let entry2 = entry.clone();
    let result = state
        .db
        .write(move |tx| {
            let hash = sha256(code.trim().as_bytes());
            let now = now_ms();
            // The UPDATE is the check: only an unused, unrevoked, unexpired code changes.
            let certificate_id: Option<String> = tx
                .query_row(
                    "UPDATE wallet_pickup_codes SET used_at_ms = ?2 \
                     WHERE code_hash = ?1 AND used_at_ms IS NULL AND revoked_at_ms IS NULL AND expires_at_ms > ?2 \
                     RETURNING certificate_id",
                    params![hash.as_slice(), now],
                    |r| r.get(0),
                )
                .optional()?;
            let certificate_id = certificate_id.ok_or_else(invalid)?;
            let qr: String = tx.query_row("SELECT qr FROM wallet_certificates WHERE id = ?1", [&certificate_id], |r| r.get(0))?;
            audit::record(tx, &entry2)?;
            Ok(PickedUp { certificate_id, qr })
        })
        .await;
    audit::unless_refused(&state.db, entry, result).await.map(Json)
}
