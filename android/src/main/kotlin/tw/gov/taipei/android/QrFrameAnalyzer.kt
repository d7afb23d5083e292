package tw.gov.taipei.android

import android.media.Image
import java.nio.ByteBuffer
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import tw.gov.taipei.core.EcLevel
import tw.gov.taipei.core.QrCode
import tw.gov.taipei.core.QrException
import tw.gov.taipei.core.QrScanner
import tw.gov.taipei.core.decodeLuma
import tw.gov.taipei.core.renderPng
import tw.gov.taipei.core.renderSvg

/**
 * Decodes the QR codes in a camera frame's luma (Y) plane, in the shape CameraX hands
 * it over (`ImageProxy.planes[0]`: a direct buffer, a row stride, often padded, and the
 * last row's padding often missing). The app's `ImageAnalysis.Analyzer` calls
 * [analyze] with `image.planes[0].buffer`, `rowStride`, `image.width`, `image.height`.
 *
 * The plane is copied once into an array the bindings pass on as is; the row stride
 * goes with it, so the padding is skipped by the core rather than removed here.
 * Called on the analyzer's executor, never on the main thread: decoding takes
 * milliseconds. Frames go through one [QrScanner], which bounds the time spent on each
 * and carries the decoder's position in its retry ladder from frame to frame.
 *
 * Close it when the camera stops (`ImageAnalysis.clearAnalyzer()`, the screen's
 * `onDestroy`): closing its scanner gives back the megabytes of frame buffers the
 * engine keeps between frames, which would otherwise stay with the analyzer's executor.
 */
class QrFrameAnalyzer(
    private val scanner: QrScanner = QrScanner(),
    private val onCodes: (List<QrCode>) -> Unit = {},
) : AutoCloseable {
    private var scratch = ByteArray(0)

    /** The codes in the frame; an empty list for a frame with none. */
    @Throws(QrException::class)
    @Synchronized
    fun analyze(plane: ByteBuffer, rowStride: Int, width: Int, height: Int): List<QrCode> {
        if (rowStride < 0 || width < 0 || height < 0) {
            throw QrException.InvalidFrame("qr.invalid_frame", "negative frame geometry ${width}x$height stride $rowStride")
        }
        val view = plane.duplicate() // leave the caller's position alone
        val length = view.remaining()
        if (scratch.size != length) scratch = ByteArray(length)
        view.get(scratch)
        val codes = scanner.scan(scratch, width.toUInt(), height.toUInt(), rowStride.toUInt())
        if (codes.isNotEmpty()) onCodes(codes)
        return codes
    }

    /**
     * A YUV camera image (`ImageProxy.image` under CameraX, or an `ImageReader` image):
     * its first plane is the luma. The caller still closes the image.
     */
    @Throws(QrException::class)
    fun analyze(image: Image): List<QrCode> {
        val y = image.planes.firstOrNull()
            ?: throw QrException.InvalidFrame("qr.invalid_frame", "the image has no planes (format ${image.format})")
        if (y.pixelStride != 1) {
            throw QrException.InvalidFrame("qr.invalid_frame", "the first plane is not packed luma (pixel stride ${y.pixelStride})")
        }
        return analyze(y.buffer, y.rowStride, image.width, image.height)
    }

    /** Closes the scanner (and frees the engine's frame buffers); no frame after this. */
    @Synchronized
    override fun close() {
        scanner.close()
    }
}

/**
 * The QR engine's blocking functions as `suspend` functions that run on
 * [Dispatchers.Default]: decoding a frame and rendering a code take milliseconds of
 * CPU, so they must not run on the main thread, and the generated functions block
 * their caller. `Int` sizes, as Android code has them.
 */
object TaipeiQr {
    suspend fun decode(luma: ByteArray, width: Int, height: Int, rowStride: Int = width): List<QrCode> =
        withContext(Dispatchers.Default) {
            decodeLuma(luma, requireFrameSize(width), requireFrameSize(height), requireFrameSize(rowStride))
        }

    suspend fun png(text: String, ecLevel: EcLevel = EcLevel.M, quietZone: Int = 4, modulePx: Int = 8): ByteArray =
        withContext(Dispatchers.Default) {
            renderPng(text, ecLevel, requireNonNegative(quietZone, "quietZone"), requireNonNegative(modulePx, "modulePx"))
        }

    suspend fun svg(text: String, ecLevel: EcLevel = EcLevel.M, quietZone: Int = 4): String =
        withContext(Dispatchers.Default) { renderSvg(text, ecLevel, requireNonNegative(quietZone, "quietZone")) }

    // A negative size is the frame's fault, reported as the engine reports any bad frame.
    private fun requireFrameSize(value: Int): UInt {
        if (value < 0) throw QrException.InvalidFrame("qr.invalid_frame", "negative frame size $value")
        return value.toUInt()
    }
}
