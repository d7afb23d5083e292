package tw.gov.taipei.android

import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.runBlocking
import tw.gov.taipei.core.Attendance
import tw.gov.taipei.core.BindingsContract
import tw.gov.taipei.core.Client
import tw.gov.taipei.core.ClientConfig
import tw.gov.taipei.core.DeviceSigner
import tw.gov.taipei.core.ElapsedClock
import tw.gov.taipei.core.Event
import tw.gov.taipei.core.EventListener
import tw.gov.taipei.core.Login
import tw.gov.taipei.core.Meetings
import tw.gov.taipei.core.PunchRecord
import tw.gov.taipei.core.SecretStore
import tw.gov.taipei.core.SyncReport
import tw.gov.taipei.core.Wallet

/**
 * The generated [Client] in the shape Kotlin code expects: the core's events as a
 * [SharedFlow], `Int` where the generated API wants `UInt`/`Short`, and [close] that
 * shuts the core down (background sync stops, pending events are delivered, the
 * database closes) before freeing the native object. The generated objects stay
 * reachable through [client] and the capability properties for everything not
 * wrapped here.
 */
class TaipeiClient private constructor(
    val client: Client,
    private val bridge: FlowListener,
) : AutoCloseable {
    /**
     * Every event the core reports, in order. Replays nothing: collect before acting.
     * When a collector falls [EVENT_BUFFER] events behind, the oldest are dropped
     * rather than blocking the core's thread.
     */
    val events: SharedFlow<Event> = bridge.flow.asSharedFlow()

    val login: Login by lazy { client.login() }
    val meetings: Meetings by lazy { client.meetings() }
    val attendance: Attendance by lazy { client.attendance() }
    val wallet: Wallet by lazy { client.wallet() }

    suspend fun bindDevice(portalQrText: String) = client.bindDevice(portalQrText)
    suspend fun sync(): SyncReport = client.sync()
    fun device() = client.device()

    /** One BLE advert, with Android's `Int` RSSI (clamped to the core's range). */
    suspend fun feedAdvert(advert: ByteArray, rssi: Int, atMs: Long): PunchRecord? =
        attendance.feedAdvert(advert, rssi.coerceIn(Short.MIN_VALUE.toInt(), Short.MAX_VALUE.toInt()).toShort(), atMs)

    /** Blocks until the core has shut down; call it off the main thread. */
    override fun close() {
        try {
            runBlocking { client.shutdown() }
        } finally {
            client.close()
        }
    }

    internal class FlowListener : EventListener {
        val flow = MutableSharedFlow<Event>(extraBufferCapacity = EVENT_BUFFER, onBufferOverflow = BufferOverflow.DROP_OLDEST)

        // Called on the core's thread: never suspend there.
        override fun onEvent(event: Event) {
            flow.tryEmit(event)
        }
    }

    companion object {
        const val EVENT_BUFFER = 256

        /**
         * Opens the profile named in [config]; see `Client.open` for the defaults of null
         * arguments. Elapsed time comes from [clock] ([BootClock] unless a test passes
         * another). Fails with `BindingsMismatchException` when the native library is not
         * the build the generated Kotlin was made from.
         */
        suspend fun open(
            config: ClientConfig,
            signer: DeviceSigner? = null,
            secretStore: SecretStore? = null,
            clock: ElapsedClock = BootClock(),
        ): TaipeiClient {
            BindingsContract.verify()
            val bridge = FlowListener()
            return TaipeiClient(Client.open(config, signer, secretStore, bridge, clock), bridge)
        }
    }
}
