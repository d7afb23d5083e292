//! What an operator runs the server with: liveness and readiness probes (`/healthz`,
//! `/readyz`), Prometheus metrics (`/metrics`, [`metrics`]), the log format
//! ([`logs`]) and online backup and restore of the database ([`backup`]).
//!
//! The probes answer load balancers and orchestrators, not people, so they are plain:
//! `/healthz` says the process serves HTTP (it touches nothing else, so a slow
//! database never gets a healthy process restarted); `/readyz` says this process can
//! do its work now — the database answers within [`READY_TIMEOUT`] and holds exactly
//! the schema this build migrates to. A newer schema (another process of a newer
//! release migrated the shared file) takes the old process out of rotation instead
//! of letting it write rows it does not understand.

pub mod backup;
pub mod logs;
pub mod metrics;

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use taipei_protocol::api::{Health, codes};

use crate::AppState;
use crate::db::migrations;
use crate::error::ApiError;

/// Longer than any single transaction of the server; a database that does not answer
/// within it is as good as unreachable for a probe.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

fn not_ready(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::NOT_READY, message)
}

/// `GET /healthz`: the process is up and serving HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "getHealth",
    summary = "Liveness: the process is up and serving HTTP.",
    description = "Touches nothing but the process: a slow database never makes a load balancer restart a healthy process. Not under `/v1`: probes are not part of the phone API. Anonymous budget of the rate limits.",
    responses(
        (status = 200, description = "Serving.", body = taipei_protocol::api::Health),
        (status = 500, response = crate::openapi::Internal),
    ),
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into(), schema_version: None })
}

/// `GET /readyz`: the database is reachable and migrated to this build's schema.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "getReadiness",
    summary = "Readiness: the database answers and holds the schema this build serves.",
    description = "503 `not_ready` when the database does not answer within 2 s or holds another schema version (a newer release migrated it): take this process out of rotation.",
    responses(
        (status = 200, description = "Ready.", body = taipei_protocol::api::Health),
        (status = 503, description = "`not_ready`.", body = taipei_protocol::api::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let read = state.db.schema_version();
    let found = match tokio::time::timeout(READY_TIMEOUT, read).await {
        Ok(Ok(version)) => version,
        Ok(Err(_)) => return Err(not_ready("the database cannot be read")),
        Err(_) => return Err(not_ready(format!("the database did not answer within {} s", READY_TIMEOUT.as_secs()))),
    };
    let known = migrations::latest();
    if found != known {
        return Err(not_ready(format!("the database has schema version {found}; this server serves version {known}")));
    }
    Ok(Json(Health { status: "ready".into(), schema_version: Some(found) }))
}

/// `GET /metrics`: every counter and histogram in Prometheus' text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    summary = "Prometheus metrics (OpenMetrics text).",
    description = "`taipei_http_requests_total` and `taipei_http_request_duration_seconds` by method, route template and status; `taipei_outbox_intake_total` by route and outcome (`accepted`, `replayed`) for requests with an `Idempotency-Key`; `taipei_rejections_total` by error code. Labels never carry a path's values, a header or a body. A deployment keeps this route off its public ingress.",
    responses(
        (status = 200, description = "The metrics.", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 500, response = crate::openapi::Internal),
    ),
)]
pub async fn get_metrics(State(state): State<AppState>) -> axum::response::Response {
    state.settings.metrics.render()
}
