//! The device's Web Push keys: a P-256 key pair and a 16-byte auth secret (RFC 8291).
//!
//! ring makes only ephemeral ECDH keys and cannot load a stored private scalar, so the
//! one step that needs the stored key, the agreement with the sender's ephemeral key,
//! is done with `p256`; randomness, the key derivation and AES-GCM stay on ring (in
//! `protocol::push::encryption`).

use ring::rand::{SecureRandom, SystemRandom};
use taipei_protocol::push::encryption::{AUTH_SECRET_LEN, PUBLIC_KEY_LEN};

use super::PushError;
use crate::ctx::CommonError;

/// A freshly made key set: the private scalar, its public key (SEC1 uncompressed) and
/// the auth secret.
pub(crate) struct NewKeys {
    pub scalar: Vec<u8>,
    pub public: Vec<u8>,
    pub auth: Vec<u8>,
}

pub(crate) fn generate() -> Result<NewKeys, PushError> {
    let rng = SystemRandom::new();
    let no_random = || PushError::from(CommonError::Internal("the system random source failed".into()));
    let mut auth = vec![0u8; AUTH_SECRET_LEN];
    rng.fill(&mut auth).map_err(|_| no_random())?;
    // A random 32-byte string is a valid scalar except with probability ~2^-32; retry
    // the rare miss instead of reducing it (which would bias the key).
    for _ in 0..16 {
        let mut scalar = vec![0u8; 32];
        rng.fill(&mut scalar).map_err(|_| no_random())?;
        if let Ok(secret) = p256::SecretKey::from_slice(&scalar) {
            let public = secret.public_key().to_sec1_bytes().to_vec();
            if public.len() != PUBLIC_KEY_LEN {
                return Err(CommonError::Internal("p256 gave a compressed public key".into()).into());
            }
            return Ok(NewKeys { scalar, public, auth });
        }
    }
    Err(no_random())
}

/// The ECDH secret of the stored scalar with the sender's ephemeral public key.
pub(crate) fn agree(scalar: &[u8], sender_public: &[u8]) -> Result<Vec<u8>, PushError> {
    let secret = p256::SecretKey::from_slice(scalar)
        .map_err(|_| PushError::from(CommonError::Internal("the stored push key is not a P-256 scalar".into())))?;
    let sender = p256::PublicKey::from_sec1_bytes(sender_public)
        .map_err(|_| PushError::Undecryptable("the sender's key is not a point on P-256".into()))?;
    Ok(p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), sender.as_affine()).raw_secret_bytes().to_vec())
}
