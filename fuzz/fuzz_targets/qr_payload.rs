//! Arbitrary text through the QR payload codecs: strict parsers must refuse or
//! round-trip, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taipei_protocol::login::LoginFrame;
use taipei_protocol::meeting::MeetingFrame;
use taipei_protocol::qrpayload::{base10_decode, base10_encode, base45_decode, base45_encode, decode_payload, encode_payload};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(bytes) = base10_decode(text) {
        assert_eq!(base10_encode(&bytes), text);
    }
    if let Ok(bytes) = base45_decode(text) {
        assert_eq!(base45_encode(&bytes), text);
    }
    if let Ok(p) = decode_payload(text) {
        assert_eq!(encode_payload(p.kind, &p.body), text.trim());
    }
    // The frames a phone scans at a login page or a meeting room: a frame that decodes
    // re-encodes to a frame that decodes to itself.
    if let Ok(frame) = LoginFrame::decode(text) {
        assert_eq!(LoginFrame::decode(&frame.encode()).ok(), Some(frame));
    }
    if let Ok(frame) = MeetingFrame::decode(text) {
        assert_eq!(MeetingFrame::decode(&frame.encode()).ok(), Some(frame));
    }
});
