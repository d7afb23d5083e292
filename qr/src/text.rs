//! From payload bytes to text.
//!
//! The QR standard's default for byte mode is ISO-8859-1, but nearly every generator
//! today writes UTF-8 without saying so, and Taiwanese print shops still emit Big5.
//! So: valid UTF-8 wins; then the code's own ECI, when it declares one we know;
//! then Shift_JIS if the code used kanji mode (whose bytes are Shift_JIS by
//! definition); then Big5 and Shift_JIS if the bytes are valid in them; and ISO-8859-1,
//! which maps every byte, last. Decoders from encoding_rs (the WHATWG tables browsers
//! use), run without replacement, so "valid in Big5" means exactly that.

use encoding_rs::{BIG5, Encoding, ISO_8859_2, SHIFT_JIS, UTF_8, UTF_16BE, WINDOWS_1252, EUC_KR, GBK};

/// How the bytes of a code were turned into [`super::DecodedCode::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    /// The code declared this ECI designator and its charset decoded the bytes.
    Eci(u32),
    ShiftJis,
    Big5,
    Latin1,
}

/// Charset of an ECI designator (ISO/IEC 18004 and AIM ECI assignments).
fn eci_encoding(eci: u32) -> Option<&'static Encoding> {
    Some(match eci {
        // ISO-8859-1; WHATWG decodes that label as windows-1252, identical on printable bytes.
        1 | 3 => WINDOWS_1252,
        4 => ISO_8859_2,
        20 => SHIFT_JIS,
        25 => UTF_16BE,
        26 => UTF_8,
        28 => BIG5,
        29 => GBK,
        30 => EUC_KR,
        _ => return None,
    })
}

fn strict(enc: &'static Encoding, bytes: &[u8]) -> Option<String> {
    enc.decode_without_bom_handling_and_without_replacement(bytes).map(|s| s.into_owned())
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

pub(crate) fn decode_text(bytes: &[u8], eci: Option<u32>, has_kanji: bool) -> (String, TextEncoding) {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return (s.to_owned(), TextEncoding::Utf8);
    }
    if let Some(eci) = eci {
        if let Some(s) = eci_encoding(eci).and_then(|enc| strict(enc, bytes)) {
            return (s, TextEncoding::Eci(eci));
        }
    }
    let order: [(&'static Encoding, TextEncoding); 2] = if has_kanji {
        [(SHIFT_JIS, TextEncoding::ShiftJis), (BIG5, TextEncoding::Big5)]
    } else {
        [(BIG5, TextEncoding::Big5), (SHIFT_JIS, TextEncoding::ShiftJis)]
    };
    for (enc, label) in order {
        if let Some(s) = strict(enc, bytes) {
            return (s, label);
        }
    }
    (latin1(bytes), TextEncoding::Latin1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_first() {
        let (s, e) = decode_text("臺北市政府".as_bytes(), Some(28), false);
        assert_eq!((s.as_str(), e), ("臺北市政府", TextEncoding::Utf8));
    }

    #[test]
    fn big5_without_eci() {
        let (bytes, _, _) = BIG5.encode("臺北市政府 市民卡");
        let (s, e) = decode_text(&bytes, None, false);
        assert_eq!((s.as_str(), e), ("臺北市政府 市民卡", TextEncoding::Big5));
    }

    #[test]
    fn eci_decides_when_bytes_are_not_utf8() {
        let (bytes, _, _) = SHIFT_JIS.encode("東京都");
        let (s, e) = decode_text(&bytes, Some(20), false);
        assert_eq!((s.as_str(), e), ("東京都", TextEncoding::Eci(20)));
        // Kanji mode means Shift_JIS even without an ECI.
        let (s, e) = decode_text(&bytes, None, true);
        assert_eq!((s.as_str(), e), ("東京都", TextEncoding::ShiftJis));
    }

    #[test]
    fn latin1_catches_the_rest() {
        let (s, e) = decode_text(b"caf\xe9", None, false);
        assert_eq!((s.as_str(), e), ("café", TextEncoding::Latin1));
        // An unknown ECI falls through to the guesses.
        let (s, _) = decode_text(b"\xff\xfe", Some(999), false);
        assert_eq!(s, "ÿþ");
    }
}
