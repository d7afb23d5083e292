//! Contracts with multi-party signatures. The reference server plays every party: for
//! each one it makes a P-256 key and a certificate from its test CA (the trust list's
//! anchor), and signs in order. A city deployment receives these signatures from the
//! agencies' and vendors' own signing tools; the stored shape is the same.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use crate::params;
use taipei_protocol::b64;
use taipei_protocol::cert::contract::{Contract, ContractSignature, signature_message};
use taipei_protocol::wallet::{Contracts, NewContract, VoidContract, codes};

use super::{CA, actions, ca_params, dn, new_pkcs8, stored_key, x509_time};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::AuthedDevice;
use crate::credentials::ContractsDesk;
use crate::error::ApiError;
use crate::extract::{JsonBody, check_len};
use crate::random;
use crate::time::now_ms;

const MAX_PARTIES: usize = 10;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Signs as `party`, with a fresh key certified by the test CA for signing
/// documents.
fn sign_as(contract: &Contract, party: &str, order: u32, at_ms: i64, ca_pkcs8: &[u8]) -> Result<ContractSignature, ApiError> {
    let rng = SystemRandom::new();
    let pkcs8 = new_pkcs8()?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8, &rng).map_err(|_| ApiError::internal("party key"))?;
    let party_key = rcgen::KeyPair::try_from(pkcs8.as_slice()).map_err(internal)?;
    let ca_key = rcgen::KeyPair::try_from(ca_pkcs8).map_err(internal)?;
    // The CA's name and key are what a certificate it issues refers to.
    let issuer = rcgen::Issuer::new(ca_params(0)?, ca_key);
    let at_s = at_ms / 1000;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = dn(&[("C", "TW"), ("O", party), ("CN", party)]);
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&random::bytes::<8>()?));
    params.not_before = x509_time(at_s - 86_400)?;
    params.not_after = x509_time(at_s + 2 * 365 * 86_400)?;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::ContentCommitment];
    // id-kp-documentSigning (RFC 9336): what contract verification asks of a signer.
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 36])];
    let cert = params.signed_by(&party_key, &issuer).map_err(internal)?;
    let message = signature_message(&contract.id, &contract.document_sha256, order, at_ms, party);
    let signature = pair.sign(&rng, &message).map_err(|_| ApiError::internal("signing failed"))?;
    Ok(ContractSignature {
        order,
        signed_at_ms: at_ms,
        // The reference server plays the signer and receives the signature at once.
        received_at_ms: Some(now_ms().max(at_ms)),
        signer: party.to_owned(),
        chain: vec![b64::encode(cert.der())],
        signature: b64::encode(signature.as_ref()),
    })
}

/// `POST /v1/admin/wallet/contracts`.
#[utoipa::path(
    post,
    path = "/v1/admin/wallet/contracts",
    operation_id = "walletContractCreate",
    summary = "Admin: a contract signed in order by the named parties (the reference server signs for each with a key certified by its test CA).",
    request_body(content = taipei_protocol::wallet::NewContract),
    responses(
        (status = 201, description = "The signed contract.", body = taipei_protocol::cert::contract::Contract),
        (status = 400, description = "`bad_request`.", body = taipei_protocol::api::ErrorBody),
        (status = 401, description = "`unauthorized`: missing or wrong contracts credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
    ),
    security(("contracts" = [])),
)]
pub async fn create(State(state): State<AppState>, desk: ContractsDesk, body: JsonBody<NewContract>) -> Result<(StatusCode, Json<Contract>), ApiError> {
    let n = body.value;
    check_len("user_id", &n.user_id, 1, 128)?;
    check_len("title", &n.title, 1, 200)?;
    if n.document_sha256.len() != 64 || !n.document_sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return Err(ApiError::bad_request("document_sha256 must be 64 lowercase hex digits"));
    }
    if n.parties.is_empty() || n.parties.len() > MAX_PARTIES {
        return Err(ApiError::bad_request(format!("1 to {MAX_PARTIES} parties")));
    }
    for p in &n.parties {
        check_len("parties[]", p, 1, 100)?;
    }
    let entry = Entry::new(actions::CONTRACT_CREATE, desk.actor()).ip(desk.ip);
    let kek = state.settings.kek.clone();
    state
        .db
        .write(move |tx| {
            let ca_key = stored_key(tx, &kek, CA)?.0;
            let mut contract = Contract { id: random::id()?, title: n.title, document_sha256: n.document_sha256, signatures: vec![], voided_at_ms: None, void_reason: None };
            let start = now_ms();
            for (i, party) in n.parties.iter().enumerate() {
                let order = u32::try_from(i + 1).unwrap_or(u32::MAX);
                let signature = sign_as(&contract, party, order, start + i64::from(order) * 1000, &ca_key)?;
                contract.signatures.push(signature);
            }
            let body = serde_json::to_string(&contract).map_err(internal)?;
            tx.execute(
                "INSERT INTO wallet_contracts (id, user_id, body, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![contract.id, n.user_id, body, start],
            )?;
            audit::record(tx, &entry)?;
            Ok((StatusCode::CREATED, Json(contract)))
        })
        .await
}

/// `POST /v1/admin/wallet/contracts/{id}/void`.
#[utoipa::path(
    post,
    path = "/v1/admin/wallet/contracts/{id}/void",
    operation_id = "walletContractVoid",
    summary = "Admin: void a contract; its signature history stays.",
    params(
        ("id" = String, Path, description = "Contract id."),
    ),
    request_body(content = taipei_protocol::wallet::VoidContract),
    responses(
        (status = 204, description = "Voided."),
        (status = 400, description = "`bad_request`.", body = taipei_protocol::api::ErrorBody),
        (status = 401, description = "`unauthorized`: missing or wrong contracts credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`wallet_unknown_contract`.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("contracts" = [])),
)]
pub async fn void(State(state): State<AppState>, desk: ContractsDesk, Path(id): Path<String>, body: JsonBody<VoidContract>) -> Result<StatusCode, ApiError> {
    let reason = body.value.reason;
    check_len("reason", &reason, 1, 500)?;
    let entry = Entry::new(actions::CONTRACT_VOID, desk.actor()).ip(desk.ip);
    state
        .db
        .write(move |tx| {
            let changed = tx.execute(
                "UPDATE wallet_contracts SET voided_at_ms = COALESCE(voided_at_ms, ?2), void_reason = COALESCE(void_reason, ?3) WHERE id = ?1",
                params![id, now_ms(), reason],
            )?;
            if changed == 0 {
                return Err(ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN_CONTRACT, "no such contract"));
            }
            audit::record(tx, &entry)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

/// `GET /v1/wallet/contracts` (phone): the person's contracts with their signatures;
/// the phone checks them against the trust list's anchors itself.
#[utoipa::path(
    get,
    path = "/v1/wallet/contracts",
    operation_id = "walletContracts",
    summary = "Phone: this person's contracts with every signature and its certificate chain; the phone verifies them against the trust list's anchors.",
    responses(
        (status = 200, description = "The contracts.", body = taipei_protocol::wallet::Contracts),
        (status = 401, response = crate::openapi::AuthRefused),
    ),
    security(("dpop" = [])),
)]
pub async fn list(State(state): State<AppState>, device: AuthedDevice) -> Result<Json<Contracts>, ApiError> {
    state
        .db
        .read(move |conn| {
            let mut stmt = conn.prepare("SELECT body, voided_at_ms, void_reason FROM wallet_contracts WHERE user_id = ?1 ORDER BY created_at_ms, id")?;
            let rows = stmt
                .query_map([&device.user_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, Option<String>>(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            let contracts = rows
                .into_iter()
                .map(|(body, voided_at_ms, void_reason)| {
                    let contract: Contract = serde_json::from_str(&body).map_err(internal)?;
                    Ok(Contract { voided_at_ms, void_reason, ..contract })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            Ok(Json(Contracts { contracts }))
        })
        .await
}
