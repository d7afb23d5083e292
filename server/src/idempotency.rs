//! Exactly-once state changes: "look up the key, do the work, store the reply" in ONE
//! transaction.
//!
//! Scope is (device id, or `anon` before a device exists; `Idempotency-Key`). The
//! stored reply is returned again — same status, same body — for a retry with the same
//! request; the same key on a different request is refused. Because lookup, work and
//! stored reply commit together, a crash at any point leaves either nothing (the retry
//! does the work) or everything (the retry gets the reply); never the work without its
//! reply. Refusals are not stored: they changed nothing, and a retry is judged afresh.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crate::db::{OptionalExtension, Conn};
use crate::params;
use serde::Serialize;
use taipei_protocol::api::{codes, headers};

use taipei_protocol::b64;

use crate::db::Db;
use crate::error::ApiError;
use crate::sealing::Kek;
use crate::time::now_ms;

/// How long a stored reply is kept: far longer than any client retries a request.
const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
const MAX_KEY_LEN: usize = 128;

/// Set on a reply that was replayed from the store rather than computed now.
pub static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The `Idempotency-Key` header, required by every state-changing device endpoint.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let value = parts.headers.get(headers::IDEMPOTENCY_KEY).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::IDEMPOTENCY_KEY_REQUIRED,
                format!(
                    "this request changes state and needs an {} header",
                    headers::IDEMPOTENCY_KEY
                ),
            )
        })?;
        let key = value
            .to_str()
            .ok()
            .filter(|k| {
                !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
            })
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{} must be 1 to {MAX_KEY_LEN} printable ASCII characters",
                    headers::IDEMPOTENCY_KEY
                ))
            })?;
        Ok(Self(key.to_owned()))
    }
}

/// SHA-256 over method, path and body, each length-prefixed so no two different
/// requests share a fingerprint.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [method.as_bytes(), path.as_bytes(), body] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

struct Stored {
    status: u16,
    body: String,
    replayed: bool,
}

/// Runs `work` exactly once per (scope, key) and answers with `status` and its JSON.
pub async fn once<T, F>(
    db: &Db,
    scope: String,
    key: IdempotencyKey,
    request_hash: [u8; 32],
    status: StatusCode,
    work: F,
) -> Result<Response, ApiError>
where
    T: Serialize,
    F: FnOnce(&Conn<'_>) -> Result<T, ApiError> + Send + 'static,
{
    once_with(db, None, scope, key, request_hash, status, work).await
}

/// Marks a stored body as sealed; a JSON reply never starts with it.
const SEALED_PREFIX: &str = "sealed:";

fn sealed_label(scope: &str, key: &str) -> String {
    format!("idempotency/{scope}/{key}")
}

/// [`once`], and for a reply that carries a secret (a pickup code) `Some(kek)`: the
/// stored copy is then sealed, so the idempotency table never holds it in clear.
pub async fn once_with<T, F>(
    db: &Db,
    kek: Option<Kek>,
    scope: String,
    key: IdempotencyKey,
    request_hash: [u8; 32],
    status: StatusCode,
    work: F,
) -> Result<Response, ApiError>
where
    T: Serialize,
    F: FnOnce(&Conn<'_>) -> Result<T, ApiError> + Send + 'static,
{
    let stored = db
        .write(move |tx| {
            // Lapsed replies are deleted by the scheduled purge (`purge.rs`), not here:
            // a reply past its retention is never looked up by a real retry, and
            // deleting on every request made each one write pages it did not need.
            let now = now_ms();
            let previous: Option<(Vec<u8>, u16, String)> = tx
                .query_row(
                    "SELECT request_hash, status, body FROM idempotency WHERE scope = ?1 AND key = ?2",
                    params![scope, key.0],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((hash, status, body)) = previous {
                if hash != request_hash {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        codes::IDEMPOTENCY_KEY_REUSED,
                        format!("{} was already used for a different request", headers::IDEMPOTENCY_KEY),
                    ));
                }
                let body = match (body.strip_prefix(SEALED_PREFIX), &kek) {
                    (None, _) => body,
                    (Some(sealed), Some(kek)) => {
                        let sealed = b64::decode(sealed).map_err(|_| ApiError::internal("a sealed stored reply is not base64url"))?;
                        String::from_utf8(kek.open(&sealed_label(&scope, &key.0), &sealed)?)
                            .map_err(|_| ApiError::internal("a sealed stored reply is not UTF-8"))?
                    }
                    (Some(_), None) => return Err(ApiError::internal("a sealed stored reply was asked for without the KEK")),
                };
                return Ok(Stored { status, body, replayed: true });
            }
            let value = work(tx)?;
            let body = serde_json::to_string(&value)
                .map_err(|e| ApiError::internal(format!("could not encode the reply: {e}")))?;
            let kept = match &kek {
                Some(kek) => format!("{SEALED_PREFIX}{}", b64::encode(kek.seal(&sealed_label(&scope, &key.0), body.as_bytes())?)),
                None => body.clone(),
            };
            tx.execute(
                "INSERT INTO idempotency (scope, key, request_hash, status, body, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![scope, key.0, request_hash.as_slice(), status.as_u16(), kept, now],
            )?;
            Ok(Stored { status: status.as_u16(), body, replayed: false })
        })
        .await?;
    let status = StatusCode::from_u16(stored.status)
        .map_err(|_| ApiError::internal("stored reply has an invalid status"))?;
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        stored.body,
    )
        .into_response();
    if stored.replayed {
        response
            .headers_mut()
            .insert(REPLAYED.clone(), HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Deletes stored replies older than the retention. Returns how many.
pub fn purge(tx: &Conn<'_>, now: i64) -> Result<usize, ApiError> {
    Ok(tx.execute("DELETE FROM idempotency WHERE created_at_ms < ?1", [now - RETENTION_MS])?)
}
