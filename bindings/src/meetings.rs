//! Meeting sign-in on the [`Client`] (TaipeiON only): conversion only.

use taipei_core::MeetingInfo;
use taipei_core::meetings::SignInOutcome;

use crate::client::Client;
use crate::error::ClientError;

#[uniffi::remote(Record)]
pub struct MeetingInfo {
    pub mid: String,
    pub title: String,
    pub room: String,
    pub organizer: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub signed_in_at_ms: Option<i64>,
}

#[uniffi::remote(Enum)]
pub enum SignInOutcome {
    SignedIn { at_ms: i64, late: bool },
    Queued { reason: String },
}

#[uniffi::export]
impl Client {
    /// The meeting a scanned room code (`TPM1:`) belongs to.
    pub async fn scan_meeting(&self, qr_text: String) -> Result<MeetingInfo, ClientError> {
        self.call(|c| async move { c.meetings().scan(&qr_text).await }).await
    }

    /// Signs in to the meeting with one call: accepted now, or queued offline.
    pub async fn sign_in_to_meeting(&self, qr_text: String) -> Result<SignInOutcome, ClientError> {
        self.call(|c| async move { c.meetings().sign_in(&qr_text).await }).await
    }
}
