//! The two lists a verifier checks a certificate against, both signed by the city's
//! root key (the one key the app is configured with):
//!
//! - the **trust list**: which issuer keys exist (kid → key), when each is valid and
//!   which certificate types each may sign, plus the X.509 trust anchors contracts
//!   chain to;
//! - the **status list**: one bit per issued certificate, set when it is revoked —
//!   the IETF Token Status List layout (`bits: 1`, bit `i` is bit `i % 8` of byte
//!   `i / 8`, least significant first, the byte array zlib-compressed).
//!
//! Each carries its "as of" time, which a verifier shows ("checked against lists of
//! ⟨date⟩") and uses to refuse an older list replacing a newer one.
//!
//! On the wire a list is `{payload, signature}`: the payload is the list's JSON bytes
//! (base64url), the signature ES256 `r‖s` over `tag ‖ len ‖ payload` with its own
//! domain tag, so a trust list can never pass as a status list or anything else.

use ring::rand::SystemRandom;
use ring::signature::EcdsaKeyPair;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{CertError, TrustedKey, VerifyingKey};
use crate::b64;
use crate::ecdsa::PublicKey;
use crate::signed::SignedMessage;

pub const TRUST_LIST_TAG: &str = "TPQ-TRUST-v1";
pub const STATUS_LIST_TAG: &str = "TPQ-STATUS-v1";

/// Largest status list accepted once inflated: 8 Mi certificates.
pub const MAX_STATUS_BYTES: usize = 1024 * 1024;

/// A list as it travels: signed JSON bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedList {
    /// base64url of the list's JSON.
    pub payload: String,
    /// base64url ES256 `r‖s` by the city root key.
    pub signature: String,
}

fn list_err(what: impl Into<String>) -> CertError {
    CertError::List(what.into())
}

fn message(tag: &str, payload: &[u8]) -> Vec<u8> {
    SignedMessage::new(tag).bytes(payload).finish()
}

impl SignedList {
    /// Signs `list` with the root key (an `ECDSA_P256_SHA256_FIXED_SIGNING` pair).
    pub fn sign<T: Serialize>(tag: &str, list: &T, root: &EcdsaKeyPair) -> Result<Self, CertError> {
        let payload = serde_json::to_vec(list).map_err(|e| list_err(e.to_string()))?;
        let signature = root
            .sign(&SystemRandom::new(), &message(tag, &payload))
            .map_err(|_| CertError::Signing("ECDSA signing failed".into()))?;
        Ok(Self { payload: b64::encode(&payload), signature: b64::encode(signature.as_ref()) })
    }

    /// Checks the root signature, then parses the list. Nothing in an unsigned or
    /// wrongly signed list is read.
    pub fn open<T: DeserializeOwned>(&self, tag: &str, root: &PublicKey) -> Result<T, CertError> {
        let payload = b64::decode(&self.payload).map_err(|e| list_err(e.to_string()))?;
        let signature = b64::decode(&self.signature).map_err(|e| list_err(e.to_string()))?;
        root.verify(&message(tag, &payload), &signature)
            .map_err(|_| list_err("the list's signature does not verify with the city root key"))?;
        serde_json::from_slice(&payload).map_err(|e| list_err(format!("list JSON: {e}")))
    }
}

/// One issuer key the city trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrustedIssuer {
    /// base64url of the 8-byte kid ([`super::key_id`] of the public key).
    pub kid: String,
    /// The agency id a certificate's `iss` must carry (`TPE-EDU`).
    pub issuer: String,
    /// The agency's name to show (`臺北市政府教育局`).
    pub name: String,
    /// base64url SEC1 P-256 public key.
    pub public_key: String,
    /// The key may sign certificates issued within this window (UTC ms).
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    /// Certificate types this key may sign (`diploma`, `eu_dcc`, …).
    pub types: Vec<String>,
}

/// An X.509 trust anchor for contract signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrustAnchor {
    pub name: String,
    /// base64url DER certificate.
    pub certificate: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrustList {
    pub as_of_ms: i64,
    pub issuers: Vec<TrustedIssuer>,
    #[serde(default)]
    pub anchors: Vec<TrustAnchor>,
}

impl TrustList {
    pub fn issuer(&self, kid: &[u8]) -> Option<&TrustedIssuer> {
        let kid = b64::encode(kid);
        self.issuers.iter().find(|i| i.kid == kid)
    }

    /// The anchors' DER certificates; one that does not decode is left out (and so
    /// trusted for nothing).
    pub fn anchor_certificates(&self) -> Vec<Vec<u8>> {
        self.anchors.iter().filter_map(|a| b64::decode(&a.certificate).ok()).collect()
    }
}

impl TrustedIssuer {
    pub fn trusted_key(&self) -> Result<TrustedKey, CertError> {
        let kid = b64::decode(&self.kid).map_err(|e| list_err(format!("kid: {e}")))?;
        let key = b64::decode(&self.public_key).map_err(|e| list_err(format!("public key: {e}")))?;
        Ok(TrustedKey { kid, key: VerifyingKey::es256_from_sec1(&key)? })
    }
}

/// The signed form of the revocation bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusList {
    pub as_of_ms: i64,
    /// Bits per certificate; always 1 (valid / revoked).
    pub bits: u8,
    /// base64url of the zlib-compressed bit array.
    pub lst: String,
}

/// The revocation bits, decompressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusBits {
    bytes: Vec<u8>,
}

impl StatusBits {
    pub fn with_len(certificates: u64) -> Self {
        Self { bytes: vec![0; usize::try_from(certificates.div_ceil(8)).unwrap_or(0)] }
    }

    /// Whether certificate `index` is revoked. An index beyond the list is "not
    /// revoked": the list covers every certificate issued before its as-of time, and
    /// a newer one cannot have been revoked before it existed.
    pub fn is_revoked(&self, index: u64) -> bool {
        let Ok(byte) = usize::try_from(index / 8) else { return false };
        self.bytes.get(byte).is_some_and(|b| b & (1 << (index % 8)) != 0)
    }

    pub fn revoke(&mut self, index: u64) {
        let Ok(byte) = usize::try_from(index / 8) else { return };
        if byte >= MAX_STATUS_BYTES {
            return;
        }
        if self.bytes.len() <= byte {
            self.bytes.resize(byte + 1, 0);
        }
        self.bytes[byte] |= 1 << (index % 8);
    }

    pub fn to_list(&self, as_of_ms: i64) -> StatusList {
        StatusList { as_of_ms, bits: 1, lst: b64::encode(super::deflate(&self.bytes)) }
    }

    pub fn from_list(list: &StatusList) -> Result<Self, CertError> {
        if list.bits != 1 {
            return Err(list_err(format!("status lists of {} bits per entry are not used", list.bits)));
        }
        let compressed = b64::decode(&list.lst).map_err(|e| list_err(format!("lst: {e}")))?;
        Ok(Self { bytes: super::inflate_max(&compressed, MAX_STATUS_BYTES)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair as _;

    fn key() -> EcdsaKeyPair {
        crate::ecdsa::test_key_pair()
    }

    #[test]
    fn signed_lists_open_only_with_the_root_key_and_their_own_tag() {
        let root = key();
        let public = PublicKey::from_sec1(root.public_key().as_ref()).unwrap();
        let list = TrustList { as_of_ms: 5, issuers: vec![], anchors: vec![] };
        let signed = SignedList::sign(TRUST_LIST_TAG, &list, &root).unwrap();
        assert_eq!(signed.open::<TrustList>(TRUST_LIST_TAG, &public).unwrap(), list);
        // The same bytes under another purpose's tag.
        assert!(matches!(signed.open::<TrustList>(STATUS_LIST_TAG, &public), Err(CertError::List(_))));
        // Another root.
        let other = PublicKey::from_sec1(key().public_key().as_ref()).unwrap();
        assert!(signed.open::<TrustList>(TRUST_LIST_TAG, &other).is_err());
        // A changed payload.
        let mut changed = signed.clone();
        changed.payload = b64::encode(br#"{"as_of_ms":6,"issuers":[]}"#);
        assert!(changed.open::<TrustList>(TRUST_LIST_TAG, &public).is_err());
    }

    #[test]
    fn status_bits_follow_the_token_status_list_layout() {
        let mut bits = StatusBits::with_len(20);
        bits.revoke(0);
        bits.revoke(9);
        bits.revoke(1000);
        let list = bits.to_list(7);
        let back = StatusBits::from_list(&list).unwrap();
        // Byte 0 = 0b0000_0001, byte 1 = 0b0000_0010: least significant bit first.
        assert_eq!(&back.bytes[..2], &[0x01, 0x02]);
        assert!(back.is_revoked(0) && back.is_revoked(9) && back.is_revoked(1000));
        assert!(!back.is_revoked(1) && !back.is_revoked(8) && !back.is_revoked(u64::MAX));
        let two_bits = StatusList { bits: 2, ..list.clone() };
        assert!(StatusBits::from_list(&two_bits).is_err());
        let garbage = StatusList { lst: b64::encode([1, 2, 3]), ..list };
        assert!(StatusBits::from_list(&garbage).is_err());
    }
}
