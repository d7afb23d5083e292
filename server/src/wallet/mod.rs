//! The certificate wallet's server side (issue #6): the city root key, issuer keys,
//! issuance per type, the signed trust and status lists, revocation; pickup codes
//! (`pickup`), contracts with multi-party signatures (`contracts`) and the public
//! verifier page (`verify`).
//!
//! Keys are made on first start and kept in the database sealed under the operator's
//! key-encryption key (`crate::sealing`). A city deployment keeps the root key offline
//! (or in an HSM behind the same trait) and signs lists with it on a schedule; the
//! wire format does not change.

pub mod contracts;
pub mod pickup;
pub mod verify;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use crate::db::{Conn, OptionalExtension};
use crate::params;
use taipei_protocol::b64;
use taipei_protocol::cert::city::{CityCertificate, mask_name};
use taipei_protocol::cert::key_id;
use taipei_protocol::cert::lists::{
    STATUS_LIST_TAG, SignedList, StatusBits, TRUST_LIST_TAG, TrustAnchor, TrustList, TrustedIssuer,
};
use taipei_protocol::push::message::{MAX_TEXT_LEN, MAX_TTL_MS, PushContent, PushKind, Urgency};
use taipei_protocol::wallet::{IssuedCertificate, NewCertificate, RootKey, WalletEntries, WalletEntry, codes};

use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::AuthedDevice;
use crate::credentials::Issuer;
use crate::db::Db;
use crate::error::ApiError;
use crate::extract::{JsonBody, check_len};
use crate::idempotency::{self, IdempotencyKey};
use crate::{push, random};
use crate::sealing::{Kek, labels};
use crate::time::now_ms;

/// Audit actions of the wallet.
pub mod actions {
    pub const ISSUE: &str = "wallet.issue";
    pub const REVOKE: &str = "wallet.revoke";
    pub const PICKUP_CREATE: &str = "wallet.pickup.create";
    pub const PICKUP_REVOKE: &str = "wallet.pickup.revoke";
    pub const PICKUP_REDEEM: &str = "wallet.pickup.redeem";
    pub const CONTRACT_CREATE: &str = "wallet.contract.create";
    pub const CONTRACT_VOID: &str = "wallet.contract.void";
}

/// The city's agencies a fresh reference server trusts, with the types each may issue.
const DEFAULT_ISSUERS: [(&str, &str, &[&str]); 3] = [
    ("TPE-EDU", "臺北市政府教育局 Department of Education", &["diploma", "award"]),
    ("TPE-SW", "臺北市政府社會局 Department of Social Welfare", &["low_income"]),
    ("TPE-CUL", "臺北市政府文化局 Department of Cultural Affairs", &["event_visit", "award"]),
];
/// Issuer keys are valid ten years from creation.
const ISSUER_KEY_LIFETIME_MS: i64 = 10 * 365 * 86_400_000;
const ROOT: &str = "root";
const CA: &str = "ca";
pub const CA_NAME: [(&str, &str); 3] = [("C", "TW"), ("O", "Taipei City Government"), ("CN", "Taipei City Test CA")];

/// A distinguished name from `(short name, value)` pairs, in order.
pub(crate) fn dn(attributes: &[(&str, &str)]) -> rcgen::DistinguishedName {
    let mut name = rcgen::DistinguishedName::new();
    for (short, value) in attributes {
        let kind = match *short {
            "C" => rcgen::DnType::CountryName,
            "O" => rcgen::DnType::OrganizationName,
            "OU" => rcgen::DnType::OrganizationalUnitName,
            "L" => rcgen::DnType::LocalityName,
            "ST" => rcgen::DnType::StateOrProvinceName,
            _ => rcgen::DnType::CommonName,
        };
        name.push(kind, *value);
    }
    name
}

pub(crate) fn x509_time(secs: i64) -> Result<time::OffsetDateTime, ApiError> {
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(|e| ApiError::internal(e.to_string()))
}

/// The test CA's parameters: a root for contract signers, with no CA below it.
pub(crate) fn ca_params(now_s: i64) -> Result<rcgen::CertificateParams, ApiError> {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = dn(&CA_NAME);
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[1]));
    params.not_before = x509_time(now_s - 86_400)?;
    params.not_after = x509_time(now_s + 20 * 365 * 86_400)?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn new_ca_certificate(ca_pkcs8: &[u8], now_s: i64) -> Result<Vec<u8>, ApiError> {
    let key = rcgen::KeyPair::try_from(ca_pkcs8).map_err(|e| ApiError::internal(format!("CA key: {e}")))?;
    let cert = ca_params(now_s)?.self_signed(&key).map_err(|e| ApiError::internal(format!("CA certificate: {e}")))?;
    Ok(cert.der().to_vec())
}

fn new_pkcs8() -> Result<Vec<u8>, ApiError> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map(|d| d.as_ref().to_vec())
        .map_err(|_| ApiError::internal("key generation failed"))
}

/// A P-256 key pair from stored PKCS #8, for COSE and list signatures (`r‖s`).
pub(crate) fn fixed_pair(pkcs8: &[u8]) -> Result<EcdsaKeyPair, ApiError> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &SystemRandom::new())
        .map_err(|_| ApiError::internal("a stored wallet key is unreadable"))
}

/// A wallet key's PKCS #8 (opened) and its certificate, if it has one.
pub(crate) fn stored_key(conn: &Conn<'_>, kek: &Kek, name: &str) -> Result<(Vec<u8>, Option<Vec<u8>>), ApiError> {
    let (sealed, certificate): (Vec<u8>, Option<Vec<u8>>) = conn
        .query_row("SELECT pkcs8, certificate FROM wallet_keys WHERE name = ?1", [name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| ApiError::internal(format!("wallet key {name} is missing")))?;
    Ok((kek.open(&labels::wallet_key(name), &sealed)?, certificate))
}

/// The CA's certificate alone: public, no need to open its key.
fn ca_certificate(conn: &Conn<'_>) -> Result<Vec<u8>, ApiError> {
    let certificate: Option<Option<Vec<u8>>> =
        conn.query_row("SELECT certificate FROM wallet_keys WHERE name = ?1", [CA], |r| r.get(0)).optional()?;
    Ok(certificate.flatten().unwrap_or_default())
}

/// Makes the root key, the test CA and the default issuers on a fresh database. On
/// one that has them, checks the root key opens, so a wrong KEK stops the start
/// instead of failing every signature later.
pub async fn init(db: &Db, kek: &Kek) -> Result<(), ApiError> {
    let kek = kek.clone();
    db.write(move |tx| {
        let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM wallet_keys WHERE name = ?1)", [ROOT], |r| r.get(0))?;
        if exists {
            return stored_key(tx, &kek, ROOT).map(drop);
        }
        let now = now_ms();
        let seal_key = |name: &str, pkcs8: &[u8]| kek.seal(&labels::wallet_key(name), pkcs8);
        tx.execute("INSERT INTO wallet_keys (name, pkcs8, created_at_ms) VALUES (?1, ?2, ?3)", params![ROOT, seal_key(ROOT, &new_pkcs8()?)?, now])?;
        let ca_key = new_pkcs8()?;
        let ca_cert = new_ca_certificate(&ca_key, now / 1000)?;
        tx.execute("INSERT INTO wallet_keys (name, pkcs8, certificate, created_at_ms) VALUES (?1, ?2, ?3, ?4)", params![CA, seal_key(CA, &ca_key)?, ca_cert, now])?;
        for (issuer, name, types) in DEFAULT_ISSUERS {
            let pkcs8 = new_pkcs8()?;
            let public = fixed_pair(&pkcs8)?.public_key().as_ref().to_vec();
            let types = serde_json::to_string(types).map_err(|e| ApiError::internal(e.to_string()))?;
            tx.execute(
                "INSERT INTO wallet_issuers (issuer, name, kid, public_key, pkcs8, types, not_before_ms, not_after_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![issuer, name, b64::encode(key_id(&public)), public, kek.seal(&labels::issuer_key(issuer), &pkcs8)?, types, now - 86_400_000, now + ISSUER_KEY_LIFETIME_MS],
            )?;
        }
        Ok(())
    })
    .await
}

/// `GET /v1/wallet/root-key`.
#[utoipa::path(
    get,
    path = "/v1/wallet/root-key",
    operation_id = "walletRootKey",
    summary = "The city root public key that signs the trust and status lists (for configuring an app build; an app ships it, never fetches it).",
    responses(
        (status = 200, description = "The key.", body = taipei_protocol::wallet::RootKey),
    ),
)]
pub async fn root_key(State(state): State<AppState>) -> Result<Json<RootKey>, ApiError> {
    let kek = state.settings.kek.clone();
    state
        .db
        .read(move |conn| {
            let pair = fixed_pair(&stored_key(conn, &kek, ROOT)?.0)?;
            Ok(Json(RootKey { public_key: b64::encode(pair.public_key().as_ref()) }))
        })
        .await
}

pub(crate) fn trust_list(conn: &Conn<'_>) -> Result<TrustList, ApiError> {
    let mut stmt = conn.prepare("SELECT kid, issuer, name, public_key, not_before_ms, not_after_ms, types FROM wallet_issuers ORDER BY issuer")?;
    let issuers = stmt
        .query_map([], |r| {
            let types: String = r.get(6)?;
            Ok(TrustedIssuer {
                kid: r.get(0)?,
                issuer: r.get(1)?,
                name: r.get(2)?,
                public_key: b64::encode(r.get::<_, Vec<u8>>(3)?),
                not_before_ms: r.get(4)?,
                not_after_ms: r.get(5)?,
                types: serde_json::from_str(&types).unwrap_or_default(),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let ca = ca_certificate(conn)?;
    let anchors = vec![TrustAnchor { name: "Taipei City Test CA".into(), certificate: b64::encode(ca) }];
    Ok(TrustList { as_of_ms: now_ms(), issuers, anchors })
}

pub(crate) fn status_bits(conn: &Conn<'_>) -> Result<StatusBits, ApiError> {
    let count: i64 = conn.query_row("SELECT COALESCE(MAX(status_index) + 1, 0) FROM wallet_certificates", [], |r| r.get(0))?;
    let mut bits = StatusBits::with_len(u64::try_from(count).unwrap_or(0));
    let mut stmt = conn.prepare("SELECT status_index FROM wallet_certificates WHERE revoked_at_ms IS NOT NULL")?;
    for index in stmt.query_map([], |r| r.get::<_, i64>(0))? {
        bits.revoke(u64::try_from(index?).unwrap_or(u64::MAX));
    }
    Ok(bits)
}

fn signed<T: serde::Serialize>(conn: &Conn<'_>, kek: &Kek, tag: &str, list: &T) -> Result<SignedList, ApiError> {
    let root = fixed_pair(&stored_key(conn, kek, ROOT)?.0)?;
    SignedList::sign(tag, list, &root).map_err(|e| ApiError::internal(e.to_string()))
}

/// `GET /v1/wallet/trust-list`: public; the phone checks the root signature.
#[utoipa::path(
    get,
    path = "/v1/wallet/trust-list",
    operation_id = "walletTrustList",
    summary = "The trust list (issuer keys: kid, key, validity, allowed types; X.509 anchors for contracts), signed by the root key with tag TPQ-TRUST-v1.",
    responses(
        (status = 200, description = "The signed list.", body = taipei_protocol::cert::lists::SignedList),
    ),
)]
pub async fn get_trust_list(State(state): State<AppState>) -> Result<Json<SignedList>, ApiError> {
    let kek = state.settings.kek.clone();
    state.db.read(move |conn| Ok(Json(signed(conn, &kek, TRUST_LIST_TAG, &trust_list(conn)?)?))).await
}

/// `GET /v1/wallet/status-list`: public; one bit per certificate ever issued.
#[utoipa::path(
    get,
    path = "/v1/wallet/status-list",
    operation_id = "walletStatusList",
    summary = "The status list (one revocation bit per certificate, zlib-compressed, IETF Token Status List layout), signed by the root key with tag TPQ-STATUS-v1.",
    responses(
        (status = 200, description = "The signed list.", body = taipei_protocol::cert::lists::SignedList),
    ),
)]
pub async fn get_status_list(State(state): State<AppState>) -> Result<Json<SignedList>, ApiError> {
    let kek = state.settings.kek.clone();
    state.db.read(move |conn| Ok(Json(signed(conn, &kek, STATUS_LIST_TAG, &status_bits(conn)?.to_list(now_ms()))?))).await
}

/// `POST /v1/admin/wallet/certificates`: an agency's system issues a certificate,
/// with its issuer credential. The agency is the credential's; a body naming another
/// is refused (`issuer` may be left empty).
#[utoipa::path(
    post,
    path = "/v1/admin/wallet/certificates",
    operation_id = "walletIssue",
    summary = "An agency's system (its issuer credential) issues a certificate. The agency is the credential's: `issuer` in the body may be empty, and naming another agency is refused (`wallet_wrong_issuer`).",
    params(
        ("Idempotency-Key" = String, Header),
    ),
    request_body(content = taipei_protocol::wallet::NewCertificate),
    responses(
        (status = 201, description = "Issued.", body = taipei_protocol::wallet::IssuedCertificate),
        (status = 400, description = "`bad_request`, `idempotency_key_required`.", body = taipei_protocol::api::ErrorBody),
        (status = 401, description = "`unauthorized`: missing or wrong issuer credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
        (status = 403, description = "`wallet_type_not_allowed`: the agency may not issue this type; `wallet_wrong_issuer`: the body names another agency than the credential's.", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`wallet_unknown_issuer`.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("issuer" = [])),
)]
pub async fn issue(
    State(state): State<AppState>,
    issuer: Issuer,
    key: IdempotencyKey,
    body: JsonBody<NewCertificate>,
) -> Result<Response, ApiError> {
    let mut n = body.value;
    let agency = issuer.agency()?.to_owned();
    let entry = Entry::new(actions::ISSUE, format!("issuer:{}", issuer.id)).ip(issuer.ip.clone());
    if !n.issuer.is_empty() && n.issuer != agency {
        let error = ApiError::new(
            StatusCode::FORBIDDEN,
            codes::WRONG_ISSUER,
            format!("this credential issues for {agency}, not {}", n.issuer),
        );
        return audit::unless_refused::<Response>(&state.db, entry, Err(error)).await;
    }
    n.issuer = agency;
    check_len("user_id", &n.user_id, 1, 128)?;
    check_len("holder_name", &n.holder_name, 1, 100)?;
    check_len("cert_type", &n.cert_type, 1, 64)?;
    let entry2 = entry.clone();
    let kek = state.settings.kek.clone();
    let scope = format!("issuer:{}", issuer.id);
    let result = idempotency::once(&state.db, scope, key, body.request_hash, StatusCode::CREATED, move |tx| {
        let (sealed, public, types): (Vec<u8>, Vec<u8>, String) = tx
            .query_row("SELECT pkcs8, public_key, types FROM wallet_issuers WHERE issuer = ?1", [&n.issuer], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN_ISSUER, format!("no issuer {}", n.issuer)))?;
        let pkcs8 = kek.open(&labels::issuer_key(&n.issuer), &sealed)?;
        let types: Vec<String> = serde_json::from_str(&types).unwrap_or_default();
        if !types.contains(&n.cert_type) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, codes::TYPE_NOT_ALLOWED, format!("{} may not issue {} certificates", n.issuer, n.cert_type)));
        }
        let now = now_ms();
        let index: i64 = tx.query_row("SELECT COALESCE(MAX(status_index) + 1, 0) FROM wallet_certificates", [], |r| r.get(0))?;
        let cert = CityCertificate {
            issuer: n.issuer.clone(),
            holder: mask_name(&n.holder_name),
            cert_type: n.cert_type.clone(),
            title: n.title,
            fields: n.fields,
            issued_at: now / 1000,
            expires_at: n.expires_at_ms.map(|ms| ms.div_euclid(1000)),
            status_index: u64::try_from(index).unwrap_or(0),
            document_sha256: n.document_sha256,
        };
        let qr = cert.sign(&fixed_pair(&pkcs8)?, &key_id(&public)).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let id = random::id()?;
        tx.execute(
            "INSERT INTO wallet_certificates (id, status_index, user_id, issuer, cert_type, qr, issued_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, index, n.user_id, n.issuer, n.cert_type, qr, now],
        )?;
        audit::record(tx, &entry2)?;
        let notice = push::Notice {
            user_id: n.user_id.clone(),
            kind: PushKind::CertificateIssued,
            collapse_key: None,
            ttl_ms: MAX_TTL_MS,
            urgency: Urgency::Normal,
            content: PushContent::Body {
                title: "新憑證".into(),
                text: push::reminders::truncate(&format!("{} 發給您一張憑證", n.issuer), MAX_TEXT_LEN),
                route: format!("wallet/certificates/{id}"),
            },
        };
        push::notify(tx, &kek, notice, now)?;
        Ok(IssuedCertificate { id, status_index: cert.status_index, qr })
    })
    .await;
    state.settings.push.wake();
    audit::unless_refused(&state.db, entry, result).await
}

fn unknown_certificate() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN_CERTIFICATE, "no such certificate")
}

/// `POST /v1/admin/wallet/certificates/{id}/revoke` (issuer credential): sets its bit
/// in the status list. An agency revokes its own certificates only (another's looks
/// unknown). Revoking twice is harmless; the first time stands.
#[utoipa::path(
    post,
    path = "/v1/admin/wallet/certificates/{id}/revoke",
    operation_id = "walletRevoke",
    summary = "An agency's system (its issuer credential) revokes one of its own certificates: sets its status bit. Another agency's certificate answers `wallet_unknown_certificate`.",
    params(
        ("id" = String, Path, description = "Certificate id."),
    ),
    responses(
        (status = 204, description = "Revoked (also when it already was)."),
        (status = 401, description = "`unauthorized`: missing or wrong issuer credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`wallet_unknown_certificate`.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("issuer" = [])),
)]
pub async fn revoke(State(state): State<AppState>, issuer: Issuer, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let agency = issuer.agency()?.to_owned();
    let entry = Entry::new(actions::REVOKE, format!("issuer:{}", issuer.id)).ip(issuer.ip.clone());
    let entry2 = entry.clone();
    let result = state
        .db
        .write(move |tx| {
            let changed = tx.execute(
                "UPDATE wallet_certificates SET revoked_at_ms = COALESCE(revoked_at_ms, ?2) WHERE id = ?1 AND issuer = ?3",
                params![id, now_ms(), agency],
            )?;
            if changed == 0 {
                return Err(unknown_certificate());
            }
            audit::record(tx, &entry2)
        })
        .await;
    audit::unless_refused(&state.db, entry, result).await.map(|()| StatusCode::NO_CONTENT)
}

/// `GET /v1/wallet/certificates` (phone): every certificate issued to this person,
/// revoked ones included (the phone shows them as revoked through the status list).
#[utoipa::path(
    get,
    path = "/v1/wallet/certificates",
    operation_id = "walletCertificates",
    summary = "Phone: every certificate issued to this person, as QR texts.",
    responses(
        (status = 200, description = "The certificates.", body = taipei_protocol::wallet::WalletEntries),
        (status = 401, response = crate::openapi::AuthRefused),
    ),
    security(("dpop" = [])),
)]
pub async fn list(State(state): State<AppState>, device: AuthedDevice) -> Result<Json<WalletEntries>, ApiError> {
    state
        .db
        .read(move |conn| {
            let mut stmt = conn.prepare("SELECT id, qr, issued_at_ms FROM wallet_certificates WHERE user_id = ?1 ORDER BY issued_at_ms, id")?;
            let certificates = stmt
                .query_map([&device.user_id], |r| Ok(WalletEntry { id: r.get(0)?, qr: r.get(1)?, issued_at_ms: r.get(2)? }))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Json(WalletEntries { certificates }))
        })
        .await
}
