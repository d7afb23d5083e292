//! The server's clock as this phone estimates it. Signed records and DPoP proofs are
//! stamped with it; the phone's own wall clock is never trusted alone.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The phone's wall clock in UTC ms.
pub fn local_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Offset to add to local time: the server stamped its reply at about the midpoint of
/// our send and receive instants.
pub fn offset_from(sent_ms: i64, received_ms: i64, server_ms: i64) -> i64 {
    let midpoint = sent_ms + (received_ms - sent_ms) / 2;
    server_ms - midpoint
}

#[derive(Debug, Default)]
pub struct ServerClock {
    offset_ms: AtomicI64,
    learned: AtomicBool,
}

impl ServerClock {
    pub fn learn(&self, sent_ms: i64, received_ms: i64, server_ms: i64) {
        if received_ms < sent_ms || server_ms <= 0 {
            return; // the local clock jumped mid-request: the sample is meaningless
        }
        self.offset_ms.store(offset_from(sent_ms, received_ms, server_ms), Ordering::Relaxed);
        self.learned.store(true, Ordering::Relaxed);
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Whether any reply has taught the offset yet.
    pub fn is_learned(&self) -> bool {
        self.learned.load(Ordering::Relaxed)
    }

    pub fn now_ms(&self) -> i64 {
        local_now_ms().saturating_add(self.offset_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_uses_the_round_trip_midpoint() {
        // Sent at 1000, back at 1200; the server said 5100 → it is 4000 ahead.
        assert_eq!(offset_from(1_000, 1_200, 5_100), 4_000);
        assert_eq!(offset_from(1_000, 1_000, 400), -600);
        let clock = ServerClock::default();
        assert!(!clock.is_learned());
        clock.learn(1_000, 1_200, 5_100);
        assert_eq!(clock.offset_ms(), 4_000);
        assert!(clock.is_learned());
        clock.learn(2_000, 1_000, 9_999); // time went backwards: ignored
        assert_eq!(clock.offset_ms(), 4_000);
        let now = clock.now_ms() - local_now_ms();
        assert!((3_990..=4_010).contains(&now));
    }
}
