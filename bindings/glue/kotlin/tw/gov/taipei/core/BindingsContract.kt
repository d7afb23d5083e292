package tw.gov.taipei.core

import com.sun.jna.NativeLibrary

/**
 * The generated Kotlin and the loaded native library come from different builds:
 * another app build (`taipei-on` / `taipei-pass`), another version, or sources changed
 * since the Kotlin was generated. Calling into such a library would fail on a missing
 * function at best and misread its data at worst, so nothing is called.
 *
 * [generated] and [library] are contracts as `taipei-ffi-contract:<version>:<build>:<interface>`
 * ([library] is null when the library exports no contract at all).
 */
class BindingsMismatchException(
    val generated: String,
    val library: String?,
    message: String,
) : RuntimeException(message)

/**
 * Checks, once per process, that the native library is the one this Kotlin was
 * generated from. The generated code calls [verify] before it binds any native
 * function (the scripts put the call there), so the first use of any binding fails
 * with [BindingsMismatchException] (as the cause of the JVM's
 * `ExceptionInInitializerError`); call [verify] yourself at startup to get it as is.
 *
 * Copied next to the generated code by `scripts/lib/bindings.sh`, with
 * `BindingsContractStamp.kt` holding [GENERATED_CONTRACT].
 */
object BindingsContract {
    /** The contract of the library this Kotlin was generated from. */
    const val GENERATED: String = GENERATED_CONTRACT

    @Volatile
    private var verified = false

    @JvmStatic
    @JvmOverloads
    @Synchronized
    fun verify(libraryName: String = System.getProperty("uniffi.component.taipei_ffi.libraryOverride") ?: "taipei_ffi") {
        if (verified) return
        val library = readLibraryContract(libraryName)
        if (library != GENERATED) throw BindingsMismatchException(GENERATED, library, describe(GENERATED, library, libraryName))
        verified = true
    }

    /** The library's `library_contract()`, read without binding anything else. */
    private fun readLibraryContract(libraryName: String): String? {
        val lib = NativeLibrary.getInstance(libraryName)
        val function = try {
            lib.getFunction("uniffi_taipei_ffi_fn_func_library_contract")
        } catch (e: UnsatisfiedLinkError) {
            return null
        }
        val status = UniffiRustCallStatus()
        val buffer = function.invoke(RustBuffer.ByValue::class.java, arrayOf<Any>(status)) as RustBuffer.ByValue
        if (status.code.toInt() != 0) return null
        // A String crosses as its UTF-8 bytes (no length prefix) in a Rust-owned buffer.
        val bytes = buffer.data?.getByteArray(0, buffer.len.toInt()) ?: ByteArray(0)
        lib.getFunction("ffi_taipei_ffi_rustbuffer_free").invokeVoid(arrayOf<Any>(buffer, UniffiRustCallStatus()))
        return String(bytes, Charsets.UTF_8)
    }

    private fun describe(generated: String, library: String?, libraryName: String): String {
        val g = Contract.parse(generated)
        val loaded = library?.let { Contract.parse(it) }
        val have = if (loaded == null) {
            "the loaded library $libraryName, which exports no contract (it predates the check or is not taipei-ffi)"
        } else {
            "the loaded library ${loaded.version} (build ${loaded.build}, interface ${loaded.interfaceDigest})"
        }
        return "generated bindings ${g.version} for build ${g.build} (interface ${g.interfaceDigest}) do not match $have: " +
            "regenerate with `scripts/app-bindings ${g.appBuild}` (apps) or `scripts/kotlin-tests` (tests), " +
            "or load the library built with these bindings"
    }

    private data class Contract(val version: String, val build: String, val interfaceDigest: String) {
        /** The app build to regenerate, without extras such as `+test-hooks`. */
        val appBuild: String get() = build.substringBefore('+')

        companion object {
            fun parse(text: String): Contract {
                val parts = text.split(':')
                return if (parts.size == 4) Contract(parts[1], parts[2], parts[3]) else Contract(text, "?", "?")
            }
        }
    }
}
