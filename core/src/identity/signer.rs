//! Device keys: the platform's signer (hardware-backed on phones) or a software key,
//! and the checks every signature passes before the core uses it.

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use taipei_protocol::api::Assurance;
use taipei_protocol::ecdsa::{self, PublicKey, SIGNATURE_LEN};

use super::IdentityError;

/// Why a device signer could not sign (or show its key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    /// The key is gone or unusable (wiped keystore, changed biometrics).
    #[error("the device key is unavailable: {0}")]
    Unavailable(String),
    /// The signer refused or failed this time (keystore busy, an unexpected exception).
    #[error("the device key could not sign: {0}")]
    Failed(String),
    /// The person dismissed the prompt the key needs (BiometricPrompt, Face ID).
    #[error("the person cancelled the device key's prompt: {0}")]
    Cancelled(String),
    /// The signer gave no answer in time (a prompt left open, a wedged keystore).
    #[error("the device key gave no signature within {0} s")]
    TimedOut(u64),
}

/// A P-256 signing key held by the platform. Implemented by the apps over the Android
/// Keystore / Secure Enclave; [`SoftwareSigner`] is the default.
///
/// `sign` is async so a key that waits for the person (a biometric prompt per use) holds
/// no thread of the core while the prompt is up; the caller bounds the wait.
#[async_trait::async_trait]
pub trait DeviceSigner: Send + Sync {
    /// Uncompressed SEC1 P-256 public key (65 bytes).
    fn public_key(&self) -> Result<Vec<u8>, SignerError>;
    /// ECDSA P-256 / SHA-256 over `message`: ASN.1 DER or 64-byte `r ‖ s`.
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;
    fn assurance(&self) -> Assurance;
    /// The platform's attestation of the key, for a binding whose offer carries
    /// `challenge`; `None` when the platform has none (the server then records the
    /// assurance as claimed). Called once per binding, before [`Self::public_key`]:
    /// Android Keystore writes the challenge into the key's certificate when it makes
    /// the key, so a signer may make its key anew here.
    async fn attest(&self, challenge: &[u8]) -> Result<Option<KeyAttestation>, SignerError> {
        let _ = challenge;
        Ok(None)
    }
}

/// A platform's attestation of a device key, as the signer hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAttestation {
    /// Android key attestation: the chain AndroidKeyStore issued for the key, leaf
    /// first, each certificate DER (the root may be left out).
    AndroidKey { chain: Vec<Vec<u8>> },
}

impl KeyAttestation {
    /// The text `RegisterDevice::attestation` carries (`android-key:` + each
    /// certificate base64url, joined by `.`), or `None` for an empty chain, which
    /// attests nothing.
    pub fn statement(&self) -> Option<String> {
        match self {
            Self::AndroidKey { chain } if chain.is_empty() => None,
            Self::AndroidKey { chain } => {
                let parts: Vec<String> = chain.iter().map(|der| taipei_protocol::b64::encode(der)).collect();
                Some(format!("{}{}", taipei_protocol::api::ANDROID_KEY_ATTESTATION_PREFIX, parts.join(".")))
            }
        }
    }
}

/// A P-256 key in app storage (its PKCS#8 sealed in the profile database). Reported as
/// [`Assurance::Software`], so the server knows it is not hardware-backed.
pub struct SoftwareSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SoftwareSigner(..)")
    }
}

impl SoftwareSigner {
    /// A new key and its PKCS#8 document (to be sealed by the caller).
    pub fn generate() -> Result<(Self, Vec<u8>), IdentityError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| IdentityError::SoftwareKey("key generation failed".into()))?;
        let signer = Self::from_pkcs8(pkcs8.as_ref())?;
        Ok((signer, pkcs8.as_ref().to_vec()))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, IdentityError> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng).map_err(|e| {
            IdentityError::SoftwareKey(format!("the stored P-256 PKCS#8 key is invalid ({e}); rebind this device"))
        })?;
        Ok(Self { key, rng })
    }
}

#[async_trait::async_trait]
impl DeviceSigner for SoftwareSigner {
    fn public_key(&self) -> Result<Vec<u8>, SignerError> {
        Ok(self.key.public_key().as_ref().to_vec())
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.key
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignerError::Failed("ring signing failed".into()))
    }

    fn assurance(&self) -> Assurance {
        Assurance::Software
    }
}

/// The signer's public key, shape-checked.
pub fn public_key_of(signer: &dyn DeviceSigner) -> Result<PublicKey, IdentityError> {
    let raw = signer.public_key()?;
    PublicKey::from_sec1(&raw)
        .map_err(|e| IdentityError::BadSigner(format!("the device signer's public key is unusable: {e}")))
}

/// Signs and returns the wire form `r ‖ s`, normalised from DER when needed and
/// verified against `public`: a broken platform signer is caught here, on the phone,
/// not as a puzzling rejection at the server.
pub async fn sign_checked(
    signer: &dyn DeviceSigner,
    public: &PublicKey,
    message: &[u8],
) -> Result<[u8; SIGNATURE_LEN], IdentityError> {
    let raw = signer.sign(message).await?;
    let fixed: [u8; SIGNATURE_LEN] = match <[u8; SIGNATURE_LEN]>::try_from(raw.as_slice()) {
        Ok(fixed) => fixed,
        Err(_) => ecdsa::der_to_fixed(&raw)
            .map_err(|e| IdentityError::BadSigner(format!("the device signer returned an unusable signature: {e}")))?,
    };
    public.verify(message, &fixed).map_err(|_| {
        IdentityError::BadSigner("the device signer's signature does not verify against its own public key".into())
    })?;
    Ok(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wraps the software key and misbehaves in a chosen way.
    struct Odd {
        inner: SoftwareSigner,
        mode: &'static str,
    }

    #[async_trait::async_trait]
    impl DeviceSigner for Odd {
        fn public_key(&self) -> Result<Vec<u8>, SignerError> {
            if self.mode == "short-key" {
                return Ok(vec![4; 33]);
            }
            self.inner.public_key()
        }
        async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
            let fixed: [u8; 64] = self.inner.sign(message).await?.try_into().map_err(|_| SignerError::Failed("len".into()))?;
            Ok(match self.mode {
                "der" => ecdsa::fixed_to_der(&fixed),
                "garbage" => vec![0x30, 0x01, 0x02],
                "wrong-message" => self.inner.sign(b"something else").await?,
                "refuse" => return Err(SignerError::Failed("keystore busy".into())),
                "cancel" => return Err(SignerError::Cancelled("user dismissed the prompt".into())),
                _ => fixed.to_vec(),
            })
        }
        fn assurance(&self) -> Assurance {
            Assurance::Hardware
        }
    }

    fn odd(mode: &'static str) -> Odd {
        Odd { inner: SoftwareSigner::generate().unwrap().0, mode }
    }

    #[tokio::test]
    async fn fixed_and_der_signatures_are_normalised_and_verified() {
        for mode in ["fixed", "der"] {
            let s = odd(mode);
            let public = public_key_of(&s).unwrap();
            let sig = sign_checked(&s, &public, b"hello").await.unwrap();
            public.verify(b"hello", &sig).unwrap();
        }
    }

    #[tokio::test]
    async fn a_broken_signer_is_caught_before_use() {
        for mode in ["garbage", "wrong-message"] {
            let s = odd(mode);
            let public = public_key_of(&s).unwrap();
            assert!(matches!(sign_checked(&s, &public, b"m").await, Err(IdentityError::BadSigner(_))), "{mode}");
        }
        let s = odd("refuse");
        let public = public_key_of(&s).unwrap();
        let refused = sign_checked(&s, &public, b"m").await.unwrap_err();
        assert!(matches!(refused, IdentityError::Signer(SignerError::Failed(_))));
        assert_eq!(refused.code(), "signer_failed");
        let s = odd("cancel");
        let public = public_key_of(&s).unwrap();
        let cancelled = sign_checked(&s, &public, b"m").await.unwrap_err();
        assert!(matches!(cancelled, IdentityError::Signer(SignerError::Cancelled(_))));
        assert_eq!(cancelled.code(), "signer_cancelled");
        assert!(matches!(public_key_of(&odd("short-key")), Err(IdentityError::BadSigner(_))));
    }

    #[test]
    fn an_android_chain_is_sent_as_the_servers_statement_and_an_empty_one_not_at_all() {
        let chain = KeyAttestation::AndroidKey { chain: vec![vec![0x30, 0x82, 0xff], vec![7]] };
        assert_eq!(chain.statement().as_deref(), Some("android-key:MIL_.Bw"));
        assert_eq!(KeyAttestation::AndroidKey { chain: vec![] }.statement(), None);
    }

    #[test]
    fn truncated_or_corrupt_pkcs8_is_a_typed_error() {
        let (_, pkcs8) = SoftwareSigner::generate().unwrap();
        assert!(SoftwareSigner::from_pkcs8(&pkcs8).is_ok());
        for bad in [&pkcs8[..pkcs8.len() / 2], &[][..], &[0x30, 0x03, 0x02, 0x01, 0x00][..]] {
            assert!(matches!(SoftwareSigner::from_pkcs8(bad), Err(IdentityError::SoftwareKey(_))));
        }
        let mut flipped = pkcs8.clone();
        let last = flipped.len() - 5;
        flipped[last] ^= 0xff;
        assert!(SoftwareSigner::from_pkcs8(&flipped).is_err());
    }
}
