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
    fun attendanceTakesAnIntRssiAndAnswersClosedAfterClose() = runBlocking {
        val client = TaipeiClient.openWithFileSecretsForTests(offlineConfig())
        val attendance = client.attendance
        client.use {
            // Int RSSI beyond Short range is clamped, and the advert still reaches the core.
            val e = runCatching { it.feedAdvert(ByteArray(3), -100_000, 0) }.exceptionOrNull()
            assertEquals(AttendanceException.BadAdvert::class.java, e?.javaClass)
        }
        assertThrows(AttendanceException.Closed::class.java) { runBlocking { attendance.tick(0) } }
        Unit
    }
}
