//! From payload bytes to text.
//!
//! The QR standard's default for byte mode is ISO-8859-1, but nearly every generator
//! today writes UTF-8 without saying so, Taiwanese print shops still emit Big5 and
//! Japanese ones Shift_JIS. Several of these often accept the same bytes: half-width
//! katakana in Shift_JIS (ﾃﾞｻﾞｲﾝ, one byte per character in 0xA1–0xDF) are also
//! valid Big5 (蹬靼翌), so "the first charset that decodes" returns wrong texts.
//!
//! So: a declared ECI whose charset decodes the bytes wins; then UTF-8 if valid (a
//! random non-ASCII byte string is almost never valid UTF-8, and valid UTF-8 that
//! only contains C1 controls is not text); then a scored guess, in the manner of
//! ZXing's `StringUtils::guessEncoding`, over Big5, Shift_JIS and ISO-8859-1: each
//! reading that decodes strictly earns points for what real text in that charset
//! looks like (common hanzi in Big5's level-1 block; katakana whose voicing marks,
//! small kana and long-vowel marks follow a kana that takes them; accented letters
//! inside Latin words) and loses points for what it rarely contains (Big5's
//! user-defined and Hong Kong blocks, punctuation inside a katakana word, a voicing
//! mark after a letter, C1 controls, a double-byte character inside a Latin word).
//! A tie goes to Big5, this city's legacy charset. Whatever the guess, the caller
//! always has the payload's bytes ([`super::DecodedCode::bytes`]).
//!
//! Decoding is by encoding_rs (the WHATWG tables browsers use) without replacement,
//! so "valid in Big5" means exactly that.

use encoding_rs::{
    BIG5, EUC_KR, Encoding, GBK, ISO_8859_2, ISO_8859_3, ISO_8859_4, ISO_8859_5, ISO_8859_6, ISO_8859_7,
    ISO_8859_8, ISO_8859_10, ISO_8859_13, ISO_8859_14, ISO_8859_15, ISO_8859_16, SHIFT_JIS, UTF_8, UTF_16BE,
    WINDOWS_874, WINDOWS_1250, WINDOWS_1251, WINDOWS_1252, WINDOWS_1254, WINDOWS_1256,
};

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

/// Charset of an ECI designator (AIM ECI assignments). `None` for ISO-8859-1, which
/// is decoded byte for byte (WHATWG would read it as windows-1252), and for
/// designators we have no table for.
fn eci_encoding(eci: u32) -> Option<&'static Encoding> {
    Some(match eci {
        4 => ISO_8859_2,
        5 => ISO_8859_3,
        6 => ISO_8859_4,
        7 => ISO_8859_5,
        8 => ISO_8859_6,
        9 => ISO_8859_7,
        10 => ISO_8859_8,
        // ISO-8859-9 and -11: WHATWG maps them to their Windows supersets.
        11 => WINDOWS_1254,
        12 => ISO_8859_10,
        13 => WINDOWS_874,
        15 => ISO_8859_13,
        16 => ISO_8859_14,
        17 => ISO_8859_15,
        18 => ISO_8859_16,
        20 => SHIFT_JIS,
        21 => WINDOWS_1250,
        22 => WINDOWS_1251,
        23 => WINDOWS_1252,
        24 => WINDOWS_1256,
        25 => UTF_16BE,
        26 => UTF_8,
        28 => BIG5,
        29 => GBK,
        30 => EUC_KR,
        _ => return None,
    })
}

/// ECI 1 and 3 are ISO-8859-1; 27 is US-ASCII, a subset of it.
fn eci_is_latin1(eci: u32) -> bool {
    matches!(eci, 1 | 3 | 27)
}

fn strict(enc: &'static Encoding, bytes: &[u8]) -> Option<String> {
    enc.decode_without_bom_handling_and_without_replacement(bytes).map(|s| s.into_owned())
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

pub(crate) fn decode_text(bytes: &[u8], eci: Option<u32>, has_kanji: bool) -> (String, TextEncoding) {
    if let Some(eci) = eci {
        if eci_is_latin1(eci) && (eci != 27 || bytes.is_ascii()) {
            return (latin1(bytes), TextEncoding::Eci(eci));
        }
        if let Some(s) = eci_encoding(eci).and_then(|enc| strict(enc, bytes)) {
            return (s, TextEncoding::Eci(eci));
        }
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        if !s.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)) {
            return (s.to_owned(), TextEncoding::Utf8);
        }
    }
    // Kanji mode segments are Shift_JIS by definition: strong evidence for the rest.
    let sjis_bonus = if has_kanji { 4.0 } else { 0.0 };
    let mut best = (score_latin1(bytes), TextEncoding::Latin1);
    if let Some(s) = score_shift_jis(bytes).filter(|_| strict(SHIFT_JIS, bytes).is_some()) {
        if s + sjis_bonus > best.0 {
            best = (s + sjis_bonus, TextEncoding::ShiftJis);
        }
    }
    if let Some(s) = score_big5(bytes).filter(|_| strict(BIG5, bytes).is_some()) {
        // `>=`: a tie goes to Big5.
        if s >= best.0 {
            best = (s, TextEncoding::Big5);
        }
    }
    match best.1 {
        TextEncoding::Big5 => (strict(BIG5, bytes).unwrap_or_else(|| latin1(bytes)), TextEncoding::Big5),
        TextEncoding::ShiftJis => {
            (strict(SHIFT_JIS, bytes).unwrap_or_else(|| latin1(bytes)), TextEncoding::ShiftJis)
        }
        other => (latin1(bytes), other),
    }
}

fn ascii_letter(b: Option<&u8>) -> bool {
    b.is_some_and(u8::is_ascii_alphabetic)
}

/// Evidence that `bytes` are ISO-8859-1 text.
fn score_latin1(bytes: &[u8]) -> f32 {
    let mut score = 0.0;
    for (i, &b) in bytes.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|j| bytes.get(j));
        let next = bytes.get(i + 1);
        score += match b {
            0x00..=0x7F => 0.0,
            // C1 controls: not text.
            0x80..=0x9F => -3.0,
            // Symbols (¡ ¢ £ © « ° ± ² µ ¿ …): plausible, no evidence either way.
            0xA0..=0xBF | 0xD7 | 0xF7 => 0.0,
            // Accented letters belong inside words, which are mostly ASCII letters.
            _ if ascii_letter(prev) || ascii_letter(next) => 1.0,
            _ => 0.25,
        };
    }
    score
}

/// Half-width katakana that take a voicing mark (ﾞ): ｳ, ｶ–ﾄ, ﾊ–ﾎ.
fn takes_dakuten(b: u8) -> bool {
    matches!(b, 0xB3 | 0xB6..=0xC4 | 0xCA..=0xCE)
}

/// Half-width katakana of the i column, which take a small ya/yu/yo: ｷ ｼ ﾁ ﾆ ﾋ ﾐ ﾘ.
fn i_column(b: u8) -> bool {
    matches!(b, 0xB7 | 0xBC | 0xC1 | 0xC6 | 0xCB | 0xD0 | 0xD8)
}

/// Evidence that `bytes` are Shift_JIS text; `None` if its byte structure does not fit.
fn score_shift_jis(bytes: &[u8]) -> Option<f32> {
    let mut score = 0.0;
    let mut i = 0;
    // The last half-width kana letter (not a mark) seen directly before, if any.
    let mut kana_base: Option<u8> = None;
    let mut prev_was_mark = false;
    let (mut kana_letters, mut marks) = (0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            0x00..=0x7F => {
                // A lone kana between Latin letters is a Big5 trail byte in disguise.
                if ascii_letter(Some(&b)) && kana_base.is_some() && i >= 2 && ascii_letter(bytes.get(i - 2)) {
                    score -= 1.0;
                }
                kana_base = None;
                prev_was_mark = false;
                i += 1;
            }
            0xA1..=0xDF => {
                let base = kana_base.filter(|_| !prev_was_mark);
                let (points, is_mark) = match b {
                    // ｡ ｢ ｣ ､ ･: punctuation, plausible between words, not between kana.
                    0xA1..=0xA5 => (if kana_base.is_some() && bytes.get(i + 1).is_some_and(|n| (0xA6..=0xDF).contains(n)) { -1.5 } else { -0.25 }, false),
                    // Small ya, yu, yo after an i-column kana (also voiced: ｷﾞｬ).
                    0xAC..=0xAE => (if kana_base.is_some_and(i_column) { 1.5 } else { -2.0 }, true),
                    // Small a, i, u, e, o, tsu and the long-vowel mark after a kana.
                    0xA7..=0xAB | 0xAF | 0xB0 => (if kana_base.is_some() { 1.5 } else { -2.0 }, true),
                    0xDE => (if base.is_some_and(takes_dakuten) { 1.5 } else { -3.0 }, true),
                    0xDF => (if base.is_some_and(|k| (0xCA..=0xCE).contains(&k)) { 1.5 } else { -3.0 }, true),
                    _ => (1.0, false),
                };
                score += points;
                if is_mark {
                    marks += 1;
                } else {
                    kana_base = (0xA6..=0xDD).contains(&b).then_some(b);
                    kana_letters += 1;
                }
                prev_was_mark = is_mark;
                i += 1;
            }
            0x81..=0x9F | 0xE0..=0xFC => {
                let trail = *bytes.get(i + 1)?;
                if !matches!(trail, 0x40..=0x7E | 0x80..=0xFC) {
                    return None;
                }
                score += match (b, trail) {
                    // Hiragana and full-width katakana: Japanese and nothing else.
                    (0x82, 0x9F..=0xF1) | (0x83, 0x40..=0x96) => 2.0,
                    // Full-width symbols, digits, Latin, Greek, Cyrillic, box drawing.
                    (0x81..=0x84, _) => 0.0,
                    // JIS level-1 kanji (the common ones).
                    (0x88..=0x98, _) => 1.5,
                    // Level-2 kanji.
                    (0x99..=0x9F | 0xE0..=0xEA, _) => 0.5,
                    // NEC/IBM extensions, user-defined area, unassigned rows.
                    _ => -2.0,
                };
                if ascii_letter(i.checked_sub(1).and_then(|j| bytes.get(j))) && ascii_letter(bytes.get(i + 2)) {
                    score -= 1.5;
                }
                kana_base = None;
                prev_was_mark = false;
                i += 2;
            }
            _ => return None,
        }
    }
    // One or two plain kana are one Big5 hanzi as often as a Japanese word (ZXing
    // too wants a katakana word of three before it prefers Shift_JIS).
    if kana_letters > 0 && kana_letters <= 2 && marks == 0 {
        score -= 0.5;
    }
    Some(score)
}

/// Evidence that `bytes` are Big5 text; `None` if its byte structure does not fit.
fn score_big5(bytes: &[u8]) -> Option<f32> {
    let mut score = 0.0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        let trail = *bytes.get(i + 1)?;
        if !matches!(trail, 0x40..=0x7E | 0xA1..=0xFE) {
            return None;
        }
        let code = u16::from(b) << 8 | u16::from(trail);
        score += match code {
            // Level-1 hanzi: the 5,401 common characters, 0xA440–0xC67E. As much as
            // the two plain half-width kana the same bytes make in Shift_JIS: what
            // decides is the marks (voicing, small kana, long vowel) a katakana word
            // nearly always has, and punctuation inside it that Big5 bytes produce.
            0xA440..=0xC67E => 2.0,
            // Punctuation and symbols (，。「」、…).
            0xA140..=0xA3FE => 0.5,
            // Level-2 hanzi.
            0xC940..=0xF9D5 => 0.75,
            // ETEN extensions (kana, Cyrillic), Hong Kong and user-defined blocks.
            _ => -2.0,
        };
        let next_is_letter = ascii_letter(bytes.get(i + 2));
        // Inside a Latin word: an accented letter, read as the lead of a pair.
        if next_is_letter && (ascii_letter(i.checked_sub(1).and_then(|j| bytes.get(j))) || ascii_letter(Some(&trail))) {
            score -= 1.5;
        }
        i += 2;
    }
    Some(score)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn guess(bytes: &[u8]) -> (String, TextEncoding) {
        decode_text(bytes, None, false)
    }

    /// Half-width katakana (the payloads that came back as Big5 hanzi), full-width
    /// Japanese, and Taipei's Big5: each must come back as written, without an ECI.
    #[test]
    fn shift_jis_katakana_is_not_big5() {
        for text in [
            "ﾃﾞｻﾞｲﾝ", "ﾃﾞｻﾞｲﾝ ｽﾀｼﾞｵ", "ﾊﾟｽﾎﾟｰﾄ", "ｺﾝﾋﾟｭｰﾀ", "ｷｬﾝﾍﾟｰﾝ", "ｼｮｯﾌﾟ",
            "ﾄｳｷｮｳ ﾀﾜｰ", "ｱｲｳｴｵ", "ﾁｹｯﾄ No.123", "ﾌｧｲﾙ", "ﾃﾞｻﾞｲﾝ･ｽﾀｼﾞｵ",
            "TEL:03-1234-5678 ﾔﾏﾀﾞ ﾀﾛｳ", "こんにちは", "東京都千代田区", "カタカナ", "日本語のテキスト",
        ] {
            let (bytes, _, unmappable) = SHIFT_JIS.encode(text);
            assert!(!unmappable, "{text}");
            assert_eq!(guess(&bytes), (text.to_owned(), TextEncoding::ShiftJis), "{text} {bytes:02x?}");
        }
    }

    #[test]
    fn big5_is_not_shift_jis() {
        for text in [
            "臺北市政府", "市民卡", "臺北市政府 市民卡", "黃", "東京都", "台北通", "悠遊卡", "中華民國",
            "臺北市信義區市府路1號", "姓名：王小明", "捷運站", "愛心卡", "敬老卡", "停車費", "繳費成功",
            "健康檢查", "垃圾清運", "里長", "公車", "這是一個測試", "謝謝", "市政府轉運站", "圖書館",
        ] {
            let (bytes, _, unmappable) = BIG5.encode(text);
            assert!(!unmappable, "{text}");
            assert_eq!(guess(&bytes), (text.to_owned(), TextEncoding::Big5), "{text} {bytes:02x?}");
        }
    }

    #[test]
    fn latin1_words_are_not_big5() {
        for text in ["café", "Grüße", "niño", "Ça va", "São Paulo", "Ålesund", "Zürich", "crème brûlée", "£5"] {
            let bytes: Vec<u8> = text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect();
            assert_eq!(guess(&bytes), (text.to_owned(), TextEncoding::Latin1), "{text} {bytes:02x?}");
        }
    }

    /// Byte strings valid in several charsets with nothing to tell them apart: the
    /// guess is deterministic, the text is one of the valid readings, and the bytes stay.
    #[test]
    fn ambiguous_bytes_get_a_valid_reading() {
        for bytes in [&[0xB6u8, 0xC0][..], &[0xC3, 0xC4], &[0xA4, 0xA4], &[0xE0, 0xA1], &[0xB1, 0xB2, 0xB3, 0xB4]] {
            let (text, enc) = guess(bytes);
            let valid = match enc {
                TextEncoding::Big5 => strict(BIG5, bytes),
                TextEncoding::ShiftJis => strict(SHIFT_JIS, bytes),
                TextEncoding::Latin1 => Some(latin1(bytes)),
                other => panic!("{other:?}"),
            };
            assert_eq!(Some(text), valid, "{bytes:02x?}");
            assert_eq!(guess(bytes).1, enc);
        }
        // Big5 hanzi that read as plain kana without a mark (黃債, ｶﾀｶﾅ): the
        // evidence is even, and Big5 is this city's charset.
        assert_eq!(guess(&[0xB6, 0xC0]).1, TextEncoding::Big5);
        assert_eq!(guess(&[0xB6, 0xC0, 0xB6, 0xC5]).1, TextEncoding::Big5);
    }

    #[test]
    fn c1_controls_are_not_utf8_text() {
        // U+0085 as UTF-8 is C2 85; as Latin-1 "Â" and a control. Neither is text,
        // but the bytes are not silently called UTF-8.
        let (_, e) = guess(&[0xC2, 0x85]);
        assert_ne!(e, TextEncoding::Utf8);
    }

    #[test]
    fn eci_latin1_and_unknown() {
        assert_eq!(decode_text(b"\x80\xe9", Some(3), false), ("\u{80}é".to_owned(), TextEncoding::Eci(3)));
        // A declared charset that does not decode the bytes falls through to the guess.
        let (bytes, _, _) = SHIFT_JIS.encode("ﾃﾞｻﾞｲﾝ");
        assert_eq!(decode_text(&bytes, Some(26), false), ("ﾃﾞｻﾞｲﾝ".to_owned(), TextEncoding::ShiftJis));
        // A declared charset that does decode wins over the guess.
        assert_eq!(decode_text(&bytes, Some(28), false).1, TextEncoding::Eci(28));
    }

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
