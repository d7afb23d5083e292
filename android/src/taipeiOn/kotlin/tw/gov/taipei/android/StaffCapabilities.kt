package tw.gov.taipei.android

import tw.gov.taipei.core.Attendance
import tw.gov.taipei.core.Meetings
import tw.gov.taipei.core.PunchRecord

// The staff app's (TaipeiON) capabilities on TaipeiClient. They live in the taipeiOn
// source set because the TaipeiPASS library has no Meetings or Attendance classes.
// Each accessor hands out a new object: the core makes it without I/O, and every one
// of them answers `Closed` once the client is closed.

/** Meeting sign-in (`TPM1:` room codes). */
val TaipeiClient.meetings: Meetings get() = client.meetings()

/** Beacon attendance; feed it with [BeaconScanner]. */
val TaipeiClient.attendance: Attendance get() = client.attendance()

/** One BLE advert, with Android's `Int` RSSI (clamped to the core's range). */
suspend fun TaipeiClient.feedAdvert(advert: ByteArray, rssi: Int, atMs: Long): PunchRecord? =
    attendance.feedAdvert(advert, rssi.coerceIn(Short.MIN_VALUE.toInt(), Short.MAX_VALUE.toInt()).toShort(), atMs)
