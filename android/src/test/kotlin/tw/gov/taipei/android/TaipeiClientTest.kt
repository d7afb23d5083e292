package tw.gov.taipei.android

import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.yield
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import tw.gov.taipei.core.AttendanceException
import tw.gov.taipei.core.Event

@RunWith(RobolectricTestRunner::class)
class TaipeiClientTest {
    @Test
    fun wrapsTheClientAndClosesIt() = runBlocking {
        val client = TaipeiClient.open(offlineConfig())
        val attendance = client.attendance
        client.use {
            assertNull(it.device())
            // Int RSSI beyond Short range is clamped, and the advert still reaches the core.
            val e = runCatching { it.feedAdvert(ByteArray(3), -100_000, 0) }.exceptionOrNull()
            assertEquals(AttendanceException.BadAdvert::class.java, e?.javaClass)
        }
        assertThrows(AttendanceException.Closed::class.java) { runBlocking { attendance.tick(0) } }
        Unit
    }

    @Test
    fun listenerEventsArriveOnTheFlow() = runBlocking {
        val bridge = TaipeiClient.FlowListener()
        val first = async { bridge.flow.first() }
        while (bridge.flow.subscriptionCount.value == 0) yield()
        bridge.onEvent(Event.SyncStarted)
        assertEquals(Event.SyncStarted, first.await())
        // A slow collector never blocks the core's thread: past the buffer, the oldest go.
        repeat(TaipeiClient.EVENT_BUFFER * 2) { bridge.onEvent(Event.SyncStarted) }
    }
}
