package tw.gov.taipei.android

import java.util.Collections
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import tw.gov.taipei.core.Assurance
import tw.gov.taipei.core.Client
import tw.gov.taipei.core.Event
import tw.gov.taipei.core.EventListener
import tw.gov.taipei.core.LoginState
import tw.gov.taipei.core.WalletFilter
import tw.gov.taipei.tests.PlainBrowser
import tw.gov.taipei.tests.rootKey
import tw.gov.taipei.tests.withServer

/**
 * The staff app's path through the idiomatic layer against the reference server (the
 * one embedded in the test-hooks library): the Keystore classes (over a test key store)
 * open the profile, the phone binds with the Keystore key, approves a web login, syncs
 * and reads its wallet,
 * and every event reaches the flow on the one taipei-events thread.
 */
@RunWith(RobolectricTestRunner::class)
class ScenarioTest {
    private val prefs = RuntimeEnvironment.getApplication().getSharedPreferences("scenario", android.content.Context.MODE_PRIVATE)

    @Test
    fun bindLoginSyncAndWalletThroughTaipeiClient() = runBlocking {
        withServer { harness ->
            val keys = memoryKeyStore()
            val signer = KeystoreSigner(keys, "device", makeEcKey, level = { Assurance.HARDWARE })
            val secrets = KeystoreSecretStore(prefs, keys, "secrets", makeAesKey)
            TaipeiClient.open(harness.config().copy(walletRootKey = rootKey(harness)), signer, secrets).use { taipei ->
                // UNDISPATCHED: the collector subscribes before the call that emits.
                val bound = async(start = CoroutineStart.UNDISPATCHED) { taipei.events.first { it is Event.DeviceBound } }
                val device = taipei.bindDevice(harness.offerBinding("u-android", "安卓測試"))
                assertEquals(Assurance.HARDWARE, device.assurance)
                assertEquals(Event.DeviceBound(device.deviceId), bound.await())
                assertNotNull(taipei.device())

                // Login on a web page: the page's frame scanned, its number typed.
                val browser = PlainBrowser(harness.server.baseUrl())
                val prompt = taipei.login.scan(browser.frame())
                assertEquals(LoginState.Approved, taipei.login.approve(prompt, browser.number()).state)
                assertEquals(200, browser.redeem().statusCode())

                val finished = async(start = CoroutineStart.UNDISPATCHED) { taipei.events.first { it is Event.SyncFinished } }
                taipei.sync()
                finished.await()
                taipei.wallet.sync()
                assertEquals(0, taipei.wallet.list(WalletFilter()).items.size)
            }
        }
    }

    /**
     * Every event arrives on one JVM thread named taipei-events, the same Thread object
     * each time (JNA's default attaches and detaches per call: a new Thread each event).
     */
    @Test
    fun eventsArriveOnOneNamedThreadThatStaysAttached() = runBlocking {
        withServer { harness ->
            val threads = Collections.synchronizedList(mutableListOf<Thread>())
            val recorder = object : EventListener {
                override fun onEvent(event: Event) { threads += Thread.currentThread() }
            }
            // TaipeiClient sets the thread up for the process; a listener the app passes
            // to the generated Client directly is then delivered the same way.
            TaipeiClient.openWithFileSecretsForTests(harness.config("first")).close()
            val client = Client.open(harness.config("second"), null, null, recorder, null)
            try {
                harness.bind(client, "u-events", "事件")
                repeat(3) { client.sync() }
            } finally {
                client.shutdown()
                client.close()
            }
            assertTrue("too few events: ${threads.size}", threads.size >= 4)
            assertEquals(setOf(TaipeiClient.EVENT_THREAD), threads.map { it.name }.toSet())
            assertEquals("one Thread object for every event", 1, threads.toSet().size)
        }
    }
}
