//! X.509 as contract signatures need it: read the fields a person is shown (subject,
//! issuer, serial, validity), check that a certificate was signed by its issuer's key
//! (ECDSA P-256 / SHA-256 only, the one algorithm the city uses), and — for the
//! reference server's test CA — write such certificates.
//!
//! The strict DER reader of `der` does the parsing; no X.509 library enters the phone
//! library for a handful of fields.

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, UnparsedPublicKey};

use super::der::{self, Reader, TAG_EXTENSIONS, TAG_VERSION};
use super::dsc;
use super::{CertError, VerifyingKey, format_rfc3339};

const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
const SET: u8 = 0x31;

/// Attribute types shown in a DN, with their usual short names.
const ATTRIBUTES: [(&str, &str, &[u8]); 7] = [
    ("CN", "2.5.4.3", &[0x55, 0x04, 0x03]),
    ("SERIALNUMBER", "2.5.4.5", &[0x55, 0x04, 0x05]),
    ("C", "2.5.4.6", &[0x55, 0x04, 0x06]),
    ("L", "2.5.4.7", &[0x55, 0x04, 0x07]),
    ("ST", "2.5.4.8", &[0x55, 0x04, 0x08]),
    ("O", "2.5.4.10", &[0x55, 0x04, 0x0a]),
    ("OU", "2.5.4.11", &[0x55, 0x04, 0x0b]),
];

fn err(what: impl Into<String>) -> CertError {
    CertError::X509(what.into())
}

/// What a person sees of a certificate, and what a chain check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// `CN=…, O=…, C=TW`, in the certificate's order.
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
    tbs: Vec<u8>,
    signature: Vec<u8>,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
}

impl Certificate {
    pub fn from_der(bytes: &[u8]) -> Result<Self, CertError> {
        let x = |e: CertError| err(e.to_string());
        let mut cert = Reader::new(der::single(bytes, der::SEQUENCE, "Certificate").map_err(x)?);
        let tbs_raw = cert.expect_raw(der::SEQUENCE, "TBSCertificate").map_err(x)?;
        let mut alg = Reader::new(cert.expect(der::SEQUENCE, "signatureAlgorithm").map_err(x)?);
        let signature = der::bit_string_bytes(cert.expect(der::BIT_STRING, "signatureValue").map_err(x)?).map_err(x)?;
        cert.finish("Certificate").map_err(x)?;
        let alg = der::oid_to_string(alg.expect(der::OID, "signature algorithm").map_err(x)?).map_err(x)?;
        if alg != OID_ECDSA_SHA256 {
            return Err(err(format!("signature algorithm {alg} (only ecdsa-with-SHA256 is used)")));
        }

        let mut tbs = Reader::new(der::single(tbs_raw, der::SEQUENCE, "TBSCertificate").map_err(x)?);
        tbs.optional(TAG_VERSION).map_err(x)?;
        let serial = tbs.expect(der::INTEGER, "serialNumber").map_err(x)?;
        tbs.expect(der::SEQUENCE, "signature").map_err(x)?;
        let issuer_der = tbs.expect_raw(der::SEQUENCE, "issuer").map_err(x)?;
        let (not_before, not_after) = dsc::validity(tbs.expect(der::SEQUENCE, "validity").map_err(x)?).map_err(x)?;
        let subject_der = tbs.expect_raw(der::SEQUENCE, "subject").map_err(x)?;
        let key = dsc::public_key(tbs.expect(der::SEQUENCE, "subjectPublicKeyInfo").map_err(x)?).map_err(x)?;
        let mut is_ca = false;
        while !tbs.is_empty() {
            let (tag, contents) = tbs.any().map_err(x)?;
            if tag == TAG_EXTENSIONS {
                is_ca = basic_constraints_ca(der::single(contents, der::SEQUENCE, "extensions").map_err(x)?)?;
            }
        }
        if serial.is_empty() {
            return Err(err("empty serial number"));
        }
        Ok(Self {
            subject: dn_text(subject_der)?,
            issuer: dn_text(issuer_der)?,
            serial: serial.iter().map(|b| format!("{b:02X}")).collect(),
            not_before,
            not_after,
            key,
            is_ca,
            tbs: tbs_raw.to_vec(),
            signature: signature.to_vec(),
            subject_der: subject_der.to_vec(),
            issuer_der: issuer_der.to_vec(),
        })
    }

    /// Whether `issuer` issued this certificate: names match and its key verifies the
    /// signature over the TBSCertificate.
    pub fn issued_by(&self, issuer: &Self) -> Result<(), CertError> {
        if self.issuer_der != issuer.subject_der {
            return Err(err(format!("issued by {}, not by {}", self.issuer, issuer.subject)));
        }
        let VerifyingKey::Es256(key) = &issuer.key else {
            return Err(err("the issuer's key is not P-256"));
        };
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, key.as_bytes())
            .verify(&self.tbs, &self.signature)
            .map_err(|_| err(format!("the signature by {} does not verify", issuer.subject)))
    }

    /// Whether the certificate is within its validity at `secs` (UTC seconds).
    pub fn valid_at(&self, secs: i64) -> bool {
        (self.not_before..=self.not_after).contains(&secs)
    }
}

fn basic_constraints_ca(extensions: &[u8]) -> Result<bool, CertError> {
    let x = |e: CertError| err(e.to_string());
    let mut list = Reader::new(extensions);
    while !list.is_empty() {
        let mut ext = Reader::new(list.expect(der::SEQUENCE, "Extension").map_err(x)?);
        let oid = der::oid_to_string(ext.expect(der::OID, "extnID").map_err(x)?).map_err(x)?;
        ext.optional(der::BOOLEAN).map_err(x)?;
        let value = ext.expect(der::OCTET_STRING, "extnValue").map_err(x)?;
        if oid == OID_BASIC_CONSTRAINTS {
            let mut bc = Reader::new(der::single(value, der::SEQUENCE, "BasicConstraints").map_err(x)?);
            return Ok(bc.optional(der::BOOLEAN).map_err(x)? == Some(&[0xff][..]));
        }
    }
    Ok(false)
}

fn dn_text(name: &[u8]) -> Result<String, CertError> {
    let x = |e: CertError| err(e.to_string());
    let mut rdns = Reader::new(der::single(name, der::SEQUENCE, "Name").map_err(x)?);
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let mut set = Reader::new(rdns.expect(SET, "RelativeDistinguishedName").map_err(x)?);
        while !set.is_empty() {
            let mut atv = Reader::new(set.expect(der::SEQUENCE, "AttributeTypeAndValue").map_err(x)?);
            let oid = der::oid_to_string(atv.expect(der::OID, "attribute type").map_err(x)?).map_err(x)?;
            let (tag, value) = atv.any().map_err(x)?;
            if ![UTF8_STRING, PRINTABLE_STRING, IA5_STRING].contains(&tag) {
                return Err(err(format!("attribute {oid} has string type 0x{tag:02x}")));
            }
            let value = std::str::from_utf8(value).map_err(|_| err(format!("attribute {oid} is not UTF-8")))?;
            let name = ATTRIBUTES.iter().find(|a| a.1 == oid).map_or(oid.as_str(), |a| a.0);
            parts.push(format!("{name}={value}"));
        }
    }
    Ok(parts.join(", "))
}

// ---- writing (the reference server's test CA) ----

fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(der::SEQUENCE, &parts.concat())
}

/// A DN from `(short name, value)` pairs, one attribute per RDN.
fn name(attributes: &[(&str, &str)]) -> Result<Vec<u8>, CertError> {
    let rdns = attributes
        .iter()
        .map(|(short, value)| {
            let oid = ATTRIBUTES.iter().find(|a| a.0 == *short).ok_or_else(|| err(format!("unknown attribute {short}")))?.2;
            Ok(tlv(SET, &seq(&[tlv(der::OID, oid), tlv(UTF8_STRING, value.as_bytes())])))
        })
        .collect::<Result<Vec<_>, CertError>>()?;
    Ok(seq(&rdns))
}

fn time(secs: i64) -> Vec<u8> {
    // GeneralizedTime YYYYMMDDHHMMSSZ from the RFC 3339 form.
    let text: String = format_rfc3339(secs).chars().filter(char::is_ascii_digit).collect();
    tlv(der::GENERALIZED_TIME, format!("{text}Z").as_bytes())
}

/// What a new certificate says.
#[derive(Debug, Clone)]
pub struct NewCertificate<'a> {
    pub serial: u64,
    pub subject: &'a [(&'a str, &'a str)],
    pub issuer: &'a [(&'a str, &'a str)],
    /// UTC seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// SEC1 P-256 public key of the subject.
    pub public_key: &'a [u8],
    pub is_ca: bool,
}

/// Writes and signs a certificate with the issuer's PKCS #8 P-256 key.
pub fn issue(new: &NewCertificate<'_>, issuer_pkcs8: &[u8]) -> Result<Vec<u8>, CertError> {
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, issuer_pkcs8, &rng)
        .map_err(|_| CertError::Signing("the issuer key is not a P-256 PKCS #8 key".into()))?;
    // ecdsa-with-SHA256, no parameters.
    let alg = seq(&[tlv(der::OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])]);
    let spki = seq(&[
        seq(&[tlv(der::OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]), tlv(der::OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07])]),
        tlv(der::BIT_STRING, &[&[0u8][..], new.public_key].concat()),
    ]);
    let serial: Vec<u8> = {
        let bytes: Vec<u8> = new.serial.max(1).to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        // A positive INTEGER: a leading 1 bit needs a 0 byte before it.
        if bytes[0] & 0x80 != 0 { [&[0u8][..], &bytes].concat() } else { bytes }
    };
    let basic = seq(&[tlv(der::OID, &[0x55, 0x1d, 0x13]), tlv(der::BOOLEAN, &[0xff]), tlv(der::OCTET_STRING, &seq(&if new.is_ca { vec![tlv(der::BOOLEAN, &[0xff])] } else { vec![] }))]);
    let tbs = seq(&[
        tlv(TAG_VERSION, &tlv(der::INTEGER, &[2])),
        tlv(der::INTEGER, &serial),
        alg.clone(),
        name(new.issuer)?,
        seq(&[time(new.not_before), time(new.not_after)]),
        name(new.subject)?,
        spki,
        tlv(TAG_EXTENSIONS, &seq(&[basic])),
    ]);
    let sig = key.sign(&rng, &tbs).map_err(|_| CertError::Signing("ECDSA signing failed".into()))?;
    let mut bits = vec![0u8];
    bits.extend_from_slice(sig.as_ref());
    Ok(seq(&[tbs, alg, tlv(der::BIT_STRING, &bits)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair as _;

    pub(crate) fn keypair() -> (Vec<u8>, Vec<u8>) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
    }

    #[test]
    fn written_certificates_read_back_and_chain() {
        let (ca_key, ca_pub) = keypair();
        let (leaf_key, leaf_pub) = keypair();
        let ca_name = [("C", "TW"), ("O", "臺北市政府"), ("CN", "Taipei Test CA")];
        let ca = issue(&NewCertificate { serial: 1, subject: &ca_name, issuer: &ca_name, not_before: 0, not_after: 4_000_000_000, public_key: &ca_pub, is_ca: true }, &ca_key).unwrap();
        let leaf_name = [("C", "TW"), ("O", "大同資訊股份有限公司"), ("CN", "Vendor Signer")];
        let leaf = issue(&NewCertificate { serial: 0x80_1234, subject: &leaf_name, issuer: &ca_name, not_before: 100, not_after: 200, public_key: &leaf_pub, is_ca: false }, &ca_key).unwrap();
        let ca = Certificate::from_der(&ca).unwrap();
        let leaf = Certificate::from_der(&leaf).unwrap();
        assert!(ca.is_ca && !leaf.is_ca);
        assert_eq!(leaf.subject, "C=TW, O=大同資訊股份有限公司, CN=Vendor Signer");
        assert_eq!(leaf.issuer, "C=TW, O=臺北市政府, CN=Taipei Test CA");
        assert_eq!(leaf.serial, "00801234");
        assert_eq!((leaf.not_before, leaf.not_after), (100, 200));
        assert!(leaf.valid_at(150) && !leaf.valid_at(201));
        leaf.issued_by(&ca).unwrap();
        ca.issued_by(&ca).unwrap();
        // The leaf did not sign the CA; a self-signed impostor with the CA's name fails.
        assert!(ca.issued_by(&leaf).is_err());
        let (fake_key, fake_pub) = keypair();
        let fake = issue(&NewCertificate { serial: 1, subject: &ca_name, issuer: &ca_name, not_before: 0, not_after: 4_000_000_000, public_key: &fake_pub, is_ca: true }, &fake_key).unwrap();
        assert!(leaf.issued_by(&Certificate::from_der(&fake).unwrap()).is_err());
        let _ = leaf_key;
    }

    #[test]
    fn hostile_der_is_an_error() {
        let (ca_key, ca_pub) = keypair();
        let n = [("CN", "x")];
        let good = issue(&NewCertificate { serial: 7, subject: &n, issuer: &n, not_before: 0, not_after: 1, public_key: &ca_pub, is_ca: false }, &ca_key).unwrap();
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
