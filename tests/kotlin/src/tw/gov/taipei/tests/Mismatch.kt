package tw.gov.taipei.tests

import kotlin.system.exitProcess
import tw.gov.taipei.core.BindingsContract
import tw.gov.taipei.core.BindingsMismatchException
import tw.gov.taipei.core.libraryVersion

/**
 * Run by `scripts/kotlin-tests` with another build's library on the library path (the
 * `taipei-pass` build, while this Kotlin was generated from the test-hooks `taipei-on`
 * build): nothing may be called, and the error must name both sides and the fix.
 *
 *   MismatchKt <the loaded library's build>
 */
fun main(args: Array<String>) {
    val libraryBuild = args.single()
    val generatedBuild = BindingsContract.GENERATED.split(':')[2]

    fun checkMessage(e: BindingsMismatchException) {
        val m = e.message.orEmpty()
        check("generated bindings" in m && "for build $generatedBuild " in m) { "the generated side is named: $m" }
        check("the loaded library" in m && "(build $libraryBuild," in m) { "the loaded side is named: $m" }
        check("regenerate with `scripts/app-bindings ${generatedBuild.substringBefore('+')}`" in m) { "the fix is named: $m" }
        check(e.library?.contains(":$libraryBuild:") == true) { "the library's contract is kept: ${e.library}" }
    }

    val tests = listOf(
        test("mismatch: the first call into another build's library fails naming both builds") {
            val e = runCatching { libraryVersion() }.exceptionOrNull()
            val cause = generateSequence(e) { it.cause }.filterIsInstance<BindingsMismatchException>().firstOrNull()
            check(cause != null) { "expected a BindingsMismatchException, got $e" }
            checkMessage(cause!!)
        },
        test("mismatch: BindingsContract.verify() throws the typed error itself") {
            checkMessage(assertThrows<BindingsMismatchException>("verify") { BindingsContract.verify() })
        },
    )
    exitProcess(if (runAll(tests) == 0) 0 else 1)
}
