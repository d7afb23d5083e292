package tw.gov.taipei.bench

import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import tw.gov.taipei.core.Client
import tw.gov.taipei.core.ClientConfig
import tw.gov.taipei.core.fileSecretStore
import tw.gov.taipei.core.EcLevel
import tw.gov.taipei.core.decodeLuma
import tw.gov.taipei.core.libraryVersion
import tw.gov.taipei.core.renderPng

/**
 * Not a test: measures the FFI from Kotlin on the JVM, against the release library.
 *  - one trivial synchronous call (`Client.serverNowMs()`: a handle, an atomic read, an i64 back)
 *  - one async call round-trip (`Client.outbox()` on an empty profile: suspend, runtime hop, SQLite read)
 *  - the cold open of a profile (new, then existing), including SQLite migrations.
 *  - one decoded camera frame: a 1280×720 luma plane with row padding, as CameraX hands
 *    it over, holding one code, through `decodeLuma` (the 0.9 MB copy into the library
 *    and the decode), and the same call on a blank 16×16 plane (an upper bound of the call's fixed cost:
 *    the engine still runs its passes over it).
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

        // The release library an app ships refuses a null secret store (no silent key file).
        val refused = runCatching { Client.open(config("no-store"), null, null, null) }.exceptionOrNull()
        check(refused is tw.gov.taipei.core.ClientException.InvalidInput && refused.code == "config") {
            "the release library opened a profile without a secret store: $refused"
        }
        println("release library: a null secret store is refused (${refused.code})")

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

        val (frame, stride) = cameraFrame("TPL1:bench-frame-0123456789")
        val frames = 100
        repeat(10) { sink += decodeLuma(frame, 1280u, 720u, stride.toUInt()).size }
        val t5 = System.nanoTime()
        repeat(frames) { sink += decodeLuma(frame, 1280u, 720u, stride.toUInt()).size }
        val frameMs = (System.nanoTime() - t5).toDouble() / frames / 1e6
        check(decodeLuma(frame, 1280u, 720u, stride.toUInt()).single().text == "TPL1:bench-frame-0123456789")
        println("camera frame 1280x720 (stride %d) decoded from Kotlin: %.2f ms/frame over %d frames".format(stride, frameMs, frames))
        val tiny = ByteArray(16 * 16) { 0x80.toByte() }
        repeat(20_000) { sink += decodeLuma(tiny, 16u, 16u, 16u).size }
        val t6 = System.nanoTime()
        repeat(100_000) { sink += decodeLuma(tiny, 16u, 16u, 16u).size }
        val tinyUs = (System.nanoTime() - t6).toDouble() / 100_000 / 1e3
        println("decodeLuma on a blank 16x16 plane (the call plus the engine's passes over an empty plane: an upper bound of the call's fixed cost): %.1f us/call".format(tinyUs))

        client.shutdown(); client.close()
        if (sink == 42L) println() // keeps the JIT from dropping the loop
    } finally {
        dir.toFile().deleteRecursively()
    }
}

/** A 1280×720 luma plane (row stride 1344, as camera HALs pad) with one code in its middle, grey around. */
private fun cameraFrame(text: String): Pair<ByteArray, Int> {
    val width = 1280
    val height = 720
    val stride = 1344
    val image = javax.imageio.ImageIO.read(java.io.ByteArrayInputStream(renderPng(text, EcLevel.M, 4u, 6u)))
    val plane = ByteArray(stride * height) { 0x70 }
    val left = (width - image.width) / 2
    val top = (height - image.height) / 2
    for (y in 0 until image.height) for (x in 0 until image.width) {
        plane[(top + y) * stride + left + x] = (image.getRGB(x, y) and 0xff).toByte()
    }
    return plane to stride
}
