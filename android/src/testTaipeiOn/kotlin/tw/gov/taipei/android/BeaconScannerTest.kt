package tw.gov.taipei.android

import android.bluetooth.le.ScanCallback
import android.bluetooth.le.ScanRecord
import android.bluetooth.le.ScanResult
import android.bluetooth.le.ScanSettings
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import tw.gov.taipei.core.AttendanceException
import tw.gov.taipei.core.Client
import tw.gov.taipei.core.PunchRecord

@RunWith(RobolectricTestRunner::class)
class BeaconScannerTest {
    private val refused = CopyOnWriteArrayList<AttendanceException>()
    private val punches = CopyOnWriteArrayList<PunchRecord>()
    private val failures = CopyOnWriteArrayList<Int>()
    private val listener = object : BeaconScanner.Listener {
        override fun onPunch(punch: PunchRecord) { punches += punch }
        override fun onRefused(error: AttendanceException) { refused += error }
        override fun onScanFailed(errorCode: Int) { failures += errorCode }
    }

    /** An iBeacon advert (flags, then Apple's manufacturer data) as ScanRecord.getBytes() gives it. */
    private fun iBeaconAdvert(): ByteArray {
        val uuid = "e2c56db5dffb48d2b060d0f5a71096e0".chunked(2).map { it.toInt(16).toByte() }
        val head = listOf(0x02, 0x01, 0x06, 0x1a, 0xff, 0x4c, 0x00, 0x02, 0x15).map { it.toByte() }
        val tail = listOf(0, 1, 0, 2, 0xc5).map { it.toByte() }
        return (head + uuid + tail).toByteArray()
    }

    // No BluetoothDevice: the scanner never reads it, and making one under Robolectric
    // 4.17 on SDK 34 (BluetoothAdapter.getRemoteDevice) needs
    // BluetoothDevice${'$'}BluetoothAddress, which that android-all jar lacks.
    private fun scanResult(advert: ByteArray, rssi: Int, nanos: Long) =
        ScanResult(null, ScanRecord.parseFromBytes(advert), rssi, nanos)

    @Test
    fun sightingsReachTheCoreThroughTheBindings() = runBlocking {
        Client.open(offlineConfig(), null, null, null).use { client ->
            val scanner = BeaconScanner(client.attendance(), listener) { it.run() }
            // Truncated bytes travel to the core and come back as its typed refusal.
            scanner.onScanResult(ScanSettings.CALLBACK_TYPE_ALL_MATCHES, scanResult(iBeaconAdvert().copyOf(20), -60, 5_000_000))
            assertEquals(1, refused.size)
            assertEquals("beacon_truncated", refused[0].code())

            // A whole advert is read by the core; with no office loaded it cannot punch.
            scanner.onBatchScanResults(mutableListOf(scanResult(iBeaconAdvert(), -60, 6_000_000), scanResult(iBeaconAdvert(), -61, 7_000_000)))
            assertTrue("punched with no office: $punches", punches.isEmpty())
            println("whole advert without office: refused=${refused.drop(1).map { it.code() }}")

            scanner.onScanFailed(ScanCallback.SCAN_FAILED_INTERNAL_ERROR)
            assertEquals(listOf(ScanCallback.SCAN_FAILED_INTERNAL_ERROR), failures)
            client.shutdown()
        }
    }
}
