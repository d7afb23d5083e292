//! base64url without padding (RFC 4648 §5), the only base64 on the wire.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::ProtocolError;

pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict: padding, whitespace or the standard alphabet are refused, so one value
/// has exactly one encoding (signatures and idempotency hashes rely on that).
pub fn decode(text: &str) -> Result<Vec<u8>, ProtocolError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| ProtocolError::Malformed(format!("base64url: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_padding() {
        let data = b"\x00\xffhello";
        let text = encode(data);
        assert!(!text.contains('='));
        assert_eq!(decode(&text).unwrap(), data);
        assert!(decode("aGk=").is_err());
        assert!(decode("a+b/").is_err());
    }
}
