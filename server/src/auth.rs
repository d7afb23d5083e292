//! Who is calling: DPoP proof checks, access tokens, and the two extractors every
//! protected endpoint uses — [`AuthedDevice`] for phones, [`Admin`] for the portal and
//! administration.
//!
//! A proof's `htu` is compared by PATH only. Behind a reverse proxy or load balancer
//! the scheme, host and port the phone used differ from what this process sees, so
//! comparing the full URI would refuse every honest request; the path, the method,
//! the key, `iat`, `jti` and `ath` still pin the proof to this one request.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use crate::db::{Conn, OptionalExtension};
use crate::params;
use taipei_protocol::api::{AccessToken, Assurance, AssuranceBasis, TokenRequest, codes, headers};
use taipei_protocol::dpop::{self, VerifiedProof};
use taipei_protocol::ecdsa::PublicKey;
use taipei_protocol::{ProtocolError, b64};

use crate::AppState;
use crate::audit::{self, Entry, actions};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::middleware::Ctx;
use crate::random;
use crate::time::{after, now_ms, now_s};

const MAX_JTI_LEN: usize = 128;

/// A device that proved possession of its key and holds a live token. Later
/// capabilities (login, attendance, approval, wallet, push) take this as their first
/// argument and get authentication, replay protection and auditing for free.
#[derive(Debug, Clone)]
pub struct AuthedDevice {
    pub device_id: String,
    pub user_id: String,
    pub display_name: String,
    pub public_key: PublicKey,
    pub jkt: String,
    pub assurance: Assurance,
    /// Whether `assurance` was attested at registration or is the phone's claim.
    pub assurance_basis: AssuranceBasis,
    pub ip: Option<String>,
}

/// The portal or an administrator (`Authorization: Bearer <admin token>`).
#[derive(Debug, Clone)]
pub struct Admin {
    pub ip: Option<String>,
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
    out
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The path of an `htu` (`scheme://host[:port]/path`, no query or fragment).
fn htu_path(htu: &str) -> Option<&str> {
    let (_, rest) = htu.split_once("://")?;
    let path = &rest[rest.find('/')?..];
    Some(path.split(['?', '#']).next().unwrap_or(path))
}

/// The stateless part of proof checking: signature, method, path, time, token hash.
fn check_proof(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    access_token: Option<&str>,
) -> Result<VerifiedProof, ApiError> {
    let proof = header(headers, headers::DPOP)
        .ok_or_else(|| ApiError::invalid_proof(format!("missing {} header", headers::DPOP)))?;
    let verified = dpop::verify(proof).map_err(|e| match e {
        ProtocolError::SignatureInvalid => {
            ApiError::invalid_proof("DPoP proof signature does not verify")
        }
        other => ApiError::invalid_proof(format!("DPoP proof refused: {other}")),
    })?;
    let claims = &verified.claims;
    if claims.htm != method.as_str() {
        return Err(ApiError::invalid_proof(format!(
            "proof is for {}, request is {method}",
            claims.htm
        )));
    }
    if htu_path(&claims.htu) != Some(path) {
        return Err(ApiError::invalid_proof(format!(
            "proof htu does not name this endpoint ({path})"
        )));
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(ApiError::invalid_proof(format!(
            "proof jti must be 1 to {MAX_JTI_LEN} bytes"
        )));
    }
    let now = now_s();
    if claims.iat.abs_diff(now) > dpop::MAX_CLOCK_SKEW_S.unsigned_abs() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::CLOCK_SKEW,
            format!(
                "proof iat is {}s from the server clock (limit {}s); correct the clock from the {} header and retry",
                claims.iat.saturating_sub(now),
                dpop::MAX_CLOCK_SKEW_S,
                headers::SERVER_TIME_MS
            ),
        ));
    }
    if let Some(token) = access_token
        && claims.ath.as_deref() != Some(dpop::token_hash(token).as_str())
    {
        return Err(ApiError::invalid_proof(
            "proof ath does not match the access token",
        ));
    }
    Ok(verified)
}

/// Remembers a proof's jti so it can never be used twice (until [`purge`] drops it).
fn consume_jti(tx: &Conn<'_>, jkt: &str, proof: &VerifiedProof) -> Result<(), ApiError> {
    let inserted = tx.execute(
        "INSERT INTO dpop_jti (jkt, jti, iat_s) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![jkt, proof.claims.jti, proof.claims.iat],
    )?;
    if inserted == 0 {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::REPLAYED_PROOF,
            "this DPoP proof was already used; make a fresh one for every request",
        ));
    }
    Ok(())
}

/// Drops the jtis of proofs older than twice the allowed skew: a proof that old is
/// refused by its `iat` anyway, so forgetting its jti reopens nothing. Run by the
/// scheduled purge; the table holds at most the proofs of the last skew window and
/// one purge interval.
pub fn purge(tx: &Conn<'_>, now_ms: i64) -> Result<usize, ApiError> {
    Ok(tx.execute("DELETE FROM dpop_jti WHERE iat_s < ?1", [now_ms / 1000 - 2 * dpop::MAX_CLOCK_SKEW_S])?)
}

/// `devices.last_used_at_ms` is kept to the minute: rewriting the device's row on
/// every request would add a page to every commit for a figure nobody reads finer.
const LAST_USED_PRECISION_MS: i64 = 60_000;

struct DeviceRow {
    user_id: String,
    display_name: String,
    public_key: Vec<u8>,
    jkt: String,
    assurance: String,
    assurance_basis: String,
    status: String,
}

fn load_device(conn: &Conn<'_>, device_id: &str) -> Result<Option<DeviceRow>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT d.user_id, u.display_name, d.public_key, d.jkt, d.assurance, d.status, d.assurance_basis \
             FROM devices d JOIN users u ON u.user_id = d.user_id WHERE d.device_id = ?1",
            [device_id],
            |r| {
                Ok(DeviceRow {
                    user_id: r.get(0)?,
                    display_name: r.get(1)?,
                    public_key: r.get(2)?,
                    jkt: r.get(3)?,
                    assurance: r.get(4)?,
                    status: r.get(5)?,
                    assurance_basis: r.get(6)?,
                })
            },
        )
        .optional()?)
}

impl DeviceRow {
    /// An active device whose key made `proof`, or the refusal why not.
    fn require(
        self,
        device_id: &str,
        proof: &VerifiedProof,
        ip: Option<String>,
    ) -> Result<AuthedDevice, ApiError> {
        if self.status != "active" {
            return Err(ApiError::device_revoked());
        }
        if proof.public_key.jwk_thumbprint() != self.jkt {
            return Err(ApiError::invalid_proof(
                "proof is signed by a key that is not this device's",
            ));
        }
        let public_key = PublicKey::from_sec1(&self.public_key)
            .map_err(|e| ApiError::internal(format!("stored device key unreadable: {e}")))?;
        let assurance = Assurance::parse(&self.assurance)
            .ok_or_else(|| ApiError::internal("stored assurance unreadable"))?;
        let assurance_basis = AssuranceBasis::parse(&self.assurance_basis)
            .ok_or_else(|| ApiError::internal("stored assurance basis unreadable"))?;
        Ok(AuthedDevice {
            device_id: device_id.to_owned(),
            user_id: self.user_id,
            display_name: self.display_name,
            public_key,
            jkt: self.jkt,
            assurance,
            assurance_basis,
            ip,
        })
    }
}

fn touch(tx: &Conn<'_>, device_id: &str) -> Result<(), ApiError> {
    tx.execute(
        "UPDATE devices SET last_used_at_ms = ?1 WHERE device_id = ?2 AND last_used_at_ms <= CAST(?1 AS BIGINT) - ?3",
        params![now_ms(), device_id, LAST_USED_PRECISION_MS],
    )?;
    Ok(())
}

/// Records a refusal against whatever is known of the caller, then hands it back.
async fn refuse(state: &AppState, ctx: &Ctx, action: &'static str, error: ApiError) -> ApiError {
    let mut entry = Entry::new(action, "anon").ip(ctx.ip());
    entry.device_id = ctx.device_id();
    audit::refused(&state.db, entry, &error).await;
    error
}

/// `POST /v1/token`: a DPoP proof made with the device key buys a short-lived token
/// bound to that key.
#[utoipa::path(
    post,
    path = "/v1/token",
    operation_id = "issueToken",
    summary = "Exchange a DPoP proof made with the device key for an access token.",
    description = "The token is bound to the key (its JWK thumbprint); the server stores only its SHA-256.",
    params(
        ("DPoP" = String, Header),
    ),
    request_body(content = taipei_protocol::api::TokenRequest),
    responses(
        (status = 200, description = "Token issued.", body = taipei_protocol::api::AccessToken),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`unknown_device`, `invalid_dpop_proof` (bad proof, or key is not the device's), `replayed_proof` or `clock_skew`.", body = taipei_protocol::api::ErrorBody),
        (status = 403, response = crate::openapi::DeviceRevoked),
    ),
)]
pub async fn issue_token(
    State(state): State<AppState>,
    ctx: Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<AccessToken>), ApiError> {
    let device_id = body.value.device_id;
    // Known from the body already; the log line and refusal audit rows name it.
    let _ = ctx.0.device_id.set(device_id.clone());
    let result = async {
        let proof = check_proof(&method, uri.path(), &headers, None)?;
        let ttl = state.settings.token_ttl;
        let ip = ctx.ip();
        state
            .db
            .write(move |tx| {
                let device = load_device(tx, &device_id)?.ok_or_else(|| {
                    ApiError::new(StatusCode::UNAUTHORIZED, codes::UNKNOWN_DEVICE, "no device with this id")
                })?;
                let device = device.require(&device_id, &proof, None)?;
                consume_jti(tx, &device.jkt, &proof)?;
                let now = now_ms();
                tx.execute("DELETE FROM access_tokens WHERE expires_at_ms <= ?1", [now])?;
                let token = b64::encode(random::bytes::<32>()?);
                let expires_at_ms = after(now, ttl);
                tx.execute(
                    "INSERT INTO access_tokens (token_hash, device_id, jkt, expires_at_ms, created_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![sha256(token.as_bytes()).as_slice(), device_id, device.jkt, expires_at_ms, now],
                )?;
                touch(tx, &device_id)?;
                audit::record(tx, &Entry::new(actions::TOKEN_ISSUE, &device.user_id).device(&device_id).ip(ip))?;
                Ok(AccessToken { access_token: token, token_type: "DPoP".into(), expires_at_ms })
            })
            .await
    }
    .await;
    match result {
        Ok(token) => Ok((StatusCode::OK, Json(token))),
        Err(e) => Err(refuse(&state, &ctx, actions::TOKEN_ISSUE, e).await),
    }
}

async fn authenticate(
    parts: &Parts,
    state: &AppState,
    ctx: &Ctx,
) -> Result<AuthedDevice, ApiError> {
    let token = header(&parts.headers, headers::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("DPoP "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::invalid_token("missing Authorization: DPoP <access token>"))?
        .to_owned();
    let proof = check_proof(
        &parts.method,
        parts.uri.path(),
        &parts.headers,
        Some(&token),
    )?;
    let ip = ctx.ip();
    let ctx = ctx.clone();
    // Without the write lock: the proof's jti is spent by an insert its primary key
    // settles (a replay racing it finds the row and is refused) and the last-use mark
    // is a conditional update; nothing here reads "not done yet" and then acts. It is
    // the one write every phone request makes, so the lock would serialise them all.
    state
        .db
        .write_atomic(move |tx| {
            let row: Option<(String, String, i64)> = tx
                .query_row(
                    "SELECT device_id, jkt, expires_at_ms FROM access_tokens WHERE token_hash = ?1",
                    [sha256(token.as_bytes()).as_slice()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((device_id, token_jkt, expires_at_ms)) = row else {
                // Revocation deletes a device's tokens; the proof still names the key,
                // so a revoked phone learns why instead of retrying forever.
                let jkt = proof.public_key.jwk_thumbprint();
                let revoked: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM devices WHERE jkt = ?1 AND status = 'revoked') \
                     AND NOT EXISTS(SELECT 1 FROM devices WHERE jkt = ?1 AND status = 'active')",
                    [&jkt],
                    |r| r.get(0),
                )?;
                return Err(if revoked {
                    ApiError::device_revoked()
                } else {
                    ApiError::invalid_token("unknown access token")
                });
            };
            let _ = ctx.0.device_id.set(device_id.clone());
            if expires_at_ms <= now_ms() {
                return Err(ApiError::invalid_token(
                    "the access token has expired; request a new one",
                ));
            }
            if token_jkt != proof.public_key.jwk_thumbprint() {
                return Err(ApiError::invalid_proof(
                    "proof key is not the key this token is bound to",
                ));
            }
            let device = load_device(tx, &device_id)?
                .ok_or_else(|| ApiError::invalid_token("unknown access token"))?;
            let device = device.require(&device_id, &proof, ip)?;
            consume_jti(tx, &device.jkt, &proof)?;
            touch(tx, &device_id)?;
            Ok(device)
        })
        .await
}

impl FromRequestParts<AppState> for AuthedDevice {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        match authenticate(parts, state, &ctx).await {
            Ok(device) => Ok(device),
            Err(e) => Err(refuse(state, &ctx, actions::AUTH, e).await),
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        let presented = header(&parts.headers, headers::AUTHORIZATION)
            .and_then(|v| v.strip_prefix(headers::ADMIN_SCHEME))
            .and_then(|v| v.strip_prefix(' '));
        // Comparing digests, not the tokens, keeps the comparison's timing independent
        // of how much of the secret a guess got right.
        match presented {
            Some(token) if sha256(token.as_bytes()) == state.settings.admin_token_hash => {
                Ok(Admin { ip: ctx.ip() })
            }
            _ => {
                let error = ApiError::unauthorized(format!(
                    "this endpoint needs Authorization: {} <admin token>",
                    headers::ADMIN_SCHEME
                ));
                Err(refuse(state, &ctx, actions::ADMIN_AUTH, error).await)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::htu_path;

    #[test]
    fn htu_path_ignores_scheme_host_query_and_fragment() {
        assert_eq!(
            htu_path("https://api.example:8443/v1/token?x=1#f"),
            Some("/v1/token")
        );
        assert_eq!(htu_path("http://127.0.0.1:9/v1/me"), Some("/v1/me"));
        assert_eq!(htu_path("http://host"), None);
        assert_eq!(htu_path("/v1/me"), None);
    }
}
