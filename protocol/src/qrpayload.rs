//! QR payload codecs: how bytes become QR text and back, and which prefix tells one
//! kind of code from another.
//!
//! Every payload is `PREFIX + body`. The prefix is upper-case letters, digits and `:`,
//! and each body alphabet is a subset of the QR alphanumeric set, so a whole code
//! stays in numeric or alphanumeric mode: smaller and faster to scan than byte mode.
//!
//! - **base10** (FIDO CTAP 2.2 hybrid QR encoding): bytes in 7-byte chunks, each read
//!   as a little-endian integer and written as exactly 17 decimal digits; a final
//!   chunk of n bytes takes `[0, 3, 5, 8, 10, 13, 15][n]` digits. Digits are the
//!   densest QR mode (3.33 bits per digit), so base10 costs about 1% over the raw bits.
//! - **base45** (RFC 9285): two bytes to three characters of the QR alphanumeric set.
//!
//! Parsing is strict: a wrong prefix, a character outside the alphabet, a chunk whose
//! value does not fit its byte count, or a length no encoder produces is a typed
//! error, never a best guess. Hostile input ends as a [`ProtocolError`], never a panic.

use crate::ProtocolError;

/// How a payload body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Base10,
    Base45,
}

/// The kinds of QR code the apps read. The prefix is the stable wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// Device binding offer shown by the portal ([`crate::binding`]).
    DeviceBinding,
    /// A QR-key login frame shown on a sign-in page.
    LoginFrame,
    /// A meeting-room / attendance screen.
    MeetingRoom,
    /// A wallet certificate: base45(zlib(COSE_Sign1)), as the EU DCC does.
    Certificate,
}

impl PayloadKind {
    pub const ALL: [PayloadKind; 4] =
        [Self::DeviceBinding, Self::LoginFrame, Self::MeetingRoom, Self::Certificate];

    pub fn prefix(self) -> &'static str {
        match self {
            Self::DeviceBinding => crate::binding::PREFIX,
            Self::LoginFrame => "TPL1:",
            Self::MeetingRoom => "TPM1:",
            Self::Certificate => "TPC1:",
        }
    }

    pub fn body_encoding(self) -> BodyEncoding {
        match self {
            // Short, fixed-size frames that rotate every few seconds: digits give the
            // smallest code, so the page can show it large.
            Self::LoginFrame | Self::MeetingRoom => BodyEncoding::Base10,
            Self::DeviceBinding | Self::Certificate => BodyEncoding::Base45,
        }
    }

    /// Which kind a scanned text is, by its prefix.
    pub fn of_text(text: &str) -> Option<PayloadKind> {
        Self::ALL.into_iter().find(|k| text.starts_with(k.prefix()))
    }
}

/// A scanned payload with its prefix checked and its body decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrPayload {
    pub kind: PayloadKind,
    pub body: Vec<u8>,
}

/// `prefix + body` for `kind`.
pub fn encode_payload(kind: PayloadKind, body: &[u8]) -> String {
    let text = match kind.body_encoding() {
        BodyEncoding::Base10 => base10_encode(body),
        BodyEncoding::Base45 => base45_encode(body),
    };
    format!("{}{text}", kind.prefix())
}

/// Parse any known payload. Surrounding whitespace (some scanners add a newline) is
/// ignored; nothing else is.
pub fn decode_payload(text: &str) -> Result<QrPayload, ProtocolError> {
    let text = text.trim();
    let kind = PayloadKind::of_text(text).ok_or_else(|| {
        ProtocolError::WrongPrefix(format!("no known payload prefix in {:?}", preview(text)))
    })?;
    decode_kind(kind, text).map(|body| QrPayload { kind, body })
}

/// Parse a payload that must be of `kind`.
pub fn decode_expected(kind: PayloadKind, text: &str) -> Result<Vec<u8>, ProtocolError> {
    decode_kind(kind, text.trim())
}

fn decode_kind(kind: PayloadKind, text: &str) -> Result<Vec<u8>, ProtocolError> {
    let body = text.strip_prefix(kind.prefix()).ok_or_else(|| {
        ProtocolError::WrongPrefix(format!("expected a code starting with {}", kind.prefix()))
    })?;
    match kind.body_encoding() {
        BodyEncoding::Base10 => base10_decode(body),
        BodyEncoding::Base45 => base45_decode(body),
    }
}

fn preview(text: &str) -> String {
    text.chars().take(16).collect()
}

const B10_CHUNK: usize = 7;
const B10_CHUNK_DIGITS: usize = 17;
/// Digits for a final chunk of n bytes (index n), per the FIDO encoding.
const B10_PARTIAL_DIGITS: [usize; B10_CHUNK] = [0, 3, 5, 8, 10, 13, 15];

/// FIDO base10: see the module doc.
pub fn base10_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(B10_CHUNK) * B10_CHUNK_DIGITS);
    for chunk in bytes.chunks(B10_CHUNK) {
        let mut le = [0u8; 8];
        le[..chunk.len()].copy_from_slice(chunk);
        let value = u64::from_le_bytes(le);
        let digits = if chunk.len() == B10_CHUNK {
            B10_CHUNK_DIGITS
        } else {
            B10_PARTIAL_DIGITS[chunk.len()]
        };
        out.push_str(&format!("{value:0digits$}"));
    }
    out
}

/// Strict inverse of [`base10_encode`].
pub fn base10_decode(text: &str) -> Result<Vec<u8>, ProtocolError> {
    let digits = text.as_bytes();
    if let Some(pos) = digits.iter().position(|c| !c.is_ascii_digit()) {
        return Err(ProtocolError::Malformed(format!(
            "base10 text has a non-digit at position {pos}"
        )));
    }
    let full = digits.len() / B10_CHUNK_DIGITS;
    let tail_digits = digits.len() % B10_CHUNK_DIGITS;
    let tail_bytes = B10_PARTIAL_DIGITS.iter().position(|&d| d == tail_digits).ok_or_else(|| {
        ProtocolError::Malformed(format!(
            "base10 text of {} digits: no byte string encodes to that length",
            digits.len()
        ))
    })?;
    let mut out = Vec::with_capacity(full * B10_CHUNK + tail_bytes);
    for (i, group) in digits.chunks(B10_CHUNK_DIGITS).enumerate() {
        let n = if i < full { B10_CHUNK } else { tail_bytes };
        // At most 17 ASCII digits: always fits a u64 and always parses.
        let value = group.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        if n < 8 && value >> (8 * n) != 0 {
            return Err(ProtocolError::Malformed(format!(
                "base10 chunk {i} is {value}, too large for {n} bytes"
            )));
        }
        out.extend_from_slice(&value.to_le_bytes()[..n]);
    }
    Ok(out)
}

/// RFC 9285 base45.
pub fn base45_encode(bytes: &[u8]) -> String {
    base45::encode(bytes)
}

const B45_ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Strict RFC 9285 base45: refuses characters outside the alphabet (lower case too),
/// a dangling single character, and any group whose value exceeds its byte count
/// (RFC 9285 section 6 requires that; the base45 crate lets a 2-character tail wrap).
pub fn base45_decode(text: &str) -> Result<Vec<u8>, ProtocolError> {
    let mut values = Vec::with_capacity(text.len());
    for (pos, c) in text.bytes().enumerate() {
        let v = B45_ALPHABET.iter().position(|&a| a == c).ok_or_else(|| {
            ProtocolError::Malformed(format!("base45 text has an invalid character at position {pos}"))
        })?;
        values.push(v as u32);
    }
    let mut out = Vec::with_capacity(values.len() / 3 * 2 + 1);
    for (i, group) in values.chunks(3).enumerate() {
        let value = group.iter().rev().fold(0u32, |acc, v| acc * 45 + v);
        let (limit, bytes) = match group.len() {
            3 => (0xFFFF, 2),
            2 => (0xFF, 1),
            _ => {
                return Err(ProtocolError::Malformed(format!(
                    "base45 text of {} characters: a single trailing character encodes nothing",
                    text.len()
                )));
            }
        };
        if value > limit {
            return Err(ProtocolError::Malformed(format!(
                "base45 group {i} is {value}, too large for {bytes} byte(s)"
            )));
        }
        out.extend_from_slice(&value.to_be_bytes()[4 - bytes..]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base10_matches_fido_lengths_and_round_trips() {
        for n in 0..40usize {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 250) as u8).collect();
            let text = base10_encode(&bytes);
            let expect = n / 7 * 17 + B10_PARTIAL_DIGITS[n % 7];
            assert_eq!(text.len(), expect, "length for {n} bytes");
            assert!(text.bytes().all(|c| c.is_ascii_digit()));
            assert_eq!(base10_decode(&text).unwrap(), bytes);
        }
        // Little-endian chunks: [1, 0] is 1, [0, 1] is 256.
        assert_eq!(base10_encode(&[1, 0]), "00001");
        assert_eq!(base10_encode(&[0, 1]), "00256");
        assert_eq!(base10_encode(&[0xFF; 7]), "72057594037927935");
    }

    #[test]
    fn base10_refuses_overflow_bad_lengths_and_non_digits() {
        // 3 digits encode one byte: 256 does not fit.
        assert!(matches!(base10_decode("256"), Err(ProtocolError::Malformed(_))));
        assert_eq!(base10_decode("255").unwrap(), vec![255]);
        // 2^56 in 17 digits does not fit 7 bytes.
        assert!(matches!(base10_decode("72057594037927936"), Err(ProtocolError::Malformed(_))));
        for bad in ["1", "12", "1234", "12a", "+12", "١٢٣"] {
            assert!(matches!(base10_decode(bad), Err(ProtocolError::Malformed(_))), "{bad}");
        }
        assert_eq!(base10_decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn base45_rfc9285_vectors() {
        assert_eq!(base45_encode(b"AB"), "BB8");
        assert_eq!(base45_encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(base45_encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(base45_decode("QED8WEX0").unwrap(), b"ietf!");
        assert_eq!(base45_decode("%69 VD92EX0").unwrap(), b"Hello!!");
    }

    #[test]
    fn base45_is_strict() {
        // "GGW" is 65535 + 1: does not fit two bytes (RFC 9285 section 6).
        assert!(matches!(base45_decode("GGW"), Err(ProtocolError::Malformed(_))));
        assert_eq!(base45_decode("FGW").unwrap(), vec![0xFF, 0xFF]);
        // A 2-character tail above 255 (the crate would wrap it).
        assert!(matches!(base45_decode("ZZ"), Err(ProtocolError::Malformed(_))));
        assert_eq!(base45_decode("U5").unwrap(), vec![255]);
        for bad in ["A", "bb8", "BB8A", "BB\u{e9}"] {
            assert!(matches!(base45_decode(bad), Err(ProtocolError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn payloads_round_trip_and_stay_in_numeric_or_alphanumeric_mode() {
        let body: Vec<u8> = (0..=255u8).collect();
        for kind in PayloadKind::ALL {
            let text = encode_payload(kind, &body);
            assert!(text.bytes().all(|c| B45_ALPHABET.contains(&c)), "{kind:?}");
            let parsed = decode_payload(&format!("{text}\n")).unwrap();
            assert_eq!(parsed, QrPayload { kind, body: body.clone() });
            assert_eq!(decode_expected(kind, &text).unwrap(), body);
        }
    }

    #[test]
    fn prefixes_are_distinct_and_checked() {
        let prefixes: std::collections::HashSet<_> =
            PayloadKind::ALL.iter().map(|k| k.prefix()).collect();
        assert_eq!(prefixes.len(), PayloadKind::ALL.len());
        assert!(matches!(decode_payload("https://evil.example/"), Err(ProtocolError::WrongPrefix(_))));
        let login = encode_payload(PayloadKind::LoginFrame, b"rid");
        assert!(matches!(
            decode_expected(PayloadKind::Certificate, &login),
            Err(ProtocolError::WrongPrefix(_))
        ));
        // A login frame whose body is base45, not digits.
        assert!(matches!(decode_payload("TPL1:BB8"), Err(ProtocolError::Malformed(_))));
    }

    #[test]
    fn binding_codes_are_recognised_as_binding_payloads() {
        let qr = crate::binding::BindingQr { bid: [1; 16], bnonce: [2; 16], expires_at_ms: 5 };
        let parsed = decode_payload(&qr.encode()).unwrap();
        assert_eq!(parsed.kind, PayloadKind::DeviceBinding);
        assert_eq!(parsed.body.len(), 40);
    }
}
