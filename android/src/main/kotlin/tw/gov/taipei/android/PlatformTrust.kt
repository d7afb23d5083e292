package tw.gov.taipei.android

import android.content.Context
import android.util.Log

/**
 * HTTPS that trusts what the phone trusts (Android's certificate store, user CAs only
 * where the app's network security config allows them): the core verifies servers with
 * rustls-platform-verifier, which calls Android's `X509TrustManager` through JNI and
 * needs the process's JavaVM and the app's Context once, before the first client opens
 * with `rootCertsPem = null`. Until then such an open fails with `net_config` naming
 * this class; a profile given `rootCertsPem` never needs it.
 *
 * [TaipeiInitProvider] calls [init] at app start, so an app does nothing; an app that
 * removes the provider from its merged manifest calls `PlatformTrust.init(context)` in
 * `Application.onCreate` instead.
 */
object PlatformTrust {
    private const val TAG = "taipei"

    @Volatile
    private var ready = false

    /**
     * Hands the application context to the verifier; idempotent and thread-safe.
     * Returns whether the platform verifier is ready. Never throws: a failure is
     * logged, and the core then refuses https without `rootCertsPem` at open, with
     * a message naming this class.
     */
    @JvmStatic
    fun init(context: Context): Boolean = init(context, { System.loadLibrary("taipei_ffi") }, ::nativeInit)

    /** [init] with the library load and the native call given (tests). */
    internal fun init(context: Context, loadLibrary: () -> Unit, native: (Context) -> Unit): Boolean {
        synchronized(this) {
            if (!ready) ready = initOnce(context, loadLibrary, native)
            return ready
        }
    }

    private fun initOnce(context: Context, loadLibrary: () -> Unit, native: (Context) -> Unit): Boolean = try {
        // The same libtaipei_ffi.so JNA loads: the dynamic linker maps it once per
        // process, so the verifier initialised here is the one the core uses.
        loadLibrary()
        native(context.applicationContext ?: context)
        true
    } catch (e: UnsatisfiedLinkError) {
        Log.e(TAG, "platform trust: libtaipei_ffi has no JNI entry point (${e.message}); https needs rootCertsPem")
        false
    } catch (e: RuntimeException) {
        Log.e(TAG, "platform trust: the verifier's init failed (${e.message}); https needs rootCertsPem")
        false
    }

    /** Whether [init] has succeeded in this process. */
    @JvmStatic
    val isReady: Boolean get() = ready

    /** Implemented by the FFI library (bindings/src/android.rs), on Android only. */
    @JvmStatic
    private external fun nativeInit(context: Context)

    /** Forgets a success (tests: each starts from a process that never ran [init]). */
    internal fun resetForTests() = synchronized(this) { ready = false }
}
