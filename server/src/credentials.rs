//! Credentials of systems that call the server on their own behalf, each a token of
//! its own kind: minted by the operator (`POST /v1/admin/credentials`), shown once,
//! stored as SHA-256 only (a 32-byte random token needs no salt), revocable, and
//! checked in one place — an extractor per kind ([`Kiosk`], [`Hr`], [`Issuer`],
//! [`Portal`], [`Organizer`], [`ContractsDesk`], [`Reports`]). A
//! kiosk's token opens the kiosk endpoint and nothing else; an issuer's issues and
//! revokes for its own agency only; the admin token opens none of them.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use crate::db::OptionalExtension;
use crate::params;
use taipei_protocol::api::{MintedCredential, NewCredential, headers};

use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::{Admin, sha256};
use crate::error::ApiError;
use crate::extract::{JsonBody, check_len};
use crate::middleware::Ctx;
use crate::random;
use crate::time::now_ms;

pub mod actions {
    pub const MINT: &str = "credential.mint";
    pub const CREDENTIAL_AUTH: &str = "credential.auth";
}

/// The kinds a credential can have.
pub mod kinds {
    pub const KIOSK: &str = "kiosk";
    pub const HR: &str = "hr";
    pub const ISSUER: &str = "issuer";
    pub const PORTAL: &str = "portal";
    pub const ORGANIZER: &str = "organizer";
    pub const CONTRACTS: &str = "contracts";
    pub const REPORTS: &str = "reports";
    pub const ALL: [&str; 7] = [KIOSK, HR, ISSUER, PORTAL, ORGANIZER, CONTRACTS, REPORTS];
}

/// A kind of credential, as a type, so each gets its own extractor.
pub trait Kind: Send + Sync + 'static {
    const NAME: &'static str;
    /// Who presents it, for the refusal message ("kiosk credential").
    const WHAT: &'static str;
}

#[derive(Debug, Clone, Copy)]
pub struct KioskKind;
impl Kind for KioskKind {
    const NAME: &'static str = kinds::KIOSK;
    const WHAT: &'static str = "kiosk credential";
}

#[derive(Debug, Clone, Copy)]
pub struct HrKind;
impl Kind for HrKind {
    const NAME: &'static str = kinds::HR;
    const WHAT: &'static str = "HR credential";
}

#[derive(Debug, Clone, Copy)]
pub struct IssuerKind;
impl Kind for IssuerKind {
    const NAME: &'static str = kinds::ISSUER;
    const WHAT: &'static str = "issuer credential of your agency";
}

#[derive(Debug, Clone, Copy)]
pub struct PortalKind;
impl Kind for PortalKind {
    const NAME: &'static str = kinds::PORTAL;
    const WHAT: &'static str = "portal credential";
}

#[derive(Debug, Clone, Copy)]
pub struct OrganizerKind;
impl Kind for OrganizerKind {
    const NAME: &'static str = kinds::ORGANIZER;
    const WHAT: &'static str = "meeting organizer credential";
}

#[derive(Debug, Clone, Copy)]
pub struct ContractsKind;
impl Kind for ContractsKind {
    const NAME: &'static str = kinds::CONTRACTS;
    const WHAT: &'static str = "contracts desk credential";
}

#[derive(Debug, Clone, Copy)]
pub struct ReportsKind;
impl Kind for ReportsKind {
    const NAME: &'static str = kinds::REPORTS;
    const WHAT: &'static str = "attendance reports credential";
}

/// A caller that presented a live credential of kind `K` (`Authorization: Bearer <token>`).
#[derive(Debug, Clone)]
pub struct Credential<K> {
    /// The credential's id (audit rows name it, never the token).
    pub id: String,
    /// What it is limited to (an issuer's agency).
    pub scope: Option<String>,
    pub ip: Option<String>,
    kind: std::marker::PhantomData<K>,
}

/// A convenience-store kiosk.
pub type Kiosk = Credential<KioskKind>;
/// The HR system: who is assigned to which office.
pub type Hr = Credential<HrKind>;
/// One agency's issuing system; `scope` is its agency.
pub type Issuer = Credential<IssuerKind>;
/// The city portal, which proved who a person is and offers their device a binding.
pub type Portal = Credential<PortalKind>;
/// A meeting organizer's system (schedules meetings, gets the room display's token).
pub type Organizer = Credential<OrganizerKind>;
/// The contracts desk (records signed contracts, voids them).
pub type ContractsDesk = Credential<ContractsKind>;
/// Whoever reads people's weekly attendance reports (a supervisor's or HR's tool).
pub type Reports = Credential<ReportsKind>;

impl<K: Kind> Credential<K> {
    /// Who acted, as audit rows name it: the kind and the credential's id.
    pub fn actor(&self) -> String {
        format!("{}:{}", K::NAME, self.id)
    }
}

impl Issuer {
    /// The agency this credential issues for.
    pub fn agency(&self) -> Result<&str, ApiError> {
        self.scope.as_deref().ok_or_else(|| ApiError::internal("an issuer credential without an agency"))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(headers::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(headers::ADMIN_SCHEME))
        .and_then(|v| v.strip_prefix(' '))
        .map(str::trim)
}

/// The id and scope of the live credential of `kind` whose token is `token`.
async fn check(state: &AppState, kind: &'static str, token: Option<&str>) -> Result<Option<(String, Option<String>)>, ApiError> {
    let Some(hash) = token.map(|t| sha256(t.as_bytes())) else { return Ok(None) };
    state
        .db
        .read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT id, scope FROM credentials WHERE token_hash = ?1 AND kind = ?2 AND revoked_at_ms IS NULL",
                    params![hash.as_slice(), kind],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })
        .await
}

impl<K: Kind> FromRequestParts<AppState> for Credential<K> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        match check(state, K::NAME, bearer(parts)).await? {
            Some((id, scope)) => Ok(Credential { id, scope, ip: ctx.ip(), kind: std::marker::PhantomData }),
            None => {
                let error =
                    ApiError::unauthorized(format!("this endpoint needs Authorization: {} <{}>", headers::ADMIN_SCHEME, K::WHAT));
                audit::refused(&state.db, Entry::new(actions::CREDENTIAL_AUTH, "anon").ip(ctx.ip()), &error).await;
                Err(error)
            }
        }
    }
}

/// `POST /v1/admin/credentials`: the operator mints a credential; the token is in
/// this reply only.
#[utoipa::path(
    post,
    path = "/v1/admin/credentials",
    operation_id = "mintCredential",
    summary = "Operator: mint a credential for a system that calls on its own behalf (kind `kiosk`, `hr`, `portal`, `organizer`, `contracts`, `reports`, or `issuer` with its agency as scope). The token is in this reply only; the server keeps its SHA-256.",
    request_body(content = taipei_protocol::api::NewCredential),
    responses(
        (status = 201, description = "Minted.", body = taipei_protocol::api::MintedCredential),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AdminUnauthorized),
    ),
    security(("admin" = [])),
)]
pub async fn mint(
    State(state): State<AppState>,
    admin: Admin,
    body: JsonBody<NewCredential>,
) -> Result<(StatusCode, Json<MintedCredential>), ApiError> {
    let NewCredential { kind, name, scope } = body.value;
    check_len("name", &name, 1, 200)?;
    let Some(kind) = kinds::ALL.into_iter().find(|k| *k == kind) else {
        return Err(ApiError::bad_request(format!("kind must be one of {:?}", kinds::ALL)));
    };
    if (kind == kinds::ISSUER) != scope.is_some() {
        return Err(ApiError::bad_request("an issuer credential needs scope (its agency); other kinds take none"));
    }
    let id = random::id()?;
    let token = format!("{kind}_{}", random::token());
    let hash = sha256(token.as_bytes());
    let minted = MintedCredential { id: id.clone(), kind: kind.to_owned(), name: name.clone(), scope: scope.clone(), token };
    state
        .db
        .write(move |tx| {
            if let Some(agency) = &scope {
                let known: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM wallet_issuers WHERE issuer = ?1)", [agency], |r| r.get(0))?;
                if !known {
                    return Err(ApiError::bad_request(format!("no agency {agency} among the wallet's issuers")));
                }
            }
            tx.execute(
                "INSERT INTO credentials (id, kind, name, scope, token_hash, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, kind, name, scope, hash.as_slice(), now_ms()],
            )?;
            audit::record(tx, &Entry::new(actions::MINT, "admin").ip(admin.ip))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(minted)))
}
