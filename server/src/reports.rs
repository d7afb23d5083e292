//! Problem reports a person files from the phone (the "Report" button of the login
//! screen files one): signed by the device key, delivered by the outbox, exactly once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use crate::params;
use taipei_protocol::api::{NewReport, Receipt, ReportEntry, ReportList};
use taipei_protocol::{limits, signed};

use crate::AppState;
use crate::audit::{self, Entry, actions};
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::extract::{JsonBody, verify_signature};
use crate::idempotency::{self, IdempotencyKey};
use crate::random;
use crate::time::now_ms;

const LIST_LIMIT: i64 = 100;

fn check_report(report: &NewReport, device: &AuthedDevice) -> Result<Vec<u8>, ApiError> {
    // The phone checks the same rules before it queues a report.
    limits::REPORT_KIND.check(&report.kind).map_err(|e| ApiError::bad_request(e.to_string()))?;
    limits::REPORT_TEXT.check(&report.text).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let message = signed::report_message(
        &device.device_id,
        &report.kind,
        &report.text,
        report.client_time_ms,
    );
    verify_signature(&device.public_key, &message, &report.signature, "report")
}

/// `POST /v1/reports`.
#[utoipa::path(
    post,
    path = "/v1/reports",
    operation_id = "fileReport",
    summary = "File a signed problem report.",
    description = "Signature over signed::report_message(device_id, kind, text, client_time_ms). `kind`: 1-32 of a-z 0-9 _; `text`: 1-4000 characters.",
    params(
        ("Idempotency-Key" = String, Header),
    ),
    request_body(content = taipei_protocol::api::NewReport),
    responses(
        (status = 201, description = "Receipt.", body = taipei_protocol::api::Receipt),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`signature_invalid`, or an authentication refusal (`invalid_token`, `invalid_dpop_proof`, `replayed_proof`, `clock_skew`).", body = taipei_protocol::api::ErrorBody),
        (status = 403, response = crate::openapi::DeviceRevoked),
        (status = 422, description = "`idempotency_key_reused`: the key was used for a different request.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("dpop" = [])),
)]
pub async fn file_report(
    State(state): State<AppState>,
    device: AuthedDevice,
    key: IdempotencyKey,
    body: JsonBody<NewReport>,
) -> Result<Response, ApiError> {
    let report = body.value;
    let scope = device.device_id.clone();
    let audit_entry = Entry::new(actions::REPORT_FILE, &device.user_id)
        .device(&device.device_id)
        .ip(device.ip.clone());
    let result = idempotency::once(&state.db, scope, key, body.request_hash, StatusCode::CREATED, {
        let audit_entry = audit_entry.clone();
        move |tx| {
            let signature = check_report(&report, &device)?;
            let id = random::id()?;
            let now = now_ms();
            tx.execute(
                "INSERT INTO reports (id, device_id, user_id, kind, text, client_time_ms, received_at_ms, signature) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, device.device_id, device.user_id, report.kind, report.text, report.client_time_ms, now, signature],
            )?;
            audit::record(tx, &audit_entry)?;
            Ok(Receipt { id, server_time_ms: now, status: "accepted".into(), reason: None, code: None, late: false })
        }
    })
    .await;
    audit::unless_refused(&state.db, audit_entry, result).await
}

/// `GET /v1/reports`: the person's own reports (from any of their devices), newest first.
#[utoipa::path(
    get,
    path = "/v1/reports",
    operation_id = "listReports",
    summary = "The user's own reports, newest first (at most 100).",
    responses(
        (status = 200, description = "Reports.", body = taipei_protocol::api::ReportList),
        (status = 401, description = "`invalid_token` (missing, unknown or expired token), `invalid_dpop_proof`, `replayed_proof` or `clock_skew`.", body = taipei_protocol::api::ErrorBody),
        (status = 403, response = crate::openapi::DeviceRevoked),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("dpop" = [])),
)]
pub async fn list_reports(
    State(state): State<AppState>,
    device: AuthedDevice,
) -> Result<Json<ReportList>, ApiError> {
    let user_id = device.user_id;
    let reports = state
        .db
        .read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, device_id, kind, text, received_at_ms FROM reports WHERE user_id = ?1 \
                 ORDER BY received_at_ms DESC, rowid DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![user_id, LIST_LIMIT], |r| {
                Ok(ReportEntry {
                    id: r.get(0)?,
                    device_id: r.get(1)?,
                    kind: r.get(2)?,
                    text: r.get(3)?,
                    received_at_ms: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(Json(ReportList { reports }))
}
