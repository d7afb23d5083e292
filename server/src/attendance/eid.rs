//! Eddystone-EID resolution (google/eddystone, eddystone-eid/eid-computation.md). The
//! identity keys live only here: phones get lists of EIDs, never a key.
//!
//! With identity key `IK`, rotation exponent `K` (an EID lasts 2^K seconds) and the
//! beacon time counter `t` (seconds since the beacon's epoch):
//! - temporary key `TK = AES-128(IK, 0x00×11 ‖ 0xFF ‖ 0x00 0x00 ‖ t[31..24] ‖ t[23..16])`;
//! - `EID = AES-128(TK, 0x00×11 ‖ K ‖ (t with its K low bits cleared)[4 BE])[..8]`.
//!
//! `ring` exposes no raw AES block, so this uses RustCrypto's `aes` (the one exception
//! to "ring for all crypto", on the server only).

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use taipei_protocol::attendance::EidWindow;
use taipei_protocol::beacon::hex;

/// The spec's range for the rotation exponent.
pub const MAX_ROTATION_EXPONENT: u8 = 15;
/// At most this many windows are listed for a phone, whatever `K`.
const MAX_WINDOWS: usize = 256;

fn aes_block(key: &[u8; 16], block: [u8; 16]) -> [u8; 16] {
    let cipher = Aes128::new(GenericArray::from_slice(key));
    let mut b = GenericArray::from(block);
    cipher.encrypt_block(&mut b);
    b.into()
}

/// The EID a beacon shows at time counter `t`.
pub fn compute(identity_key: &[u8; 16], k: u8, t: u32) -> [u8; 8] {
    let mut tk_input = [0u8; 16];
    tk_input[11] = 0xFF;
    tk_input[14] = (t >> 24) as u8;
    tk_input[15] = (t >> 16) as u8;
    let temporary_key = aes_block(identity_key, tk_input);
    let quantized = t & !(period_s(k) - 1);
    let mut eid_input = [0u8; 16];
    eid_input[11] = k;
    eid_input[12..].copy_from_slice(&quantized.to_be_bytes());
    let full = aes_block(&temporary_key, eid_input);
    let mut eid = [0u8; 8];
    eid.copy_from_slice(&full[..8]);
    eid
}

fn period_s(k: u8) -> u32 {
    1u32 << k.min(MAX_ROTATION_EXPONENT)
}

/// One registered EID beacon.
#[derive(Debug, Clone)]
pub struct EidBeacon {
    pub identity_key: [u8; 16],
    pub k: u8,
    /// Server time at which the beacon's time counter was 0.
    pub epoch_ms: i64,
}

impl EidBeacon {
    fn period_ms(&self) -> i64 {
        i64::from(period_s(self.k)) * 1000
    }

    /// The window (EID and validity) holding server time `at_ms`; none before the epoch
    /// or past the 32-bit counter.
    pub fn window_at(&self, at_ms: i64) -> Option<EidWindow> {
        let t = u32::try_from(at_ms.checked_sub(self.epoch_ms)?.div_euclid(1000)).ok()?;
        let start_s = t & !(period_s(self.k) - 1);
        let valid_from_ms = self.epoch_ms + i64::from(start_s) * 1000;
        Some(EidWindow {
            eid: hex(&compute(&self.identity_key, self.k, t)),
            valid_from_ms,
            valid_until_ms: valid_from_ms + self.period_ms(),
        })
    }

    /// The windows overlapping `[from_ms, until_ms)`, oldest first.
    pub fn windows(&self, from_ms: i64, until_ms: i64) -> Vec<EidWindow> {
        let mut out = Vec::new();
        let mut at = from_ms;
        while at < until_ms && out.len() < MAX_WINDOWS {
            let Some(w) = self.window_at(at) else { break };
            at = w.valid_until_ms;
            out.push(w);
        }
        out
    }

    /// Whether `eid` (hex) is this beacon's EID at `at_ms` or in the window just before:
    /// a phone may see the last EID of a window and punch a moment after it rotated.
    pub fn shows(&self, eid: &str, at_ms: i64) -> bool {
        [at_ms, at_ms.saturating_sub(self.period_ms())]
            .into_iter()
            .filter_map(|t| self.window_at(t))
            .any(|w| w.eid.eq_ignore_ascii_case(eid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IK: [u8; 16] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16];

    /// RadiusNetworks/ephemeral_calc spec/encryptor_spec.rb (shared beacons README).
    #[test]
    fn radius_networks_vectors() {
        assert_eq!(hex(&compute(&IK, 10, 0)), "a9b76a71c5f89290");
        assert_eq!(hex(&compute(&IK, 10, 2000)), "4144413e45fefa58");
        // Within one 1024 s window the EID does not change; across windows it does.
        assert_eq!(compute(&IK, 10, 1023), compute(&IK, 10, 0));
        assert_ne!(compute(&IK, 10, 1024), compute(&IK, 10, 0));
        assert_eq!(compute(&IK, 10, 2047), compute(&IK, 10, 2000));
    }

    #[test]
    fn windows_tile_time_and_yesterdays_eid_is_not_shown_today() {
        let beacon = EidBeacon { identity_key: IK, k: 10, epoch_ms: 1_000_000 };
        let w0 = beacon.window_at(1_000_000).unwrap();
        assert_eq!(w0.eid, "a9b76a71c5f89290");
        assert_eq!((w0.valid_from_ms, w0.valid_until_ms), (1_000_000, 1_000_000 + 1_024_000));
        let list = beacon.windows(1_000_000, 1_000_000 + 3 * 1_024_000);
        assert_eq!(list.len(), 3);
        assert!(list.windows(2).all(|p| p[0].valid_until_ms == p[1].valid_from_ms));
        assert_eq!(beacon.window_at(1_000_000 + 2_000_000).unwrap().eid, "4144413e45fefa58");
        assert!(beacon.shows("A9B76A71C5F89290", 1_500_000));
        // The previous window is still accepted just after the rotation...
        assert!(beacon.shows(&w0.eid, 1_000_000 + 1_100_000));
        // ...but a day later it is not.
        assert!(!beacon.shows(&w0.eid, 1_000_000 + 86_400_000));
        assert!(beacon.window_at(0).is_none());
    }
}
