//! Meeting sign-in: the rotating frame a room display shows, the JSON of each step,
//! and the bytes the phone signs.
//!
//! Frame: `TPM1:` + base10(mid[16] ‖ slot[8] ‖ tag[16]) with `slot = ⌊unix s / 10⌋` and
//! `tag = HMAC-SHA256(K_m, "TPQ-MEET-v1" ‖ mid ‖ slot)[..16]`. Only the display and the
//! server hold `K_m`, so a frame cannot be made up, and a photo of it is worth ~20 s.

use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::qrpayload::{self, PayloadKind};
use crate::signed::{SignedMessage, tags};

const ID_LEN: usize = 16;
const TAG_LEN: usize = 16;
const FRAME_LEN: usize = ID_LEN + 8 + TAG_LEN;

/// How long one slot lasts.
pub const SLOT_MS: i64 = 10_000;

pub mod codes {
    pub const UNKNOWN: &str = "meeting_unknown";
    /// The tag does not verify: a made-up or altered frame.
    pub const FORGED_FRAME: &str = "meeting_forged_frame";
    /// The slot is neither the current nor the previous one.
    pub const FRAME_EXPIRED: &str = "meeting_frame_expired";
    /// Outside the meeting's sign-in window.
    pub const CLOSED: &str = "meeting_closed";
    /// A sign-in signed offline arrived later than the meeting's late window allows.
    pub const TOO_LATE: &str = "meeting_sign_in_too_late";
    pub const ALREADY_SIGNED_IN: &str = "meeting_already_signed_in";
    pub const NOT_INVITED: &str = "meeting_not_invited";
    /// The display's token is missing or wrong.
    pub const DISPLAY_TOKEN_INVALID: &str = "meeting_display_token_invalid";
}

/// The slot a server-clock time falls in.
pub fn slot_of(time_ms: i64) -> u64 {
    u64::try_from(time_ms.div_euclid(SLOT_MS)).unwrap_or(0)
}

/// `HMAC(K_m, MEET ‖ mid ‖ slot)[..16]`.
pub fn frame_tag(meeting_key: &[u8], mid: &[u8], slot: u64) -> [u8; TAG_LEN] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, meeting_key);
    let input = SignedMessage::new(tags::MEET).bytes(mid).u64(slot).finish();
    let full = ring::hmac::sign(&key, &input);
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&full.as_ref()[..TAG_LEN]);
    out
}

/// Constant-time check of a frame's tag.
pub fn verify_frame_tag(meeting_key: &[u8], mid: &[u8], slot: u64, tag: &[u8]) -> bool {
    let expected = frame_tag(meeting_key, mid, slot);
    // Constant time: the tag is a MAC, and a timing leak would let a forger learn it
    // byte by byte.
    tag.len() == TAG_LEN && expected.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingFrame {
    pub mid: [u8; ID_LEN],
    pub slot: u64,
    pub tag: [u8; TAG_LEN],
}

impl MeetingFrame {
    pub fn new(meeting_key: &[u8], mid: [u8; ID_LEN], slot: u64) -> Self {
        Self { mid, slot, tag: frame_tag(meeting_key, &mid, slot) }
    }

    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(FRAME_LEN);
        raw.extend_from_slice(&self.mid);
        raw.extend_from_slice(&self.slot.to_be_bytes());
        raw.extend_from_slice(&self.tag);
        qrpayload::encode_payload(PayloadKind::MeetingRoom, &raw)
    }

    pub fn decode(text: &str) -> Result<Self, ProtocolError> {
        let raw = qrpayload::decode_expected(PayloadKind::MeetingRoom, text)?;
        if raw.len() != FRAME_LEN {
            return Err(ProtocolError::Malformed(format!(
                "meeting code holds {} bytes, expected {FRAME_LEN}",
                raw.len()
            )));
        }
        // Lengths are checked above, so the copies below are exact.
        let mut frame = Self { mid: [0; ID_LEN], slot: 0, tag: [0; TAG_LEN] };
        frame.mid.copy_from_slice(&raw[..ID_LEN]);
        let mut slot = [0u8; 8];
        slot.copy_from_slice(&raw[ID_LEN..ID_LEN + 8]);
        frame.slot = u64::from_be_bytes(slot);
        frame.tag.copy_from_slice(&raw[ID_LEN + 8..]);
        Ok(frame)
    }

    pub fn mid_text(&self) -> String {
        crate::b64::encode(self.mid)
    }
}

/// `POST /v1/admin/meetings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewMeeting {
    pub title: String,
    pub room: String,
    pub organizer: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    /// User ids; empty = anyone with a bound device may sign in.
    #[serde(default)]
    pub invitees: Vec<String>,
    /// How long after its signed time a sign-in that waited in an offline phone may
    /// still arrive (accepted, marked late). Absent: 15 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 86400000))]
    pub late_window_ms: Option<i64>,
}

/// Reply: the display token opens the room display (`/meetings/{mid}/display#token`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingCreated {
    pub mid: String,
    pub display_token: String,
    pub display_path: String,
}

crate::debug_redacted!(MeetingCreated { mid, display_path; display_token });

/// `GET /v1/meetings/{mid}` (phone): what the phone shows before the one tap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingInfo {
    pub mid: String,
    pub title: String,
    pub room: String,
    pub organizer: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    /// When this person signed in, if they have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in_at_ms: Option<i64>,
}

/// `POST /v1/meetings/{mid}/sign-ins` (phone, through the outbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingSignIn {
    pub slot: u64,
    /// base64url of the frame's tag.
    pub tag: String,
    /// Server-clock time at the tap; judges the slot when the sign-in arrives late.
    pub time_ms: i64,
    /// r‖s over [`sign_in_message`].
    pub signature: String,
}

/// `GET /v1/meetings/{mid}/display` (room display, with its token): the frame to show
/// now and the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DisplayFrame {
    pub title: String,
    pub room: String,
    pub frame: String,
    pub frame_svg: String,
    pub slot: u64,
    pub next_change_ms: i64,
    pub roster: Vec<RosterEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RosterEntry {
    pub display_name: String,
    pub signed_in_at_ms: i64,
    /// The sign-in was made offline and arrived later.
    pub late: bool,
}

/// `MEET ‖ mid ‖ slot ‖ tag ‖ device_id ‖ time`.
pub fn sign_in_message(mid: &[u8], slot: u64, tag: &[u8], device_id: &str, time_ms: i64) -> Vec<u8> {
    SignedMessage::new(tags::MEET)
        .bytes(mid)
        .u64(slot)
        .bytes(tag)
        .text(device_id)
        .i64(time_ms)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_tags_bind_mid_and_slot() {
        let key = [7u8; 32];
        let frame = MeetingFrame::new(&key, [1; 16], 179_000_000);
        let text = frame.encode();
        assert!(text["TPM1:".len()..].bytes().all(|b| b.is_ascii_digit()));
        let back = MeetingFrame::decode(&text).unwrap();
        assert_eq!(back, frame);
        assert!(verify_frame_tag(&key, &back.mid, back.slot, &back.tag));
        assert!(!verify_frame_tag(&key, &back.mid, back.slot + 1, &back.tag));
        assert!(!verify_frame_tag(&key, &[2; 16], back.slot, &back.tag));
        assert!(!verify_frame_tag(&[8; 32], &back.mid, back.slot, &back.tag));
        assert!(!verify_frame_tag(&key, &back.mid, back.slot, &back.tag[..15]));
    }

    #[test]
    fn slots_are_ten_seconds() {
        assert_eq!(slot_of(0), 0);
        assert_eq!(slot_of(9_999), 0);
        assert_eq!(slot_of(10_000), 1);
        assert_eq!(slot_of(-5), 0);
    }

    #[test]
    fn foreign_codes_are_refused() {
        assert!(matches!(MeetingFrame::decode("TPL1:12"), Err(ProtocolError::WrongPrefix(_))));
        let short = qrpayload::encode_payload(PayloadKind::MeetingRoom, &[1; 39]);
        assert!(matches!(MeetingFrame::decode(&short), Err(ProtocolError::Malformed(_))));
    }
}
