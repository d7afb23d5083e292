//! DPoP proofs (RFC 9449): every authenticated request carries a JWS signed by the
//! device key, so an access token copied off the device is useless on its own.
//!
//! A proof is a compact JWS `header.payload.signature` with header
//! `{"typ":"dpop+jwt","alg":"ES256","jwk":{EC P-256 public key}}` and the claims below.
//! Domain separation here comes from the JWS structure and `typ`, not a TPQ tag: a
//! TPQ message begins with a length prefix and can never parse as a JWS signing input.

use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::b64;
use crate::ecdsa::PublicKey;

pub const TYP: &str = "dpop+jwt";
/// How far a proof's `iat` may be from the server clock.
pub const MAX_CLOCK_SKEW_S: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Unique per proof; the server refuses a jti it has seen.
    pub jti: String,
    /// HTTP method, upper case.
    pub htm: String,
    /// Target URI without query or fragment.
    pub htu: String,
    /// Issued at, seconds since the epoch, by the server-corrected clock.
    pub iat: i64,
    /// base64url(SHA-256(access token)) when a token is presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ath: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Jwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    typ: String,
    alg: String,
    jwk: Jwk,
}

/// The `header.payload` part a device signs for these claims.
pub fn signing_input(public_key: &PublicKey, claims: &Claims) -> String {
    let header = Header {
        typ: TYP.into(),
        alg: "ES256".into(),
        jwk: Jwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: b64::encode(public_key.x()),
            y: b64::encode(public_key.y()),
        },
    };
    // Serialising plain structs of strings cannot fail.
    let header = serde_json::to_vec(&header).unwrap_or_default();
    let claims = serde_json::to_vec(claims).unwrap_or_default();
    format!("{}.{}", b64::encode(header), b64::encode(claims))
}

/// Joins a signing input and its fixed-size signature into the proof header value.
pub fn assemble(signing_input: &str, signature: &[u8; 64]) -> String {
    format!("{signing_input}.{}", b64::encode(signature))
}

/// A proof whose signature verified against the key it names.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    pub public_key: PublicKey,
    pub claims: Claims,
}

/// Parses a proof and verifies its signature. What the claims must match (method,
/// URI, time, replay, token hash, which key) is the verifier's policy, checked by
/// the caller.
pub fn verify(proof: &str) -> Result<VerifiedProof, ProtocolError> {
    if proof.len() > 4096 {
        return Err(ProtocolError::Malformed("DPoP proof too long".into()));
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProtocolError::Malformed("DPoP proof is not a compact JWS".into()));
    };
    let header: Header = serde_json::from_slice(&b64::decode(h)?)
        .map_err(|e| ProtocolError::Malformed(format!("DPoP header: {e}")))?;
    if header.typ != TYP || header.alg != "ES256" {
        return Err(ProtocolError::Malformed("DPoP header must be typ dpop+jwt, alg ES256".into()));
    }
    if header.jwk.kty != "EC" || header.jwk.crv != "P-256" {
        return Err(ProtocolError::BadPublicKey("DPoP jwk must be EC P-256".into()));
    }
    let (x, y) = (b64::decode(&header.jwk.x)?, b64::decode(&header.jwk.y)?);
    if x.len() != 32 || y.len() != 32 {
        return Err(ProtocolError::BadPublicKey("DPoP jwk coordinates must be 32 bytes".into()));
    }
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    let public_key = PublicKey::from_sec1(&sec1)?;
    let signature = b64::decode(s)?;
    public_key.verify(&proof.as_bytes()[..h.len() + 1 + p.len()], &signature)?;
    let claims: Claims = serde_json::from_slice(&b64::decode(p)?)
        .map_err(|e| ProtocolError::Malformed(format!("DPoP claims: {e}")))?;
    Ok(VerifiedProof { public_key, claims })
}

/// `ath`: base64url(SHA-256(access token)).
pub fn token_hash(access_token: &str) -> String {
    b64::encode(ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    fn proof(claims: &Claims) -> (String, PublicKey) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let public = PublicKey::from_sec1(kp.public_key().as_ref()).unwrap();
        let input = signing_input(&public, claims);
        let sig: [u8; 64] = kp.sign(&rng, input.as_bytes()).unwrap().as_ref().try_into().unwrap();
        (assemble(&input, &sig), public)
    }

    fn claims() -> Claims {
        Claims { jti: "j1".into(), htm: "POST".into(), htu: "http://127.0.0.1/v1/token".into(), iat: 1, ath: None }
    }

    #[test]
    fn a_proof_verifies_and_names_its_key() {
        let (p, public) = proof(&claims());
        let v = verify(&p).unwrap();
        assert_eq!(v.public_key, public);
        assert_eq!(v.claims, claims());
    }

    #[test]
    fn tampered_claims_or_garbage_are_refused() {
        let (p, _) = proof(&claims());
        let mut parts: Vec<&str> = p.split('.').collect();
        let mut other = claims();
        other.htm = "GET".into();
        let forged = b64::encode(serde_json::to_vec(&other).unwrap());
        parts[1] = &forged;
        assert_eq!(verify(&parts.join(".")).unwrap_err(), ProtocolError::SignatureInvalid);
        for junk in ["", "a.b", "a.b.c.d", "...", "eyJ9.e30.AAAA"] {
            assert!(verify(junk).is_err(), "{junk}");
        }
    }
}
