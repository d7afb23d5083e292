package tw.gov.taipei.tests

import tw.gov.taipei.core.AttendanceException
import tw.gov.taipei.core.DayFlag
import tw.gov.taipei.core.DaySync
import tw.gov.taipei.core.ElapsedClock
import tw.gov.taipei.core.OfficeLevel
import tw.gov.taipei.core.PunchState
import tw.gov.taipei.core.Event
import tw.gov.taipei.core.PunchKind

/** The platform's clock as the app hands it in, moved by the test: a phone that sleeps. */
private class SleepingClock : ElapsedClock {
    val nowMs = java.util.concurrent.atomic.AtomicLong(5_000_000L)
    val calls = java.util.concurrent.atomic.AtomicInteger(0)
    override fun elapsedMs(): ULong {
        calls.incrementAndGet()
        return nowMs.get().toULong()
    }
}

private const val UUID = "e2c56db5-dffb-48d2-b060-d0f5a71096e0"

/** The advertising data an iBeacon sends (flags, then Apple's manufacturer data), as Android's ScanRecord.getBytes() gives it. */
private fun iBeaconAdvert(major: Int, minor: Int): ByteArray {
    val uuid = UUID.replace("-", "").chunked(2).map { it.toInt(16).toByte() }
    val head = listOf(0x02, 0x01, 0x06, 0x1a, 0xff, 0x4c, 0x00, 0x02, 0x15).map { it.toByte() }
    val tail = listOf(major shr 8, major and 0xff, minor shr 8, minor and 0xff, 0xc5).map { it.toByte() }
    return (head + uuid + tail).toByteArray()
}

/** Beacon attendance through the generated bindings: sightings from Kotlin, a punch event, the week. */
val attendanceTests = listOf(
    test("attendance: sightings fed from Kotlin clock in, the event arrives, the week shows it synced") {
        withServer { h ->
            val hr = h.mintCredential("hr", null)
            h.postAs(hr, "/v1/admin/offices", """{"office_id":"annex","name":"市府 annex","level":"static"}""")
            h.postAs(hr, "/v1/admin/offices/annex/beacons", """{"kind":"static","beacon_id":"ibeacon:$UUID:1:2"}""")
            val listener = RecordingListener()
            withClient(h.config(), listener = listener) { client ->
                h.bind(client, "u-kotlin-att", "林小華")
                val attendance = client.attendance()
                val office = attendance.loadOffice("annex")
                assertEquals(OfficeLevel.STATIC, office.level, "office level")
                assertEquals(1u, office.beacons, "beacons")

                // Unreadable bytes are a typed error, not a crash.
                val e = assertThrows<AttendanceException.BadAdvert>("truncated advert") {
                    attendance.feedAdvert(iBeaconAdvert(1, 2).copyOf(20), -60, 0)
                }
                assertEquals("beacon_truncated", e.code, "error code")
                // A manual punch without a reason: its own variant, code and detail read
                // from the base type without knowing the variant.
                val noReason: AttendanceException = assertThrows<AttendanceException.NeedsReason>("manual punch") {
                    attendance.punchManually(PunchKind.IN, "  ")
                }
                assertEquals("attendance_needs_reason", noReason.code(), "code() on the base type")
                check(noReason.detail().contains("reason")) { "detail(): ${noReason.detail()}" }

                // A phone at the desk: one advert a second for 20 s.
                val punches = (0 until 20).mapNotNull { i -> attendance.feedAdvert(iBeaconAdvert(1, 2), -60, i * 1000L) }
                assertEquals(1, punches.size, "one clock-in")
                assertEquals(PunchKind.IN, punches[0].kind, "kind")
                assertEquals(PunchState.QUEUED, punches[0].state, "state before sync")
                // Another office's beacon changes nothing.
                check(attendance.feedAdvert(iBeaconAdvert(9, 9), -50, 21_000L) == null) { "a foreign beacon punched" }

                assertEquals(1u, client.sync().sent, "sent by sync")
                val week = attendance.loadWeek(punches[0].timeMs)
                val day = week.days.single { it.punches.isNotEmpty() }
                assertEquals(DaySync.SYNCED, day.sync, "day sync state")
                assertEquals(punches[0].timeMs, day.summary.firstInMs, "first in")
                assertEquals(PunchState.ACCEPTED, day.punches[0].state, "punch state")
                check(DayFlag.NoOut in day.summary.flags) { "flags: ${day.summary.flags}" }
            }
            val events = listener.events.toList()
            check(events.any { it is Event.PunchRecorded && it.kind == PunchKind.IN && !it.manual }) { "no PunchRecorded in $events" }
            check(events.any { it is Event.PunchSettled && it.accepted }) { "no accepted PunchSettled in $events" }
        }
    },
    test("attendance: a punch after the phone slept is stamped with the app's clock, the sleep included") {
        withServer { h ->
            val hr = h.mintCredential("hr", null)
            h.postAs(hr, "/v1/admin/offices", """{"office_id":"annex","name":"市府 annex","level":"static"}""")
            val clock = SleepingClock()
            withClient(h.config(), clock = clock) { client ->
                h.bind(client, "u-kotlin-sleep", "林小睡")
                val attendance = client.attendance()
                attendance.loadOffice("annex")
                check(clock.calls.get() > 0) { "the core never read the app's clock" }
                // An hour of suspend: the app's clock moved, the process's monotonic time
                // (what the core's fallback would read) did not.
                clock.nowMs.addAndGet(3_600_000L)
                val punch = attendance.punchManually(PunchKind.IN, "forgot the badge")
                val ahead = punch.timeMs - client.serverNowMs()
                check(ahead in 3_590_000L..3_610_000L) { "the punch is ${ahead} ms past the server's now, not the hour slept" }
            }
        }
    },
)
