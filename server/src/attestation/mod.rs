//! Key attestation: what lets the server record a device key's assurance as verified
//! rather than as the phone claims it.
//!
//! A phone may send, with its registration, a platform attestation of the key it
//! binds (`RegisterDevice::attestation`), as text:
//!
//! - `android-key:` then the Android key attestation chain, leaf first, each
//!   certificate's DER in base64url, joined by `.`. The key must have been made with
//!   `setAttestationChallenge(bnonce)` (the binding offer's nonce).
//! - `apple-appattest:` then the App Attest attestation object (CBOR) in base64url,
//!   made with `attestKey(keyId, clientDataHash: SHA-256(binding message))`.
//!
//! [`KeyAttestation`] is the hook; [`PlatformAttestation`] is the reference
//! implementation with the checks below, and a deployment may plug in another
//! (a cloud attestation service, a stricter policy). Without an attestation, or with
//! one that fails, the device is recorded with its assurance `claimed`; a failed one is
//! also an audit row.
//!
//! Android key attestation ([`android`]):
//! 1. the chain verifies (rustls-webpki, ring) up to one of Google's published
//!    hardware attestation roots, at the registration time (validity of every
//!    certificate included);
//! 2. no certificate of the chain is revoked in Google's attestation status list,
//!    when the operator loaded one (`PlatformAttestation::with_android_status`);
//! 3. the leaf carries the KeyDescription extension (1.3.6.1.4.1.11129.2.1.17);
//!    its `attestationChallenge` equals the binding offer's nonce;
//! 4. the leaf's public key is the device key being bound;
//! 5. `attestationSecurityLevel` is TrustedEnvironment (→ `hardware`) or StrongBox
//!    (→ `strongbox`); Software is refused (it proves nothing the phone could not
//!    claim); the keymaster/KeyMint version is recorded.
//!
//! Apple App Attest ([`apple`]):
//! 1. the object is CBOR with `fmt` = `apple-appattest`, `attStmt.x5c` and `authData`;
//! 2. the x5c chain (credential certificate first) verifies up to Apple's App
//!    Attestation root at the registration time;
//! 3. nonce = SHA-256(authData ‖ clientDataHash) equals the octet string in the
//!    credential certificate's extension 1.2.840.113635.100.8.2, where clientDataHash
//!    is SHA-256 of the binding message — which holds the offer's nonce and the device
//!    key, so the attestation vouches for this binding of this key;
//! 4. authData: rpIdHash = SHA-256(an allowed App ID, `TEAMID.bundle.id`), counter 0,
//!    aaguid `appattest` + seven zero bytes (production) or `appattestdevelop` (only
//!    when development is allowed), credentialId = SHA-256(the credential
//!    certificate's public key).
//!
//!    App Attest attests the app's App Attest key, not the device key: what it proves
//!    is that a genuine build of the app on a genuine device asked for this binding,
//!    and the genuine app keeps its device key in the Secure Enclave → `hardware`.

pub mod android;
pub mod apple;
mod chain;

use std::fmt;
use std::sync::Arc;

use taipei_protocol::api::Assurance;

/// What the verifier is shown.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// The phone's attestation text (`android-key:…` or `apple-appattest:…`).
    pub statement: &'a str,
    /// The server's challenge: the binding offer's nonce.
    pub challenge: &'a [u8],
    /// The bytes the device signed for this binding (`signed::binding_message`).
    pub client_data: &'a [u8],
    /// The device key being bound (uncompressed SEC1 P-256).
    pub public_key: &'a [u8],
    /// When, UTC seconds (the certificates' validity is checked at this time).
    pub at_secs: u64,
}

/// A verified attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested {
    /// `android-key` or `apple-appattest`.
    pub format: &'static str,
    /// The assurance the attestation proves.
    pub assurance: Assurance,
    /// For the audit log: the keymaster/KeyMint version, the App Attest environment.
    pub detail: String,
}

/// Why an attestation was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    #[error("attestation format: {0}")]
    Format(String),
    #[error("attestation chain: {0}")]
    Chain(String),
    #[error("attestation certificate revoked: serial {0}")]
    Revoked(String),
    #[error("attestation challenge does not match this binding")]
    Challenge,
    #[error("the attested key is not the device key being bound")]
    WrongKey,
    #[error("attestation: {0}")]
    Policy(String),
}

/// The hook: verifies a phone's attestation of the key it binds.
pub trait KeyAttestation: Send + Sync + fmt::Debug {
    fn verify(&self, evidence: &Evidence<'_>) -> Result<Attested, AttestationError>;
}

/// A shared verifier, as the server configuration holds it.
pub type Verifier = Arc<dyn KeyAttestation>;

/// The reference verifier: Android key attestation and Apple App Attest, with the
/// checks of the module documentation.
#[derive(Debug, Clone)]
pub struct PlatformAttestation {
    pub android: android::AndroidKeyAttestation,
    pub apple: apple::AppAttest,
}

impl Default for PlatformAttestation {
    /// Google's and Apple's published roots; no App ID allowed yet (a deployment names
    /// its apps with [`apple::AppAttest::allow_app`]), so App Attest fails closed.
    fn default() -> Self {
        Self { android: android::AndroidKeyAttestation::google(), apple: apple::AppAttest::apple(Vec::new(), false) }
    }
}

impl KeyAttestation for PlatformAttestation {
    fn verify(&self, evidence: &Evidence<'_>) -> Result<Attested, AttestationError> {
        if let Some(chain) = evidence.statement.strip_prefix(android::PREFIX) {
            self.android.verify(chain, evidence)
        } else if let Some(object) = evidence.statement.strip_prefix(apple::PREFIX) {
            self.apple.verify(object, evidence)
        } else {
            Err(AttestationError::Format(format!("expected {}… or {}…", android::PREFIX, apple::PREFIX)))
        }
    }
}

/// The certificates of a PEM text, as DER (public roots compiled into the server).
pub fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    pem.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|block| block.split("-----END CERTIFICATE-----").next())
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64.split_whitespace().collect::<String>()).ok())
        .collect()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
