package tw.gov.taipei.bench

import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import tw.gov.taipei.core.Client
import tw.gov.taipei.core.ClientConfig
import tw.gov.taipei.core.fileSecretStore
import tw.gov.taipei.core.libraryVersion

/**
 * Not a test: measures the FFI from Kotlin on the JVM, against the release library.
 *  - one trivial synchronous call (`Client.serverNowMs()`: a handle, an atomic read, an i64 back)
 *  - one async call round-trip (`Client.outbox()` on an empty profile: suspend, runtime hop, SQLite read)
 *  - the cold open of a profile (new, then existing), including SQLite migrations.
 */
fun main() = runBlocking {
    val dir = Files.createTempDirectory("taipei-bench")
    try {
        fun config(profile: String) = ClientConfig(
            dataDir = dir.toString(), profile = profile,
            // Nothing listens there: nothing in this bench touches the network.
            serverUrl = "http://127.0.0.1:9", deviceName = "bench", syncIntervalSecs = 0uL,
        )
        val secrets = fileSecretStore(dir.resolve("secrets").toString())

        val t0 = System.nanoTime()
        val first = Client.open(config("cold"), null, secrets, null)
        val createMs = (System.nanoTime() - t0) / 1e6
        first.shutdown(); first.close()
        val t1 = System.nanoTime()
        val client = Client.open(config("cold"), null, secrets, null)
        val reopenMs = (System.nanoTime() - t1) / 1e6
        println("open new profile: %.1f ms".format(createMs))
        println("open existing profile: %.1f ms".format(reopenMs))

        val syncCalls = 1_000_000
        var sink = 0L
        repeat(200_000) { sink += client.serverNowMs() } // warm-up: JIT and JNA paths
        val t2 = System.nanoTime()
        repeat(syncCalls) { sink += client.serverNowMs() }
        val syncNs = (System.nanoTime() - t2).toDouble() / syncCalls
        println("sync FFI call (serverNowMs): %.0f ns/call over %d calls".format(syncNs, syncCalls))

        // For comparison: a free function without an object handle or error status.
        repeat(200_000) { sink += libraryVersion().length }
        val t4 = System.nanoTime()
        repeat(syncCalls) { sink += libraryVersion().length }
        val versionNs = (System.nanoTime() - t4).toDouble() / syncCalls
        println("sync FFI call (libraryVersion, String back): %.0f ns/call over %d calls".format(versionNs, syncCalls))

        val asyncCalls = 20_000
        repeat(2_000) { client.outbox() }
        val t3 = System.nanoTime()
        repeat(asyncCalls) { client.outbox() }
        val asyncUs = (System.nanoTime() - t3).toDouble() / asyncCalls / 1e3
        println("async FFI call (outbox, SQLite read): %.1f us/call over %d calls".format(asyncUs, asyncCalls))

        client.shutdown(); client.close()
        if (sink == 42L) println() // keeps the JIT from dropping the loop
    } finally {
        dir.toFile().deleteRecursively()
    }
}
