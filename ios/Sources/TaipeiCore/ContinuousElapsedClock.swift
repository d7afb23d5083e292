import Foundation

/// Elapsed time that counts while the phone sleeps, for the core's punch stamps
/// (`Client.open(..., clock: ContinuousElapsedClock())`). The core's own clock uses
/// `Instant` on Apple platforms, which stops during sleep: a phone that slept an hour
/// would stamp its punch an hour early. `CLOCK_MONOTONIC_RAW` on Darwin is
/// `mach_continuous_time` in nanoseconds: it keeps counting through sleep and never
/// jumps with the wall clock.
public final class ContinuousElapsedClock: ElapsedClock {
    public init() {}

    public func elapsedMs() -> UInt64 {
        clock_gettime_nsec_np(CLOCK_MONOTONIC_RAW) / 1_000_000
    }
}
