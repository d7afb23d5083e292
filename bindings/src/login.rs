//! [`Login`]: QR-key login — scan the code on a browser's sign-in page, pick the number
//! it shows, approve or deny — and its error enum [`LoginError`].

use std::sync::Arc;

use taipei_core::login::{LoginError as CoreLoginError, LoginOutcome as CoreOutcome};
use taipei_core::{Error as CoreError, LoginContext, LoginHistoryEntry as CoreHistoryEntry};

use crate::client::{Client, Shared};
use crate::error::{ClientError, ffi_error};

/// What to show after scanning a sign-in page's code. Show it as is; pass it back
/// unchanged to `approve` / `deny` (the approval signs its hash).
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
    /// The server's warnings for the person (`network_differs`, …): an open list the
    /// server may extend, shown as warnings.
    pub risk_flags: Vec<String>,
    pub number_digits: u32,
    pub expires_at_ms: i64,
}

/// Where a login request stands.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum LoginState {
    /// Shown on the browser, not yet scanned.
    Pending,
    /// Scanned by a phone, waiting for its decision.
    Scanned,
    Approved,
    Denied,
    /// The browser used the approval: it is signed in.
    Redeemed,
    /// Three wrong numbers, or cancelled on the browser.
    Cancelled,
    Expired,
    /// A state a newer server reports that this version does not know; `value` is its
    /// raw name.
    Unknown { value: String },
}

impl From<String> for LoginState {
    fn from(value: String) -> Self {
        match value.as_str() {
            "pending" => Self::Pending,
            "scanned" => Self::Scanned,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "redeemed" => Self::Redeemed,
            "cancelled" => Self::Cancelled,
            "expired" => Self::Expired,
            _ => Self::Unknown { value },
        }
    }
}

/// How a decision ended.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LoginOutcome {
    pub request_id: String,
    /// `Approved` or `Denied`.
    pub state: LoginState,
    pub system: String,
}

impl From<CoreOutcome> for LoginOutcome {
    fn from(o: CoreOutcome) -> Self {
        Self { request_id: o.request_id, state: o.state.into(), system: o.system }
    }
}

/// One of the person's login requests, from any of their devices.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LoginHistoryEntry {
    pub rid: String,
    pub system: String,
    pub browser: String,
    pub os: String,
    pub ip: String,
    pub place: String,
    pub state: LoginState,
    pub started_at_ms: i64,
    pub decided_at_ms: Option<i64>,
    pub device_id: String,
}

impl From<CoreHistoryEntry> for LoginHistoryEntry {
    fn from(e: CoreHistoryEntry) -> Self {
        Self {
            rid: e.rid,
            system: e.system,
            browser: e.browser,
            os: e.os,
            ip: e.ip,
            place: e.place,
            state: e.state.into(),
            started_at_ms: e.started_at_ms,
            decided_at_ms: e.decided_at_ms,
            device_id: e.device_id,
        }
    }
}

ffi_error! {
    /// What QR-key login refuses. Each variant says how the app reacts.
    pub enum LoginError {
        /// Not a city sign-in code (a URL, another app's code, damage). Code `not_city_qr`.
        NotCityQr {},
        /// The code on the screen changed or timed out: scan it again. Code `qr_expired`.
        Expired {},
        /// Not the number on the browser's screen. `tries_left`: how many more numbers
        /// the server takes for this request; at 0 (the reference server takes one)
        /// the request is cancelled: start again on the computer. Code `wrong_number`.
        WrongNumber { tries_left: u32 },
        /// Cancelled (three wrong numbers, or on the browser): start again on the
        /// computer. Code `cancelled`.
        Cancelled {},
        /// Already scanned or decided, possibly by another phone: reload the sign-in
        /// page. Code `already_used`.
        AlreadyUsed {},
        /// A refusal this version has no variant for (`login_wrong_device`,
        /// `login_context_mismatch`, or a code a newer server adds); `code` is the
        /// server's raw code. Show `detail`.
        Unknown {},
    }
    specific = |e| match e {
        CoreError::Login(l) => {
            let (code, detail) = (l.code().to_owned(), l.to_string());
            Ok(match l {
                CoreLoginError::NotCityQr(_) => LoginError::NotCityQr { code, detail },
                CoreLoginError::Expired => LoginError::Expired { code, detail },
                CoreLoginError::WrongNumber { tries_left } => LoginError::WrongNumber { code, detail, tries_left },
                CoreLoginError::Cancelled => LoginError::Cancelled { code, detail },
                CoreLoginError::AlreadyUsed => LoginError::AlreadyUsed { code, detail },
                CoreLoginError::AlreadySignedIn | CoreLoginError::MeetingClosed => LoginError::Unknown { code, detail },
                CoreLoginError::Refused { message, .. } => LoginError::Unknown { code, detail: message },
                CoreLoginError::Common(c) => return Err(CoreError::from(c)),
            })
        }
        e => Err(e),
    };
}

/// QR-key login, handed out by `Client.login()`.
#[derive(Debug, uniffi::Object)]
pub struct Login {
    client: Arc<Shared>,
}

#[uniffi::export]
impl Client {
    /// QR-key login. No I/O; fails only with `Closed`.
    pub fn login(&self) -> Result<Arc<Login>, ClientError> {
        self.shared.get(|_| Ok(Arc::new(Login { client: Arc::clone(&self.shared) })))
    }
}

#[uniffi::export]
impl Login {
    /// Reads a scanned sign-in page code (`TPL1:`) and returns what to show.
    pub async fn scan(&self, qr_text: String) -> Result<LoginContext, LoginError> {
        self.client.call(|c| async move { c.login().scan(&qr_text).await }).await
    }

    /// Approves with the number the person typed (a wrong one cancels the request).
    pub async fn approve(&self, prompt: LoginContext, number: String) -> Result<LoginOutcome, LoginError> {
        self.client.call(|c| async move { c.login().approve(&prompt, &number).await.map(Into::into) }).await
    }

    /// "Not me". `report`: also flag it as an attack for review.
    pub async fn deny(&self, prompt: LoginContext, report: bool) -> Result<LoginOutcome, LoginError> {
        self.client.call(|c| async move { c.login().deny(&prompt, report).await.map(Into::into) }).await
    }

    /// The person's login requests, newest first.
    pub async fn list_history(&self) -> Result<Vec<LoginHistoryEntry>, LoginError> {
        self.client
            .call(|c| async move { Ok::<_, CoreLoginError>(c.login().history().await?.into_iter().map(Into::into).collect()) })
            .await
    }
}
