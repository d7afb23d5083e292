package tw.gov.taipei.android

import java.nio.ByteBuffer
import tw.gov.taipei.core.QrCode
import tw.gov.taipei.core.QrException
import tw.gov.taipei.core.QrScanner

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
 */
class QrFrameAnalyzer(
    private val scanner: QrScanner = QrScanner(),
    private val onCodes: (List<QrCode>) -> Unit = {},
) {
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
}
