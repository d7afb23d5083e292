//! Android key attestation: the chain to Google's roots, the KeyDescription
//! extension, and (when loaded) Google's attestation status list.

use std::collections::HashSet;

use taipei_protocol::api::Assurance;
use taipei_protocol::b64;
use x509_cert::der::asn1::{AnyRef, OctetStringRef};
use x509_cert::der::{Decode as _, Reader as _, Tag, Tagged as _};

use super::{AttestationError, Attested, Evidence, chain, pem_certificates};

pub const PREFIX: &str = taipei_protocol::api::ANDROID_KEY_ATTESTATION_PREFIX;
pub const KEY_DESCRIPTION_OID: &str = "1.3.6.1.4.1.11129.2.1.17";

/// Google's published hardware attestation root (RSA 4096, serial
/// `f92009e853b6b045`), from developer.android.com/privacy-and-security/security-key-attestation.
const GOOGLE_ROOTS_PEM: &str = include_str!("google_hardware_attestation_root.pem");

/// `SecurityLevel ::= ENUMERATED { Software(0), TrustedEnvironment(1), StrongBox(2) }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityLevel {
    Software,
    TrustedEnvironment,
    StrongBox,
}

/// The fields of the KeyDescription this server acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDescription {
    pub attestation_version: u32,
    pub attestation_security_level: SecurityLevel,
    /// The keymaster or KeyMint version (e.g. 4, 41, 100, 200).
    pub keymint_version: u32,
    pub keymint_security_level: SecurityLevel,
    pub attestation_challenge: Vec<u8>,
}

fn format(what: impl Into<String>) -> AttestationError {
    AttestationError::Format(what.into())
}

fn level(any: AnyRef<'_>) -> Result<SecurityLevel, AttestationError> {
    if any.tag() != Tag::Enumerated {
        return Err(format("securityLevel is not an ENUMERATED"));
    }
    match any.value() {
        [0] => Ok(SecurityLevel::Software),
        [1] => Ok(SecurityLevel::TrustedEnvironment),
        [2] => Ok(SecurityLevel::StrongBox),
        other => Err(format(format!("unknown securityLevel {other:?}"))),
    }
}

impl KeyDescription {
    /// Reads the extension's value (DER).
    pub fn from_der(bytes: &[u8]) -> Result<Self, AttestationError> {
        let bad = |e: x509_cert::der::Error| format(format!("KeyDescription: {e}"));
        AnyRef::from_der(bytes).map_err(bad)?.sequence(|r| {
            let attestation_version: u32 = r.decode()?;
            let attestation_security_level = r.decode::<AnyRef<'_>>()?;
            let keymint_version: u32 = r.decode()?;
            let keymint_security_level = r.decode::<AnyRef<'_>>()?;
            let challenge: &OctetStringRef = r.decode()?;
            let challenge = challenge.as_bytes().to_vec();
            // uniqueId, softwareEnforced, hardwareEnforced and whatever later
            // versions append: read past, not acted on.
            while !r.is_finished() {
                r.decode::<AnyRef<'_>>()?;
            }
            Ok::<_, x509_cert::der::Error>((attestation_version, attestation_security_level, keymint_version, keymint_security_level, challenge))
        })
        .map_err(bad)
        .and_then(|(attestation_version, a, keymint_version, k, attestation_challenge)| {
            Ok(Self {
                attestation_version,
                attestation_security_level: level(a)?,
                keymint_version,
                keymint_security_level: level(k)?,
                attestation_challenge,
            })
        })
    }
}

/// The Android verifier: trusted roots and the revoked serials of the status list.
#[derive(Debug, Clone)]
pub struct AndroidKeyAttestation {
    roots: Vec<Vec<u8>>,
    revoked: HashSet<String>,
}

impl AndroidKeyAttestation {
    /// Google's published root.
    pub fn google() -> Self {
        Self::with_roots(pem_certificates(GOOGLE_ROOTS_PEM))
    }

    /// Other roots (DER): a test, or a device maker's own attestation CA.
    pub fn with_roots(roots: Vec<Vec<u8>>) -> Self {
        Self { roots, revoked: HashSet::new() }
    }

    /// Loads Google's attestation status list (the JSON served at
    /// `https://android.googleapis.com/attestation/status`: `{"entries": {"<serial
    /// hex>": {"status": "REVOKED" | "SUSPENDED", …}}}`). Both statuses refuse.
    pub fn with_status_list(mut self, json: &str) -> Result<Self, AttestationError> {
        let list: serde_json::Value = serde_json::from_str(json).map_err(|e| format(format!("status list: {e}")))?;
        let entries = list.get("entries").and_then(|e| e.as_object()).ok_or_else(|| format("status list: no entries"))?;
        self.revoked = entries.keys().map(|serial| serial.to_ascii_lowercase().trim_start_matches('0').to_owned()).collect();
        Ok(self)
    }

    pub fn verify(&self, text: &str, evidence: &Evidence<'_>) -> Result<Attested, AttestationError> {
        let ders: Vec<Vec<u8>> = text
            .split('.')
            .take(chain::MAX_CHAIN + 1)
            .map(|part| b64::decode(part).map_err(|_| format("a certificate is not base64url")))
            .collect::<Result<_, _>>()?;
        let leaf = chain::verify(&ders, &self.roots, evidence.at_secs)?;
        if let Some(serial) = ders.iter().filter_map(|d| chain::serial_hex(d)).find(|s| self.revoked.contains(s)) {
            return Err(AttestationError::Revoked(serial));
        }
        let extension = chain::extension(&leaf, KEY_DESCRIPTION_OID).ok_or_else(|| format("the leaf has no KeyDescription"))?;
        let description = KeyDescription::from_der(extension)?;
        // The challenge is no secret (the phone read it from the QR): plain equality.
        if description.attestation_challenge != evidence.challenge {
            return Err(AttestationError::Challenge);
        }
        if chain::public_key_bits(&leaf)? != evidence.public_key {
            return Err(AttestationError::WrongKey);
        }
        let assurance = match description.attestation_security_level {
            SecurityLevel::TrustedEnvironment => Assurance::Hardware,
            SecurityLevel::StrongBox => Assurance::Strongbox,
            SecurityLevel::Software => {
                return Err(AttestationError::Policy("the key is attested by software only".into()));
            }
        };
        Ok(Attested {
            format: "android-key",
            assurance,
            detail: format!(
                "attestation v{} keymint v{} {:?}",
                description.attestation_version, description.keymint_version, description.attestation_security_level
            ),
        })
    }
}
