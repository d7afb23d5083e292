//! The document signer certificate (DSC): the X.509 certificate whose key signs
//! certificates. A verifier needs four things from it — its key, its key id, its
//! validity and its extended key usages — and trusts it because a signed trust list
//! says so, not because of its X.509 chain. It is read with `x509`, which refuses
//! malformed certificates and notes critical extensions it cannot honour.

use super::CertError;
use super::cose::VerifyingKey;
use super::x509::Certificate;

/// A parsed signer certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerCertificate {
    /// The HCERT key id: the first 8 bytes of the SHA-256 of the certificate's DER.
    pub kid: Vec<u8>,
    pub key: VerifyingKey,
    /// Validity, UTC seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// Extended key usage OIDs in dotted form; empty when the extension is absent.
    pub extended_key_usage: Vec<String>,
}

impl SignerCertificate {
    pub fn from_der(bytes: &[u8]) -> Result<Self, CertError> {
        let bad = |e: CertError| CertError::BadSignerCertificate(e.to_string());
        let cert = Certificate::from_der(bytes).map_err(bad)?;
        cert.check_critical().map_err(bad)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        Ok(Self {
            kid: digest.as_ref()[..8].to_vec(),
            key: cert.key,
            not_before: cert.not_before,
            not_after: cert.not_after,
            extended_key_usage: cert.extended_key_usage,
        })
    }

    /// From standard base64 DER, the form test data and trust lists carry (PEM
    /// armour and line breaks are tolerated).
    pub fn from_base64(text: &str) -> Result<Self, CertError> {
        use base64::Engine as _;
        let body: String = text
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| CertError::BadSignerCertificate(format!("base64: {e}")))?;
        Self::from_der(&der)
    }
}
