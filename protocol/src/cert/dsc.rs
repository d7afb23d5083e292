//! The document signer certificate (DSC): the X.509 certificate whose key signs
//! certificates. A verifier needs four things from it — its key, its key id, its
//! validity and its extended key usages — and trusts it because a signed trust list
//! says so, not because of its X.509 chain; so the certificate is walked with the
//! strict DER reader in `der` rather than a full X.509 library.

use super::cose::VerifyingKey;
use super::der::{self, Reader, TAG_EXTENSIONS, TAG_VERSION};
use super::time::parse_asn1_time;
use super::CertError;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_EXT_KEY_USAGE: &str = "2.5.29.37";
const TAG_ISSUER_UID: u8 = 0x81;
const TAG_SUBJECT_UID: u8 = 0x82;

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
        let cert = der::single(bytes, der::SEQUENCE, "Certificate")?;
        let mut cert = Reader::new(cert);
        let tbs = cert.expect(der::SEQUENCE, "TBSCertificate")?;
        cert.expect(der::SEQUENCE, "signatureAlgorithm")?;
        cert.expect(der::BIT_STRING, "signatureValue")?;
        cert.finish("Certificate")?;

        let mut tbs = Reader::new(tbs);
        tbs.optional(TAG_VERSION)?;
        tbs.expect(der::INTEGER, "serialNumber")?;
        tbs.expect(der::SEQUENCE, "signature")?;
        tbs.expect(der::SEQUENCE, "issuer")?;
        let (not_before, not_after) = validity(tbs.expect(der::SEQUENCE, "validity")?)?;
        tbs.expect(der::SEQUENCE, "subject")?;
        let key = public_key(tbs.expect(der::SEQUENCE, "subjectPublicKeyInfo")?)?;
        tbs.optional(TAG_ISSUER_UID)?;
        tbs.optional(TAG_SUBJECT_UID)?;
        let extended_key_usage = match tbs.optional(TAG_EXTENSIONS)? {
            Some(explicit) => extended_key_usage(der::single(explicit, der::SEQUENCE, "extensions")?)?,
            None => Vec::new(),
        };
        tbs.finish("TBSCertificate")?;

        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        Ok(Self { kid: digest.as_ref()[..8].to_vec(), key, not_before, not_after, extended_key_usage })
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

fn time(reader: &mut Reader<'_>) -> Result<i64, CertError> {
    let (tag, contents) = reader.any()?;
    let text = std::str::from_utf8(contents)
        .map_err(|_| CertError::BadSignerCertificate("time is not ASCII".into()))?;
    match tag {
        der::UTC_TIME => parse_asn1_time(false, text),
        der::GENERALIZED_TIME => parse_asn1_time(true, text),
        _ => Err(CertError::BadSignerCertificate(format!("time with tag 0x{tag:02x}"))),
    }
}

pub(super) fn validity(contents: &[u8]) -> Result<(i64, i64), CertError> {
    let mut r = Reader::new(contents);
    let not_before = time(&mut r)?;
    let not_after = time(&mut r)?;
    r.finish("validity")?;
    Ok((not_before, not_after))
}

pub(super) fn public_key(spki: &[u8]) -> Result<VerifyingKey, CertError> {
    let mut spki = Reader::new(spki);
    let mut alg = Reader::new(spki.expect(der::SEQUENCE, "algorithm")?);
    let key_bits = der::bit_string_bytes(spki.expect(der::BIT_STRING, "subjectPublicKey")?)?;
    spki.finish("subjectPublicKeyInfo")?;
    let alg_oid = der::oid_to_string(alg.expect(der::OID, "algorithm")?)?;
    match alg_oid.as_str() {
        OID_EC_PUBLIC_KEY => {
            let curve = der::oid_to_string(alg.expect(der::OID, "namedCurve")?)?;
            alg.finish("EC parameters")?;
            if curve != OID_P256 {
                return Err(CertError::BadKey(format!("EC curve {curve} (only P-256 is used)")));
            }
            VerifyingKey::es256_from_sec1(key_bits)
        }
        OID_RSA_ENCRYPTION | OID_RSASSA_PSS => VerifyingKey::ps256_from_rsa_der(key_bits),
        other => Err(CertError::BadKey(format!("public key algorithm {other}"))),
    }
}

fn extended_key_usage(extensions: &[u8]) -> Result<Vec<String>, CertError> {
    let mut list = Reader::new(extensions);
    let mut usages = None;
    while !list.is_empty() {
        let mut ext = Reader::new(list.expect(der::SEQUENCE, "Extension")?);
        let oid = der::oid_to_string(ext.expect(der::OID, "extnID")?)?;
        ext.optional(der::BOOLEAN)?;
        let value = ext.expect(der::OCTET_STRING, "extnValue")?;
        ext.finish("Extension")?;
        if oid == OID_EXT_KEY_USAGE {
            if usages.is_some() {
                return Err(CertError::BadSignerCertificate("two extended key usage extensions".into()));
            }
            let mut oids = Reader::new(der::single(value, der::SEQUENCE, "ExtKeyUsageSyntax")?);
            let mut found = Vec::new();
            while !oids.is_empty() {
                found.push(der::oid_to_string(oids.expect(der::OID, "KeyPurposeId")?)?);
            }
            usages = Some(found);
        }
    }
    Ok(usages.unwrap_or_default())
}
