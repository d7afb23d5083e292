package tw.gov.taipei.android

import java.io.File
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.runBlocking
import tw.gov.taipei.core.BindingsContract
import tw.gov.taipei.core.CallbackThreads
import tw.gov.taipei.core.Client
import tw.gov.taipei.core.ClientConfig
import tw.gov.taipei.core.DeviceSigner
import tw.gov.taipei.core.ElapsedClock
import tw.gov.taipei.core.Event
import tw.gov.taipei.core.EventListener
import tw.gov.taipei.core.Login
import tw.gov.taipei.core.Push
import tw.gov.taipei.core.SecretStore
import tw.gov.taipei.core.SyncReport
import tw.gov.taipei.core.Wallet
import tw.gov.taipei.core.fileSecretStore

/**
 * The generated [Client] in the shape Kotlin code expects: the core's events as a
 * [SharedFlow], `Int` where the generated API wants `UInt`/`Short`, and [close] that
 * shuts the core down (background sync stops, pending events are delivered, the
 * database closes) before freeing the native object. The generated objects stay
 * reachable through [client] and the capability properties for everything not
 * wrapped here.
 *
 * This file is what both apps share (login, wallet); the staff app's capabilities
 * (meetings, attendance) are extensions in the `taipeiOn` source set, so the
 * TaipeiPASS library compiles without them.
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
    val wallet: Wallet by lazy { client.wallet() }
    val push: Push by lazy { client.push() }

    suspend fun bindDevice(portalQrText: String) = client.bindDevice(portalQrText)
    suspend fun sync(): SyncReport = client.sync()

    /** Reads the profile database: call it off the main thread. */
    fun device() = client.device()

    /** A certificate's QR as PNG, with Android's `Int` module size. */
    suspend fun walletQrPng(id: String, modulePx: Int): ByteArray =
        wallet.renderQrPng(id, requireNonNegative(modulePx, "modulePx"))

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
         * The name of the one JVM thread every [EventListener] call arrives on (kept
         * attached for the client's life: see `CallbackThreads`).
         */
        const val EVENT_THREAD = CallbackThreads.EVENT_THREAD

        /**
         * Opens the profile named in [config] for an app that ships: the hardware key
         * ([KeystoreSigner]) and the keystore-sealed secrets ([KeystoreSecretStore]) are
         * required, so no release build can fall back to a key file next to the
         * database it seals. Elapsed time comes from [clock] ([BootClock] unless a test
         * passes another). Fails with `BindingsMismatchException` when the native
         * library is not the build the generated Kotlin was made from.
         */
        suspend fun open(
            config: ClientConfig,
            signer: DeviceSigner,
            secretStore: SecretStore,
            clock: ElapsedClock = BootClock(),
        ): TaipeiClient = openWith(config, signer, secretStore, clock)

        /**
         * Tests and tools only: a software key sealed in the profile and the data key in
         * a plain file under `<dataDir>/secrets`. Never call it from an app that ships:
         * anyone who copies the app's files has both the database and its key.
         */
        suspend fun openWithFileSecretsForTests(
            config: ClientConfig,
            signer: DeviceSigner? = null,
            clock: ElapsedClock = BootClock(),
        ): TaipeiClient = openWith(config, signer, fileSecretStore(File(config.dataDir, "secrets").path), clock)

        private suspend fun openWith(
            config: ClientConfig,
            signer: DeviceSigner?,
            secretStore: SecretStore,
            clock: ElapsedClock,
        ): TaipeiClient {
            BindingsContract.verify()
            val bridge = FlowListener()
            return TaipeiClient(Client.open(config, signer, secretStore, bridge, clock), bridge)
        }
    }
}

/** `Int` as the generated API's `UInt`, refusing a negative value the way the core refuses bad input. */
internal fun requireNonNegative(value: Int, name: String): UInt {
    require(value >= 0) { "$name must not be negative (got $value)" }
    return value.toUInt()
}
