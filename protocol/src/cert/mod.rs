//! Verifiable certificates: `prefix + base45(zlib(COSE_Sign1(claims)))`, the pattern
//! of the EU Digital COVID Certificate (HCERT), used both for EU DCCs and for the
//! city's own certificates (diplomas, proofs) so one verifier serves both and is
//! checked against the EU's public test data. See README.md beside this file.
//!
//! Reading goes stage by stage — [`unprefix`], [`base45_decode`], [`inflate`],
//! [`Sign1::from_slice`], [`Claims::from_cbor`] — or all at once with [`decode`]
//! and [`verify`]; every stage refuses bad input with its own [`CertError`].
//! Writing (the issuer's side) is [`CertificateBuilder`].

mod cbor;
pub mod city;
pub mod conformance;
pub mod contract;
mod cose;
mod cwt;
pub mod dcc;
mod dsc;
mod error;
pub mod lists;
mod time;
mod valuesets;
mod steps;
pub mod verdict;
pub mod x509;

use std::io::{Read as _, Write as _};

use ciborium::value::Value;
use ring::signature::EcdsaKeyPair;

pub use cbor::MAX_DEPTH as MAX_CBOR_DEPTH;
pub use cose::{Algorithm, Sign1, VerifyingKey};
pub use cwt::{Claims, labels};
pub use dsc::SignerCertificate;
pub use error::CertError;
pub use time::{format_rfc3339, format_rfc3339_millis, parse_iso8601_millis};
pub(crate) use time::{civil_from_days, days_from_civil, days_in_month};

/// Largest decompressed COSE message accepted. A QR code holds under 3 KiB; the
/// bound stops a zip bomb long before it costs memory.
pub const MAX_COSE_LEN: usize = 64 * 1024;

/// The certificate families this verifier reads, told apart by their prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// `HC1:` — an EU Digital COVID Certificate (HCERT version 1).
    EuDcc,
    /// `TPC1:` — a Taipei City certificate (version 1 of the city's format).
    Taipei,
}

impl Prefix {
    pub const ALL: [Self; 2] = [Self::EuDcc, Self::Taipei];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EuDcc => "HC1:",
            Self::Taipei => "TPC1:",
        }
    }
}

/// Splits the prefix off a scanned certificate. Unknown or missing prefixes
/// (`HC2:`, `HL0:`, bare base45) are refused: a new version is a new format.
pub fn unprefix(text: &str) -> Result<(Prefix, &str), CertError> {
    Prefix::ALL
        .into_iter()
        .find_map(|p| text.strip_prefix(p.as_str()).map(|rest| (p, rest)))
        .ok_or_else(|| {
            let shown: String = text.chars().take(6).collect();
            CertError::UnknownPrefix(format!("{shown:?}…"))
        })
}

pub fn base45_decode(text: &str) -> Result<Vec<u8>, CertError> {
    // base45's alphabet includes the space, so no trimming: a stray space is data.
    base45::decode(text).map_err(|e| CertError::Base45(e.to_string()))
}

/// Inflates a zlib stream (checksum verified, nothing after it) of at most
/// [`MAX_COSE_LEN`] bytes once inflated.
pub fn inflate(bytes: &[u8]) -> Result<Vec<u8>, CertError> {
    inflate_max(bytes, MAX_COSE_LEN)
}

/// [`inflate`] with another bound (status lists are larger than a QR code).
pub fn inflate_max(bytes: &[u8], max: usize) -> Result<Vec<u8>, CertError> {
    let mut decoder = flate2::read::ZlibDecoder::new(bytes);
    let mut out = Vec::new();
    (&mut decoder)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| CertError::Compression(e.to_string()))?;
    if out.len() > max {
        return Err(CertError::TooLarge { limit: max });
    }
    if decoder.total_in() != bytes.len() as u64 {
        return Err(CertError::Compression("data after the end of the zlib stream".into()));
    }
    Ok(out)
}

pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// `prefix + base45(zlib(cose))`: the text a QR code of the certificate holds.
pub fn wrap(prefix: Prefix, cose: &[u8]) -> String {
    format!("{}{}", prefix.as_str(), base45::encode(deflate(cose)))
}

/// A certificate read from its text, signature not yet checked.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub prefix: Prefix,
    pub cose: Sign1,
    pub claims: Claims,
}

/// Reads a certificate's text through every stage up to its claims. It does not
/// check the signature: use [`verify`] before trusting anything in it.
pub fn decode(text: &str) -> Result<Decoded, CertError> {
    let (prefix, body) = unprefix(text)?;
    let cose = Sign1::from_slice(&inflate(&base45_decode(body)?)?)?;
    let claims = Claims::from_cbor(cose.payload())?;
    Ok(Decoded { prefix, cose, claims })
}

/// A signer the verifier trusts, named by its key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub kid: Vec<u8>,
    pub key: VerifyingKey,
}

/// The HCERT key id for a signer: the first 8 bytes of the SHA-256 of its X.509
/// certificate (EU DSCs) or, for the city's signers, of its SEC1 public key.
pub fn key_id(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref()[..8].to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a certificate and checks it: the signer named by its kid must be among
/// `trusted`, the signature must verify with that signer's key, and the certificate
/// must be valid at `now_ms` (UTC milliseconds).
pub fn verify(text: &str, trusted: &[TrustedKey], now_ms: i64) -> Result<Decoded, CertError> {
    let decoded = decode(text)?;
    let kid = decoded.cose.kid().ok_or(CertError::MissingKid)?;
    let signer = trusted
        .iter()
        .find(|t| t.kid == kid)
        .ok_or_else(|| CertError::UnknownKid(hex(kid)))?;
    decoded.cose.verify(&signer.key)?;
    decoded.claims.check_validity(now_ms)?;
    Ok(decoded)
}

/// Builds and signs a certificate (the issuer's side; the server and tests use it).
#[derive(Debug, Clone)]
pub struct CertificateBuilder {
    prefix: Prefix,
    claims: Vec<(i64, Value)>,
}

impl CertificateBuilder {
    pub fn new(prefix: Prefix) -> Self {
        Self { prefix, claims: Vec::new() }
    }

    /// Sets a claim, replacing any earlier value under the same label.
    pub fn claim(self, label: i64, value: &serde_json::Value) -> Self {
        self.cbor_claim(label, cbor::from_json(value))
    }

    fn cbor_claim(mut self, label: i64, value: Value) -> Self {
        self.claims.retain(|(l, _)| *l != label);
        self.claims.push((label, value));
        self
    }

    pub fn issuer(self, iss: &str) -> Self {
        self.claim(labels::ISS, &iss.into())
    }

    /// Issue time, UTC seconds.
    pub fn issued_at(self, iat: i64) -> Self {
        self.claim(labels::IAT, &iat.into())
    }

    /// Expiry, UTC seconds.
    pub fn expires_at(self, exp: i64) -> Self {
        self.claim(labels::EXP, &exp.into())
    }

    /// An EU DCC payload, under `hcert` → `1` (an integer key, as HCERT defines it).
    pub fn eu_dcc(self, dcc: &serde_json::Value) -> Self {
        let hcert = Value::Map(vec![(Value::Integer(labels::HCERT_EU_DCC.into()), cbor::from_json(dcc))]);
        self.cbor_claim(labels::HCERT, hcert)
    }

    /// The CWT claims as CBOR, the COSE payload.
    pub fn payload(&self) -> Vec<u8> {
        let map = self.claims.iter().map(|(l, v)| (Value::Integer((*l).into()), v.clone())).collect();
        cbor::serialize(&Value::Map(map))
    }

    /// Signs with ES256 under `kid` and returns the certificate's text.
    pub fn sign(&self, key_pair: &EcdsaKeyPair, kid: &[u8]) -> Result<String, CertError> {
        Ok(wrap(self.prefix, &cose::sign_es256(key_pair, kid, self.payload())?))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod wallet_tests;
