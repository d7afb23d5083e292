//! The crate's top error: every failure a `Client` call can end with, flat, so a
//! caller matches `Error::Net(..)` or `Error::Login(..)` alike. It sits above the
//! capabilities and wraps their errors; they return their own (each with a
//! `Common(CommonError)` variant for the shared failures from below), and the
//! conversions here flatten that variant back into this enum's own. Every error has a
//! stable [`Error::code`] (for programs) and a message (Display, for people).

use crate::ctx::CommonError;
use crate::identity::IdentityError;
use crate::net::NetError;
use crate::outbox::{DeliveryError, OutboxError};
use crate::store::StoreError;

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
    /// Push: an undecryptable, forged or malformed payload, not registered, …
    #[cfg(feature = "push")]
    #[error(transparent)]
    Push(crate::push::PushError),
    /// The dashboard: a section's own failure, named with its capability's code.
    #[cfg(feature = "dashboard")]
    #[error(transparent)]
    Dashboard(crate::dashboard::DashboardError),
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
            #[cfg(feature = "push")]
            Self::Push(e) => e.code(),
            #[cfg(feature = "dashboard")]
            Self::Dashboard(e) => e.code(),
            Self::Closed => "closed",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<CommonError> for Error {
    fn from(e: CommonError) -> Self {
        match e {
            CommonError::Config(m) => Self::Config(m),
            CommonError::InvalidInput(m) => Self::InvalidInput(m),
            CommonError::Store(e) => Self::Store(e),
            CommonError::Identity(e) => Self::Identity(e),
            CommonError::Net(e) => Self::Net(e),
            CommonError::Outbox(e) => Self::Outbox(e),
            CommonError::Closed => Self::Closed,
            CommonError::Internal(m) => Self::Internal(m),
        }
    }
}

/// A capability's error: its own kinds stay under its variant, the shared failures
/// become this enum's own variants.
macro_rules! from_capability {
    ($(#[$meta:meta])* $variant:ident, $error:ty) => {
        $(#[$meta])*
        impl From<$error> for Error {
            fn from(e: $error) -> Self {
                type Capability = $error;
                match e {
                    Capability::Common(c) => Self::from(c),
                    other => Self::$variant(other),
                }
            }
        }
    };
}

from_capability!(Login, crate::login::LoginError);
from_capability!(#[cfg(feature = "attendance")] Attendance, crate::attendance::AttendanceError);
from_capability!(#[cfg(feature = "wallet")] Wallet, crate::wallet::WalletError);
from_capability!(#[cfg(feature = "approval")] Approval, crate::approval::ApprovalError);
from_capability!(#[cfg(feature = "push")] Push, crate::push::PushError);
from_capability!(#[cfg(feature = "dashboard")] Dashboard, crate::dashboard::DashboardError);

/// The lower errors reach the top through [`CommonError`], which maps them (a revoked
/// device from the server becomes an identity error, and so on).
macro_rules! via_common {
    ($($from:ty),*) => {$(
        impl From<$from> for Error {
            fn from(e: $from) -> Self {
                Self::from(CommonError::from(e))
            }
        }
    )*};
}

via_common!(StoreError, IdentityError, NetError, OutboxError, DeliveryError, taipei_protocol::limits::LimitError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_failures_of_a_capability_flatten_into_the_top_error() {
        let revoked = Error::from(NetError::Server { status: 403, code: "device_revoked".into(), message: "m".into(), tries_left: None });
        assert_eq!(revoked, Error::Identity(IdentityError::DeviceRevoked));
        assert_eq!(revoked.code(), "device_revoked");
        let through_login = Error::from(crate::login::LoginError::Common(CommonError::Closed));
        assert_eq!(through_login, Error::Closed);
        let kind = Error::from(crate::login::LoginError::Cancelled);
        assert_eq!(kind, Error::Login(crate::login::LoginError::Cancelled));
        assert_eq!(kind.code(), "cancelled");
        assert_eq!(Error::from(OutboxError::Delivery(DeliveryError::Net(NetError::Timeout("t".into())))).code(), "timeout");
    }

    #[cfg(feature = "approval")]
    #[test]
    fn an_approval_error_flattens_like_the_others() {
        use crate::approval::ApprovalError;
        let offline = Error::from(ApprovalError::from(NetError::Unreachable("x".into())));
        assert_eq!(offline, Error::Net(NetError::Unreachable("x".into())));
        let kind = Error::from(ApprovalError::NotRead("i".into()));
        assert_eq!(kind, Error::Approval(ApprovalError::NotRead("i".into())));
        assert_eq!(kind.code(), "approval_not_read");
    }
}
