//! QR-key login on the [`Client`]: conversion only.

use taipei_core::login::LoginOutcome;
use taipei_core::{LoginContext, LoginHistoryEntry};

use crate::client::Client;
use crate::error::ClientError;

/// What to show after scanning a sign-in page's code. Show it as is; pass it back
/// unchanged to `approve_login` / `deny_login` (the approval signs its hash).
#[uniffi::remote(Record)]
pub struct LoginContext {
    pub rid: String,
    pub fnonce: String,
    pub system: String,
    pub browser: String,
    pub os: String,
    pub ip: String,
    pub place: String,
    pub started_at_ms: i64,
    pub risk_flags: Vec<String>,
    pub candidates: Vec<String>,
    pub expires_at_ms: i64,
}

#[uniffi::remote(Record)]
pub struct LoginOutcome {
    pub request_id: String,
    pub state: String,
    pub system: String,
}

#[uniffi::remote(Record)]
pub struct LoginHistoryEntry {
    pub rid: String,
    pub system: String,
    pub browser: String,
    pub os: String,
    pub ip: String,
    pub place: String,
    pub state: String,
    pub started_at_ms: i64,
    pub decided_at_ms: Option<i64>,
    pub device_id: String,
}

#[uniffi::export]
impl Client {
    /// Reads a scanned sign-in page code (`TPL1:`) and returns what to show.
    pub async fn scan_login(&self, qr_text: String) -> Result<LoginContext, ClientError> {
        self.call(|c| async move { c.login().scan(&qr_text).await }).await
    }

    /// Approves with the number the person tapped.
    pub async fn approve_login(&self, prompt: LoginContext, number: String) -> Result<LoginOutcome, ClientError> {
        self.call(|c| async move { c.login().approve(&prompt, &number).await }).await
    }

    /// "Not me". `report`: also flag it as an attack for review.
    pub async fn deny_login(&self, prompt: LoginContext, report: bool) -> Result<LoginOutcome, ClientError> {
        self.call(|c| async move { c.login().deny(&prompt, report).await }).await
    }

    /// The person's login requests, newest first.
    pub async fn login_history(&self) -> Result<Vec<LoginHistoryEntry>, ClientError> {
        self.call(|c| async move { c.login().history().await }).await
    }
}
