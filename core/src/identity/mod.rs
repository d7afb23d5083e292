//! Who this phone is: its device key, its binding to a person, its session.
//!
//! - `signer`: the [`DeviceSigner`] trait, the software default and signature checks;
//! - `device`: the bound-device record and the signature counter (table `identity_device`);
//! - `session`: DPoP proofs and the access token (table `identity_session`).

pub mod device;
pub mod session;
pub mod signer;

pub use device::DeviceInfo;
pub use session::Session;
pub use signer::{DeviceSigner, KeyAttestation, SignerError, SoftwareSigner};

use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// The platform signer produced something unusable (bad key, bad or wrong signature).
    #[error("{0}")]
    BadSigner(String),
    #[error("software device key: {0}")]
    SoftwareKey(String),
    #[error("not a device-binding code: {0}")]
    BadBindingCode(String),
    #[error("this binding code has expired; ask the portal for a new one")]
    BindingExpired,
    #[error("the binding was refused ({code}): {message}")]
    BindingRefused { code: String, message: String },
    #[error("this profile already has a bound device ({0})")]
    AlreadyBound(String),
    #[error("this profile has no bound device yet; scan a binding code first")]
    NotBound,
    #[error("this device was revoked; bind it again at the portal")]
    DeviceRevoked,
    #[error("the server does not know this device; bind it again at the portal")]
    UnknownDevice,
    #[error("no device signer: the device was bound with a platform key, but none was given")]
    NoSigner,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IdentityError {
    pub fn code(&self) -> &str {
        match self {
            Self::Signer(SignerError::Unavailable(_)) => "signer_unavailable",
            Self::Signer(SignerError::Failed(_)) => "signer_failed",
            Self::Signer(SignerError::Cancelled(_)) => "signer_cancelled",
            Self::Signer(SignerError::TimedOut(_)) => "signer_timeout",
            Self::BadSigner(_) => "bad_signer",
            Self::SoftwareKey(_) => "software_key_invalid",
            Self::BadBindingCode(_) => "bad_binding_code",
            Self::BindingExpired => "binding_expired",
            Self::BindingRefused { code, .. } => code,
            Self::AlreadyBound(_) => "already_bound",
            Self::NotBound => "not_bound",
            Self::DeviceRevoked => "device_revoked",
            Self::UnknownDevice => "unknown_device",
            Self::NoSigner => "no_signer",
            Self::Store(e) => e.code(),
        }
    }
}
