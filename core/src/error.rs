//! The one error type of the core. Each variant carries its module's own error; every
//! error has a stable [`Error::code`] (for programs) and a message (Display, for people).

use crate::identity::IdentityError;
use crate::net::NetError;
use crate::outbox::{DeliveryError, OutboxError};
use crate::store::StoreError;
use taipei_protocol::api::codes;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Identity(IdentityError),
    #[error(transparent)]
    Net(NetError),
    #[error(transparent)]
    Outbox(OutboxError),
    /// QR-key login or meeting sign-in refused: the UI acts on each kind.
    #[error(transparent)]
    Login(crate::login::LoginError),
    /// Beacon attendance: an unreadable advert, no office configured, ...
    #[cfg(feature = "attendance")]
    #[error(transparent)]
    Attendance(crate::attendance::AttendanceError),
    /// Certificate wallet: no lists yet, unknown item, wrong backup passphrase, …
    #[cfg(feature = "wallet")]
    #[error(transparent)]
    Wallet(crate::wallet::WalletError),
    /// Mobile approval: not read yet, changed since read, an opinion missing, …
    #[cfg(feature = "approval")]
    #[error(transparent)]
    Approval(crate::approval::ApprovalError),
    #[error("the client is closed")]
    Closed,
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A stable identifier: the same text for the same kind of failure in every release.
    pub fn code(&self) -> &str {
        match self {
            Self::Config(_) => "config",
            Self::InvalidInput(_) => "invalid_input",
            Self::Store(e) => e.code(),
            Self::Identity(e) => e.code(),
            Self::Net(e) => e.code(),
            Self::Outbox(e) => e.code(),
            Self::Login(e) => e.code(),
            #[cfg(feature = "attendance")]
            Self::Attendance(e) => e.code(),
            #[cfg(feature = "wallet")]
            Self::Wallet(e) => e.code(),
            #[cfg(feature = "approval")]
            Self::Approval(e) => e.code(),
            Self::Closed => "closed",
            Self::Internal(_) => "internal",
        }
    }
}

/// A value the server would refuse (`protocol::limits`), caught before anything is
/// signed or queued.
impl From<taipei_protocol::limits::LimitError> for Error {
    fn from(e: taipei_protocol::limits::LimitError) -> Self {
        Self::InvalidInput(e.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<IdentityError> for Error {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Store(s) => Self::Store(s),
            other => Self::Identity(other),
        }
    }
}

impl From<NetError> for Error {
    /// Server codes about the device itself become identity errors: the app reacts to
    /// "revoked" by sending the person to re-bind, not by showing a network problem.
    fn from(e: NetError) -> Self {
        match e.server_code() {
            Some(codes::DEVICE_REVOKED) => Self::Identity(IdentityError::DeviceRevoked),
            Some(codes::UNKNOWN_DEVICE) => Self::Identity(IdentityError::UnknownDevice),
            _ => Self::Net(e),
        }
    }
}

/// The sender's own error comes back as it was (the outbox only carried it).
impl From<DeliveryError> for Error {
    fn from(e: DeliveryError) -> Self {
        match e {
            DeliveryError::Net(e) => Self::from(e),
            DeliveryError::Stop { source, .. } => match source.downcast_ref::<Error>() {
                Some(e) => e.clone(),
                None => Self::Internal(source.to_string()),
            },
        }
    }
}

impl Error {
    /// For the outbox: a failure on the wire stays a network error (retried or killed
    /// by its code); anything else stops the pass and is handed back unchanged.
    pub(crate) fn into_delivery(self) -> DeliveryError {
        match self {
            Self::Net(e) => DeliveryError::Net(e),
            other => DeliveryError::Stop { code: other.code().to_owned(), source: std::sync::Arc::new(other) },
        }
    }
}

impl From<OutboxError> for Error {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::Store(s) => Self::Store(s),
            OutboxError::Delivery(inner) => Self::from(inner),
            other => Self::Outbox(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_nested_errors_flatten() {
        let revoked = Error::from(NetError::Server { status: 403, code: "device_revoked".into(), message: "m".into() });
        assert_eq!(revoked, Error::Identity(IdentityError::DeviceRevoked));
        assert_eq!(revoked.code(), "device_revoked");
        let store = Error::from(IdentityError::Store(StoreError::Closed));
        assert_eq!(store, Error::Store(StoreError::Closed));
        let delivered = Error::from(OutboxError::Delivery(DeliveryError::Net(NetError::Timeout("t".into()))));
        assert_eq!(delivered.code(), "timeout");
        // What the outbox carried back is the sender's error, unchanged.
        let stopped = Error::Identity(IdentityError::NotBound).into_delivery();
        assert_eq!(stopped.code(), "not_bound");
        assert_eq!(Error::from(OutboxError::Delivery(stopped)), Error::Identity(IdentityError::NotBound));
        assert_eq!(Error::from(NetError::Unreachable("x".into())).code(), "unreachable");
        assert!(Error::Closed.to_string().contains("closed"));
    }
}
