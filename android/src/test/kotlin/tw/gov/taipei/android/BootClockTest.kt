package tw.gov.taipei.android

import android.os.SystemClock
import java.time.Duration
import org.junit.Assert.assertEquals
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.shadows.ShadowSystemClock

@RunWith(RobolectricTestRunner::class)
class BootClockTest {
    @Test
    fun countsTheTimeTheDeviceSlept() {
        val clock = BootClock()
        val before = clock.elapsedMs()
        assertEquals(SystemClock.elapsedRealtime().toULong(), before)
        // Deep sleep: no code runs, the boot-time clock moves on. Robolectric's clock moves
        // only when told, so the hour is exact. (Robolectric moves uptime with it: only a
        // device shows that uptime stops in deep sleep and this clock does not.)
        ShadowSystemClock.advanceBy(Duration.ofHours(1))
        assertEquals(before + 3_600_000uL, clock.elapsedMs())
    }
}
