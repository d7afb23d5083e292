//! [`Meetings`]: sign in to a meeting by scanning the code its room display shows,
//! and its error enum [`MeetingsError`].

use std::sync::Arc;

use taipei_core::login::LoginError as CoreLoginError;
use taipei_core::meetings::SignInOutcome;
use taipei_core::{Error as CoreError, MeetingInfo, NetError};
use taipei_protocol::meeting::codes;

use crate::client::{Client, Shared};
use crate::error::{ClientError, ffi_error};

/// Signed in now (`late` after the start), or queued offline with the reason.
#[uniffi::remote(Enum)]
pub enum SignInOutcome {
    SignedIn { at_ms: i64, late: bool },
    Queued { reason: String },
}

ffi_error! {
    /// What meeting sign-in refuses.
    pub enum MeetingsError {
        /// Not a city meeting code. Code `not_city_qr`.
        NotCityQr {},
        /// The room's code changed: scan it again. Code `qr_expired`.
        Expired {},
        /// Signed in to this meeting before. Code `already_signed_in`.
        AlreadySignedIn {},
        /// Outside the meeting's sign-in window. Code `meeting_closed`.
        MeetingClosed {},
        /// The person is not on the meeting's list. Code `meeting_not_invited`.
        NotInvited {},
        /// A refusal this version has no variant for (`meeting_forged_frame`, or a
        /// code a newer server adds); `code` is the server's raw code.
        Unknown {},
    }
    specific = |e| match e {
        CoreError::Login(l) => {
            let (code, detail) = (l.code().to_owned(), l.to_string());
            Ok(match l {
                CoreLoginError::NotCityQr(_) => MeetingsError::NotCityQr { code, detail },
                CoreLoginError::Expired => MeetingsError::Expired { code, detail },
                CoreLoginError::AlreadySignedIn => MeetingsError::AlreadySignedIn { code, detail },
                CoreLoginError::MeetingClosed => MeetingsError::MeetingClosed { code, detail },
                CoreLoginError::Refused { code, message } if code == codes::NOT_INVITED => {
                    MeetingsError::NotInvited { code, detail: message }
                }
                CoreLoginError::Refused { message, .. } => MeetingsError::Unknown { code, detail: message },
                CoreLoginError::Common(c) => return Err(CoreError::from(c)),
                CoreLoginError::WrongNumber { .. }
                | CoreLoginError::Cancelled
                | CoreLoginError::AlreadyUsed => MeetingsError::Unknown { code, detail },
            })
        }
        CoreError::Net(NetError::Server { code, message, .. }) if code.starts_with("meeting_") => {
            Ok(MeetingsError::Unknown { code, detail: message })
        }
        e => Err(e),
    };
}

/// Meeting sign-in, handed out by `Client.meetings()`.
#[derive(Debug, uniffi::Object)]
pub struct Meetings {
    client: Arc<Shared>,
}

#[uniffi::export]
impl Client {
    /// Meeting sign-in. No I/O; fails only with `Closed`.
    pub fn meetings(&self) -> Result<Arc<Meetings>, ClientError> {
        self.shared.get(|_| Ok(Arc::new(Meetings { client: Arc::clone(&self.shared) })))
    }
}

#[uniffi::export]
impl Meetings {
    /// The meeting a scanned room code (`TPM1:`) belongs to.
    pub async fn scan(&self, qr_text: String) -> Result<MeetingInfo, MeetingsError> {
        self.client.call(|c| async move { c.meetings().scan(&qr_text).await }).await
    }

    /// Signs in with one call: accepted now, or queued offline and sent later.
    pub async fn sign_in(&self, qr_text: String) -> Result<SignInOutcome, MeetingsError> {
        self.client.call(|c| async move { c.meetings().sign_in(&qr_text).await }).await
    }
}
