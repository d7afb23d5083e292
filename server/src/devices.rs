//! The device registry: binding offers (portal), registration (phone), revocation
//! (administration), and `GET /v1/me`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use crate::db::OptionalExtension;
use crate::params;
use taipei_protocol::api::{
    AssuranceBasis, BindingOffer, DeviceRegistered, DeviceStatus, Me, NewBinding, RegisterDevice, codes,
};
use taipei_protocol::binding::BindingQr;
use taipei_protocol::ecdsa::PublicKey;
use taipei_protocol::{limits, signed};

use crate::AppState;
use crate::attestation::Evidence;
use crate::audit::{self, Entry, actions};
use crate::auth::{Admin, AuthedDevice};
use crate::credentials::Portal;
use crate::error::ApiError;
use crate::extract::{JsonBody, b64_field, check_len, verify_signature};
use crate::idempotency::{self, IdempotencyKey};
use crate::middleware::Ctx;
use crate::random;
use crate::time::{after, now_ms};

const MAX_ATTESTATION_LEN: usize = 32 * 1024;

/// `POST /v1/portal/bindings` (portal credential): the person proved who they are at the portal; create
/// (or refresh) their user record and a one-time binding offer.
#[utoipa::path(
    post,
    path = "/v1/portal/bindings",
    operation_id = "createBinding",
    summary = "Portal: offer a device binding to a person who proved their identity.",
    description = "Creates the user if new (the display name is updated otherwise) and a one-time binding offer valid for the configured binding TTL (default 120 s). `qr` is the `TPB1:` text to show as a QR code.",
    request_body(content = taipei_protocol::api::NewBinding),
    responses(
        (status = 201, description = "Offer created.", body = taipei_protocol::api::BindingOffer),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`unauthorized`: missing or wrong portal credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
    ),
    security(("portal" = [])),
)]
pub async fn create_binding(
    State(state): State<AppState>,
    portal: Portal,
    body: JsonBody<NewBinding>,
) -> Result<(StatusCode, Json<BindingOffer>), ApiError> {
    let NewBinding {
        user_id,
        display_name,
    } = body.value;
    check_len("user_id", &user_id, 1, 128)?;
    check_len("display_name", &display_name, 1, 200)?;
    let qr = BindingQr {
        bid: random::bytes()?,
        bnonce: random::bytes()?,
        expires_at_ms: after(now_ms(), state.settings.binding_ttl),
    };
    let offer = BindingOffer {
        bid: qr.bid_text(),
        expires_at_ms: qr.expires_at_ms,
        qr: qr.encode(),
    };
    state
        .db
        .write(move |tx| {
            let now = now_ms();
            // The portal is the identity authority: the latest proven name wins.
            tx.execute(
                "INSERT INTO users (user_id, display_name, created_at_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(user_id) DO UPDATE SET display_name = excluded.display_name",
                params![user_id, display_name, now],
            )?;
            tx.execute(
                "INSERT INTO bindings (bid, bnonce, user_id, expires_at_ms, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![qr.bid_text(), qr.bnonce.as_slice(), user_id, qr.expires_at_ms, now],
            )?;
            audit::record(tx, &Entry::new(actions::BIND_OFFER, portal.actor()).ip(portal.ip))?;
            Ok(())
        })
        .await?;
    Ok((StatusCode::CREATED, Json(offer)))
}

/// `POST /v1/devices`: a phone registers its key against a binding offer. Consuming
/// the offer and creating the device happen in one transaction, so an offer binds at
/// most one device even under concurrent attempts.
#[utoipa::path(
    post,
    path = "/v1/devices",
    operation_id = "registerDevice",
    summary = "Register a device key against a binding offer.",
    description = "Unauthenticated: the signature over `TPQ-BIND-v1 ‖ bid ‖ bnonce ‖ public key` (signed::binding_message) proves the phone scanned the offer. Consuming the offer and creating the device are one transaction.",
    params(
        ("Idempotency-Key" = String, Header),
    ),
    request_body(content = taipei_protocol::api::RegisterDevice),
    responses(
        (status = 201, description = "Device registered.", body = taipei_protocol::api::DeviceRegistered),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`signature_invalid`.", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`binding_unknown`.", body = taipei_protocol::api::ErrorBody),
        (status = 409, description = "`binding_used`.", body = taipei_protocol::api::ErrorBody),
        (status = 410, description = "`binding_expired`.", body = taipei_protocol::api::ErrorBody),
        (status = 422, description = "`idempotency_key_reused`: the key was used for a different request.", body = taipei_protocol::api::ErrorBody),
    ),
)]
pub async fn register_device(
    State(state): State<AppState>,
    ctx: Ctx,
    key: IdempotencyKey,
    body: JsonBody<RegisterDevice>,
) -> Result<Response, ApiError> {
    let request = body.value;
    let ip = ctx.ip();
    let attestation = state.settings.attestation.clone();
    let result = idempotency::once(&state.db, "anon".into(), key, body.request_hash, StatusCode::CREATED, move |tx| {
        limits::DEVICE_NAME.check(&request.device_name).map_err(|e| ApiError::bad_request(e.to_string()))?;
        if request.attestation.as_ref().is_some_and(|a| a.len() > MAX_ATTESTATION_LEN) {
            return Err(ApiError::bad_request(format!("attestation is longer than {MAX_ATTESTATION_LEN} bytes")));
        }
        let binding: Option<(Vec<u8>, String, i64, bool)> = tx
            .query_row(
                "SELECT bnonce, user_id, expires_at_ms, used FROM bindings WHERE bid = ?1",
                [&request.bid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (bnonce, user_id, expires_at_ms, used) = binding.ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, codes::BINDING_UNKNOWN, "no binding offer with this id")
        })?;
        if used {
            return Err(ApiError::new(StatusCode::CONFLICT, codes::BINDING_USED, "this binding offer was already used"));
        }
        if expires_at_ms <= now_ms() {
            return Err(ApiError::new(
                StatusCode::GONE,
                codes::BINDING_EXPIRED,
                "this binding offer has expired; ask the portal for a new code",
            ));
        }
        let bid = b64_field("bid", &request.bid)?;
        let public_key = PublicKey::from_sec1(&b64_field("public_key", &request.public_key)?)
            .map_err(|e| ApiError::bad_request(format!("public_key: {e}")))?;
        let message = signed::binding_message(&bid, &bnonce, public_key.as_bytes());
        verify_signature(&public_key, &message, &request.signature, "binding")?;

        let device_id = random::id()?;
        let now = now_ms();
        // Only a verified attestation turns the claim into a fact; a failed one binds
        // the device all the same (the person is at the portal), as claimed, and is
        // written down for whoever reviews the log.
        let verified = request.attestation.as_deref().map(|statement| {
            attestation.verify(&Evidence {
                statement,
                challenge: &bnonce,
                client_data: &message,
                public_key: public_key.as_bytes(),
                at_secs: u64::try_from(now.div_euclid(1000)).unwrap_or(0),
            })
        });
        let (assurance, basis, detail) = match &verified {
            Some(Ok(attested)) => {
                (attested.assurance, AssuranceBasis::Attested, Some(format!("{}: {}", attested.format, attested.detail)))
            }
            _ => (request.assurance, AssuranceBasis::Claimed, None),
        };
        tx.execute(
            "INSERT INTO devices (device_id, user_id, public_key, jkt, assurance, attestation, device_name, \
             status, counter, created_at_ms, last_used_at_ms, assurance_basis, attestation_detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', 0, ?8, ?8, ?9, ?10)",
            params![
                device_id,
                user_id,
                public_key.as_bytes(),
                public_key.jwk_thumbprint(),
                assurance.as_str(),
                request.attestation,
                request.device_name,
                now,
                basis.as_str(),
                detail
            ],
        )?;
        if let Some(Err(error)) = &verified {
            let mut entry = Entry::new(actions::DEVICE_ATTESTATION, &user_id).device(&device_id).ip(ip.clone());
            entry.outcome = format!("refused: {error}; recorded as claimed {}", request.assurance.as_str());
            audit::record(tx, &entry)?;
        }
        tx.execute("UPDATE bindings SET used = 1, device_id = ?1 WHERE bid = ?2", params![device_id, request.bid])?;
        audit::record(tx, &Entry::new(actions::DEVICE_REGISTER, &user_id).device(&device_id).ip(ip))?;
        let display_name: String =
            tx.query_row("SELECT display_name FROM users WHERE user_id = ?1", [&user_id], |r| r.get(0))?;
        Ok(DeviceRegistered { device_id, user_id, display_name, assurance, assurance_basis: basis })
    })
    .await;
    audit::unless_refused(
        &state.db,
        Entry::new(actions::DEVICE_REGISTER, "anon").ip(ctx.ip()),
        result,
    )
    .await
}

/// `POST /v1/admin/devices/{device_id}/revoke`: a lost phone stops working at once —
/// every access token it holds is deleted, so every session it opened ends.
#[utoipa::path(
    post,
    path = "/v1/admin/devices/{device_id}/revoke",
    operation_id = "revokeDevice",
    summary = "Revoke a device: deletes all its access tokens (ends its sessions); recorded in the audit log.",
    params(
        ("device_id" = String, Path),
    ),
    responses(
        (status = 200, description = "Device status (revoking twice is harmless).", body = taipei_protocol::api::DeviceStatus),
        (status = 401, description = "`unauthorized`.", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`unknown_device`.", body = taipei_protocol::api::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("admin" = [])),
)]
pub async fn revoke_device(
    State(state): State<AppState>,
    admin: Admin,
    device_id: Result<Path<String>, PathRejection>,
) -> Result<Json<DeviceStatus>, ApiError> {
    let Path(device_id) = device_id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    state
        .db
        .write(move |tx| {
            let user_id: String = tx
                .query_row("SELECT user_id FROM devices WHERE device_id = ?1", [&device_id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN_DEVICE, "no device with this id"))?;
            tx.execute(
                "UPDATE devices SET status = 'revoked', revoked_at_ms = COALESCE(revoked_at_ms, ?1) WHERE device_id = ?2",
                params![now_ms(), device_id],
            )?;
            tx.execute("DELETE FROM access_tokens WHERE device_id = ?1", [&device_id])?;
            let (sessions, logins) = crate::login::end_for_device(tx, &device_id)?;
            let mut entry = Entry::new(actions::DEVICE_REVOKE, "admin").device(&device_id).ip(admin.ip);
            entry.outcome = format!("ok user={user_id} web_sessions={sessions} logins={logins}");
            audit::record(tx, &entry)?;
            Ok(DeviceStatus { device_id, status: "revoked".into() })
        })
        .await
        .map(Json)
}

/// `GET /v1/me`.
#[utoipa::path(
    get,
    path = "/v1/me",
    operation_id = "getMe",
    summary = "Who this device belongs to.",
    responses(
        (status = 200, description = "The device's user.", body = taipei_protocol::api::Me),
        (status = 401, description = "`invalid_token` (missing, unknown or expired token), `invalid_dpop_proof`, `replayed_proof` or `clock_skew`.", body = taipei_protocol::api::ErrorBody),
        (status = 403, response = crate::openapi::DeviceRevoked),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("dpop" = [])),
)]
pub async fn me(device: AuthedDevice) -> Json<Me> {
    Json(Me {
        user_id: device.user_id,
        display_name: device.display_name,
        device_id: device.device_id,
        assurance: device.assurance,
        assurance_basis: device.assurance_basis,
    })
}
