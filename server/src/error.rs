//! Errors: [`ApiError`] is what a client sees (always JSON `ErrorBody`), [`ServerError`]
//! is what stops the server from starting.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use taipei_protocol::api::{ErrorBody, codes};

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("database {path}: {source}")]
    Database {
        path: String,
        source: crate::db::Error,
    },
    #[error(
        "database {path} has schema version {found}, newer than this server knows ({known}); \
         refusing to touch it (upgrade the server)"
    )]
    SchemaTooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server stopped: {0}")]
    Serve(std::io::Error),
    #[error("backup or restore at {path}: {message}")]
    Backup { path: String, message: String },
}

/// Set on every error reply: the code, for the metrics of the outermost middleware
/// (which would otherwise have to parse the body back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// A refusal or failure as the client sees it: HTTP status, stable code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For a refusal that takes another try: how many are left (`ErrorBody.tries_left`).
    pub tries_left: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            tries_left: None,
        }
    }

    pub fn with_tries_left(self, tries_left: u32) -> Self {
        Self {
            tries_left: Some(tries_left),
            ..self
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message)
    }

    pub fn invalid_token(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::INVALID_TOKEN, message)
    }

    pub fn invalid_proof(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::INVALID_DPOP_PROOF, message)
    }

    pub fn signature_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::SIGNATURE_INVALID, message)
    }

    pub fn device_revoked() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            codes::DEVICE_REVOKED,
            "this device has been revoked",
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, message)
    }

    /// Statuses worth an audit entry: refusals of the caller, not server faults.
    pub fn is_refusal(&self) -> bool {
        self.status.is_client_error()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
            tries_left: self.tries_left,
        };
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

impl From<crate::db::Error> for ApiError {
    fn from(e: crate::db::Error) -> Self {
        // The SQL text and values can carry request data: log the error, answer blandly.
        tracing::error!(error = %e, "database error");
        Self::internal("database error")
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        crate::db::Error::from(e).into()
    }
}
