//! Contract signature histories: each signature by an agency or vendor carries the
//! signer's X.509 certificate (and any intermediates); the chain must end at a trust
//! anchor from the signed trust list. Shown as the city's platform shows it: order,
//! time, signer, and the certificate used (subject DN, issuer DN, serial number).
//!
//! The chain is checked with `rustls-webpki` (ring verifies each signature): names
//! and signatures up to an anchor, basic constraints and path lengths, validity,
//! critical extensions it does not understand, and the signer's extended key usage
//! (document signing, when the certificate lists usages at all). Key usage bits are
//! checked here. Validity is judged at the time the server received the signature,
//! which the signer cannot choose, not at the time the signer claims.

use serde::{Deserialize, Serialize};

use x509_cert::ext::pkix::KeyUsages;

use super::x509::Certificate;
use crate::b64;
use crate::signed::SignedMessage;

pub const CONTRACT_TAG: &str = "TPQ-CONTRACT-v1";
const MAX_CHAIN: usize = 4;
/// id-kp-documentSigning (RFC 9336), 1.3.6.1.5.5.7.3.36, as DER contents.
const EKU_DOCUMENT_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];
/// How far a signer's claimed time may lie after the server received the signature
/// (clock drift between the signing tool and the server).
const MAX_CLAIM_AHEAD_MS: i64 = 5 * 60 * 1000;

/// One signature as the server keeps and sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContractSignature {
    /// 1-based order of signing.
    pub order: u32,
    /// When the signer says it signed (covered by the signature, but the signer's
    /// own claim).
    pub signed_at_ms: i64,
    /// When the server received the signature: the trusted time its certificate
    /// chain is judged at. Missing on a signature no server has recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at_ms: Option<i64>,
    /// Who signed, as the signer wrote it (`臺北市政府資訊局`, `大同資訊`).
    pub signer: String,
    /// base64url DER: the signer's certificate first, then intermediates.
    pub chain: Vec<String>,
    /// base64url DER ECDSA signature over [`signature_message`].
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    let mut signatures: Vec<SignatureView> = contract.signatures.iter().map(|s| check_one(contract, s, anchors)).collect();
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

fn check_one(contract: &Contract, s: &ContractSignature, anchors: &[Vec<u8>]) -> SignatureView {
    let mut view = SignatureView {
        order: s.order,
        signed_at_ms: s.signed_at_ms,
        signer: s.signer.clone(),
        subject_dn: String::new(),
        issuer_dn: String::new(),
        serial: String::new(),
        problem: None,
    };
    let ders: Result<Vec<Vec<u8>>, String> =
        s.chain.iter().take(MAX_CHAIN + 1).map(|c| b64::decode(c).map_err(|e| format!("certificate: {e}"))).collect();
    let chain = ders.and_then(|ders| {
        let certs = ders.iter().map(|d| Certificate::from_der(d).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
        Ok((ders, certs))
    });
    let (ders, certs) = match chain {
        Ok((d, c)) if !c.is_empty() && c.len() <= MAX_CHAIN => (d, c),
        Ok(_) => {
            view.problem = Some(format!("a signature carries 1 to {MAX_CHAIN} certificates"));
            return view;
        }
        Err(e) => {
            view.problem = Some(e);
            return view;
        }
    };
    let leaf = &certs[0];
    view.subject_dn.clone_from(&leaf.subject);
    view.issuer_dn.clone_from(&leaf.issuer);
    view.serial.clone_from(&leaf.serial);
    view.problem = verify_signature(contract, s, leaf)
        .and_then(|()| trusted_time(s))
        .and_then(|at_ms| verify_chain(&ders, &certs, anchors, at_ms))
        .err();
    view
}

/// The time a signature's certificates are judged at: when the server received it.
fn trusted_time(s: &ContractSignature) -> Result<i64, String> {
    let received = s.received_at_ms.ok_or("the server recorded no time of receipt for this signature")?;
    if s.signed_at_ms > received.saturating_add(MAX_CLAIM_AHEAD_MS) {
        return Err(format!(
            "the signer claims to have signed at {}, after the server received it at {}",
            super::format_rfc3339(s.signed_at_ms.div_euclid(1000)),
            super::format_rfc3339(received.div_euclid(1000))
        ));
    }
    Ok(received)
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

/// The leaf and intermediates (DER and read) up to an anchor, at `at_ms`.
fn verify_chain(ders: &[Vec<u8>], certs: &[Certificate], anchors: &[Vec<u8>], at_ms: i64) -> Result<(), String> {
    use rustls_pki_types::{CertificateDer, UnixTime};
    let leaf = &certs[0];
    if !leaf.allows(KeyUsages::DigitalSignature) && !leaf.allows(KeyUsages::NonRepudiation) {
        return Err(format!("the key usage of {} does not allow signing", leaf.subject));
    }
    if let Some(ca) = certs[1..].iter().find(|c| !c.allows(KeyUsages::KeyCertSign)) {
        return Err(format!("the key usage of {} does not allow signing certificates", ca.subject));
    }
    // webpki holds anchors as a name and a key, so the anchor's own path length is
    // checked here: the CAs between it and the leaf may not outnumber it.
    let below_anchor = certs.len() - 1;
    let named: Vec<Certificate> = anchors
        .iter()
        .filter_map(|a| Certificate::from_der(a).ok())
        .filter(|a| certs.last().is_some_and(|last| last.issuer == a.subject))
        .collect();
    if !named.is_empty() && named.iter().all(|a| a.path_len.is_some_and(|n| usize::from(n) < below_anchor)) {
        return Err(format!("the chain is longer than the path length {} allows", named[0].subject));
    }
    let at_secs = u64::try_from(at_ms.div_euclid(1000)).map_err(|_| "a signing time before 1970".to_string())?;
    let leaf_der = CertificateDer::from(ders[0].as_slice());
    let end_entity = webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| describe(&e, certs, at_secs))?;
    let intermediates: Vec<CertificateDer<'_>> = ders[1..].iter().map(|d| CertificateDer::from(d.as_slice())).collect();
    let anchor_ders: Vec<CertificateDer<'_>> = anchors.iter().map(|d| CertificateDer::from(d.as_slice())).collect();
    let anchors: Vec<_> = anchor_ders.iter().filter_map(|d| webpki::anchor_from_trusted_cert(d).ok()).collect();
    end_entity
        .verify_for_usage(
            &[webpki::ring::ECDSA_P256_SHA256],
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(at_secs)),
            webpki::KeyUsage::required_if_present(EKU_DOCUMENT_SIGNING),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| describe(&e, certs, at_secs))
}

/// A chain failure in words a person reading the history understands.
fn describe(e: &webpki::Error, certs: &[Certificate], at_secs: u64) -> String {
    use webpki::Error as E;
    let leaf = &certs[0].subject;
    let when = super::format_rfc3339(i64::try_from(at_secs).unwrap_or(i64::MAX));
    match e {
        E::CertExpired { .. } | E::CertNotValidYet { .. } => {
            let expired = certs.iter().find(|c| !c.valid_at(i64::try_from(at_secs).unwrap_or(i64::MAX)));
            let who = expired.map_or(leaf.as_str(), |c| c.subject.as_str());
            format!("the certificate of {who} was not valid when the server received the signature ({when})")
        }
        E::UnknownIssuer => format!("{} does not chain to a trust anchor of the city", certs.last().map_or(leaf, |c| &c.issuer)),
        E::UnsupportedCriticalExtension => {
            let odd = certs.iter().find_map(|c| c.unknown_critical.first().map(|oid| format!("{} carries an unknown critical extension {oid}", c.subject)));
            odd.unwrap_or_else(|| "a certificate carries a critical extension that cannot be honoured".into())
        }
        #[allow(deprecated)]
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => {
            format!("the certificate of {leaf} is not for signing documents (extended key usage {})", certs[0].extended_key_usage.join(", "))
        }
        E::PathLenConstraintViolated => "the chain is longer than a certificate authority's path length allows".into(),
        E::EndEntityUsedAsCa => "a certificate that is not a certificate authority issued another".into(),
        E::CaUsedAsEndEntity => format!("{leaf} is a certificate authority, not a signer"),
        E::InvalidSignatureForPublicKey => format!(
            "{} does not chain to a trust anchor of the city: a signature does not verify with its issuer's key",
            certs.last().map_or(leaf, |c| &c.issuer)
        ),
        other => format!("the certificate chain is not valid: {other}"),
    }
}
