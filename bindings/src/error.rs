//! The errors that cross the FFI: one closed enum per capability object
//! ([`ClientError`] for the `Client` itself, `LoginError`, `MeetingsError`,
//! `AttendanceError`, `WalletError` beside their objects, `QrError` for the QR
//! functions) and [`PlatformError`] for what the app's own callbacks report.
//!
//! Every variant of every enum carries the same two fields, `code` (stable, for
//! programs: the tables in `bindings/README.md`) and `detail` (for people), and every
//! enum has the methods `code()` and `detail()`, so an app reads both without a `when`
//! or `switch` over the variants. Facts a program acts on are fields of their own
//! (`Server.status`, `WrongNumber.tries_left`), never words inside `detail`. The field
//! is not called `message` because Kotlin exceptions already have one.

use taipei_core::identity::IdentityError;
use taipei_core::{Error as CoreError, NetError, SecretError, SignerError};

/// What every FFI error enum can be built from: the core's error, a panic, a closed
/// client. [`crate::runtime::run`] and [`crate::runtime::guard`] are generic over it.
pub(crate) trait FfiError: From<CoreError> + Send + 'static {
    fn internal(code: &str, detail: String) -> Self;
}

/// The variants every capability's enum shares, with the core errors they come from.
pub(crate) enum Common {
    InvalidInput,
    Store,
    Identity,
    DeviceRevoked,
    Network,
    Server(u16),
    Outbox,
    Closed,
    Internal,
}

impl Common {
    /// The shared part of a core error: its kind, stable code and text for people.
    pub(crate) fn of(e: CoreError) -> (Self, String, String) {
        let code = e.code().to_owned();
        let kind = match &e {
            CoreError::Config(_) | CoreError::InvalidInput(_) => Self::InvalidInput,
            CoreError::Store(_) => Self::Store,
            CoreError::Identity(IdentityError::DeviceRevoked) => Self::DeviceRevoked,
            CoreError::Identity(_) => Self::Identity,
            CoreError::Net(NetError::Server { status, message, .. }) => {
                // The server's own words, without the core's "the server refused (…)" frame.
                return (Self::Server(*status), code, message.clone());
            }
            CoreError::Net(_) => Self::Network,
            CoreError::Outbox(_) => Self::Outbox,
            CoreError::Closed => Self::Closed,
            // A capability's error reaching another capability's call is a bug of ours;
            // its code is kept so the report says which. Which capability variants exist
            // depends on the app build, hence the catch-all.
            #[allow(unreachable_patterns)]
            _ => Self::Internal,
        };
        (kind, code, e.to_string())
    }
}

/// One FFI error enum: the capability's own variants, then the shared ones; `code()`
/// and `detail()` exported on it; built from a core error by `$specific` (the
/// capability's own kinds, or the error back) and [`Common`] for the rest.
macro_rules! ffi_error {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident { $($(#[$fmeta:meta])* $field:ident : $fty:ty),* $(,)? }
            ),* $(,)?
        }
        specific = $specific:expr;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[error("{detail} ({code})")]
                $variant { code: String, detail: String, $($(#[$fmeta])* $field: $fty),* },
            )*
            /// The caller passed something unusable (a bad profile name, an invalid
            /// configuration, a malformed argument).
            #[error("{detail} ({code})")]
            InvalidInput { code: String, detail: String },
            /// The profile's database or its data key (`keystore` refusals included).
            #[error("{detail} ({code})")]
            Store { code: String, detail: String },
            /// Device binding, the device key, the session (`not_bound`, `signer_failed`, …).
            #[error("{detail} ({code})")]
            Identity { code: String, detail: String },
            /// The server revoked this device: send the person to bind again.
            #[error("{detail} ({code})")]
            DeviceRevoked { code: String, detail: String },
            /// No usable connection: offline, timeout, TLS, a malformed reply.
            #[error("{detail} ({code})")]
            Network { code: String, detail: String },
            /// The server answered with an error reply this enum has no variant for;
            /// `code` is the protocol's code, `status` the HTTP status.
            #[error("{detail} ({code}, HTTP {status})")]
            Server { code: String, detail: String, status: u16 },
            /// The durable outbox (`outbox_not_found`, …).
            #[error("{detail} ({code})")]
            Outbox { code: String, detail: String },
            /// The client was shut down (or closed); open it again.
            #[error("{detail} ({code})")]
            Closed { code: String, detail: String },
            /// A bug in the library (a caught panic has code `panic`). The library keeps
            /// working; report it.
            #[error("{detail} ({code})")]
            Internal { code: String, detail: String },
        }

        impl From<taipei_core::Error> for $name {
            fn from(e: taipei_core::Error) -> Self {
                let specific: fn(taipei_core::Error) -> Result<$name, taipei_core::Error> = $specific;
                match specific(e) {
                    Ok(mine) => mine,
                    Err(e) => match $crate::error::Common::of(e) {
                        ($crate::error::Common::InvalidInput, code, detail) => Self::InvalidInput { code, detail },
                        ($crate::error::Common::Store, code, detail) => Self::Store { code, detail },
                        ($crate::error::Common::Identity, code, detail) => Self::Identity { code, detail },
                        ($crate::error::Common::DeviceRevoked, code, detail) => Self::DeviceRevoked { code, detail },
                        ($crate::error::Common::Network, code, detail) => Self::Network { code, detail },
                        ($crate::error::Common::Server(status), code, detail) => Self::Server { code, detail, status },
                        ($crate::error::Common::Outbox, code, detail) => Self::Outbox { code, detail },
                        ($crate::error::Common::Closed, code, detail) => Self::Closed { code, detail },
                        ($crate::error::Common::Internal, code, detail) => Self::Internal { code, detail },
                    },
                }
            }
        }

        impl $crate::error::FfiError for $name {
            fn internal(code: &str, detail: String) -> Self {
                Self::Internal { code: code.to_owned(), detail }
            }
        }

        #[uniffi::export]
        impl $name {
            /// The stable code of this error, whatever the variant (see the tables in
            /// the bindings README).
            pub fn code(&self) -> String {
                self.parts().0.to_owned()
            }

            /// What happened, in words for people (never a stack trace).
            pub fn detail(&self) -> String {
                self.parts().1.to_owned()
            }
        }

        impl $name {
            fn parts(&self) -> (&str, &str) {
                match self {
                    $(Self::$variant { code, detail, .. })|*
                    | Self::InvalidInput { code, detail }
                    | Self::Store { code, detail }
                    | Self::Identity { code, detail }
                    | Self::DeviceRevoked { code, detail }
                    | Self::Network { code, detail }
                    | Self::Server { code, detail, .. }
                    | Self::Outbox { code, detail }
                    | Self::Closed { code, detail }
                    | Self::Internal { code, detail } => (code, detail),
                }
            }
        }
    };
}
pub(crate) use ffi_error;

/// The error of a call on an object whose client was shut down.
pub(crate) fn closed<E: From<CoreError>>() -> E {
    E::from(CoreError::Closed)
}

ffi_error! {
    /// What the `Client` itself refuses: opening, binding, signing in, sync and the
    /// outbox. The capability objects have enums of their own.
    pub enum ClientError {
        /// Another `Client` of this process already has this profile open: use that
        /// one, or shut it down first. Code `store_in_use`.
        ProfileInUse {},
    }
    specific = |e| match e {
        CoreError::Store(ref s) if s.code() == PROFILE_IN_USE => {
            Ok(ClientError::ProfileInUse { code: PROFILE_IN_USE.to_owned(), detail: e.to_string() })
        }
        e => Err(e),
    };
}

/// The core's code for a profile database held by another client of this process.
const PROFILE_IN_USE: &str = "store_in_use";

/// What the app's platform callbacks report when they cannot do their job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    /// The key or secret is gone or unusable (wiped keystore, changed biometrics).
    #[error("unavailable: {detail}")]
    Unavailable { detail: String },
    /// This attempt failed (keystore busy, an unexpected exception).
    #[error("failed: {detail}")]
    Failed { detail: String },
    /// The person dismissed the prompt the key needs (BiometricPrompt, Face ID); the
    /// action fails with the identity code `signer_cancelled`.
    #[error("cancelled: {detail}")]
    Cancelled { detail: String },
}

/// A foreign callback threw something other than `PlatformError`: still a typed error.
/// The generated code hands over the whole stack trace; only its first line (the
/// exception's class and message) is kept, so no platform stack trace reaches a
/// `detail` the app might show or send.
impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed { detail: format!("the platform callback threw: {}", first_line(&e.reason)) }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("an exception without a message")
}

impl From<PlatformError> for SignerError {
    fn from(e: PlatformError) -> Self {
        match e {
            PlatformError::Unavailable { detail } => Self::Unavailable(detail),
            PlatformError::Failed { detail } => Self::Failed(detail),
            PlatformError::Cancelled { detail } => Self::Cancelled(detail),
        }
    }
}

impl From<SignerError> for PlatformError {
    fn from(e: SignerError) -> Self {
        match e {
            SignerError::Unavailable(detail) => Self::Unavailable { detail },
            SignerError::Failed(detail) => Self::Failed { detail },
            SignerError::Cancelled(detail) => Self::Cancelled { detail },
            e @ SignerError::TimedOut(_) => Self::Failed { detail: e.to_string() },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_answers_code_and_detail() {
        let e = ClientError::from(CoreError::Net(NetError::Server {
            status: 418,
            code: "teapot".into(),
            message: "short and stout".into(),
            tries_left: None,
        }));
        assert_eq!(e, ClientError::Server { code: "teapot".into(), detail: "short and stout".into(), status: 418 });
        assert_eq!((e.code().as_str(), e.detail().as_str()), ("teapot", "short and stout"));
        let closed: ClientError = closed();
        assert_eq!(closed.code(), "closed");
        assert!(matches!(closed, ClientError::Closed { .. }));
        let revoked = ClientError::from(CoreError::Identity(IdentityError::DeviceRevoked));
        assert!(matches!(revoked, ClientError::DeviceRevoked { .. }), "{revoked:?}");
    }

    #[test]
    fn a_foreign_stack_trace_is_cut_to_its_first_line() {
        let reason = "java.lang.IllegalStateException: keystore exploded\n\tat tw.gov.Foo.sign(Foo.kt:3)\n\tat x\n";
        let e = PlatformError::from(uniffi::UnexpectedUniFFICallbackError { reason: reason.into() });
        let PlatformError::Failed { detail } = e else { panic!("not Failed") };
        assert!(detail.ends_with("java.lang.IllegalStateException: keystore exploded"), "{detail}");
        assert!(!detail.contains("\tat"), "{detail}");
    }
}
