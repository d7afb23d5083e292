//! The data segments of a corrected symbol: payload bytes, and what the text decoder
//! needs to know besides (the first ECI designator, whether kanji mode was used).
//!
//! Parsing is strict: a mode indicator QR does not define, a count running past the
//! data, or a digit or character value out of its range makes the whole symbol
//! unreadable rather than a guess.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StreamInfo {
    /// The first ECI designator in the stream.
    pub eci: Option<u32>,
    pub has_kanji: bool,
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn take(&mut self, n: usize) -> Option<u32> {
        if self.pos + n > self.data.len() * 8 {
            return None;
        }
        let mut v = 0u32;
        for _ in 0..n {
            let bit = (self.data[self.pos / 8] >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(v)
    }
    fn remaining(&self) -> usize {
        self.data.len() * 8 - self.pos
    }
}

const ALPHANUMERIC: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Parses the segments of a symbol's data codewords into its payload bytes.
pub(crate) fn parse(data: &[u8], version: usize) -> Option<(Vec<u8>, StreamInfo)> {
    let size_class = match version {
        0..=9 => 0,
        10..=26 => 1,
        _ => 2,
    };
    let mut r = BitReader { data, pos: 0 };
    let mut out = Vec::with_capacity(data.len());
    let mut info = StreamInfo::default();
    while r.remaining() >= 4 {
        match r.take(4)? {
            0 => break,
            1 => {
                let mut count = r.take([10, 12, 14][size_class])? as usize;
                while count > 0 {
                    let digits = count.min(3);
                    let v = r.take([0, 4, 7, 10][digits])?;
                    if v >= [1, 10, 100, 1000][digits] {
                        return None;
                    }
                    out.extend(format!("{v:0digits$}").bytes());
                    count -= digits;
                }
            }
            2 => {
                let mut count = r.take([9, 11, 13][size_class])? as usize;
                while count > 0 {
                    let chars = count.min(2);
                    let v = r.take([0, 6, 11][chars])? as usize;
                    if v >= [1, 45, 45 * 45][chars] {
                        return None;
                    }
                    if chars == 2 {
                        out.push(*ALPHANUMERIC.get(v / 45)?);
                    }
                    out.push(*ALPHANUMERIC.get(v % 45)?);
                    count -= chars;
                }
            }
            4 => {
                let count = r.take([8, 16, 16][size_class])?;
                for _ in 0..count {
                    out.push(r.take(8)? as u8);
                }
            }
            8 => {
                info.has_kanji = true;
                let count = r.take([8, 10, 12][size_class])?;
                for _ in 0..count {
                    let d = r.take(13)?;
                    let packed = (d / 0xC0) << 8 | (d % 0xC0);
                    let sjis = if packed + 0x8140 <= 0x9FFC { packed + 0x8140 } else { packed + 0xC140 };
                    out.extend_from_slice(&(sjis as u16).to_be_bytes());
                }
            }
            7 => {
                let first = r.take(8)?;
                let eci = if first & 0x80 == 0 {
                    first
                } else if first & 0xC0 == 0x80 {
                    (first & 0x3F) << 8 | r.take(8)?
                } else {
                    (first & 0x1F) << 16 | r.take(16)?
                };
                info.eci.get_or_insert(eci);
            }
            // Structured append (symbol index, count and parity): the payload is this
            // symbol's part as it stands.
            3 => {
                r.take(16)?;
            }
            // FNC1 (GS1 or an application's indicator): no payload of its own.
            5 => {}
            9 => {
                r.take(8)?;
            }
            _ => return None,
        }
    }
    Some((out, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_eci_byte_and_kanji_segments() {
        // ECI 28, byte mode 2 bytes [0xA4, 0x40], kanji 1 char (SJIS 0x935F), terminator.
        let mut bits = String::new();
        bits += "0111"; bits += &format!("{:08b}", 28);
        bits += "0100"; bits += &format!("{:08b}", 2); bits += "1010010001000000";
        bits += "1000"; bits += &format!("{:08b}", 1);
        let packed = 0x935Fu32 - 0x8140;
        bits += &format!("{:013b}", (packed >> 8) * 0xC0 + (packed & 0xFF));
        bits += "0000";
        while bits.len() % 8 != 0 {
            bits.push('0');
        }
        let data: Vec<u8> = bits.as_bytes().chunks(8).map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap()).collect();
        let (bytes, info) = parse(&data, 1).unwrap();
        assert_eq!(bytes, [0xA4, 0x40, 0x93, 0x5F]);
        assert_eq!(info, StreamInfo { eci: Some(28), has_kanji: true });
    }

    #[test]
    fn out_of_range_values_and_unknown_modes_are_refused() {
        let pack = |bits: &str| -> Vec<u8> {
            let mut bits = bits.to_string();
            while bits.len() % 8 != 0 {
                bits.push('0');
            }
            bits.as_bytes().chunks(8).map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap()).collect()
        };
        // Numeric, 3 digits "999" is fine; 1000+ in 10 bits is not a digit triple.
        assert_eq!(parse(&pack(&format!("0001{:010b}{:010b}0000", 3, 999)), 1).unwrap().0, b"999");
        assert!(parse(&pack(&format!("0001{:010b}{:010b}0000", 3, 1000)), 1).is_none());
        // Alphanumeric pair value 45*45 is past the table.
        assert!(parse(&pack(&format!("0010{:09b}{:011b}0000", 2, 2025)), 1).is_none());
        // Mode 6 does not exist.
        assert!(parse(&pack("0110000000000000"), 1).is_none());
        // A count running past the data.
        assert!(parse(&pack(&format!("0100{:08b}0100000100000000", 9)), 1).is_none());
    }
}
