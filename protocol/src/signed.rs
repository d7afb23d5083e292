//! The exact bytes a device signature covers.
//!
//! Every signed message starts with its own domain-separation tag and then carries
//! each field length-prefixed (u32 big-endian), so no two different messages — of the
//! same purpose or of two purposes — can ever produce the same bytes. A signature made
//! for a login can therefore never be replayed as a punch or a device binding.

/// Domain-separation tags, one per purpose. A new purpose gets a new tag; a changed
/// layout gets a new version suffix.
pub mod tags {
    pub const BIND: &str = "TPQ-BIND-v1";
    pub const LOGIN: &str = "TPQ-LOGIN-v1";
    pub const MEET: &str = "TPQ-MEET-v1";
    pub const PUNCH: &str = "TPQ-PUNCH-v1";
    pub const ACT: &str = "TPQ-ACT-v1";
    pub const REPORT: &str = "TPQ-REPORT-v1";
    pub const APPROVE: &str = "TPQ-APPROVE-v1";
    /// A push message signed by the server (not a device).
    pub const PUSH: &str = "TPQ-PUSH-v1";
}

/// Builder for the bytes to sign: `tag ‖ (len ‖ field)*`.
#[derive(Debug, Clone)]
pub struct SignedMessage {
    bytes: Vec<u8>,
}

impl SignedMessage {
    pub fn new(tag: &str) -> Self {
        let mut m = Self { bytes: Vec::with_capacity(128) };
        m.push(tag.as_bytes());
        m
    }

    fn push(&mut self, field: &[u8]) {
        // Fields are small (ids, nonces, hashes); a field over 4 GiB cannot occur.
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(field);
    }

    pub fn bytes(mut self, field: &[u8]) -> Self {
        self.push(field);
        self
    }

    pub fn text(self, field: &str) -> Self {
        self.bytes(field.as_bytes())
    }

    pub fn u64(self, value: u64) -> Self {
        self.bytes(&value.to_be_bytes())
    }

    pub fn i64(self, value: i64) -> Self {
        self.bytes(&value.to_be_bytes())
    }

    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// What a device signs when it binds: `BIND ‖ bid ‖ bnonce ‖ public key`.
pub fn binding_message(bid: &[u8], bnonce: &[u8], public_key: &[u8]) -> Vec<u8> {
    SignedMessage::new(tags::BIND).bytes(bid).bytes(bnonce).bytes(public_key).finish()
}

/// What a device signs for a problem report it files (`POST /v1/reports`).
pub fn report_message(device_id: &str, kind: &str, text: &str, client_time_ms: i64) -> Vec<u8> {
    SignedMessage::new(tags::REPORT)
        .text(device_id)
        .text(kind)
        .text(text)
        .i64(client_time_ms)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_separate_purposes_and_fields_cannot_shift() {
        let a = SignedMessage::new(tags::LOGIN).text("ab").text("c").finish();
        let b = SignedMessage::new(tags::LOGIN).text("a").text("bc").finish();
        let c = SignedMessage::new(tags::PUNCH).text("ab").text("c").finish();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with(&[0, 0, 0, 12]));
        assert_eq!(&a[4..16], b"TPQ-LOGIN-v1");
    }
}
