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

use crate::ctx::{Account, Active, CommonError, Ctx, blocking, common_error};
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
    /// The number typed is not the one on the browser's screen. `tries_left` is how
    /// many more numbers the server takes for this request; at 0 (the reference server
    /// allows one number only) it is cancelled: start again on the computer.
    #[error("{}", wrong_number_text(*tries_left))]
    WrongNumber { tries_left: u32 },
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
    /// A failure every capability shares (offline, not bound, the store, …).
    #[error(transparent)]
    Common(CommonError),
}

common_error!(LoginError);

fn wrong_number_text(tries_left: u32) -> String {
    match tries_left {
        0 => "that is not the number on the screen; this sign-in is cancelled: start again on the computer".to_owned(),
        1 => "that is not the number on the screen (1 try left)".to_owned(),
        n => format!("that is not the number on the screen ({n} tries left)"),
    }
}

impl LoginError {
    pub fn code(&self) -> &str {
        match self {
            Self::NotCityQr(_) => "not_city_qr",
            Self::Expired => "qr_expired",
            Self::WrongNumber { .. } => "wrong_number",
            Self::Cancelled => "cancelled",
            Self::AlreadyUsed => "already_used",
            Self::AlreadySignedIn => "already_signed_in",
            Self::MeetingClosed => "meeting_closed",
            Self::Refused { code, .. } => code,
            Self::Common(e) => e.code(),
        }
    }

    /// The kind of a server refusal code, if it is one of login's or meetings'.
    /// `tries_left` is the reply's own field (absent: none left).
    pub(crate) fn from_code(code: &str, message: &str, tries_left: Option<u32>) -> Option<Self> {
        Some(match code {
            codes::FRAME_EXPIRED | codes::FRAME_UNKNOWN | meeting_codes::FRAME_EXPIRED => Self::Expired,
            codes::WRONG_NUMBER => Self::WrongNumber { tries_left: tries_left.unwrap_or(0) },
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

/// Server refusals of this capability become [`LoginError`] kinds; the rest stay common.
pub(crate) fn map_refusal(e: CommonError) -> LoginError {
    if let CommonError::Net(NetError::Server { code, message, tries_left, .. }) = &e
        && let Some(kind) = LoginError::from_code(code, message, *tries_left)
    {
        return kind;
    }
    LoginError::Common(e)
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

fn load_decision(store: &Store, rid: &str) -> Result<Option<(LoginDecisionRequest, String)>, LoginError> {
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

fn save_decision(store: &Store, request: &LoginDecisionRequest, key: &str, now_ms: i64) -> Result<(), LoginError> {
    let json = serde_json::to_string(request).map_err(|e| CommonError::Internal(e.to_string()))?;
    store.write(|tx| {
        tx.execute("DELETE FROM login_decision WHERE created_at_ms < ?1", [now_ms.saturating_sub(DECISION_KEPT_MS)])
            .map_err(StoreError::from)?;
        tx.execute(
            "INSERT OR REPLACE INTO login_decision (rid, idempotency_key, request, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![request.rid, key, json, now_ms],
        )
        .map_err(StoreError::from)?;
        Ok::<_, LoginError>(())
    })
}

/// Whether the server refused the decision for good.
fn refused(result: &Result<Vec<u8>, LoginError>) -> bool {
    match result {
        Err(LoginError::Common(CommonError::Net(NetError::Server { status, .. }))) => (400..500).contains(status),
        Err(LoginError::Common(_)) => false,
        Err(_) => true,
        Ok(_) => false,
    }
}

fn forget_decision(store: &Store, rid: &str) -> Result<(), LoginError> {
    store.write(|tx| {
        tx.execute("DELETE FROM login_decision WHERE rid = ?1", [rid]).map_err(StoreError::from)?;
        Ok::<_, LoginError>(())
    })
}

/// The login capability of a [`crate::Client`]; see `Client::login`. Its context:
/// the store (its `login_decision` table and the device counter) and the account.
#[derive(Clone)]
pub struct Login {
    store: Arc<Store>,
    account: Arc<Account>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Login(..)")
    }
}

impl Login {
    pub(crate) fn new(ctx: &Ctx) -> Self {
        Self { store: Arc::clone(&ctx.store), account: Arc::clone(&ctx.account) }
    }

    /// Reads a scanned code and fetches what to show. Fails fast, without the network,
    /// on a code that is not a login code or whose time (by the server clock) is up.
    /// The context is what the phone shows: every field as is (the server chose the
    /// words), and the approval signs its hash — a changed field makes the server refuse
    /// the approval with `login_context_mismatch`.
    pub async fn scan(&self, qr_text: &str) -> Result<LoginContext, LoginError> {
        let frame = LoginFrame::decode(qr_text).map_err(|e| LoginError::NotCityQr(e.to_string()))?;
        self.account.active()?;
        let clock = self.account.api().clock();
        if clock.is_learned() && clock.now_ms() > frame.expires_at_ms {
            return Err(LoginError::Expired);
        }
        let reply = self
            .account
            .post_json("/v1/login/scan", &LoginScan { frame: qr_text.trim().to_owned() })
            .await
            .map_err(map_refusal)?;
        let context: LoginContext = parse_json(&reply, "LoginContext")?;
        // The server must answer about the request the person scanned, nothing else.
        if context.rid != frame.rid_text() || context.fnonce != frame.fnonce_text() {
            return Err(NetError::MalformedReply("the login context names another request".into()).into());
        }
        if !(1..=MAX_NUMBER_DIGITS).contains(&context.number_digits) {
            return Err(NetError::MalformedReply(format!(
                "the login context asks for a {}-digit number",
                context.number_digits
            ))
            .into());
        }
        Ok(context)
    }

    /// Approves with the number the person typed. Checked for shape only: whether it
    /// is the browser's number only the server knows, and a wrong one cancels the request.
    pub async fn approve(&self, prompt: &LoginContext, number: &str) -> Result<LoginOutcome, LoginError> {
        let number = number.trim();
        let digits = usize::try_from(prompt.number_digits).unwrap_or(usize::MAX);
        if number.len() != digits || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CommonError::InvalidInput(format!("type the {digits}-digit number shown on the computer's screen")).into());
        }
        self.decide(prompt, Decision::Approve, number).await
    }

    /// "Not me": cancels the request. `report` also flags it as an attack for review.
    pub async fn deny(&self, prompt: &LoginContext, report: bool) -> Result<LoginOutcome, LoginError> {
        self.decide(prompt, if report { Decision::Report } else { Decision::Deny }, "").await
    }

    /// Cancel-safe: the signed decision and its idempotency key are kept before the
    /// request leaves; the same decision asked again for the same request resends
    /// exactly that, so a caller that stopped waiting anywhere is counted once.
    async fn decide(&self, prompt: &LoginContext, decision: Decision, number: &str) -> Result<LoginOutcome, LoginError> {
        let Active { info, signer, public } = self.account.active()?;
        let rid = b64::decode(&prompt.rid).map_err(|e| CommonError::InvalidInput(format!("request id: {e}")))?;
        let fnonce = b64::decode(&prompt.fnonce).map_err(|e| CommonError::InvalidInput(format!("frame nonce: {e}")))?;
        let hash = prompt.hash();
        let (store, rid_text, hash_text) = (Arc::clone(&self.store), prompt.rid.clone(), b64::encode(hash));
        let kept = blocking(move || load_decision(&store, &rid_text)).await?.filter(|(kept, _)| {
            kept.decision == decision && kept.number == number && kept.context_hash == hash_text
        });
        let (request, key) = match kept {
            Some(kept) => kept,
            None => {
                let time_ms = self.account.now_ms().await?;
                let store = Arc::clone(&self.store);
                let number = number.to_owned();
                // The counter is spent even if the request is lost: a later decision
                // simply uses a higher one, and the server only asks that it grows.
                let s = Arc::clone(&store);
                let counter = blocking(move || Ok::<_, LoginError>(s.write(device::next_counter)?)).await?;
                let message = taipei_protocol::login::decision_message(
                    &rid, &fnonce, &info.device_id, counter, decision, &number, &hash, time_ms,
                );
                let signature = sign_checked(signer.as_ref(), &public, &message).await?;
                blocking(move || {
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
                    Ok::<_, LoginError>((request, key))
                })
                .await?
            }
        };
        let body = serde_json::to_vec(&request).map_err(|e| CommonError::Internal(e.to_string()))?;
        let result = self.account.authed(Method::Post, "/v1/login/decide", Some(body), Some(key)).await.map_err(map_refusal);
        // A refusal settles it (a resend would only be refused again, or for its spent
        // counter). An answer is kept: a caller that stopped waiting just before it came
        // asks again and gets the same answer, replayed by the server. Offline or a
        // timeout keeps it to resend.
        if refused(&result) {
            let (store, rid) = (Arc::clone(&self.store), request.rid.clone());
            if let Err(e) = blocking(move || forget_decision(&store, &rid)).await {
                tracing::warn!(code = e.code(), "could not clear a sent login decision");
            }
        }
        let decided: LoginDecided = parse_json(&result?, "LoginDecided")?;
        Ok(LoginOutcome { request_id: decided.rid, state: decided.state, system: decided.system })
    }

    /// The person's own login requests (from any of their devices), newest first.
    pub async fn history(&self) -> Result<Vec<LoginHistoryEntry>, LoginError> {
        Ok(self.account.get_json::<LoginHistory>("/v1/login/history", "LoginHistory").await?.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_codes_become_kinds_the_ui_acts_on() {
        assert_eq!(LoginError::from_code(codes::FRAME_UNKNOWN, "m", None), Some(LoginError::Expired));
        assert_eq!(LoginError::from_code(meeting_codes::FRAME_EXPIRED, "m", None), Some(LoginError::Expired));
        assert_eq!(LoginError::from_code(meeting_codes::CLOSED, "m", None), Some(LoginError::MeetingClosed));
        assert_eq!(LoginError::from_code(meeting_codes::FORGED_FRAME, "m", None).unwrap().code(), meeting_codes::FORGED_FRAME);
        assert_eq!(LoginError::from_code("device_revoked", "m", None), None);
        let server = |code: &str, tries_left| NetError::Server { status: 409, code: code.into(), message: "m".into(), tries_left };
        let e = map_refusal(server(codes::CANCELLED, None).into());
        assert_eq!(e, LoginError::Cancelled);
        assert_eq!(e.code(), "cancelled");
        assert_eq!(map_refusal(NetError::Timeout("t".into()).into()).code(), "timeout");
    }

    #[test]
    fn tries_left_is_a_field_and_the_words_say_it_once() {
        let server = |tries_left| NetError::Server { status: 409, code: codes::WRONG_NUMBER.into(), message: "m".into(), tries_left };
        let two = map_refusal(server(Some(2)).into());
        assert_eq!(two, LoginError::WrongNumber { tries_left: 2 });
        assert_eq!(two.code(), "wrong_number");
        assert_eq!(two.to_string(), "that is not the number on the screen (2 tries left)");
        assert_eq!(map_refusal(server(Some(1)).into()).to_string(), "that is not the number on the screen (1 try left)");
        // A reply without the field has none left: the request is over.
        let none = map_refusal(server(None).into());
        assert_eq!(none, LoginError::WrongNumber { tries_left: 0 });
        assert_eq!(none.to_string().matches("not the number").count(), 1);
        assert!(none.to_string().contains("start again"), "{none}");
    }
}
