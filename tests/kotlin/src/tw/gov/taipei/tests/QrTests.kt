package tw.gov.taipei.tests

import java.io.ByteArrayInputStream
import java.nio.ByteBuffer
import javax.imageio.ImageIO
import tw.gov.taipei.core.EcLevel
import tw.gov.taipei.core.QrException
import tw.gov.taipei.core.QrScanner
import tw.gov.taipei.core.decodeImage
import tw.gov.taipei.core.decodeLuma
import tw.gov.taipei.core.qrBufferBytes
import tw.gov.taipei.core.releaseQrBuffers
import tw.gov.taipei.core.renderPng
import tw.gov.taipei.core.renderSvg

/**
 * A luminance plane as CameraX's `ImageProxy.planes[0]` hands it over: a direct
 * ByteBuffer, `rowStride` larger than the width (the camera pads rows to its alignment),
 * and no padding after the last row.
 */
class LumaPlane(val buffer: ByteBuffer, val width: Int, val height: Int, val rowStride: Int)

/**
 * uniffi has no ByteBuffer type: its `bytes` arrive in Kotlin as ByteArray, so the app
 * copies the plane once into a ByteArray here (one memcpy of ~1 MB per 720p frame) and
 * passes the stride along; the core drops the padding itself.
 */
fun LumaPlane.decode() = decodeLuma(
    buffer.duplicate().also { it.rewind() }.let { b -> ByteArray(b.remaining()).also { b.get(it) } },
    width.toUInt(), height.toUInt(), rowStride.toUInt(),
)

/** Puts a rendered PNG into a camera-like plane at (`ox`, `oy`) on a grey background. */
fun planeWithCode(png: ByteArray, width: Int, height: Int, rowStride: Int, ox: Int, oy: Int): LumaPlane {
    val img = ImageIO.read(ByteArrayInputStream(png))
    val buffer = ByteBuffer.allocateDirect(rowStride * (height - 1) + width)
    for (y in 0 until height) {
        for (x in 0 until width) {
            val (ix, iy) = x - ox to y - oy
            val luma = if (ix in 0 until img.width && iy in 0 until img.height) img.getRGB(ix, iy) and 0xff else 140
            buffer.put(y * rowStride + x, luma.toByte())
        }
    }
    return LumaPlane(buffer, width, height, rowStride)
}

val qrTests = listOf(
    test("a code in a direct ByteBuffer plane with row padding decodes") {
        val text = "TPL1:31415926535897932384"
        val png = renderPng(text, EcLevel.M, 4u, 5u)
        val plane = planeWithCode(png, 640, 480, 704, 101, 37)
        check(!plane.buffer.hasArray()) { "the plane is a direct buffer, as the camera's is" }
        val codes = plane.decode()
        assertEquals(1, codes.size, "codes found")
        assertEquals(text, codes[0].text, "text")
        assertEquals(text.toByteArray().toList(), codes[0].bytes.toList(), "bytes")
        assertEquals(EcLevel.M, codes[0].ecLevel, "EC level")
        assertEquals(4, codes[0].corners.size, "corners")
        // The symbol starts inside the 4-module quiet zone: 101 + 4 * 5 px from the left.
        val tl = codes[0].corners[0]
        check(kotlin.math.abs(tl.x - 121f) < 5f && kotlin.math.abs(tl.y - 57f) < 5f) { "top-left corner $tl" }
    },

    test("a QrScanner reads a camera stream frame by frame, within its budget") {
        val text = "TPM1:2718281828459045"
        val plane = planeWithCode(renderPng(text, EcLevel.Q, 4u, 4u), 640, 480, 704, 200, 100)
        val bytes = plane.buffer.duplicate().also { it.rewind() }.let { b -> ByteArray(b.remaining()).also { b.get(it) } }
        val scanner = QrScanner()
        val empty = ByteArray(704 * 479 + 640) { 140.toByte() }
        assertEquals(0, scanner.scan(empty, 640u, 480u, 704u).size, "codes in a blank frame")
        assertEquals(listOf(text), scanner.scan(bytes, 640u, 480u, 704u).map { it.text }, "texts")
        val tight = QrScanner.withBudget(0u)
        assertEquals(listOf(text), tight.scan(bytes, 640u, 480u, 704u).map { it.text }, "texts with no budget")
        val short = assertThrows<QrException.InvalidFrame>("buffer too short") { scanner.scan(ByteArray(10), 640u, 480u, 704u) }
        assertEquals("qr.invalid_frame", short.code, "code")
        tight.close()
        check(qrBufferBytes() == 0uL) { "closing a scanner frees the engine's frame buffers" }
        assertEquals(listOf(text), scanner.scan(bytes, 640u, 480u, 704u).map { it.text }, "another scanner goes on")
        check(qrBufferBytes() > 0uL) { "its buffers are kept again" }
        scanner.close()
        decodeLuma(bytes, 640u, 480u, 704u)
        check(releaseQrBuffers() > 0uL && qrBufferBytes() == 0uL) { "an app decoding frames itself releases them" }
    },

    test("render to PNG and SVG, and the PNG decodes back with its level") {
        val text = "臺北通 QR round trip"
        val codes = decodeImage(renderPng(text, EcLevel.H, 4u, 4u))
        assertEquals(listOf(text), codes.map { it.text }, "texts")
        assertEquals(EcLevel.H, codes[0].ecLevel, "EC level")
        val svg = renderSvg(text, EcLevel.L, 2u)
        check(svg.contains("<svg") && svg.contains("<path")) { "an SVG document: ${svg.take(80)}" }
    },

    test("a frame without a code is an empty list, a malformed one a typed error") {
        val (w, h, stride) = Triple(320, 240, 336)
        val noise = ByteBuffer.allocateDirect(stride * h)
        val random = java.util.Random(7)
        for (i in 0 until noise.capacity()) noise.put(i, random.nextInt(256).toByte())
        assertEquals(0, LumaPlane(noise, w, h, stride).decode().size, "codes in noise")

        val short = assertThrows<QrException.InvalidFrame>("buffer too short") {
            LumaPlane(ByteBuffer.allocateDirect(100), w, h, stride).decode()
        }
        assertEquals("qr.invalid_frame", short.code, "code")
        val narrow = assertThrows<QrException.InvalidFrame>("stride < width") {
            LumaPlane(noise, w, h, w - 1).decode()
        }
        assertEquals("qr.invalid_frame", narrow.code, "code")
        val huge = assertThrows<QrException.InvalidFrame>("frame too large") {
            decodeLuma(ByteArray(16), 100_000u, 100_000u, 100_000u)
        }
        assertEquals("qr.frame_too_large", huge.code, "code")
        val garbage = assertThrows<QrException.ImageUnreadable>("not an image") {
            decodeImage("not a picture".toByteArray())
        }
        assertEquals("qr.image_unreadable", garbage.code, "code")
        val tooLong = assertThrows<QrException.RenderFailed>("text too long") {
            renderPng("x".repeat(5000), EcLevel.H, 4u, 4u)
        }
        assertEquals("qr.render_failed", tooLong.code, "code")
    },
)
