package tw.gov.taipei.android

import android.os.SystemClock
import tw.gov.taipei.core.ElapsedClock

/**
 * The core's [ElapsedClock] on Android: [SystemClock.elapsedRealtimeNanos], the boot-time
 * clock, which keeps counting in deep sleep (unlike `uptimeMillis` and `System.nanoTime`).
 * The core's own default reads the same clock (`CLOCK_BOOTTIME`); passing this one keeps
 * the app and the core on one time base (the scan callbacks' `timestampNanos` is
 * elapsed-realtime too) and lets tests move it.
 */
class BootClock : ElapsedClock {
    override fun elapsedMs(): ULong = (SystemClock.elapsedRealtimeNanos() / 1_000_000L).toULong()
}
