package tw.gov.taipei.android

import android.bluetooth.le.ScanCallback
import android.bluetooth.le.ScanResult
import java.util.concurrent.Executor
import java.util.concurrent.Executors
import kotlinx.coroutines.runBlocking
import tw.gov.taipei.core.Attendance
import tw.gov.taipei.core.AttendanceException
import tw.gov.taipei.core.PunchRecord

/**
 * Feeds BLE scan results to the core's attendance: the raw advertising bytes, the
 * RSSI and the time of the sighting (`ScanResult.timestampNanos`, the elapsed-realtime
 * clock, so a wall-clock change never reorders sightings).
 *
 * Pass it to `BluetoothLeScanner.startScan(filters, settings, scanner)`. The scan
 * callback runs on the main thread, and feeding the core waits on its database, so the
 * work goes to [executor] (one thread by default: sightings stay in order).
 */
class BeaconScanner(
    private val attendance: Attendance,
    private val listener: Listener,
    private val executor: Executor = Executors.newSingleThreadExecutor { r -> Thread(r, "taipei-beacons").apply { isDaemon = true } },
) : ScanCallback() {
    /** What became of the sightings; called on [executor]. */
    interface Listener {
        /** A sighting completed a clock-in or clock-out. */
        fun onPunch(punch: PunchRecord) {}
        /** The core refused a sighting (unreadable advert, no office loaded, ...). */
        fun onRefused(error: AttendanceException) {}
        /** The platform reported the scan failed (`SCAN_FAILED_*`). */
        fun onScanFailed(errorCode: Int) {}
    }

    override fun onScanResult(callbackType: Int, result: ScanResult) = feed(result)

    override fun onBatchScanResults(results: MutableList<ScanResult>) = results.forEach(::feed)

    override fun onScanFailed(errorCode: Int) = executor.execute { listener.onScanFailed(errorCode) }

    private fun feed(result: ScanResult) {
        // A result without a scan record has nothing the core could read.
        val bytes = result.scanRecord?.bytes ?: return
        val rssi = result.rssi.coerceIn(Short.MIN_VALUE.toInt(), Short.MAX_VALUE.toInt()).toShort()
        val atMs = result.timestampNanos / 1_000_000
        executor.execute {
            try {
                runBlocking { attendance.feedAdvert(bytes, rssi, atMs) }?.let(listener::onPunch)
            } catch (e: AttendanceException) {
                listener.onRefused(e)
            }
        }
    }
}
