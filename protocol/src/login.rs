//! QR-key login: the frame a sign-in page shows, the JSON of each step, and the exact
//! bytes the phone signs to approve or deny.
//!
//! Flow (protocol.md): the browser starts a request and gets an HttpOnly secret; the
//! page shows rotating frames `TPL1:` + base10(rid[16] ‖ fnonce[16] ‖ exp_ms[8]); the
//! phone scans (`POST /v1/login/scan`) and gets the context to show; the person picks
//! the number the browser shows; the phone signs its decision over the frame, its
//! device id and counter, the number, the hash of the context it showed, and the time.
//! The browser alone redeems the approval, once.

use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::qrpayload::{self, PayloadKind};
use crate::signed::{SignedMessage, tags};

const ID_LEN: usize = 16;
const FRAME_LEN: usize = ID_LEN * 2 + 8;

/// Error codes of the login steps (the `code` of an error reply). Stable strings.
pub mod codes {
    /// The frame's time is up (each lives ~30 s; the request ~120 s).
    pub const FRAME_EXPIRED: &str = "login_frame_expired";
    /// The frame is not the request's current one (an old, replaced frame).
    pub const FRAME_UNKNOWN: &str = "login_frame_unknown";
    /// The request was already scanned, decided, redeemed or cancelled.
    pub const REQUEST_USED: &str = "login_request_used";
    /// No such login request.
    pub const REQUEST_UNKNOWN: &str = "login_request_unknown";
    /// The decision comes from a device other than the one that scanned.
    pub const WRONG_DEVICE: &str = "login_wrong_device";
    /// The typed number is wrong. Never seen on the wire any more: a wrong number
    /// cancels the request at once (`login_cancelled`); kept so old replies still map.
    pub const WRONG_NUMBER: &str = "login_wrong_number";
    /// A wrong number (or a denial): the request is cancelled; the page offers a new code.
    pub const CANCELLED: &str = "login_cancelled";
    /// The signed context hash is not the hash of the context the server showed.
    pub const CONTEXT_MISMATCH: &str = "login_context_mismatch";
    /// The device's signature counter did not increase.
    pub const COUNTER_REPLAYED: &str = "login_counter_replayed";
    /// The browser's secret is missing or wrong.
    pub const SECRET_INVALID: &str = "login_secret_invalid";
    /// The approval was already redeemed.
    pub const ALREADY_REDEEMED: &str = "login_already_redeemed";
    /// Redeem before approval.
    pub const NOT_APPROVED: &str = "login_not_approved";
    /// Redeem without the confirmation the page gets with the account's masked name.
    pub const NOT_CONFIRMED: &str = "login_not_confirmed";
    /// No web system is registered under the id the page named.
    pub const UNKNOWN_SYSTEM: &str = "login_unknown_system";
    /// The page that asked to start the login is not on one of the system's origins.
    pub const ORIGIN_NOT_ALLOWED: &str = "login_origin_not_allowed";
}

/// The decision the phone signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    /// "Not me": cancels the request.
    Deny,
    /// "Not me, and this looks like an attack": cancels it and flags it for review.
    Report,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::Report => "report",
        }
    }
}

/// One QR frame of a login request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFrame {
    pub rid: [u8; ID_LEN],
    /// Changes every frame: a photo of an earlier frame names a frame the server has
    /// replaced.
    pub fnonce: [u8; ID_LEN],
    /// When this frame lapses (UTC ms, server clock).
    pub expires_at_ms: i64,
}

impl LoginFrame {
    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(FRAME_LEN);
        raw.extend_from_slice(&self.rid);
        raw.extend_from_slice(&self.fnonce);
        raw.extend_from_slice(&self.expires_at_ms.to_be_bytes());
        qrpayload::encode_payload(PayloadKind::LoginFrame, &raw)
    }

    pub fn decode(text: &str) -> Result<Self, ProtocolError> {
        let raw = qrpayload::decode_expected(PayloadKind::LoginFrame, text)?;
        if raw.len() != FRAME_LEN {
            return Err(ProtocolError::Malformed(format!(
                "login code holds {} bytes, expected {FRAME_LEN}",
                raw.len()
            )));
        }
        // Lengths are checked above, so the copies below are exact.
        let mut frame = Self { rid: [0; ID_LEN], fnonce: [0; ID_LEN], expires_at_ms: 0 };
        frame.rid.copy_from_slice(&raw[..ID_LEN]);
        frame.fnonce.copy_from_slice(&raw[ID_LEN..2 * ID_LEN]);
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&raw[2 * ID_LEN..]);
        frame.expires_at_ms = i64::from_be_bytes(exp);
        Ok(frame)
    }

    /// The request id as it appears in JSON and URLs.
    pub fn rid_text(&self) -> String {
        crate::b64::encode(self.rid)
    }

    pub fn fnonce_text(&self) -> String {
        crate::b64::encode(self.fnonce)
    }
}

/// `POST /v1/login/start` (browser) reply. The secret travels only as an HttpOnly cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginStarted {
    pub rid: String,
    pub expires_at_ms: i64,
    pub poll_ms: u32,
    /// The registered name of the web system, for the page's heading.
    #[serde(default)]
    pub system: String,
}

/// `GET /v1/login/{rid}` (browser, with its secret): what the page shows now.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginStatus {
    pub rid: String,
    /// `pending`, `scanned`, `approved`, `denied`, `cancelled`, `expired`, `redeemed`.
    pub state: String,
    /// The current frame (text and SVG), while the request can still be scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_svg: Option<String>,
    /// The two-digit number the person must type on the phone, once scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Once approved: whose account the browser is about to enter, masked ("王*明").
    /// The page shows it and asks for one click before redeeming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Once approved: what the redeem must carry back ([`LoginConfirm`]), so a browser
    /// never enters an account whose name it was not given to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    pub expires_at_ms: i64,
}

// The confirmation is a one-time credential of the browser: never in a log line.
crate::debug_redacted!(LoginStatus { rid, state, frame, frame_svg, number, account, expires_at_ms; confirm });

/// `POST /v1/login/{rid}/redeem` (browser) body: the person clicked "continue" after
/// seeing whose account this is.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginConfirm {
    /// The `confirm` value of the approved status.
    pub confirm: String,
}

crate::debug_redacted!(LoginConfirm { ; confirm });

/// `POST /v1/login/scan` (phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginScan {
    /// The scanned `TPL1:` text, as read.
    pub frame: String,
}

/// What the phone must show before the person decides. Shown as is: the server
/// chose the words, the phone signs the hash of exactly these fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginContext {
    pub rid: String,
    pub fnonce: String,
    /// The web system asking, e.g. "公文系統 Document System".
    pub system: String,
    pub browser: String,
    pub os: String,
    pub ip: String,
    /// Where the browser is, as far as the server can tell from its address.
    pub place: String,
    /// When the browser started the login (UTC ms).
    pub started_at_ms: i64,
    /// Stable identifiers of what looks wrong, e.g. `network_differs`.
    pub risk_flags: Vec<String>,
    /// How many digits the number on the browser's screen has; the person types it.
    /// No candidates are offered: picking among a few would let a person who cannot see
    /// the screen guess right one time in three.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub number_digits: u32,
    /// When the person must have decided.
    pub expires_at_ms: i64,
}

impl LoginContext {
    /// SHA-256 over every field, length-prefixed under its own tag: the phone signs
    /// this, so an approval is bound to the very context the person saw.
    pub fn hash(&self) -> [u8; 32] {
        let mut m = SignedMessage::new(CONTEXT_TAG)
            .text(&self.rid)
            .text(&self.fnonce)
            .text(&self.system)
            .text(&self.browser)
            .text(&self.os)
            .text(&self.ip)
            .text(&self.place)
            .i64(self.started_at_ms)
            .u64(self.risk_flags.len() as u64);
        for flag in &self.risk_flags {
            m = m.text(flag);
        }
        m = m.u64(u64::from(self.number_digits));
        let bytes = m.i64(self.expires_at_ms).finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
        out
    }
}

/// Tag of the context hash input (never signed on its own; a hash input, not a message).
const CONTEXT_TAG: &str = "TPQ-LOGIN-CTX-v1";

/// `POST /v1/login/decide` (phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginDecisionRequest {
    pub rid: String,
    pub fnonce: String,
    pub decision: Decision,
    /// The number the person picked (empty for deny/report).
    pub number: String,
    pub counter: u64,
    /// base64url of [`LoginContext::hash`] of the context the phone showed.
    pub context_hash: String,
    pub time_ms: i64,
    /// r‖s over [`decision_message`].
    pub signature: String,
}

/// The decision reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginDecided {
    pub rid: String,
    /// `approved`, `denied` or `cancelled`.
    pub state: String,
    pub system: String,
}

/// `POST /v1/login/{rid}/redeem` (browser) reply: the browser is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRedeemed {
    pub user_id: String,
    pub display_name: String,
    pub system: String,
}

/// `GET /v1/login/history` (phone): the person's own login requests, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginHistory {
    pub entries: Vec<LoginHistoryEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginHistoryEntry {
    pub rid: String,
    pub system: String,
    pub browser: String,
    pub os: String,
    pub ip: String,
    pub place: String,
    pub state: String,
    pub started_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at_ms: Option<i64>,
    pub device_id: String,
}

/// What a device signs to decide a login:
/// `LOGIN ‖ rid ‖ fnonce ‖ device_id ‖ counter ‖ decision ‖ number ‖ context hash ‖ time`.
#[allow(clippy::too_many_arguments)]
pub fn decision_message(
    rid: &[u8],
    fnonce: &[u8],
    device_id: &str,
    counter: u64,
    decision: Decision,
    number: &str,
    context_hash: &[u8],
    time_ms: i64,
) -> Vec<u8> {
    SignedMessage::new(tags::LOGIN)
        .bytes(rid)
        .bytes(fnonce)
        .text(device_id)
        .u64(counter)
        .text(decision.as_str())
        .text(number)
        .bytes(context_hash)
        .i64(time_ms)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> LoginContext {
        LoginContext {
            rid: "r".into(),
            fnonce: "f".into(),
            system: "公文系統".into(),
            browser: "Chrome 131".into(),
            os: "Windows".into(),
            ip: "10.0.0.1".into(),
            place: "city intranet".into(),
            started_at_ms: 1,
            risk_flags: vec![],
            number_digits: 2,
            expires_at_ms: 2,
        }
    }

    #[test]
    fn frame_round_trips_in_numeric_mode() {
        let frame = LoginFrame { rid: [9; 16], fnonce: [250; 16], expires_at_ms: 1_790_000_000_000 };
        let text = frame.encode();
        assert!(text.starts_with("TPL1:"));
        assert!(text["TPL1:".len()..].bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(LoginFrame::decode(&text).unwrap(), frame);
    }

    #[test]
    fn foreign_and_short_frames_are_refused() {
        assert!(matches!(LoginFrame::decode("TPM1:123"), Err(ProtocolError::WrongPrefix(_))));
        assert!(matches!(LoginFrame::decode("https://x"), Err(ProtocolError::WrongPrefix(_))));
        let short = qrpayload::encode_payload(PayloadKind::LoginFrame, &[1; 20]);
        assert!(matches!(LoginFrame::decode(&short), Err(ProtocolError::Malformed(_))));
    }

    #[test]
    fn context_hash_covers_every_field() {
        let base = context().hash();
        let mut c = context();
        c.ip = "10.0.0.2".into();
        assert_ne!(c.hash(), base);
        let mut c = context();
        c.risk_flags.push("network_differs".into());
        assert_ne!(c.hash(), base);
        let mut c = context();
        c.number_digits = 3;
        assert_ne!(c.hash(), base);
        assert_eq!(context().hash(), base);
    }

    #[test]
    fn decision_layout_separates_decisions() {
        let a = decision_message(&[1; 16], &[2; 16], "d", 5, Decision::Approve, "47", &[3; 32], 9);
        let b = decision_message(&[1; 16], &[2; 16], "d", 5, Decision::Deny, "47", &[3; 32], 9);
        assert_ne!(a, b);
        assert_eq!(&a[4..16], tags::LOGIN.as_bytes());
    }
}
