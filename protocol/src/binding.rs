//! The device-binding QR a portal shows once the person has proven who they are.
//!
//! `TPB1:` + base45(bid[16] ‖ bnonce[16] ‖ exp_ms[8, big-endian]). Every character is
//! in the QR alphanumeric set, so the code stays small. The QR carries no URL: the
//! phone only ever talks to its own configured server.

use crate::ProtocolError;

pub const PREFIX: &str = "TPB1:";
const ID_LEN: usize = 16;
const NONCE_LEN: usize = 16;
const PAYLOAD_LEN: usize = ID_LEN + NONCE_LEN + 8;

#[derive(Clone, PartialEq, Eq)]
pub struct BindingQr {
    /// Binding request id, chosen by the server.
    pub bid: [u8; ID_LEN],
    /// One-time nonce the device signs over together with its public key.
    pub bnonce: [u8; NONCE_LEN],
    /// When the offer lapses (UTC ms, server clock).
    pub expires_at_ms: i64,
}

// The nonce is what makes the offer one person's: never in a log line.
crate::debug_redacted!(BindingQr { bid, expires_at_ms; bnonce });

impl BindingQr {
    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(PAYLOAD_LEN);
        raw.extend_from_slice(&self.bid);
        raw.extend_from_slice(&self.bnonce);
        raw.extend_from_slice(&self.expires_at_ms.to_be_bytes());
        format!("{PREFIX}{}", base45::encode(&raw))
    }

    pub fn decode(text: &str) -> Result<Self, ProtocolError> {
        let body = text.trim().strip_prefix(PREFIX).ok_or_else(|| {
            ProtocolError::WrongPrefix(format!("a device-binding code starts with {PREFIX}"))
        })?;
        let raw = base45::decode(body)
            .map_err(|e| ProtocolError::Malformed(format!("binding code is not base45: {e:?}")))?;
        if raw.len() != PAYLOAD_LEN {
            return Err(ProtocolError::Malformed(format!(
                "binding code holds {} bytes, expected {PAYLOAD_LEN}",
                raw.len()
            )));
        }
        let mut bid = [0u8; ID_LEN];
        bid.copy_from_slice(&raw[..ID_LEN]);
        let mut bnonce = [0u8; NONCE_LEN];
        bnonce.copy_from_slice(&raw[ID_LEN..ID_LEN + NONCE_LEN]);
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&raw[ID_LEN + NONCE_LEN..]);
        Ok(Self { bid, bnonce, expires_at_ms: i64::from_be_bytes(exp) })
    }

    /// The binding id as it appears in JSON (`bid`).
    pub fn bid_text(&self) -> String {
        crate::b64::encode(self.bid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_stays_alphanumeric() {
        let qr = BindingQr { bid: [7; 16], bnonce: [200; 16], expires_at_ms: 1_790_000_000_123 };
        let text = qr.encode();
        assert!(text.chars().all(|c| "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(c)));
        assert_eq!(BindingQr::decode(&text).unwrap(), qr);
    }

    #[test]
    fn refuses_foreign_and_truncated_codes() {
        assert!(matches!(BindingQr::decode("https://evil.example"), Err(ProtocolError::WrongPrefix(_))));
        assert!(matches!(BindingQr::decode("TPB1:abc"), Err(ProtocolError::Malformed(_))));
        let short = format!("{PREFIX}{}", base45::encode([1u8; 10]));
        assert!(matches!(BindingQr::decode(&short), Err(ProtocolError::Malformed(_))));
    }
}
