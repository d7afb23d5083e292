//! Request bodies: JSON with our error replies instead of axum's plain-text ones.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use taipei_protocol::api::codes;

use crate::error::ApiError;
use crate::idempotency;

/// Largest request body accepted; larger ones get `payload_too_large`.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON body, plus the fingerprint of the whole request that idempotency compares.
#[derive(Debug)]
pub struct JsonBody<T> {
    pub value: T,
    pub request_hash: [u8; 32],
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    codes::PAYLOAD_TOO_LARGE,
                    format!("request body is larger than {BODY_LIMIT} bytes"),
                )
            } else {
                ApiError::bad_request(format!("could not read the request body: {}", e.body_text()))
            }
        })?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
        Ok(Self { value, request_hash: idempotency::request_hash(method.as_str(), &path, &bytes) })
    }
}

/// Checks a free-text field's length in characters.
pub fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::bad_request(format!("{field} must be {min} to {max} characters, got {n}")));
    }
    Ok(())
}
