//! Contract signature histories: each signature by an agency or vendor carries the
//! signer's X.509 certificate (and any intermediates); the chain must end at a trust
//! anchor from the signed trust list. Shown as the city's platform shows it: order,
//! time, signer, and the certificate used (subject DN, issuer DN, serial number).

use serde::{Deserialize, Serialize};

use super::CertError;
use super::x509::Certificate;
use crate::b64;
use crate::signed::SignedMessage;

pub const CONTRACT_TAG: &str = "TPQ-CONTRACT-v1";
const MAX_CHAIN: usize = 4;

/// One signature as the server keeps and sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractSignature {
    /// 1-based order of signing.
    pub order: u32,
    pub signed_at_ms: i64,
    /// Who signed, as the signer wrote it (`臺北市政府資訊局`, `大同資訊`).
    pub signer: String,
    /// base64url DER: the signer's certificate first, then intermediates.
    pub chain: Vec<String>,
    /// base64url DER ECDSA signature over [`signature_message`].
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    pub id: String,
    pub title: String,
    /// Lowercase hex SHA-256 of the contract document.
    pub document_sha256: String,
    pub signatures: Vec<ContractSignature>,
    pub voided_at_ms: Option<i64>,
    pub void_reason: Option<String>,
}

/// The bytes a contract signature covers: the contract, the document's hash, and the
/// signature's place in the order, so one signature cannot be moved to another
/// contract or position.
pub fn signature_message(contract_id: &str, document_sha256: &str, order: u32, signed_at_ms: i64, signer: &str) -> Vec<u8> {
    SignedMessage::new(CONTRACT_TAG)
        .text(contract_id)
        .text(document_sha256)
        .u64(u64::from(order))
        .i64(signed_at_ms)
        .text(signer)
        .finish()
}

/// One row of the signature history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureView {
    pub order: u32,
    pub signed_at_ms: i64,
    pub signer: String,
    pub subject_dn: String,
    pub issuer_dn: String,
    pub serial: String,
    /// `None`: the signature and its chain verify; otherwise why not.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    /// Every signature verifies to a trust anchor.
    Valid,
    /// Voided by the issuer; signatures are still shown.
    Voided,
    /// At least one signature does not verify.
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractView {
    pub id: String,
    pub title: String,
    pub status: ContractStatus,
    pub signatures: Vec<SignatureView>,
    pub voided_at_ms: Option<i64>,
    pub void_reason: Option<String>,
}

/// Checks every signature of `contract` against the trust anchors (DER).
pub fn check(contract: &Contract, anchors: &[Vec<u8>]) -> ContractView {
    let anchors: Vec<Certificate> = anchors.iter().filter_map(|a| Certificate::from_der(a).ok()).collect();
    let mut signatures: Vec<SignatureView> = contract.signatures.iter().map(|s| check_one(contract, s, &anchors)).collect();
    signatures.sort_by_key(|s| s.order);
    let orders_ok = signatures.iter().enumerate().all(|(i, s)| s.order as usize == i + 1);
    let status = if contract.voided_at_ms.is_some() {
        ContractStatus::Voided
    } else if orders_ok && !signatures.is_empty() && signatures.iter().all(|s| s.problem.is_none()) {
        ContractStatus::Valid
    } else {
        ContractStatus::Invalid
    };
    ContractView {
        id: contract.id.clone(),
        title: contract.title.clone(),
        status,
        signatures,
        voided_at_ms: contract.voided_at_ms,
        void_reason: contract.void_reason.clone(),
    }
}

fn check_one(contract: &Contract, s: &ContractSignature, anchors: &[Certificate]) -> SignatureView {
    let mut view = SignatureView {
        order: s.order,
        signed_at_ms: s.signed_at_ms,
        signer: s.signer.clone(),
        subject_dn: String::new(),
        issuer_dn: String::new(),
        serial: String::new(),
        problem: None,
    };
    let chain: Result<Vec<Certificate>, CertError> = s
        .chain
        .iter()
        .take(MAX_CHAIN + 1)
        .map(|c| b64::decode(c).map_err(|e| CertError::X509(e.to_string())).and_then(|der| Certificate::from_der(&der)))
        .collect();
    let chain = match chain {
        Ok(c) if !c.is_empty() && c.len() <= MAX_CHAIN => c,
        Ok(_) => {
            view.problem = Some(format!("a signature carries 1 to {MAX_CHAIN} certificates"));
            return view;
        }
        Err(e) => {
            view.problem = Some(e.to_string());
            return view;
        }
    };
    let leaf = &chain[0];
    view.subject_dn.clone_from(&leaf.subject);
    view.issuer_dn.clone_from(&leaf.issuer);
    view.serial.clone_from(&leaf.serial);
    view.problem = verify_signature(contract, s, leaf).and_then(|()| verify_chain(&chain, anchors, s.signed_at_ms.div_euclid(1000))).err();
    view
}

fn verify_signature(contract: &Contract, s: &ContractSignature, leaf: &Certificate) -> Result<(), String> {
    let super::VerifyingKey::Es256(key) = &leaf.key else {
        return Err("the signer's key is not P-256".into());
    };
    let sig = b64::decode(&s.signature).map_err(|e| format!("signature: {e}"))?;
    let message = signature_message(&contract.id, &contract.document_sha256, s.order, s.signed_at_ms, &s.signer);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key.as_bytes())
        .verify(&message, &sig)
        .map_err(|_| "the signature does not match the contract".to_string())
}

/// Each certificate valid at signing time and issued by the next (a CA); the last
/// issued by an anchor.
fn verify_chain(chain: &[Certificate], anchors: &[Certificate], at_secs: i64) -> Result<(), String> {
    for (i, cert) in chain.iter().enumerate() {
        if !cert.valid_at(at_secs) {
            return Err(format!("the certificate of {} was not valid when it signed", cert.subject));
        }
        if let Some(next) = chain.get(i + 1) {
            if !next.is_ca {
                return Err(format!("{} is not a certificate authority", next.subject));
            }
            cert.issued_by(next).map_err(|e| e.to_string())?;
        }
    }
    let last = chain.last().ok_or("empty chain")?;
    anchors
        .iter()
        .filter(|a| a.is_ca)
        .find(|a| last.issued_by(a).is_ok())
        .map(|_| ())
        .ok_or_else(|| format!("{} does not chain to a trust anchor of the city", last.issuer))
}
