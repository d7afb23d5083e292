//! Elapsed time that keeps counting while the phone is suspended.
//!
//! A punch is stamped with the server time learned at the last configuration fetch
//! plus the time elapsed since. `std::time::Instant` stops while a phone sleeps
//! (Linux `CLOCK_MONOTONIC`, Apple `mach_absolute_time`), so a phone that slept for an
//! hour would stamp its punch an hour early. The clock here counts through suspend:
//! `CLOCK_BOOTTIME` on Android and Linux (through rustix, safe). Apple's counterpart,
//! `mach_continuous_time`, has no safe Rust wrapper and the core forbids `unsafe`, so
//! an iOS shell hands its own [`ElapsedClock`] in `Platform::clock` (the bindings' foreign
//! trait; the Swift glue reads `clock_gettime_nsec_np(CLOCK_MONOTONIC_RAW)`); without
//! one, the default falls back to `Instant`, which is correct while awake.

/// Milliseconds since a fixed, arbitrary point, counting through suspend. Only
/// differences of two readings mean anything; a reading never goes backwards.
pub trait ElapsedClock: Send + Sync {
    fn elapsed_ms(&self) -> u64;
}

/// The platform's clock that counts through suspend (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemElapsed;

impl ElapsedClock for SystemElapsed {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn elapsed_ms(&self) -> u64 {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        let secs = u64::try_from(t.tv_sec).unwrap_or(0);
        let millis = u64::try_from(t.tv_nsec).unwrap_or(0) / 1_000_000;
        secs.saturating_mul(1_000).saturating_add(millis)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn elapsed_ms(&self) -> u64 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let start = START.get_or_init(std::time::Instant::now);
        u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_moves_forward_with_wall_time() {
        let clock = SystemElapsed;
        let a = clock.elapsed_ms();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = clock.elapsed_ms();
        assert!(b >= a + 25, "{a} → {b}");
        assert!(b < a + 5_000, "{a} → {b}");
    }
}
