//! The platform services the app implements (foreign traits), each bridged to the
//! core's trait of the same name, and the Rust defaults used when the app passes none.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use taipei_core::{Assurance, Event, KeyAttestation};

use crate::error::{ClientError, PlatformError};

/// A P-256 key held by the platform (Android Keystore/StrongBox, iOS Secure Enclave).
/// Omit it (pass null/nil) and the core makes a software key sealed in the profile.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait DeviceSigner: Send + Sync {
    /// Uncompressed SEC1 P-256 public key (65 bytes, `04 ‖ x ‖ y`).
    fn public_key(&self) -> Result<Vec<u8>, PlatformError>;
    /// ECDSA P-256 / SHA-256 over `message`, as ASN.1 DER (what both platforms return)
    /// or 64-byte `r ‖ s`. The core normalises and verifies it before use. A `suspend`
    /// function in Kotlin and `async` in Swift: it may wait for the person (a biometric
    /// prompt) without holding a thread of the core. Throw `PlatformError.Cancelled`
    /// when the person dismisses the prompt; past `ClientConfig.signer_timeout_secs`
    /// the core stops waiting (the foreign call is cancelled) and the action fails
    /// with `signer_timeout`.
    async fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, PlatformError>;
    /// How the key is protected; reported to the server at binding.
    fn assurance(&self) -> Assurance;
    /// The platform's attestation of the key for a binding whose offer carries
    /// `challenge` (the portal code's nonce), or null when there is none (the server
    /// then records the assurance as claimed). Called once per binding, before
    /// `public_key`: Android Keystore writes the challenge into the key's certificate
    /// when it makes the key, so `KeystoreSigner` makes its key anew here and returns
    /// its chain. Bounded by `ClientConfig.signer_timeout_secs` like `sign`.
    async fn attest(&self, challenge: Vec<u8>) -> Result<Option<KeyAttestation>, PlatformError>;
}

/// Small named secrets (the profile's data key), kept by the platform's keystore.
#[uniffi::export(with_foreign)]
pub trait SecretStore: Send + Sync {
    fn get(&self, name: String) -> Result<Option<Vec<u8>>, PlatformError>;
    fn put(&self, name: String, value: Vec<u8>) -> Result<(), PlatformError>;
    fn delete(&self, name: String) -> Result<(), PlatformError>;
}

/// State changes for the UI, delivered in order on one background thread.
#[uniffi::export(with_foreign)]
pub trait EventListener: Send + Sync {
    fn on_event(&self, event: Event);
}

/// Milliseconds since a fixed point, counting while the phone is suspended: punches
/// are stamped with the server time of the last configuration fetch plus the time
/// elapsed since. Pass null/nil for the core's clock, which counts through suspend on
/// Android and Linux (`CLOCK_BOOTTIME`) but not on Apple platforms, where it stops
/// during sleep: iOS passes its own (the Swift glue's `ContinuousElapsedClock`).
/// Only differences of two readings matter; a reading never goes backwards.
#[uniffi::export(with_foreign)]
pub trait ElapsedClock: Send + Sync {
    fn elapsed_ms(&self) -> u64;
}

/// The default secret store: one private file per secret in `dir`. For desktops, the
/// CLI and tests only; a phone must pass its keystore-backed implementation.
#[uniffi::export]
pub fn file_secret_store(dir: String) -> Result<Arc<dyn SecretStore>, ClientError> {
    crate::runtime::guard(|| {
        let store = taipei_core::FileSecretStore::new(dir)
            .map_err(|e| ClientError::InvalidInput { code: "invalid_input".to_owned(), detail: e.to_string() })?;
        Ok(Arc::new(FileSecrets(store)) as Arc<dyn SecretStore>)
    })
}

struct FileSecrets(taipei_core::FileSecretStore);

impl SecretStore for FileSecrets {
    fn get(&self, name: String) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(taipei_core::SecretStore::get(&self.0, &name)?)
    }

    fn put(&self, name: String, value: Vec<u8>) -> Result<(), PlatformError> {
        Ok(taipei_core::SecretStore::put(&self.0, &name, &value)?)
    }

    fn delete(&self, name: String) -> Result<(), PlatformError> {
        Ok(taipei_core::SecretStore::delete(&self.0, &name)?)
    }
}

/// The app's signer as the core sees it, its `sign` bounded in time: a prompt left open
/// must not hold a punch or a login decision for ever.
pub(crate) struct SignerBridge {
    signer: Arc<dyn DeviceSigner>,
    timeout_secs: u64,
}

impl SignerBridge {
    pub(crate) fn new(signer: Arc<dyn DeviceSigner>, timeout_secs: u64) -> Self {
        Self { signer, timeout_secs }
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, PlatformError>>,
    ) -> Result<T, taipei_core::SignerError> {
        // Dropping the foreign future on timeout cancels the Kotlin coroutine / Swift task.
        match tokio::time::timeout(std::time::Duration::from_secs(self.timeout_secs), call).await {
            Ok(done) => Ok(done?),
            Err(_) => Err(taipei_core::SignerError::TimedOut(self.timeout_secs)),
        }
    }
}

#[async_trait::async_trait]
impl taipei_core::DeviceSigner for SignerBridge {
    fn public_key(&self) -> Result<Vec<u8>, taipei_core::SignerError> {
        Ok(self.signer.public_key()?)
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, taipei_core::SignerError> {
        self.bounded(self.signer.sign(message.to_vec())).await
    }

    async fn attest(&self, challenge: &[u8]) -> Result<Option<KeyAttestation>, taipei_core::SignerError> {
        self.bounded(self.signer.attest(challenge.to_vec())).await
    }

    fn assurance(&self) -> Assurance {
        // The foreign method cannot report an error, so an exception in it arrives as
        // a panic; claiming the weakest level is the safe reading of a broken signer.
        catch_unwind(AssertUnwindSafe(|| self.signer.assurance())).unwrap_or_else(|payload| {
            tracing::error!(panic = %crate::runtime::panic_text(payload.as_ref()), "DeviceSigner.assurance failed; reporting software");
            Assurance::Software
        })
    }
}

/// The app's secret store as the core sees it.
pub(crate) struct SecretsBridge(pub Arc<dyn SecretStore>);

impl taipei_core::SecretStore for SecretsBridge {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, taipei_core::SecretError> {
        Ok(self.0.get(name.to_owned())?)
    }

    fn put(&self, name: &str, value: &[u8]) -> Result<(), taipei_core::SecretError> {
        Ok(self.0.put(name.to_owned(), value.to_vec())?)
    }

    fn delete(&self, name: &str) -> Result<(), taipei_core::SecretError> {
        Ok(self.0.delete(name.to_owned())?)
    }
}

/// The app's listener as the core sees it. The core's event thread already contains a
/// listener that throws (the exception arrives as a panic there and is logged).
pub(crate) struct ListenerBridge(pub Arc<dyn EventListener>);

impl taipei_core::EventListener for ListenerBridge {
    fn on_event(&self, event: Event) {
        self.0.on_event(event);
    }
}

/// The app's clock as the core sees it. The foreign method cannot report an error, so
/// an exception in it arrives as a panic: that reading repeats the last good one (another
/// clock's reading would mix two time bases, and a reading must never go backwards).
pub(crate) struct ClockBridge {
    clock: Arc<dyn ElapsedClock>,
    last: AtomicU64,
}

impl ClockBridge {
    pub(crate) fn new(clock: Arc<dyn ElapsedClock>) -> Self {
        Self { clock, last: AtomicU64::new(0) }
    }
}

impl taipei_core::ElapsedClock for ClockBridge {
    fn elapsed_ms(&self) -> u64 {
        match catch_unwind(AssertUnwindSafe(|| self.clock.elapsed_ms())) {
            Ok(now) => self.last.fetch_max(now, Ordering::SeqCst).max(now),
            Err(payload) => {
                tracing::error!(panic = %crate::runtime::panic_text(payload.as_ref()), "ElapsedClock.elapsed_ms failed; repeating its last reading");
                self.last.load(Ordering::SeqCst)
            }
        }
    }
}
