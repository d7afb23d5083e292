//! X.509 read with RustCrypto's `x509-cert`: the fields a person is shown (subject,
//! issuer, serial, validity), the key, and the extensions a verifier must honour
//! (basic constraints and path length, key usage, extended key usage, and any other
//! extension marked critical). Chains are checked with `rustls-webpki` in `contract`;
//! signatures are verified with ring. Writing certificates is the reference server's
//! business (`rcgen`), not the phone library's.

use x509_cert::Certificate as X509;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode as _, Tag, Tagged as _};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::name::Name;

use super::{CertError, VerifyingKey};

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
const OID_KEY_USAGE: &str = "2.5.29.15";
const OID_EXT_KEY_USAGE: &str = "2.5.29.37";

/// Extensions this reader understands, or that a verifier may leave unread without
/// changing what the certificate allows; any other one marked critical makes the
/// certificate unusable (RFC 5280 §4.2).
const UNDERSTOOD_EXTENSIONS: [&str; 12] = [
    OID_BASIC_CONSTRAINTS,
    OID_KEY_USAGE,
    OID_EXT_KEY_USAGE,
    "2.5.29.14",          // subject key identifier
    "2.5.29.35",          // authority key identifier
    "2.5.29.17",          // subject alternative name
    "2.5.29.18",          // issuer alternative name
    "2.5.29.16",          // private key usage period
    "2.5.29.31",          // CRL distribution points
    "2.5.29.32",          // certificate policies
    "1.3.6.1.5.5.7.1.1",  // authority information access
    "2.23.136.1.1.6.2",   // ICAO document type list (member states' DSCs)
];

/// Attribute types shown in a DN, with their usual short names.
const ATTRIBUTES: [(&str, &str); 8] = [
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
];

fn err(what: impl Into<String>) -> CertError {
    CertError::X509(what.into())
}

/// What a person sees of a certificate, and what a chain check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// `C=TW, O=…, CN=…`, in the certificate's order.
    pub subject: String,
    pub issuer: String,
    /// Uppercase hex of the serial number's bytes.
    pub serial: String,
    /// UTC seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub key: VerifyingKey,
    /// basicConstraints cA: may this certificate sign others.
    pub is_ca: bool,
    /// basicConstraints pathLenConstraint: how many CAs may follow below it.
    pub path_len: Option<u8>,
    /// The key usage bits, when the extension is present (RFC 5280 bit order:
    /// digitalSignature = bit 0 … decipherOnly = bit 8).
    pub key_usage: Option<u16>,
    /// Extended key usage OIDs in dotted form; empty when the extension is absent.
    pub extended_key_usage: Vec<String>,
    /// Critical extensions this reader does not understand, in dotted form.
    pub unknown_critical: Vec<String>,
    der: Vec<u8>,
}

impl Certificate {
    pub fn from_der(bytes: &[u8]) -> Result<Self, CertError> {
        let cert = X509::from_der(bytes).map_err(|e| err(format!("not a DER certificate: {e}")))?;
        let tbs = cert.tbs_certificate();
        let serial = tbs.serial_number().as_bytes();
        if serial.is_empty() {
            return Err(err("empty serial number"));
        }
        let validity = tbs.validity();
        let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).map_err(|_| err("time out of range"));
        let spki = tbs.subject_public_key_info();
        let mut out = Self {
            subject: dn_text(tbs.subject())?,
            issuer: dn_text(tbs.issuer())?,
            serial: serial.iter().map(|b| format!("{b:02X}")).collect(),
            not_before: secs(validity.not_before)?,
            not_after: secs(validity.not_after)?,
            key: public_key(spki)?,
            is_ca: false,
            path_len: None,
            key_usage: None,
            extended_key_usage: Vec::new(),
            unknown_critical: Vec::new(),
            der: bytes.to_vec(),
        };
        let mut seen: Vec<String> = Vec::new();
        for ext in tbs.extensions().into_iter().flatten() {
            let oid = ext.extn_id.to_string();
            if seen.contains(&oid) {
                return Err(err(format!("extension {oid} appears twice")));
            }
            let value = ext.extn_value.as_bytes();
            let bad = |what: &'static str| move |e: x509_cert::der::Error| err(format!("{what}: {e}"));
            match oid.as_str() {
                OID_BASIC_CONSTRAINTS => {
                    let bc = BasicConstraints::from_der(value).map_err(bad("basic constraints"))?;
                    out.is_ca = bc.ca;
                    out.path_len = bc.path_len_constraint;
                }
                OID_KEY_USAGE => out.key_usage = Some(KeyUsage::from_der(value).map_err(bad("key usage"))?.0.bits()),
                OID_EXT_KEY_USAGE => {
                    let eku = ExtendedKeyUsage::from_der(value).map_err(bad("extended key usage"))?;
                    out.extended_key_usage = eku.0.iter().map(ObjectIdentifier::to_string).collect();
                }
                other if ext.critical && !UNDERSTOOD_EXTENSIONS.contains(&other) => out.unknown_critical.push(oid.clone()),
                _ => {}
            }
            seen.push(oid);
        }
        Ok(out)
    }

    /// The certificate's DER, as it was read.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Whether the certificate is within its validity at `secs` (UTC seconds).
    pub fn valid_at(&self, secs: i64) -> bool {
        (self.not_before..=self.not_after).contains(&secs)
    }

    /// Whether the key usage extension, when present, allows `usage`.
    pub fn allows(&self, usage: KeyUsages) -> bool {
        let wanted = x509_cert::der::flagset::FlagSet::<KeyUsages>::from(usage).bits();
        self.key_usage.is_none_or(|bits| bits & wanted != 0)
    }

    /// Refuses a certificate carrying a critical extension this reader does not
    /// understand: what it restricts cannot be honoured.
    pub fn check_critical(&self) -> Result<(), CertError> {
        match self.unknown_critical.first() {
            None => Ok(()),
            Some(oid) => Err(err(format!("{} carries an unknown critical extension {oid}", self.subject))),
        }
    }
}

/// The key of a SubjectPublicKeyInfo: P-256 for ES256, RSA for PS256.
pub(super) fn public_key(spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> Result<VerifyingKey, CertError> {
    let key_bits = spki.subject_public_key.as_bytes().ok_or_else(|| CertError::BadKey("the key is not whole bytes".into()))?;
    match spki.algorithm.oid.to_string().as_str() {
        OID_EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .map(|oid| oid.to_string())
                .ok_or_else(|| CertError::BadKey("EC key without a named curve".into()))?;
            // A signer certificate on another curve is still read (its validity and
            // usages are facts of their own); only signatures checked with it fail.
            if curve != OID_P256 {
                return Ok(VerifyingKey::Unsupported(format!("an EC key on curve {curve} (only P-256 is used)")));
            }
            VerifyingKey::es256_from_sec1(key_bits)
        }
        OID_RSA_ENCRYPTION | OID_RSASSA_PSS => VerifyingKey::ps256_from_rsa_der(key_bits),
        other => Err(CertError::BadKey(format!("public key algorithm {other}"))),
    }
}

/// `C=TW, O=…, CN=…` in the certificate's order (not RFC 4514's reversed one), as
/// the city's platform shows a DN.
fn dn_text(name: &Name) -> Result<String, CertError> {
    let mut parts = Vec::new();
    for rdn in name.iter_rdn() {
        for atv in rdn.iter() {
            let oid = atv.oid.to_string();
            let value = &atv.value;
            if ![Tag::Utf8String, Tag::PrintableString, Tag::Ia5String].contains(&value.tag()) {
                return Err(err(format!("attribute {oid} has string type {}", value.tag())));
            }
            let text = std::str::from_utf8(value.value()).map_err(|_| err(format!("attribute {oid} is not UTF-8")))?;
            let short = ATTRIBUTES.iter().find(|a| a.1 == oid).map_or(oid.as_str(), |a| a.0);
            parts.push(format!("{short}={text}"));
        }
    }
    Ok(parts.join(", "))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A P-256 key and a certificate for it, from rcgen (ring).
    pub(crate) fn ca(name: &str) -> (rcgen::KeyPair, rcgen::CertificateParams) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CountryName, "TW");
        params.distinguished_name.push(rcgen::DnType::OrganizationName, name);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(1));
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        (key, params)
    }

    #[test]
    fn reads_names_serial_constraints_and_usages() {
        let (ca_key, mut params) = ca("臺北市政府");
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x80, 0x12, 0x34]));
        let der = params.self_signed(&ca_key).unwrap().der().to_vec();
        let cert = Certificate::from_der(&der).unwrap();
        assert_eq!(cert.subject, "C=TW, O=臺北市政府, CN=臺北市政府");
        assert_eq!(cert.subject, cert.issuer);
        assert_eq!(cert.serial, "00801234");
        assert!(cert.is_ca && cert.path_len == Some(1));
        assert!(cert.allows(KeyUsages::KeyCertSign) && !cert.allows(KeyUsages::DigitalSignature));
        assert!(matches!(cert.key, VerifyingKey::Es256(_)));
        cert.check_critical().unwrap();
    }

    #[test]
    fn item11_an_unknown_critical_extension_is_kept_and_refused() {
        let (key, mut params) = ca("x");
        let mut ext = rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![0x05, 0x00]);
        ext.set_criticality(true);
        params.custom_extensions = vec![ext];
        let cert = Certificate::from_der(params.self_signed(&key).unwrap().der()).unwrap();
        assert_eq!(cert.unknown_critical, ["1.3.6.1.4.1.99999.1"]);
        assert!(cert.check_critical().unwrap_err().to_string().contains("unknown critical extension"));
    }

    #[test]
    fn hostile_der_is_an_error() {
        let (key, params) = ca("x");
        let good = params.self_signed(&key).unwrap().der().to_vec();
        for cut in [0, 1, 10, good.len() / 2, good.len() - 1] {
            assert!(Certificate::from_der(&good[..cut]).is_err());
        }
        let mut flipped = good.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0x55;
            let _ = Certificate::from_der(&flipped);
            flipped[i] ^= 0x55;
        }
    }
}
