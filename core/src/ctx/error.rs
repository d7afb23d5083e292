//! [`CommonError`]: the failures every capability shares, from the parts below the
//! capabilities (store, identity, net, outbox) and from the context itself.
//!
//! A capability's own error has a `Common(CommonError)` variant and the
//! `common_error!` conversions, so `?` works on every lower
//! error inside it; the crate's top [`crate::Error`] flattens it back.

use std::sync::Arc;

use taipei_protocol::api::codes;

use crate::identity::IdentityError;
use crate::net::NetError;
use crate::outbox::{DeliveryError, OutboxError};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommonError {
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
    #[error("the client is closed")]
    Closed,
    #[error("internal error: {0}")]
    Internal(String),
}

impl CommonError {
    /// A stable identifier: the same text for the same kind of failure in every release.
    pub fn code(&self) -> &str {
        match self {
            Self::Config(_) => "config",
            Self::InvalidInput(_) => "invalid_input",
            Self::Store(e) => e.code(),
            Self::Identity(e) => e.code(),
            Self::Net(e) => e.code(),
            Self::Outbox(e) => e.code(),
            Self::Closed => "closed",
            Self::Internal(_) => "internal",
        }
    }

    /// For the outbox: a failure on the wire stays a network error (retried or killed
    /// by its code); anything else stops the pass and is handed back unchanged.
    pub(crate) fn into_delivery(self) -> DeliveryError {
        match self {
            Self::Net(e) => DeliveryError::Net(e),
            other => DeliveryError::Stop { code: other.code().to_owned(), source: Arc::new(other) },
        }
    }
}

/// A value the server would refuse (`protocol::limits`), caught before anything is
/// signed or queued.
impl From<taipei_protocol::limits::LimitError> for CommonError {
    fn from(e: taipei_protocol::limits::LimitError) -> Self {
        Self::InvalidInput(e.to_string())
    }
}

impl From<StoreError> for CommonError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<IdentityError> for CommonError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Store(s) => Self::Store(s),
            other => Self::Identity(other),
        }
    }
}

impl From<NetError> for CommonError {
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
impl From<DeliveryError> for CommonError {
    fn from(e: DeliveryError) -> Self {
        match e {
            DeliveryError::Net(e) => Self::from(e),
            DeliveryError::Stop { source, .. } => match source.downcast_ref::<CommonError>() {
                Some(e) => e.clone(),
                None => Self::Internal(source.to_string()),
            },
        }
    }
}

impl From<OutboxError> for CommonError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::Store(s) => Self::Store(s),
            OutboxError::Delivery(inner) => Self::from(inner),
            other => Self::Outbox(other),
        }
    }
}

/// Gives a capability's error (`$name`, with a `Common(CommonError)` variant) the
/// conversions from every lower error, so `?` works on them inside the capability.
macro_rules! common_error {
    ($name:ident) => {
        impl From<$crate::ctx::CommonError> for $name {
            fn from(e: $crate::ctx::CommonError) -> Self {
                Self::Common(e)
            }
        }
        $crate::ctx::common_error!(@via $name, $crate::store::StoreError);
        $crate::ctx::common_error!(@via $name, $crate::identity::IdentityError);
        $crate::ctx::common_error!(@via $name, $crate::net::NetError);
        $crate::ctx::common_error!(@via $name, $crate::outbox::OutboxError);
        $crate::ctx::common_error!(@via $name, taipei_protocol::limits::LimitError);
    };
    (@via $name:ident, $from:ty) => {
        impl From<$from> for $name {
            fn from(e: $from) -> Self {
                Self::Common($crate::ctx::CommonError::from(e))
            }
        }
    };
}
pub(crate) use common_error;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_nested_errors_flatten() {
        let revoked = CommonError::from(NetError::Server { status: 403, code: "device_revoked".into(), message: "m".into(), tries_left: None });
        assert_eq!(revoked, CommonError::Identity(IdentityError::DeviceRevoked));
        assert_eq!(revoked.code(), "device_revoked");
        let store = CommonError::from(IdentityError::Store(StoreError::Closed));
        assert_eq!(store, CommonError::Store(StoreError::Closed));
        let delivered = CommonError::from(OutboxError::Delivery(DeliveryError::Net(NetError::Timeout("t".into()))));
        assert_eq!(delivered.code(), "timeout");
        // What the outbox carried back is the sender's error, unchanged.
        let stopped = CommonError::Identity(IdentityError::NotBound).into_delivery();
        assert_eq!(stopped.code(), "not_bound");
        assert_eq!(CommonError::from(OutboxError::Delivery(stopped)), CommonError::Identity(IdentityError::NotBound));
        assert_eq!(CommonError::from(NetError::Unreachable("x".into())).code(), "unreachable");
        assert!(CommonError::Closed.to_string().contains("closed"));
    }
}
