package tw.gov.taipei.tests

import tw.gov.taipei.core.ClientException
import tw.gov.taipei.core.debugPanic
import tw.gov.taipei.core.debugPanicAsync
import tw.gov.taipei.core.libraryVersion

/** A panic in Rust must arrive as a typed exception, and the library must keep working. */
val panicTests = listOf(
    test("a panic in a sync call is a typed exception") {
        val e = assertThrows<ClientException.Internal>("debugPanic") { debugPanic("boom-sync") }
        assertEquals("panic", e.code, "error code")
        check("boom-sync" in e.detail) { "the panic text is kept: ${e.detail}" }
        check(libraryVersion().isNotEmpty()) { "the library still answers" }
    },

    test("a panic on the runtime is a typed exception and the runtime survives") {
        repeat(3) { i ->
            val e = assertThrows<ClientException.Internal>("debugPanicAsync #$i") { debugPanicAsync("boom-async-$i") }
            assertEquals("panic", e.code, "error code")
            check("boom-async-$i" in e.detail) { "the panic text is kept: ${e.detail}" }
        }
        // The runtime's workers are still there: a full scenario after the panics.
        withServer { h ->
            withClient(h.config()) { client ->
                val device = h.bind(client, "u-7007", "after panic")
                assertEquals(device.deviceId, client.me().deviceId, "me after panics")
            }
        }
    },
)
