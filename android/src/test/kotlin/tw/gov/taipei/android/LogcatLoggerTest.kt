package tw.gov.taipei.android

import android.util.Log
import org.junit.Assert.assertEquals
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.shadows.ShadowLog
import tw.gov.taipei.core.LogLevel

@RunWith(RobolectricTestRunner::class)
class LogcatLoggerTest {
    @Test
    fun everyLevelLandsInLogcatWithItsPriority() {
        ShadowLog.clear()
        val logger = LogcatLogger("taipei-test")
        LogLevel.values().forEach { logger.log(it, "taipei_core::sync", "line ${it.name}") }
        val lines = ShadowLog.getLogsForTag("taipei-test")
        assertEquals(listOf(Log.ERROR, Log.WARN, Log.INFO, Log.DEBUG, Log.VERBOSE), lines.map { it.type })
        assertEquals("taipei_core::sync: line ERROR", lines[0].msg)
    }
}
