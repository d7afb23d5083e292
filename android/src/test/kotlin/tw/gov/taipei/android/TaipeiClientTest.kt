package tw.gov.taipei.android

import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.yield
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import tw.gov.taipei.core.Event
import tw.gov.taipei.core.WalletException

@RunWith(RobolectricTestRunner::class)
class TaipeiClientTest {
    @Test
    fun wrapsTheClientAndClosesIt() {
        val wallet = withOfflineClient({ it.wallet }) { client, _ ->
            assertNull(client.device())
            // The Int overload refuses a negative size before anything reaches the core.
            assertThrows(IllegalArgumentException::class.java) { runBlocking { client.walletQrPng("x", -1) } }
            val e = runCatching { client.walletQrPng("no-such-card", 4) }.exceptionOrNull()
            assertTrue("unknown card: $e", e is WalletException)
        }
        assertThrows(WalletException.Closed::class.java) { runBlocking { wallet.list(tw.gov.taipei.core.WalletFilter()) } }
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
