//! One verdict for any scanned certificate, city (`TPC1:`) or EU DCC (`HC1:`): the
//! pipeline of [`super::verify`] plus what only a wallet knows — the signed trust
//! list (which key may sign which type) and the status list (revoked or not).
//!
//! Every input, however hostile, ends in a [`Verdict`]; nothing here can panic on
//! outside bytes or return an error instead of an answer a person can read.

use serde::{Deserialize, Serialize};

use super::city::CityCertificate;
use super::lists::{StatusBits, TrustList, TrustedIssuer};
use super::{CertError, Decoded, Prefix, decode, format_rfc3339};

/// The certificate type of an EU DCC in the trust list.
pub const EU_DCC_TYPE: &str = "eu_dcc";

/// What a verifier concluded, most serious first after `Valid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Valid,
    /// Signed by a key the trust list names, but the signature does not match the
    /// content: forged or altered after signing.
    InvalidSignature,
    /// No key in the trust list has this kid (or the key was not valid when the
    /// certificate was issued, or it signs for another agency).
    UnknownIssuer,
    /// The key is trusted, but not for this type of certificate.
    IssuerNotAllowedType,
    Expired,
    NotYetValid,
    /// The status list marks it revoked.
    Revoked,
    /// It has a certificate prefix but the data after it is damaged.
    Tampered,
    /// Not a certificate at all (another QR code, random text).
    NotACertificate,
}

impl VerdictKind {
    /// A stable code for programs (`invalid_signature`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::InvalidSignature => "invalid_signature",
            Self::UnknownIssuer => "unknown_issuer",
            Self::IssuerNotAllowedType => "issuer_not_allowed_type",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Revoked => "revoked",
            Self::Tampered => "tampered",
            Self::NotACertificate => "not_a_certificate",
        }
    }
}

/// A verifier's answer: the kind, the reason in words, and whatever could be decoded
/// (shown even when not valid, marked as unverified by the kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub kind: VerdictKind,
    /// Why, for people (English; the app localises by `kind`).
    pub reason: String,
    /// `city` or `eu_dcc`, once the prefix is known.
    pub format: Option<String>,
    /// The certificate's `iss`.
    pub issuer: Option<String>,
    /// The agency's name from the trust list, when the key is known.
    pub issuer_name: Option<String>,
    pub certificate: Option<CityCertificate>,
    /// The EU DCC payload as JSON.
    pub eu_dcc: Option<serde_json::Value>,
    /// The as-of times of the lists this was checked against (UTC ms).
    pub trust_list_as_of_ms: Option<i64>,
    pub status_list_as_of_ms: Option<i64>,
    /// The clock the verdict was made at (UTC ms).
    pub checked_at_ms: i64,
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        self.kind == VerdictKind::Valid
    }
}

/// What a verdict is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Lists<'a> {
    pub trust: &'a TrustList,
    /// `None`: revocation could not be checked (no status list yet); the verdict says so.
    pub status: Option<(&'a StatusBits, i64)>,
}

fn date(secs: i64) -> String {
    format_rfc3339(secs)
}

/// Verifies a scanned text against the lists at `now_ms`.
pub fn verify_text(text: &str, lists: Lists<'_>, now_ms: i64) -> Verdict {
    let mut v = Verdict {
        kind: VerdictKind::Valid,
        reason: String::new(),
        format: None,
        issuer: None,
        issuer_name: None,
        certificate: None,
        eu_dcc: None,
        trust_list_as_of_ms: Some(lists.trust.as_of_ms),
        status_list_as_of_ms: lists.status.map(|(_, at)| at),
        checked_at_ms: now_ms,
    };
    let (kind, reason) = judge(text.trim_end_matches(['\r', '\n']), lists, now_ms, &mut v);
    v.kind = kind;
    v.reason = reason;
    v
}

fn judge(text: &str, lists: Lists<'_>, now_ms: i64, v: &mut Verdict) -> (VerdictKind, String) {
    use VerdictKind as K;
    let decoded = match decode(text) {
        Ok(d) => d,
        Err(CertError::UnknownPrefix(_)) => return (K::NotACertificate, "this code is not a certificate".into()),
        Err(e) => return (K::Tampered, format!("the certificate's data is damaged or altered ({e})")),
    };
    let Decoded { prefix, cose, claims } = decoded;
    v.format = Some(match prefix {
        Prefix::Taipei => "city",
        Prefix::EuDcc => "eu_dcc",
    }
    .into());
    v.issuer.clone_from(&claims.iss);
    // Decoded before any check so the verifier can show what the code claims.
    let (cert_type, city) = match prefix {
        Prefix::Taipei => match CityCertificate::from_claims(&claims) {
            Ok(c) => (c.cert_type.clone(), Some(c)),
            Err(e) => return (K::Tampered, format!("the certificate's content is not well formed ({e})")),
        },
        Prefix::EuDcc => {
            v.eu_dcc = claims.eu_dcc().cloned();
            if v.eu_dcc.is_none() {
                return (K::Tampered, "an HC1 code without an EU DCC payload".into());
            }
            (EU_DCC_TYPE.to_owned(), None)
        }
    };
    v.certificate.clone_from(&city);

    let Some(kid) = cose.kid() else {
        return (K::UnknownIssuer, "the certificate does not name its signing key".into());
    };
    let Some(entry) = lists.trust.issuer(kid) else {
        return (K::UnknownIssuer, "signed by a key the city's trust list does not contain".into());
    };
    v.issuer_name = Some(entry.name.clone());
    let key = match entry.trusted_key() {
        Ok(k) => k,
        Err(e) => return (K::UnknownIssuer, format!("the trust list's key for this issuer is unusable ({e})")),
    };
    if cose.verify(&key.key).is_err() {
        return (K::InvalidSignature, format!("the signature of {} does not match: forged or altered", entry.name));
    }
    if let Some(problem) = issuer_mismatch(entry, claims.iss.as_deref(), claims.iat, prefix) {
        return (K::UnknownIssuer, problem);
    }
    if !entry.types.contains(&cert_type) {
        return (K::IssuerNotAllowedType, format!("{} may not issue {cert_type} certificates", entry.name));
    }
    if let (Some(c), Some((bits, _))) = (&city, lists.status)
        && bits.is_revoked(c.status_index)
    {
        return (K::Revoked, format!("{} has revoked this certificate", entry.name));
    }
    match claims.check_validity(now_ms) {
        Err(CertError::Expired { exp, .. }) => return (K::Expired, format!("expired on {}", date(exp))),
        Err(CertError::NotYetValid { iat, .. }) => return (K::NotYetValid, format!("not valid before {}", date(iat))),
        Err(e) => return (K::Tampered, e.to_string()),
        Ok(()) => {}
    }
    let checked = match (lists.status, &city) {
        (Some((_, at)), Some(_)) => format!("; checked against lists of {}", date(at.div_euclid(1000))),
        (None, Some(_)) => "; revocation not checked: no status list yet".into(),
        (_, None) => format!("; checked against the trust list of {}", date(lists.trust.as_of_ms.div_euclid(1000))),
    };
    (K::Valid, format!("genuine, issued by {}{checked}", entry.name))
}

/// Why a correctly signed certificate still does not belong to this key: a city
/// certificate must name the key's agency, and be issued while the key was valid.
fn issuer_mismatch(entry: &TrustedIssuer, iss: Option<&str>, iat: Option<i64>, prefix: Prefix) -> Option<String> {
    if prefix == Prefix::Taipei && iss != Some(entry.issuer.as_str()) {
        return Some(format!("signed with the key of {} but claims another issuer", entry.name));
    }
    let issued_ms = iat?.saturating_mul(1000);
    (issued_ms < entry.not_before_ms || issued_ms > entry.not_after_ms)
        .then(|| format!("issued when the key of {} was not valid", entry.name))
}
