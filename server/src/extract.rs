//! Request bodies: JSON with our error replies instead of axum's plain-text ones.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use taipei_protocol::api::codes;
use taipei_protocol::ecdsa::PublicKey;
use taipei_protocol::{ProtocolError, b64};

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
                ApiError::bad_request(format!(
                    "could not read the request body: {}",
                    e.body_text()
                ))
            }
        })?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
        Ok(Self {
            value,
            request_hash: idempotency::request_hash(method.as_str(), &path, &bytes),
        })
    }
}

/// Decodes a base64url field, naming it in the refusal.
pub fn b64_field(name: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    b64::decode(text).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
}

/// Checks a device signature (`signature`, base64url r‖s) over `message`: a malformed
/// signature is a bad request, one that does not verify is `signature_invalid`.
/// Returns the decoded signature, which callers keep as evidence.
pub fn verify_signature(
    key: &PublicKey,
    message: &[u8],
    signature: &str,
    what: &str,
) -> Result<Vec<u8>, ApiError> {
    let bytes = b64_field("signature", signature)?;
    key.verify(message, &bytes).map_err(|e| match e {
        ProtocolError::SignatureInvalid => {
            ApiError::signature_invalid(format!("the {what} signature does not verify"))
        }
        other => ApiError::bad_request(format!("signature: {other}")),
    })?;
    Ok(bytes)
}

/// Checks a free-text field's length in characters.
pub fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::bad_request(format!(
            "{field} must be {min} to {max} characters, got {n}"
        )));
    }
    Ok(())
}

/// A path parameter, or a `bad_request` naming what did not parse.
pub fn path_of<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(v)| v).map_err(|e| ApiError::bad_request(e.body_text()))
}

/// A query string, or a `bad_request` naming what did not parse.
pub fn query_of<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| ApiError::bad_request(e.body_text()))
}
