//! A small strict DER reader: definite lengths in minimal form, single-byte tags, no
//! trailing bytes where a structure must end. Enough to walk an X.509 certificate to
//! the three things a certificate verifier needs from it (see `dsc`).

use super::CertError;

pub const SEQUENCE: u8 = 0x30;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const BOOLEAN: u8 = 0x01;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
/// Context tags of TBSCertificate: `version [0] EXPLICIT`, `extensions [3] EXPLICIT`.
pub const TAG_VERSION: u8 = 0xa0;
pub const TAG_EXTENSIONS: u8 = 0xa3;

fn err(what: impl Into<String>) -> CertError {
    CertError::BadSignerCertificate(what.into())
}

/// A cursor over the contents of one constructed value.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads any one element: its tag and its contents.
    pub fn any(&mut self) -> Result<(u8, &'a [u8]), CertError> {
        let (&tag, after_tag) = self.rest.split_first().ok_or_else(|| err("DER: truncated"))?;
        if tag & 0x1f == 0x1f {
            return Err(err("DER: multi-byte tags are not used in certificates"));
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or_else(|| err("DER: truncated length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return Err(err("DER: indefinite length"));
            }
            if n > 4 || after_len.len() < n {
                return Err(err("DER: length too large or truncated"));
            }
            let (len_bytes, rest) = after_len.split_at(n);
            after_len = rest;
            if len_bytes[0] == 0 {
                return Err(err("DER: non-minimal length"));
            }
            let len = len_bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(err("DER: non-minimal length"));
            }
            len
        };
        if after_len.len() < len {
            return Err(err("DER: value runs past its container"));
        }
        let (contents, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok((tag, contents))
    }

    /// Reads one element that must carry `tag`, returning its whole encoding (tag
    /// and length included): what a signature over a `TBSCertificate` covers.
    pub fn expect_raw(&mut self, tag: u8, what: &str) -> Result<&'a [u8], CertError> {
        let before = self.rest;
        self.expect(tag, what)?;
        Ok(&before[..before.len() - self.rest.len()])
    }

    /// Reads one element that must carry `tag`.
    pub fn expect(&mut self, tag: u8, what: &str) -> Result<&'a [u8], CertError> {
        match self.any()? {
            (t, contents) if t == tag => Ok(contents),
            (t, _) => Err(err(format!("{what}: expected tag 0x{tag:02x}, found 0x{t:02x}"))),
        }
    }

    /// Reads the element with `tag` if it comes next.
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, CertError> {
        if self.peek_tag() == Some(tag) { self.any().map(|(_, c)| Some(c)) } else { Ok(None) }
    }

    pub fn finish(&self, what: &str) -> Result<(), CertError> {
        if self.rest.is_empty() { Ok(()) } else { Err(err(format!("{what}: trailing bytes"))) }
    }
}

/// Reads exactly one element with `tag` spanning all of `data`.
pub fn single<'a>(data: &'a [u8], tag: u8, what: &str) -> Result<&'a [u8], CertError> {
    let mut r = Reader::new(data);
    let contents = r.expect(tag, what)?;
    r.finish(what)?;
    Ok(contents)
}

/// The dotted form of an OBJECT IDENTIFIER's contents (`1.3.6.1.4.1.1847.2021.1.2`).
pub fn oid_to_string(contents: &[u8]) -> Result<String, CertError> {
    if contents.is_empty() || contents.last().is_some_and(|b| b & 0x80 != 0) {
        return Err(err("OID: empty or truncated"));
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut fresh = true;
    for &b in contents {
        if fresh && b == 0x80 {
            return Err(err("OID: non-minimal arc"));
        }
        value = value.checked_mul(128).ok_or_else(|| err("OID: arc too large"))? | u64::from(b & 0x7f);
        fresh = b & 0x80 == 0;
        if fresh {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    Ok(arcs.iter().map(u64::to_string).collect::<Vec<_>>().join("."))
}

/// The contents of a BIT STRING that must have no unused bits (keys, signatures).
pub fn bit_string_bytes(contents: &[u8]) -> Result<&[u8], CertError> {
    match contents.split_first() {
        Some((0, bytes)) => Ok(bytes),
        _ => Err(err("BIT STRING: empty or with unused bits")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_oids() {
        // 1.3.6.1.4.1.1847.2021.1.2, the DCC vaccination key usage.
        let oid = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x8e, 0x37, 0x8f, 0x65, 0x01, 0x02];
        assert_eq!(oid_to_string(&oid).unwrap(), "1.3.6.1.4.1.1847.2021.1.2");
        assert_eq!(oid_to_string(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]).unwrap(), "1.2.840.10045.2.1");
        assert!(oid_to_string(&[0x2b, 0x86]).is_err());
        assert!(oid_to_string(&[0x2b, 0x80, 0x01]).is_err());
        assert!(oid_to_string(&[]).is_err());
    }

    #[test]
    fn refuses_sloppy_lengths() {
        assert!(Reader::new(&[0x30, 0x80, 0x00, 0x00]).any().is_err()); // indefinite
        assert!(Reader::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).any().is_err()); // non-minimal
        assert!(Reader::new(&[0x04, 0x05, 1, 2]).any().is_err()); // truncated
        assert!(Reader::new(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).any().is_err());
        assert!(single(&[0x04, 0x00, 0x00], OCTET_STRING, "x").is_err()); // trailing
        assert_eq!(single(&[0x04, 0x02, 7, 8], OCTET_STRING, "x").unwrap(), &[7, 8]);
    }
}
