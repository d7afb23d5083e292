package tw.gov.taipei.bench

import java.io.File
import tw.gov.taipei.core.decodeLuma
import tw.gov.taipei.core.libraryVersion

/**
 * The Kotlin side of scripts/ffi-bench (not a test): the same two calls the Rust peer
 * (bindings/examples/ffi_peer.rs) makes directly, here through the generated bindings
 * and JNA, on the release library of the TaipeiON app build:
 *  - a trivial call, `libraryVersion()` (no argument, a short String back);
 *  - one decoded camera frame, `decodeLuma` on the 1280×720 luma plane (stride 1344,
 *    one code) the peer wrote to the file named by the first argument.
 * Median and p95 per call, in the peer's format, so the two read side by side.
 */
fun main(args: Array<String>) {
    val frame = File(args.single()).readBytes()
    val (width, height, stride) = Triple(1280, 720, 1344)
    check(frame.size == stride * height) { "the frame file holds ${frame.size} bytes, not ${stride * height}" }

    var sink = 0L
    repeat(200_000) { sink += libraryVersion().length } // JIT and JNA's paths warm
    val samples = 10_000
    val batch = 100
    val trivial = DoubleArray(samples) {
        val t = System.nanoTime()
        repeat(batch) { sink += libraryVersion().length }
        (System.nanoTime() - t).toDouble() / batch
    }
    val (median, p95) = summary(trivial)
    println("kotlin trivial call (libraryVersion): median %.0f ns, p95 %.0f ns (%d samples of %d calls)".format(median, p95, samples, batch))

    fun decode(): Double {
        val t = System.nanoTime()
        val codes = decodeLuma(frame, width.toUInt(), height.toUInt(), stride.toUInt())
        val ns = (System.nanoTime() - t).toDouble()
        check(codes.size == 1 && codes[0].text == "TPL1:bench-frame-0123456789") { "the frame decoded to $codes" }
        sink += codes.size
        return ns
    }
    repeat(10) { decode() }
    val frames = 200
    val (fMedian, fP95) = summary(DoubleArray(frames) { decode() })
    println("kotlin camera frame %dx%d stride %d (decodeLuma): median %.2f ms, p95 %.2f ms (%d frames)".format(width, height, stride, fMedian / 1e6, fP95 / 1e6, frames))
    if (sink == 42L) println()
}

/** Median and 95th percentile, nearest rank, as the peer computes them. */
private fun summary(samples: DoubleArray): Pair<Double, Double> {
    val sorted = samples.sorted()
    fun at(q: Double) = sorted[Math.round((sorted.size - 1) * q).toInt()]
    return at(0.5) to at(0.95)
}
