package tw.gov.taipei.tests

import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlin.system.exitProcess

/** One test: a name and a body; the body throws to fail. */
class TestCase(val name: String, val body: suspend () -> Unit)

fun test(name: String, body: suspend () -> Unit) = TestCase(name, body)

class TestFailure(message: String) : AssertionError(message)

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw TestFailure(message())
}

fun <T> assertEquals(expected: T, actual: T, what: String) {
    if (expected != actual) throw TestFailure("$what: expected <$expected>, got <$actual>")
}

/** Runs [block] and returns the exception of type [E] it must throw. */
suspend inline fun <reified E : Throwable> assertThrows(what: String, block: suspend () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw TestFailure("$what: expected ${E::class.simpleName}, got ${e::class.qualifiedName}: ${e.message}")
    }
    throw TestFailure("$what: expected ${E::class.simpleName}, nothing was thrown")
}

/**
 * Our own tiny runner instead of JUnit: nothing to download, and its last line
 * (`N passed, N failed`) is what scripts and CI read.
 */
fun runAll(tests: List<TestCase>): Int {
    var passed = 0
    var failed = 0
    for (t in tests) {
        try {
            // A hung FFI call must fail its test, not stall the whole run.
            runBlocking { withTimeout(60_000) { t.body() } }
            println("PASS ${t.name}")
            passed++
        } catch (e: Throwable) {
            println("FAIL ${t.name}: ${e::class.simpleName}: ${e.message}")
            failed++
        }
    }
    println("$passed passed, $failed failed")
    return failed
}
