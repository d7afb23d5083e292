//! ECDSA P-256 / SHA-256, the one signature algorithm on the wire.
//!
//! On the wire a signature is 64 bytes `r ‖ s`. Platform signers (Android Keystore,
//! the Secure Enclave) return ASN.1 DER, so the phone converts with the strict parser
//! below before anything is sent; the server only ever sees the fixed form.

use ring::signature::{self, UnparsedPublicKey};

use crate::ProtocolError;

/// Length of an uncompressed SEC1 P-256 public key (`0x04 ‖ x ‖ y`).
pub const PUBLIC_KEY_LEN: usize = 65;
/// Length of a fixed-size signature `r ‖ s`.
pub const SIGNATURE_LEN: usize = 64;

/// A P-256 public key in uncompressed SEC1 form, checked on construction.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey([u8; PUBLIC_KEY_LEN]);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", crate::b64::encode(&self.0[1..9]))
    }
}

impl PublicKey {
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let arr: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| {
            ProtocolError::BadPublicKey(format!(
                "expected {PUBLIC_KEY_LEN} bytes (uncompressed P-256), got {}",
                bytes.len()
            ))
        })?;
        if arr[0] != 0x04 {
            return Err(ProtocolError::BadPublicKey("not an uncompressed point".into()));
        }
        // ring validates the point when verifying; probing with a dummy signature is
        // not possible, so the point check happens at first verify. The SEC1 shape is
        // what we can check here.
        Ok(Self(arr))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn x(&self) -> &[u8] {
        &self.0[1..33]
    }

    pub fn y(&self) -> &[u8] {
        &self.0[33..65]
    }

    /// Verifies a fixed-size `r ‖ s` signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), ProtocolError> {
        if signature.len() != SIGNATURE_LEN {
            return Err(ProtocolError::BadSignatureEncoding(format!(
                "expected {SIGNATURE_LEN} bytes r‖s, got {}",
                signature.len()
            )));
        }
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.0)
            .verify(message, signature)
            .map_err(|_| ProtocolError::SignatureInvalid)
    }

    /// RFC 7638 JWK thumbprint (base64url SHA-256 of the canonical JWK): the key's
    /// stable identifier, used to bind access tokens to it.
    pub fn jwk_thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            crate::b64::encode(self.x()),
            crate::b64::encode(self.y())
        );
        crate::b64::encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
    }
}

/// Converts an ASN.1 DER `ECDSA-Sig-Value` into the fixed 64-byte form.
///
/// Strict on purpose: long-form lengths, negative or zero integers, superfluous leading
/// zeros, oversized integers and trailing bytes are all refused, so a misbehaving
/// platform signer is caught here and not at the server.
pub fn der_to_fixed(der: &[u8]) -> Result<[u8; SIGNATURE_LEN], ProtocolError> {
    let bad = |why: &str| ProtocolError::BadSignatureEncoding(format!("DER: {why}"));
    let (tag, rest) = der.split_first().ok_or_else(|| bad("empty"))?;
    if *tag != 0x30 {
        return Err(bad("not a SEQUENCE"));
    }
    let (len, body) = rest.split_first().ok_or_else(|| bad("missing length"))?;
    if *len >= 0x80 {
        return Err(bad("long-form length is never needed for P-256"));
    }
    if body.len() != usize::from(*len) {
        return Err(bad("length does not match the data"));
    }
    let (r, body) = der_integer(body).map_err(|e| bad(&format!("r: {e}")))?;
    let (s, body) = der_integer(body).map_err(|e| bad(&format!("s: {e}")))?;
    if !body.is_empty() {
        return Err(bad("trailing bytes"));
    }
    let mut out = [0u8; SIGNATURE_LEN];
    out[32 - r.len()..32].copy_from_slice(r);
    out[64 - s.len()..].copy_from_slice(s);
    Ok(out)
}

fn der_integer(input: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    let (tag, rest) = input.split_first().ok_or("missing")?;
    if *tag != 0x02 {
        return Err("not an INTEGER");
    }
    let (len, rest) = rest.split_first().ok_or("missing length")?;
    let len = usize::from(*len);
    if len == 0 || len >= 0x80 || rest.len() < len {
        return Err("bad length");
    }
    let (value, rest) = rest.split_at(len);
    if value[0] & 0x80 != 0 {
        return Err("negative");
    }
    let value = if value[0] == 0 {
        if value.len() == 1 {
            return Err("zero");
        }
        if value[1] & 0x80 == 0 {
            return Err("superfluous leading zero");
        }
        &value[1..]
    } else {
        value
    };
    if value.len() > 32 {
        return Err("longer than 32 bytes");
    }
    Ok((value, rest))
}

/// Converts the fixed 64-byte form into minimal DER (for platforms that want DER).
pub fn fixed_to_der(fixed: &[u8; SIGNATURE_LEN]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, v: &[u8]) {
        let start = v.iter().position(|b| *b != 0).unwrap_or(v.len() - 1);
        let v = &v[start..];
        let pad = v[0] & 0x80 != 0;
        out.push(0x02);
        out.push((v.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let mut body = Vec::with_capacity(72);
    integer(&mut body, &fixed[..32]);
    integer(&mut body, &fixed[32..]);
    let mut out = Vec::with_capacity(body.len() + 2);
    out.push(0x30);
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
    out
}

/// A fresh P-256 key pair for tests, signing with fixed `r‖s` as the wire wants.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_key_pair() -> ring::signature::EcdsaKeyPair {
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    fn keypair() -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap()
    }

    #[test]
    fn der_signatures_convert_and_verify() {
        let rng = SystemRandom::new();
        let kp = keypair();
        let public = PublicKey::from_sec1(kp.public_key().as_ref()).unwrap();
        for i in 0..50u8 {
            let msg = [i; 10];
            let der = kp.sign(&rng, &msg).unwrap();
            let fixed = der_to_fixed(der.as_ref()).unwrap();
            public.verify(&msg, &fixed).unwrap();
            assert_eq!(fixed_to_der(&fixed), der.as_ref(), "minimal DER round-trips");
            assert_eq!(public.verify(b"other", &fixed), Err(ProtocolError::SignatureInvalid));
        }
    }

    #[test]
    fn strict_der_parser_refuses_malformed_input() {
        let mut good = vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];
        assert!(der_to_fixed(&good).is_ok());
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02],
            vec![0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02],
            vec![0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02],
            vec![0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x02],
            vec![0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x02],
            vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x02],
            vec![0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00],
            {
                let mut v = vec![0x30, 0x26, 0x02, 0x21];
                v.extend([0x01; 33]);
                v.extend([0x02, 0x01, 0x01]);
                v
            },
        ];
        for case in cases {
            assert!(der_to_fixed(&case).is_err(), "accepted {case:02x?}");
        }
        good[4] = 0x7f;
        assert!(der_to_fixed(&good).is_ok());
    }

    #[test]
    fn public_key_shape_is_checked() {
        assert!(PublicKey::from_sec1(&[4u8; 64]).is_err());
        assert!(PublicKey::from_sec1(&[2u8; 65]).is_err());
        let bogus = PublicKey::from_sec1(&[4u8; 65]).unwrap();
        assert!(bogus.verify(b"m", &[1u8; 64]).is_err());
    }

    #[test]
    fn thumbprint_matches_rfc7638_shape() {
        let kp = keypair();
        let public = PublicKey::from_sec1(kp.public_key().as_ref()).unwrap();
        let t = public.jwk_thumbprint();
        assert_eq!(t.len(), 43);
        assert_eq!(t, public.jwk_thumbprint());
    }
}
