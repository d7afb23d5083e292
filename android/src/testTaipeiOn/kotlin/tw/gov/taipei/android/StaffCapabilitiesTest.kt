package tw.gov.taipei.android

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import tw.gov.taipei.core.AttendanceException

@RunWith(RobolectricTestRunner::class)
class StaffCapabilitiesTest {
    @Test
    fun attendanceTakesAnIntRssiAndAnswersClosedAfterClose() {
        val attendance = withOfflineClient({ it.attendance }) { client, _ ->
            // Int RSSI beyond Short range is clamped, and the advert still reaches the core.
            val e = runCatching { client.feedAdvert(ByteArray(3), -100_000, 0) }.exceptionOrNull()
            assertEquals(AttendanceException.BadAdvert::class.java, e?.javaClass)
        }
        assertThrows(AttendanceException.Closed::class.java) { runBlocking { attendance.tick(0) } }
    }
}
