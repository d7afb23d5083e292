package tw.gov.taipei.android

import java.io.ByteArrayInputStream
import java.nio.ByteBuffer
import javax.imageio.ImageIO
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import tw.gov.taipei.core.EcLevel
import tw.gov.taipei.core.QrException
import tw.gov.taipei.core.qrBufferBytes
import tw.gov.taipei.core.renderPng

@RunWith(RobolectricTestRunner::class)
class QrFrameAnalyzerTest {
    private val text = "https://id.taipei/login?c=7f3a9"

    /**
     * The code rendered by the core, laid out as a camera plane: [pad] bytes of row
     * padding, none after the last row, the plane starting [offset] bytes into a
     * direct buffer.
     */
    private fun plane(pad: Int, offset: Int): Triple<ByteBuffer, Int, Pair<Int, Int>> {
        val image = ImageIO.read(ByteArrayInputStream(renderPng(text, EcLevel.M, 4u, 4u)))
        val (w, h) = image.width to image.height
        val stride = w + pad
        val buffer = ByteBuffer.allocateDirect(offset + stride * (h - 1) + w)
        for (y in 0 until h) for (x in 0 until w) {
            buffer.put(offset + y * stride + x, (image.getRGB(x, y) and 0xff).toByte())
        }
        buffer.position(offset)
        return Triple(buffer, stride, w to h)
    }

    @Test
    fun decodesAPaddedPlaneWithoutTouchingTheCallersBuffer() {
        val seen = mutableListOf<String>()
        val analyzer = QrFrameAnalyzer { codes -> codes.forEach { seen += it.text } }
        for (pad in listOf(0, 13, 64)) {
            val (buffer, stride, size) = plane(pad, offset = 7)
            val codes = analyzer.analyze(buffer, stride, size.first, size.second)
            assertEquals("stride padding $pad", listOf(text), codes.map { it.text })
            assertEquals("position kept", 7, buffer.position())
        }
        assertEquals(3, seen.size)
    }

    @Test
    fun anEmptyFrameHasNoCodesAndABadOneIsATypedError() {
        val analyzer = QrFrameAnalyzer()
        assertTrue(analyzer.analyze(ByteBuffer.allocate(64 * 64), 64, 64, 64).isEmpty())
        val (buffer, stride, size) = plane(8, 0)
        val short = assertThrows(QrException.InvalidFrame::class.java) { analyzer.analyze(buffer, stride + 1, size.first, size.second) }
        assertEquals("qr.invalid_frame", short.code)
        assertThrows(QrException.InvalidFrame::class.java) { analyzer.analyze(buffer, -1, size.first, size.second) }
    }

    @Test
    fun closingTheAnalyzerFreesTheEnginesFrameBuffers() {
        val analyzer = QrFrameAnalyzer()
        val (buffer, stride, size) = plane(16, 0)
        assertEquals(listOf(text), analyzer.analyze(buffer, stride, size.first, size.second).map { it.text })
        assertTrue("buffers kept between frames", qrBufferBytes() > 0uL)
        analyzer.close()
        assertEquals(0uL, qrBufferBytes())
    }
}
