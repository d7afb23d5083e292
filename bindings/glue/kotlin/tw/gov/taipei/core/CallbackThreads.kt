package tw.gov.taipei.core

import com.sun.jna.CallbackThreadInitializer
import com.sun.jna.Native

/**
 * How the core's own threads appear to the JVM when they call back into Kotlin.
 *
 * The core delivers every event from one native thread of its own. JNA's default
 * attaches such a thread for each call and detaches it after, so each event saw a new
 * `Thread` object ("Thread-8", "Thread-9", ...): no stable ThreadLocals, nothing a
 * Looper or a tracer could hold on to. Kept attached and named, it is one JVM thread,
 * [EVENT_THREAD], for the life of the client; JNA detaches it when the native thread
 * ends at shutdown. Daemon: it never keeps the JVM alive.
 *
 * JNA reads the initializer when it makes the native entry point of a callback, which
 * the generated code does while it binds the library: the scripts call [install]
 * there, right after the contract check (`scripts/lib/bindings.sh`).
 */
object CallbackThreads {
    const val EVENT_THREAD = "taipei-events"

    fun install() {
        Native.setCallbackThreadInitializer(
            uniffiCallbackInterfaceEventListener.`onEvent`,
            CallbackThreadInitializer(true, false, EVENT_THREAD),
        )
    }
}
