//! COSE_Sign1 (RFC 9052) as HCERT uses it: ES256 or PS256, a `kid` naming the
//! signer, the CWT claims as payload, no external AAD.

use ciborium::value::Value;
use coset::iana;
use coset::{AsCborValue as _, CoseSign1, CoseSign1Builder, HeaderBuilder, RegisteredLabelWithPrivate};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, UnparsedPublicKey};

use super::{CertError, cbor};
use crate::ecdsa::PublicKey;

/// CBOR tag of a CWT (RFC 8392), which some issuers put around the COSE tag.
const TAG_CWT: u64 = 61;
/// CBOR tag of a COSE_Sign1 message.
const TAG_COSE_SIGN1: u64 = 18;

/// The signature algorithms HCERT allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256, signature `r ‖ s` (COSE alg -7).
    Es256,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256 (COSE alg -37).
    Ps256,
}

/// A signer's public key, ready to check COSE signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyingKey {
    Es256(PublicKey),
    /// An RSA key as a DER `RSAPublicKey` (PKCS #1), the form ring takes.
    Ps256(Vec<u8>),
    /// A key no DCC algorithm uses (an EC key on another curve). Its certificate is
    /// still read for its validity and usages; a signature checked with it fails.
    Unsupported(String),
}

impl VerifyingKey {
    pub fn es256_from_sec1(bytes: &[u8]) -> Result<Self, CertError> {
        PublicKey::from_sec1(bytes).map(Self::Es256).map_err(|e| CertError::BadKey(e.to_string()))
    }

    /// Takes a DER `RSAPublicKey`; its shape (a sequence of two integers) is checked
    /// here, the numbers by ring at verification.
    pub fn ps256_from_rsa_der(bytes: &[u8]) -> Result<Self, CertError> {
        use x509_cert::der::Decode as _;
        use x509_cert::der::asn1::UintRef;
        let numbers = Vec::<UintRef<'_>>::from_der(bytes)
            .map_err(|e| CertError::BadKey(format!("RSAPublicKey: {e}")))?;
        if numbers.len() != 2 {
            return Err(CertError::BadKey("RSAPublicKey: not a modulus and an exponent".into()));
        }
        Ok(Self::Ps256(bytes.to_vec()))
    }

    /// The algorithm the key is for; `None` for an [`Self::Unsupported`] key.
    pub fn algorithm(&self) -> Option<Algorithm> {
        match self {
            Self::Es256(_) => Some(Algorithm::Es256),
            Self::Ps256(_) => Some(Algorithm::Ps256),
            Self::Unsupported(_) => None,
        }
    }

    fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), CertError> {
        match self {
            Self::Es256(key) => key.verify(message, sig).map_err(|_| CertError::SignatureInvalid),
            Self::Ps256(der) => UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA256, der)
                .verify(message, sig)
                .map_err(|_| CertError::SignatureInvalid),
            Self::Unsupported(what) => Err(CertError::UnsupportedAlgorithm(format!("the signer's key is {what}"))),
        }
    }
}

/// A parsed COSE_Sign1 message whose signature has not been checked yet.
#[derive(Debug, Clone)]
pub struct Sign1 {
    message: CoseSign1,
    algorithm: Algorithm,
    kid: Option<Vec<u8>>,
    payload: Vec<u8>,
}

impl Sign1 {
    /// Parses a COSE_Sign1 message: tagged (18), untagged, or wrapped in the CWT tag
    /// (61). The algorithm and the kid are each taken from the protected header, and
    /// from the unprotected one only when the protected header lacks them (HCERT
    /// §3.3.1; some issuers put both in the unprotected header). An unprotected value
    /// never overrides a protected one. An unprotected algorithm cannot be swapped to
    /// forge anything: [`Sign1::verify`] only uses a key with the one algorithm that
    /// key was made for.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CertError> {
        let mut value = cbor::parse(bytes)?;
        if let Value::Tag(TAG_CWT, inner) = value {
            value = *inner;
        }
        if let Value::Tag(TAG_COSE_SIGN1, inner) = value {
            value = *inner;
        }
        if let Value::Tag(tag, _) = value {
            return Err(CertError::Cose(format!("unexpected CBOR tag {tag}")));
        }
        let message = CoseSign1::from_cbor_value(value).map_err(|e| CertError::Cose(e.to_string()))?;
        let alg = message.protected.header.alg.as_ref().or(message.unprotected.alg.as_ref());
        let algorithm = match alg {
            Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256)) => Algorithm::Es256,
            Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::PS256)) => Algorithm::Ps256,
            Some(other) => return Err(CertError::UnsupportedAlgorithm(format!("{other:?}"))),
            None => return Err(CertError::Cose("no algorithm in the headers".into())),
        };
        let kid = [&message.protected.header.key_id, &message.unprotected.key_id]
            .into_iter()
            .find(|kid| !kid.is_empty())
            .cloned();
        let payload = message
            .payload
            .clone()
            .ok_or_else(|| CertError::Cose("detached payloads are not used".into()))?;
        Ok(Self { message, algorithm, kid, payload })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The signer's key identifier, if the message names one.
    pub fn kid(&self) -> Option<&[u8]> {
        self.kid.as_deref()
    }

    /// The signed payload (CWT claims, CBOR).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The signature bytes as the message carries them.
    pub fn signature(&self) -> &[u8] {
        &self.message.signature
    }

    /// Checks the signature over `Sig_structure = ["Signature1", protected, h'', payload]`
    /// with `key`, whose algorithm must be the one the message declares (a key is
    /// never used with an algorithm it was not made for).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CertError> {
        if let VerifyingKey::Unsupported(what) = key {
            return Err(CertError::UnsupportedAlgorithm(format!("message is {:?} but the signer's key is {what}", self.algorithm)));
        }
        if key.algorithm() != Some(self.algorithm) {
            return Err(CertError::UnsupportedAlgorithm(format!(
                "message is {:?} but the key is for {:?}",
                self.algorithm,
                key.algorithm()
            )));
        }
        self.message.verify_signature(b"", |sig, tbs| key.verify(tbs, sig))
    }
}

/// Signs `payload` as a tagged COSE_Sign1 with ES256, `kid` in the protected header.
pub fn sign_es256(key_pair: &EcdsaKeyPair, kid: &[u8], payload: Vec<u8>) -> Result<Vec<u8>, CertError> {
    let protected = HeaderBuilder::new().algorithm(iana::Algorithm::ES256).key_id(kid.to_vec()).build();
    let rng = SystemRandom::new();
    let message = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .try_create_signature(b"", |tbs| {
            key_pair
                .sign(&rng, tbs)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| CertError::Signing("ECDSA signing failed".into()))
        })?
        .build();
    let value = message.to_cbor_value().map_err(|e| CertError::Signing(e.to_string()))?;
    Ok(cbor::serialize(&Value::Tag(TAG_COSE_SIGN1, Box::new(value))))
}

