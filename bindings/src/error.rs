//! The errors that cross the FFI: [`ClientError`] for everything the `Client` does and
//! [`PlatformError`] for what the app's own callbacks (signer, secret store) report.
//!
//! Every variant carries the core's stable `code` (for programs: match on it, log it)
//! and a `detail` for people. The field is not called `message` because Kotlin
//! exceptions already have one; the generated `message` includes both fields.

use std::any::Any;

use taipei_core::identity::IdentityError;
use taipei_core::{Error as CoreError, NetError, SecretError, SignerError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ClientError {
    /// The caller passed something unusable (a foreign QR code, a bad profile name,
    /// an invalid configuration).
    #[error("invalid input ({code}): {detail}")]
    InvalidInput { code: String, detail: String },
    /// The profile's database or its data key.
    #[error("storage ({code}): {detail}")]
    Store { code: String, detail: String },
    /// Device binding, the device key, the session.
    #[error("identity ({code}): {detail}")]
    Identity { code: String, detail: String },
    /// The server revoked this device: send the person to bind again.
    #[error("device revoked ({code}): {detail}")]
    DeviceRevoked { code: String, detail: String },
    /// No usable connection: offline, timeout, TLS, a malformed reply.
    #[error("network ({code}): {detail}")]
    Network { code: String, detail: String },
    /// The server answered with an error reply; `code` is the protocol's code.
    #[error("server ({code}, HTTP {status}): {detail}")]
    Server { status: u16, code: String, detail: String },
    /// QR-key login or meeting sign-in refused; `code` says how to react:
    /// `not_city_qr`, `qr_expired`, `wrong_number`, `cancelled`, `already_used`,
    /// `already_signed_in`, `meeting_closed`, or the server's own code.
    #[error("login ({code}): {detail}")]
    Login { code: String, detail: String },
    /// Beacon attendance: `beacon_truncated`, `beacon_not_a_beacon`, ... (an unreadable
    /// advert), `attendance_no_office`, `attendance_needs_reason`.
    #[error("attendance ({code}): {detail}")]
    Attendance { code: String, detail: String },
    /// The certificate wallet: `wallet_no_lists` (sync once online), `wallet_no_root_key`,
    /// `wallet_unknown_item`, `wallet_wrong_passphrase`, `wallet_bad_backup`,
    /// `wallet_not_a_city_certificate`, `wallet_no_code`, or a server's `wallet_…` code.
    #[error("wallet ({code}): {detail}")]
    Wallet { code: String, detail: String },
    /// The durable outbox.
    #[error("outbox ({code}): {detail}")]
    Outbox { code: String, detail: String },
    /// The client was closed; open it again.
    #[error("closed ({code}): {detail}")]
    Closed { code: String, detail: String },
    /// A bug in the library (including a caught panic, code `panic`). The library
    /// keeps working; report it.
    #[error("internal ({code}): {detail}")]
    Internal { code: String, detail: String },
}

impl ClientError {
    pub(crate) fn internal(detail: String) -> Self {
        Self::Internal { code: "internal".to_owned(), detail }
    }

    pub(crate) fn invalid_input(detail: String) -> Self {
        Self::InvalidInput { code: "invalid_input".to_owned(), detail }
    }

    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        let text = crate::runtime::panic_text(payload.as_ref());
        tracing::error!(panic = %text, "a panic was caught at the FFI boundary");
        Self::Internal { code: "panic".to_owned(), detail: format!("the library hit a bug (panic: {text})") }
    }
}

impl From<CoreError> for ClientError {
    fn from(e: CoreError) -> Self {
        let code = e.code().to_owned();
        let detail = e.to_string();
        match e {
            CoreError::Config(_) | CoreError::InvalidInput(_) => Self::InvalidInput { code, detail },
            CoreError::Store(_) => Self::Store { code, detail },
            CoreError::Identity(IdentityError::DeviceRevoked) => Self::DeviceRevoked { code, detail },
            CoreError::Identity(_) => Self::Identity { code, detail },
            CoreError::Net(NetError::Server { status, message, .. }) => Self::Server { status, code, detail: message },
            CoreError::Net(_) => Self::Network { code, detail },
            CoreError::Outbox(_) => Self::Outbox { code, detail },
            CoreError::Login(_) => Self::Login { code, detail },
            #[cfg(feature = "taipei-on")]
            CoreError::Attendance(_) => Self::Attendance { code, detail },
            #[cfg(any(feature = "taipei-on", feature = "taipei-pass"))]
            CoreError::Wallet(_) => Self::Wallet { code, detail },
            CoreError::Closed => Self::Closed { code, detail },
            CoreError::Internal(_) => Self::Internal { code, detail },
        }
    }
}

/// What the app's platform callbacks report when they cannot do their job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    /// The key or secret is gone or unusable (wiped keystore, changed biometrics).
    #[error("unavailable: {detail}")]
    Unavailable { detail: String },
    /// This attempt failed (user cancelled, keystore busy, an unexpected exception).
    #[error("failed: {detail}")]
    Failed { detail: String },
}

/// A foreign callback threw something other than `PlatformError`: still a typed error.
impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed { detail: format!("the platform callback threw: {}", e.reason) }
    }
}

impl From<PlatformError> for SignerError {
    fn from(e: PlatformError) -> Self {
        match e {
            PlatformError::Unavailable { detail } => Self::Unavailable(detail),
            PlatformError::Failed { detail } => Self::Failed(detail),
        }
    }
}

impl From<SignerError> for PlatformError {
    fn from(e: SignerError) -> Self {
        match e {
            SignerError::Unavailable(detail) => Self::Unavailable { detail },
            SignerError::Failed(detail) => Self::Failed { detail },
        }
    }
}

impl From<PlatformError> for SecretError {
    fn from(e: PlatformError) -> Self {
        Self(e.to_string())
    }
}

impl From<SecretError> for PlatformError {
    fn from(e: SecretError) -> Self {
        Self::Failed { detail: e.0 }
    }
}

/// What the QR functions (`decode_luma`, `decode_image`, `render_*`) refuse. `code` is
/// the core's stable code: `qr.invalid_frame`, `qr.frame_too_large`,
/// `qr.image_unreadable`, `qr.render_failed`, or `panic` for a bug of ours. A frame that
/// simply holds no code is not an error but an empty list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum QrError {
    /// The frame's size, stride and buffer length do not fit together, or it is
    /// larger than the engine looks at.
    #[error("invalid frame ({code}): {detail}")]
    InvalidFrame { code: String, detail: String },
    /// Encoded bytes that are not a readable PNG or JPEG.
    #[error("unreadable image ({code}): {detail}")]
    ImageUnreadable { code: String, detail: String },
    /// The text does not fit in a code at that level, or the layout is out of range.
    #[error("render failed ({code}): {detail}")]
    RenderFailed { code: String, detail: String },
    /// A bug in the library (a caught panic). Report it.
    #[error("internal ({code}): {detail}")]
    Internal { code: String, detail: String },
}

impl QrError {
    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        let text = crate::runtime::panic_text(payload.as_ref());
        tracing::error!(panic = %text, "a panic was caught in the QR engine");
        Self::Internal { code: "panic".to_owned(), detail: format!("the QR engine hit a bug (panic: {text})") }
    }
}

impl From<taipei_core::qr::QrError> for QrError {
    fn from(e: taipei_core::qr::QrError) -> Self {
        use taipei_core::qr::QrError as Core;
        let (code, detail) = (e.code().to_owned(), e.to_string());
        match e {
            Core::InvalidFrame(_) | Core::FrameTooLarge { .. } => Self::InvalidFrame { code, detail },
            Core::Image(_) => Self::ImageUnreadable { code, detail },
            Core::Render(_) => Self::RenderFailed { code, detail },
        }
    }
}
