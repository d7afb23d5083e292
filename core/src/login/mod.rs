//! QR-key login from the phone's side: read a sign-in page's `TPL1:` code, show the
//! server's context as is, and sign the person's decision (protocol.md).
//!
//! The phone never trusts the QR for more than the request id and frame nonce: what it
//! shows comes from its own pinned server, and what it signs names the exact context
//! shown (its hash), its device, a fresh counter value and the number picked — so an
//! approval cannot be moved to another request, device, context or purpose.

use std::sync::Arc;

use rusqlite::{OptionalExtension as _, params};
use taipei_protocol::b64;
use taipei_protocol::login::{
    Decision, LoginContext, LoginDecided, LoginDecisionRequest, LoginFrame, LoginHistory,
    LoginHistoryEntry, LoginScan, codes,
};
use taipei_protocol::meeting::codes as meeting_codes;

use crate::client::Inner;
use crate::error::Error;
use crate::identity::device;
use crate::identity::signer::sign_checked;
use crate::net::{Method, NetError, new_idempotency_key, parse_json};
use crate::store::{Store, StoreError};

/// Why a login or meeting sign-in did not happen, in the kinds a UI acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Not a TaipeiON login or meeting code (a URL, another app's code, damage).
    #[error("this is not a city sign-in code: {0}")]
    NotCityQr(String),
    /// The code on the screen has changed or timed out: scan it again.
    #[error("this code has expired; scan the code on the screen again")]
    Expired,
    /// The number typed is not the one on the browser's screen, in the server's own
    /// words (which already say so). This server cancels the request instead, so the
    /// phone sees `Cancelled`; kept for servers that allow another try.
    #[error("{0}")]
    WrongNumber(String),
    /// The request was cancelled (a wrong number, or denied).
    #[error("this sign-in was cancelled; start again on the computer")]
    Cancelled,
    /// The request was already scanned or decided (possibly by someone else).
    #[error("this code was already used; reload the sign-in page")]
    AlreadyUsed,
    #[error("you are already signed in to this meeting")]
    AlreadySignedIn,
    #[error("sign-in for this meeting is closed")]
    MeetingClosed,
    /// Any other refusal by the server, with its code (forged code, not invited, ...).
    #[error("the server refused ({code}): {message}")]
    Refused { code: String, message: String },
}

impl LoginError {
    pub fn code(&self) -> &str {
        match self {
            Self::NotCityQr(_) => "not_city_qr",
            Self::Expired => "qr_expired",
            Self::WrongNumber(_) => "wrong_number",
            Self::Cancelled => "cancelled",
            Self::AlreadyUsed => "already_used",
            Self::AlreadySignedIn => "already_signed_in",
            Self::MeetingClosed => "meeting_closed",
            Self::Refused { code, .. } => code,
        }
    }

    /// The kind of a server refusal code, if it is one of login's or meetings'.
    pub(crate) fn from_code(code: &str, message: &str) -> Option<Self> {
        Some(match code {
            codes::FRAME_EXPIRED | codes::FRAME_UNKNOWN | meeting_codes::FRAME_EXPIRED => Self::Expired,
            codes::WRONG_NUMBER => Self::WrongNumber(message.to_owned()),
            codes::CANCELLED => Self::Cancelled,
            codes::REQUEST_USED => Self::AlreadyUsed,
            meeting_codes::ALREADY_SIGNED_IN => Self::AlreadySignedIn,
            meeting_codes::CLOSED => Self::MeetingClosed,
            c if c.starts_with("login_") || c.starts_with("meeting_") => {
                Self::Refused { code: c.to_owned(), message: message.to_owned() }
            }
            _ => return None,
        })
    }
}

/// Server refusals of this capability become [`LoginError`]s; the rest pass through.
pub(crate) fn map_refusal(e: Error) -> Error {
    if let Error::Net(NetError::Server { code, message, .. }) = &e
        && let Some(kind) = LoginError::from_code(code, message)
    {
        return Error::Login(kind);
    }
    e
}

/// The longest number a server may ask the person to type.
const MAX_NUMBER_DIGITS: u32 = 8;

/// How a decision ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOutcome {
    pub request_id: String,
    /// `approved` or `denied`.
    pub state: String,
    pub system: String,
}

/// A kept decision lives this long: the sign-in page's request is long gone by then.
const DECISION_KEPT_MS: i64 = 24 * 60 * 60 * 1000;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(format!("login task failed: {e}")))?
}

fn load_decision(store: &Store, rid: &str) -> Result<Option<(LoginDecisionRequest, String)>, Error> {
    let row = store.read(|c| {
        c.query_row("SELECT request, idempotency_key FROM login_decision WHERE rid = ?1", [rid], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()
        .map_err(StoreError::from)
    })?;
    let Some((request, key)) = row else { return Ok(None) };
    let request = serde_json::from_str(&request).map_err(|e| StoreError::BadRow(format!("login_decision.request: {e}")))?;
    Ok(Some((request, key)))
}

fn save_decision(store: &Store, request: &LoginDecisionRequest, key: &str, now_ms: i64) -> Result<(), Error> {
    let json = serde_json::to_string(request).map_err(|e| Error::Internal(e.to_string()))?;
    store.write(|tx| {
        tx.execute("DELETE FROM login_decision WHERE created_at_ms < ?1", [now_ms.saturating_sub(DECISION_KEPT_MS)])
            .map_err(StoreError::from)?;
        tx.execute(
            "INSERT OR REPLACE INTO login_decision (rid, idempotency_key, request, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![request.rid, key, json, now_ms],
        )
        .map_err(StoreError::from)?;
        Ok::<_, Error>(())
    })
}

/// Whether the server refused the decision for good.
fn refused(result: &Result<Vec<u8>, Error>) -> bool {
    match result {
        Err(Error::Login(_)) => true,
        Err(Error::Net(NetError::Server { status, .. })) => (400..500).contains(status),
        _ => false,
    }
}

fn forget_decision(store: &Store, rid: &str) -> Result<(), Error> {
    store.write(|tx| {
        tx.execute("DELETE FROM login_decision WHERE rid = ?1", [rid]).map_err(StoreError::from)?;
        Ok::<_, Error>(())
    })
}

/// The login capability of a [`crate::Client`]; cheap to make, see `Client::login`.
pub struct Login {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Login(..)")
    }
}

impl Login {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// Reads a scanned code and fetches what to show. Fails fast, without the network,
    /// on a code that is not a login code or whose time (by the server clock) is up.
    /// The context is what the phone shows: every field as is (the server chose the
    /// words), and the approval signs its hash — a changed field makes the server refuse
    /// the approval with `login_context_mismatch`.
    pub async fn scan(&self, qr_text: &str) -> Result<LoginContext, Error> {
        let frame = LoginFrame::decode(qr_text).map_err(|e| Error::Login(LoginError::NotCityQr(e.to_string())))?;
        self.inner.active()?;
        if self.inner.api.clock().is_learned() && self.inner.api.clock().now_ms() > frame.expires_at_ms {
            return Err(Error::Login(LoginError::Expired));
        }
        let body = serde_json::to_vec(&LoginScan { frame: qr_text.trim().to_owned() })
            .map_err(|e| Error::Internal(e.to_string()))?;
        let reply = self
            .inner
            .authed(Method::Post, "/v1/login/scan", Some(body), Some(new_idempotency_key()))
            .await
            .map_err(map_refusal)?;
        let context: LoginContext = parse_json(&reply, "LoginContext")?;
        // The server must answer about the request the person scanned, nothing else.
        if context.rid != frame.rid_text() || context.fnonce != frame.fnonce_text() {
            return Err(Error::Net(NetError::MalformedReply("the login context names another request".into())));
        }
        if !(1..=MAX_NUMBER_DIGITS).contains(&context.number_digits) {
            return Err(Error::Net(NetError::MalformedReply(format!(
                "the login context asks for a {}-digit number",
                context.number_digits
            ))));
        }
        Ok(context)
    }

    /// Approves with the number the person typed. Checked for shape only: whether it
    /// is the browser's number only the server knows, and a wrong one cancels the request.
    pub async fn approve(&self, prompt: &LoginContext, number: &str) -> Result<LoginOutcome, Error> {
        let number = number.trim();
        let digits = usize::try_from(prompt.number_digits).unwrap_or(usize::MAX);
        if number.len() != digits || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidInput(format!("type the {digits}-digit number shown on the computer's screen")));
        }
        self.decide(prompt, Decision::Approve, number).await
    }

    /// "Not me": cancels the request. `report` also flags it as an attack for review.
    pub async fn deny(&self, prompt: &LoginContext, report: bool) -> Result<LoginOutcome, Error> {
        self.decide(prompt, if report { Decision::Report } else { Decision::Deny }, "").await
    }

    /// Cancel-safe: the signed decision and its idempotency key are kept before the
    /// request leaves; the same decision asked again for the same request resends
    /// exactly that, so a caller that stopped waiting anywhere is counted once.
    async fn decide(&self, prompt: &LoginContext, decision: Decision, number: &str) -> Result<LoginOutcome, Error> {
        let (info, signer, public) = self.inner.active()?;
        let ctx = prompt;
        let rid = b64::decode(&ctx.rid).map_err(|e| Error::InvalidInput(format!("request id: {e}")))?;
        let fnonce = b64::decode(&ctx.fnonce).map_err(|e| Error::InvalidInput(format!("frame nonce: {e}")))?;
        let hash = ctx.hash();
        let (store, rid_text, hash_text) = (Arc::clone(&self.inner.store), ctx.rid.clone(), b64::encode(hash));
        let kept = blocking(move || load_decision(&store, &rid_text)).await?.filter(|(kept, _)| {
            kept.decision == decision && kept.number == number && kept.context_hash == hash_text
        });
        let (request, key) = match kept {
            Some(kept) => kept,
            None => {
                let time_ms = self.inner.now_ms().await?;
                let store = Arc::clone(&self.inner.store);
                let number = number.to_owned();
                blocking(move || {
                    // The counter is spent even if the request is lost: a later decision
                    // simply uses a higher one, and the server only asks that it grows.
                    let counter = store.write(device::next_counter)?;
                    let message = taipei_protocol::login::decision_message(
                        &rid, &fnonce, &info.device_id, counter, decision, &number, &hash, time_ms,
                    );
                    let signature = sign_checked(signer.as_ref(), &public, &message)?;
                    let request = LoginDecisionRequest {
                        rid: b64::encode(&rid),
                        fnonce: b64::encode(&fnonce),
                        decision,
                        number,
                        counter,
                        context_hash: b64::encode(hash),
                        time_ms,
                        signature: b64::encode(signature),
                    };
                    let key = new_idempotency_key();
                    save_decision(&store, &request, &key, time_ms)?;
                    Ok((request, key))
                })
                .await?
            }
        };
        let body = serde_json::to_vec(&request).map_err(|e| Error::Internal(e.to_string()))?;
        let result = self.inner.authed(Method::Post, "/v1/login/decide", Some(body), Some(key)).await.map_err(map_refusal);
        // A refusal settles it (a resend would only be refused again, or for its spent
        // counter). An answer is kept: a caller that stopped waiting just before it came
        // asks again and gets the same answer, replayed by the server. Offline or a
        // timeout keeps it to resend.
        if refused(&result) {
            let (store, rid) = (Arc::clone(&self.inner.store), request.rid.clone());
            if let Err(e) = blocking(move || forget_decision(&store, &rid)).await {
                tracing::warn!(code = e.code(), "could not clear a sent login decision");
            }
        }
        let decided: LoginDecided = parse_json(&result?, "LoginDecided")?;
        Ok(LoginOutcome { request_id: decided.rid, state: decided.state, system: decided.system })
    }

    /// The person's own login requests (from any of their devices), newest first.
    pub async fn history(&self) -> Result<Vec<LoginHistoryEntry>, Error> {
        let reply = self.inner.authed(Method::Get, "/v1/login/history", None, None).await?;
        Ok(parse_json::<LoginHistory>(&reply, "LoginHistory")?.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_codes_become_kinds_the_ui_acts_on() {
        assert_eq!(LoginError::from_code(codes::FRAME_UNKNOWN, "m"), Some(LoginError::Expired));
        assert_eq!(LoginError::from_code(meeting_codes::FRAME_EXPIRED, "m"), Some(LoginError::Expired));
        assert_eq!(LoginError::from_code(codes::WRONG_NUMBER, "2 left"), Some(LoginError::WrongNumber("2 left".into())));
        assert_eq!(LoginError::from_code(meeting_codes::CLOSED, "m"), Some(LoginError::MeetingClosed));
        assert_eq!(LoginError::from_code(meeting_codes::FORGED_FRAME, "m").unwrap().code(), meeting_codes::FORGED_FRAME);
        assert_eq!(LoginError::from_code("device_revoked", "m"), None);
        let e = map_refusal(Error::Net(NetError::Server { status: 409, code: codes::CANCELLED.into(), message: "m".into() }));
        assert_eq!(e, Error::Login(LoginError::Cancelled));
        assert_eq!(e.code(), "cancelled");
    }
}
