//! VAPID (RFC 8292): the server proves to a push service which application server it
//! is, so a stolen subscription endpoint is useless to anyone without the key.
//!
//! `Authorization: vapid t=<JWT>, k=<public key>`: an ES256 JWT (RFC 7515 compact,
//! `r‖s` signature) over `{aud, exp, sub}`, with the server's uncompressed P-256
//! public key in base64url.

use ring::signature::{ECDSA_P256_SHA256_FIXED, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::b64;

/// RFC 8292 §2: a token lives at most 24 hours.
pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;
/// Bounds what a push service parses from an anonymous header.
pub const MAX_HEADER_LEN: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VapidError {
    #[error("no `vapid t=…, k=…` authorization")]
    Missing,
    #[error("malformed VAPID authorization: {0}")]
    Malformed(&'static str),
    #[error("the VAPID token's signature does not verify with its key")]
    BadSignature,
    #[error("the VAPID token is for {found:?}, not this push service ({expected:?})")]
    WrongAudience { expected: String, found: String },
    #[error("the VAPID token has expired or lives longer than 24 hours")]
    Expired,
    #[error("the VAPID key {0} is not the one this subscription was made with")]
    WrongKey(String),
    #[error("signing the VAPID token failed")]
    Signing,
}

impl VapidError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "vapid_missing",
            Self::Malformed(_) => "vapid_malformed",
            Self::BadSignature => "vapid_bad_signature",
            Self::WrongAudience { .. } => "vapid_wrong_audience",
            Self::Expired => "vapid_expired",
            Self::WrongKey(_) => "vapid_wrong_key",
            Self::Signing => "vapid_signing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The push service's origin (`https://push.example`).
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// A contact for the push service's operator (`mailto:` or `https:`).
    pub sub: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    typ: String,
    alg: String,
}

/// Builds the `Authorization` header value for a request to `claims.aud`.
pub fn authorization(key: &EcdsaKeyPair, claims: &Claims, rng: &dyn ring::rand::SecureRandom) -> Result<String, VapidError> {
    let header = serde_json::to_vec(&Header { typ: "JWT".into(), alg: "ES256".into() }).map_err(|_| VapidError::Signing)?;
    let body = serde_json::to_vec(claims).map_err(|_| VapidError::Signing)?;
    let signing_input = format!("{}.{}", b64::encode(header), b64::encode(body));
    let signature = key.sign(rng, signing_input.as_bytes()).map_err(|_| VapidError::Signing)?;
    Ok(format!("vapid t={signing_input}.{}, k={}", b64::encode(signature), b64::encode(key.public_key())))
}

/// What a push service checks: the token verifies with the key it carries, is for
/// `audience`, and is valid at `now_secs` for no more than 24 hours. Returns the key
/// (base64url) so the service can compare it with the one the subscription named.
pub fn verify(header_value: &str, audience: &str, now_secs: i64) -> Result<(String, Claims), VapidError> {
    if header_value.len() > MAX_HEADER_LEN {
        return Err(VapidError::Malformed("too long"));
    }
    let rest = header_value.strip_prefix("vapid ").ok_or(VapidError::Missing)?;
    let (mut token, mut key) = (None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => token = Some(v),
            Some(("k", v)) => key = Some(v),
            _ => return Err(VapidError::Malformed("parameters are t= and k=")),
        }
    }
    let (token, key_text) = (token.ok_or(VapidError::Malformed("no t="))?, key.ok_or(VapidError::Malformed("no k="))?);
    let key = b64::decode(key_text).map_err(|_| VapidError::Malformed("k is not base64url"))?;
    let (signing_input, signature) = token.rsplit_once('.').ok_or(VapidError::Malformed("t is not a JWT"))?;
    let (header, body) = signing_input.split_once('.').ok_or(VapidError::Malformed("t is not a JWT"))?;
    let signature = b64::decode(signature).map_err(|_| VapidError::Malformed("signature is not base64url"))?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| VapidError::BadSignature)?;
    let header: Header = b64::decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(VapidError::Malformed("JWT header"))?;
    if header.alg != "ES256" {
        return Err(VapidError::Malformed("alg must be ES256"));
    }
    let claims: Claims = b64::decode(body)
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .ok_or(VapidError::Malformed("JWT claims"))?;
    if claims.aud != audience {
        return Err(VapidError::WrongAudience { expected: audience.to_owned(), found: claims.aud });
    }
    if claims.exp <= now_secs || claims.exp - now_secs > MAX_LIFETIME_SECS {
        return Err(VapidError::Expired);
    }
    Ok((key_text.to_owned(), claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn key() -> EcdsaKeyPair {
        crate::ecdsa::test_key_pair()
    }

    fn claims(exp: i64) -> Claims {
        Claims { aud: "http://127.0.0.1:9".into(), exp, sub: "mailto:ops@example.invalid".into() }
    }

    #[test]
    fn a_token_verifies_only_for_its_audience_and_lifetime() {
        let (k, rng) = (key(), SystemRandom::new());
        let value = authorization(&k, &claims(1_000 + 3_600), &rng).unwrap();
        let (key_text, c) = verify(&value, "http://127.0.0.1:9", 1_000).unwrap();
        assert_eq!(key_text, b64::encode(k.public_key()));
        assert_eq!(c.sub, "mailto:ops@example.invalid");
        assert!(matches!(verify(&value, "http://127.0.0.1:10", 1_000), Err(VapidError::WrongAudience { .. })));
        assert_eq!(verify(&value, "http://127.0.0.1:9", 4_600), Err(VapidError::Expired));
        let too_long = authorization(&k, &claims(1_000 + MAX_LIFETIME_SECS + 1), &rng).unwrap();
        assert_eq!(verify(&too_long, "http://127.0.0.1:9", 1_000), Err(VapidError::Expired));
    }

    #[test]
    fn a_token_under_another_key_or_altered_is_refused() {
        let (k, other, rng) = (key(), key(), SystemRandom::new());
        let value = authorization(&k, &claims(5_000), &rng).unwrap();
        let swapped = format!("{}k={}", &value[..value.find("k=").unwrap()], b64::encode(other.public_key()));
        assert_eq!(verify(&swapped, "http://127.0.0.1:9", 1_000), Err(VapidError::BadSignature));
        let forged = authorization(&k, &claims(5_000), &rng).unwrap().replace("vapid t=ey", "vapid t=eZ");
        assert!(verify(&forged, "http://127.0.0.1:9", 1_000).is_err());
        assert_eq!(verify("Bearer x", "a", 0), Err(VapidError::Missing));
        assert_eq!(verify("vapid t=a.b.c", "a", 0), Err(VapidError::Malformed("no k=")));
        assert!(matches!(verify(&"x".repeat(2_000), "a", 0), Err(VapidError::Malformed(_))));
    }
}
