//! One verdict for any scanned certificate, city (`TPC1:`) or EU DCC (`HC1:`): the
//! pipeline of [`super::verify`] plus what only a wallet knows — the signed trust
//! list (which key may sign which type) and the status list (revoked or not).
//!
//! Every input, however hostile, ends in a [`Verdict`]; nothing here can panic on
//! outside bytes or return an error instead of an answer a person can read.

use serde::{Deserialize, Serialize};

use super::city::{CityCertificate, Text};
use super::dcc::{kind_of, validate_schema};
use super::lists::{StatusBits, TrustList, TrustedIssuer};
pub use super::steps::{CheckStatus, VerdictCheck, VerdictStep};
use super::steps::{Subject, Trail, words};
use super::{CertError, Decoded, Prefix, decode, format_rfc3339};

/// The certificate type of an EU DCC in the trust list.
pub const EU_DCC_TYPE: &str = "eu_dcc";

/// What a verifier concluded, most serious first after `Valid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verdict {
    pub kind: VerdictKind,
    /// Why, in one English line: the failed check's words, or what made it valid.
    pub reason: String,
    /// Every check in the order it runs, each passed, failed or not checked, with its
    /// words in Chinese and English: at most one fails.
    pub steps: Vec<VerdictStep>,
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
        steps: Vec::new(),
        format: None,
        issuer: None,
        issuer_name: None,
        certificate: None,
        eu_dcc: None,
        trust_list_as_of_ms: Some(lists.trust.as_of_ms),
        status_list_as_of_ms: lists.status.map(|(_, at)| at),
        checked_at_ms: now_ms,
    };
    let mut trail = Trail::default();
    let judged = judge(text.trim_end_matches(['\r', '\n']), lists, now_ms, &mut v, &mut trail);
    (v.kind, v.reason) = match judged {
        Ok(reason) => (VerdictKind::Valid, reason),
        Err(Failed(kind)) => (kind, trail.failure().map(|s| s.words.en.clone()).unwrap_or_default()),
    };
    v.steps = trail.finish();
    v
}

/// The verdict's kind when a check fails; its words are in the trail.
struct Failed(VerdictKind);

fn fail(t: &mut Trail, kind: VerdictKind, code: VerdictCheck, words: Text, detail: Option<String>) -> Failed {
    t.fail(code, words, detail);
    Failed(kind)
}

fn judge(text: &str, lists: Lists<'_>, now_ms: i64, v: &mut Verdict, t: &mut Trail) -> Result<String, Failed> {
    use VerdictCheck as C;
    use VerdictKind as K;
    let decoded = match decode(text) {
        Ok(d) => d,
        Err(e @ CertError::UnknownPrefix(_)) => {
            return Err(fail(t, K::NotACertificate, C::Format, words::not_certificate(), Some(e.to_string())));
        }
        Err(e) => {
            t.pass(C::Format, words::is_certificate());
            return Err(fail(t, K::Tampered, C::Integrity, words::damaged(), Some(e.to_string())));
        }
    };
    t.pass(C::Format, words::is_certificate());
    t.pass(C::Integrity, words::intact());
    let Decoded { prefix, cose, claims } = decoded;
    v.format = Some(
        match prefix {
            Prefix::Taipei => "city",
            Prefix::EuDcc => "eu_dcc",
        }
        .into(),
    );
    v.issuer.clone_from(&claims.iss);
    // Decoded before any check so the verifier can show what the code claims.
    let (cert_type, city, subject) = match prefix {
        Prefix::Taipei => match CityCertificate::from_claims(&claims) {
            Ok(c) => (c.cert_type.clone(), Some(c), Subject::City),
            Err(e) => {
                return Err(fail(t, K::Tampered, C::Content, words::content_bad(Subject::City), Some(e.to_string())));
            }
        },
        Prefix::EuDcc => {
            v.eu_dcc = claims.eu_dcc().cloned();
            let Some(dcc) = &v.eu_dcc else {
                let detail = Some("an HC1 code without an EU DCC payload".into());
                return Err(fail(t, K::Tampered, C::Content, words::content_bad(Subject::Code), detail));
            };
            match validate_schema(dcc) {
                Ok(kind) => (EU_DCC_TYPE.to_owned(), None, Subject::Dcc(kind)),
                Err(e) => {
                    let subject = kind_of(dcc).map_or(Subject::Code, Subject::Dcc);
                    let words = if e.to_string().contains("value set") {
                        words::not_on_eu_lists(subject)
                    } else {
                        words::content_bad(subject)
                    };
                    return Err(fail(t, K::Tampered, C::Content, words, Some(e.to_string())));
                }
            }
        }
    };
    t.pass(C::Content, words::content_ok(subject));
    v.certificate.clone_from(&city);

    let Some(kid) = cose.kid() else {
        return Err(fail(t, K::UnknownIssuer, C::Issuer, words::untrusted_key(), Some(CertError::MissingKid.to_string())));
    };
    let Some(entry) = lists.trust.issuer(kid) else {
        let detail = Some("signed by a key the city's trust list does not contain".into());
        return Err(fail(t, K::UnknownIssuer, C::Issuer, words::untrusted_key(), detail));
    };
    v.issuer_name = Some(entry.name.clone());
    let key = match entry.trusted_key() {
        Ok(k) => k,
        Err(e) => {
            return Err(fail(t, K::UnknownIssuer, C::Issuer, words::unusable_key(&entry.name), Some(e.to_string())));
        }
    };
    t.pass(C::Issuer, words::trusted_key(&entry.name));
    if let Err(e) = cose.verify(&key.key) {
        return Err(fail(t, K::InvalidSignature, C::Signature, words::signature_bad(), Some(e.to_string())));
    }
    t.pass(C::Signature, words::signature_ok(&entry.name));
    if let Some((words, detail)) = issuer_mismatch(entry, claims.iss.as_deref(), claims.iat, prefix, subject) {
        return Err(fail(t, K::UnknownIssuer, C::IssuerMatch, words, Some(detail)));
    }
    t.pass(C::IssuerMatch, words::issuer_ok(subject, &entry.name));
    if !entry.types.contains(&cert_type) {
        return Err(fail(t, K::IssuerNotAllowedType, C::AllowedType, words::type_not_allowed(&entry.name, &cert_type), None));
    }
    t.pass(C::AllowedType, words::type_allowed(&entry.name, &cert_type));
    match (&city, lists.status) {
        (Some(c), Some((bits, _))) if bits.is_revoked(c.status_index) => {
            let detail = Some(format!("status list index {} is set", c.status_index));
            return Err(fail(t, K::Revoked, C::Revocation, words::revoked(&entry.name), detail));
        }
        (Some(_), Some((_, at))) => t.pass(C::Revocation, words::not_revoked(at.div_euclid(1000))),
        (Some(_), None) => t.not_checked(C::Revocation, words::no_status_list()),
        (None, _) => t.not_checked(C::Revocation, words::revocation_not_listed()),
    }
    match claims.check_validity(now_ms) {
        Err(e @ CertError::Expired { exp, .. }) => {
            return Err(fail(t, K::Expired, C::Validity, words::expired(subject, exp), Some(e.to_string())));
        }
        Err(e @ CertError::NotYetValid { iat, .. }) => {
            return Err(fail(t, K::NotYetValid, C::Validity, words::not_yet_valid(subject, iat), Some(e.to_string())));
        }
        Err(e) => {
            return Err(fail(t, K::Tampered, C::Validity, words::bad_times(subject), Some(e.to_string())));
        }
        Ok(()) => t.pass(C::Validity, words::valid_until(subject, claims.exp)),
    }
    let checked = match (lists.status, &city) {
        (Some((_, at)), Some(_)) => {
            format!("; checked against lists of {}", date(at.div_euclid(1000)))
        }
        (None, Some(_)) => "; revocation not checked: no status list yet".into(),
        (_, None) => format!("; checked against the trust list of {}", date(lists.trust.as_of_ms.div_euclid(1000))),
    };
    Ok(format!("genuine, issued by {}{checked}", entry.name))
}

/// Why a correctly signed certificate still does not belong to this key: a city
/// certificate must name the key's agency, and be issued while the key was valid.
fn issuer_mismatch(
    entry: &TrustedIssuer,
    iss: Option<&str>,
    iat: Option<i64>,
    prefix: Prefix,
    subject: Subject,
) -> Option<(Text, String)> {
    if prefix == Prefix::Taipei && iss != Some(entry.issuer.as_str()) {
        let detail = format!("signed with the key of {} but claims issuer {iss:?}", entry.name);
        return Some((words::claims_other_issuer(subject, &entry.name), detail));
    }
    let issued_ms = iat?.saturating_mul(1000);
    (issued_ms < entry.not_before_ms || issued_ms > entry.not_after_ms).then(|| {
        let detail = format!("issued at {} when the key of {} was not valid", date(iat.unwrap_or_default()), entry.name);
        (words::key_not_valid_then(subject, &entry.name), detail)
    })
}
