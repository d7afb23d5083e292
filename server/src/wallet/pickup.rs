//! Pickup codes: the convenience-store kiosk flow. The owner asks for a one-time,
//! short-lived 10-digit code for one certificate; a kiosk, with a credential of its
//! own, redeems it once and gets the certificate to print. The owner can revoke an
//! unused code.
//!
//! Ten digits are only 10^10 codes, so a bare hash of one is reversed in hours: the
//! table keeps an HMAC under a server secret (sealed under the KEK), the creation
//! reply kept for idempotent retries is sealed, and the revoke request carries the
//! code in its body, never in a URL a request log would keep. A kiosk that keeps
//! sending wrong codes, or one code tried again and again, is locked out for
//! [`LOCKOUT_WINDOW_MS`]; the failure rows stop growing at the limit, so a flood
//! cannot fill the disk.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use crate::db::OptionalExtension;
use crate::params;
use taipei_protocol::wallet::{
    DEFAULT_PICKUP_TTL_SECS, NewPickupCode, PickedUp, PickupCode, RedeemPickup, RevokePickup, codes,
};

use super::actions;
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::AuthedDevice;
use crate::credentials::Kiosk;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::idempotency::{self, IdempotencyKey};
use crate::random;
use crate::sealing::{self, Kek};
use crate::time::now_ms;

/// The server secret pickup codes are MAC'd under.
const CODE_SECRET: &str = "wallet-pickup-code";
/// How far back failures count.
pub const LOCKOUT_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Wrong codes one kiosk may send in the window.
pub const MAX_KIOSK_FAILURES: i64 = 10;
/// Failed tries of one code (from any kiosk) in the window.
pub const MAX_CODE_FAILURES: i64 = 5;

fn code_mac(tx: &crate::db::Conn<'_>, kek: &Kek, code: &str) -> Result<Vec<u8>, ApiError> {
    sealing::mac(tx, kek, CODE_SECRET, code.trim().as_bytes())
}

fn locked(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        codes::PICKUP_LOCKED,
        format!("too many wrong pickup codes {what}; try again in {} minutes", LOCKOUT_WINDOW_MS / 60_000),
    )
}

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
#[utoipa::path(
    post,
    path = "/v1/wallet/pickup-codes",
    operation_id = "walletPickupCreate",
    summary = "Phone: a one-time 10-digit pickup code for a kiosk, short-lived (default 600 s, at most 3600 s).",
    params(
        ("Idempotency-Key" = String, Header),
    ),
    request_body(content = taipei_protocol::wallet::NewPickupCode),
    responses(
        (status = 201, description = "The code.", body = taipei_protocol::wallet::PickupCode),
        (status = 400, description = "`bad_request`, `idempotency_key_required`.", body = taipei_protocol::api::ErrorBody),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 404, description = "`wallet_unknown_certificate`.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("dpop" = [])),
)]
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
    let kek = state.settings.kek.clone();
    let result = idempotency::once_with(&state.db, Some(kek.clone()), device.device_id.clone(), key, body.request_hash, StatusCode::CREATED, move |tx| {
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
            params![code_mac(tx, &kek, &code)?, request.certificate_id, device.user_id, expires_at_ms, now],
        )?;
        audit::record(tx, &entry2)?;
        Ok(PickupCode { code, certificate_id: request.certificate_id, expires_at_ms })
    })
    .await;
    audit::unless_refused(&state.db, entry, result).await
}

/// `POST /v1/wallet/pickup-codes/revoke` (owner's phone): an unused code stops
/// working at once.
#[utoipa::path(
    post,
    path = "/v1/wallet/pickup-codes/revoke",
    operation_id = "walletPickupRevoke",
    summary = "Phone: the owner revokes an unused pickup code. The code is in the body, never in the URL (request logs keep URLs).",
    request_body(content = taipei_protocol::wallet::RevokePickup),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 404, description = "`wallet_pickup_invalid`: unknown, used, expired or revoked.", body = taipei_protocol::api::ErrorBody),
        (status = 400, response = crate::openapi::BadRequest),
    ),
    security(("dpop" = [])),
)]
pub async fn revoke(State(state): State<AppState>, device: AuthedDevice, body: JsonBody<RevokePickup>) -> Result<StatusCode, ApiError> {
    let code = body.value.code;
    let entry = Entry::new(actions::PICKUP_REVOKE, &device.user_id).device(&device.device_id).ip(device.ip.clone());
    let entry2 = entry.clone();
    let kek = state.settings.kek.clone();
    let result = state
        .db
        .write(move |tx| {
            let changed = tx.execute(
                "UPDATE wallet_pickup_codes SET revoked_at_ms = ?3 WHERE code_hash = ?1 AND user_id = ?2 AND used_at_ms IS NULL AND revoked_at_ms IS NULL",
                params![code_mac(tx, &kek, &code)?, device.user_id, now_ms()],
            )?;
            if changed == 0 {
                return Err(invalid());
            }
            audit::record(tx, &entry2)
        })
        .await;
    audit::unless_refused(&state.db, entry, result).await.map(|()| StatusCode::NO_CONTENT)
}

/// `POST /v1/kiosk/pickup` (a kiosk, with its credential): redeems a code exactly once.
#[utoipa::path(
    post,
    path = "/v1/kiosk/pickup",
    operation_id = "kioskPickup",
    summary = "Kiosk (its own credential): redeem a pickup code, exactly once, for the certificate to print. Ten wrong codes from one kiosk, or five failed tries of one code, in 15 minutes lock it out for the rest of the window.",
    request_body(content = taipei_protocol::wallet::RedeemPickup),
    responses(
        (status = 200, description = "The certificate.", body = taipei_protocol::wallet::PickedUp),
        (status = 400, description = "`bad_request`.", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`wallet_pickup_invalid`: unknown, used, expired or revoked.", body = taipei_protocol::api::ErrorBody),
        (status = 401, description = "`unauthorized`: missing or wrong kiosk credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
        (status = 429, description = "`wallet_pickup_locked`: too many wrong codes from this kiosk, or tries of this code, in the last 15 minutes.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("kiosk" = [])),
)]
pub async fn redeem(State(state): State<AppState>, kiosk: Kiosk, body: JsonBody<RedeemPickup>) -> Result<Json<PickedUp>, ApiError> {
    let code = body.value.code;
    let entry = Entry::new(actions::PICKUP_REDEEM, format!("kiosk:{}", kiosk.id)).ip(kiosk.ip.clone());
    let entry2 = entry.clone();
    let kek = state.settings.kek.clone();
    let outcome = state
        .db
        .write(move |tx| {
            let now = now_ms();
            tx.execute("DELETE FROM kiosk_failures WHERE at_ms < ?1", [now - LOCKOUT_WINDOW_MS])?;
            let mac = code_mac(tx, &kek, &code)?;
            let (by_kiosk, by_code): (i64, i64) = tx.query_row(
                "SELECT (SELECT COUNT(*) FROM kiosk_failures WHERE kiosk_id = ?1), (SELECT COUNT(*) FROM kiosk_failures WHERE code_mac = ?2)",
                params![kiosk.id, mac],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            // Checked before the code: a locked kiosk learns nothing, not even a right guess.
            if by_kiosk >= MAX_KIOSK_FAILURES {
                return Ok(Err(locked("from this kiosk")));
            }
            if by_code >= MAX_CODE_FAILURES {
                return Ok(Err(locked("for this code")));
            }
            // The UPDATE is the check: only an unused, unrevoked, unexpired code changes.
            let certificate_id: Option<String> = tx
                .query_row(
                    "UPDATE wallet_pickup_codes SET used_at_ms = ?2 \
                     WHERE code_hash = ?1 AND used_at_ms IS NULL AND revoked_at_ms IS NULL AND expires_at_ms > ?2 \
                     RETURNING certificate_id",
                    params![mac, now],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(certificate_id) = certificate_id else {
                // Committed with the refusal (the outer Ok), so the count survives it.
                tx.execute("INSERT INTO kiosk_failures (kiosk_id, code_mac, at_ms) VALUES (?1, ?2, ?3)", params![kiosk.id, mac, now])?;
                return Ok(Err(invalid()));
            };
            let qr: String = tx.query_row("SELECT qr FROM wallet_certificates WHERE id = ?1", [&certificate_id], |r| r.get(0))?;
            audit::record(tx, &entry2)?;
            Ok(Ok(PickedUp { certificate_id, qr }))
        })
        .await;
    let result = outcome.and_then(|r| r);
    audit::unless_refused(&state.db, entry, result).await.map(Json)
}
