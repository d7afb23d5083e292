package tw.gov.taipei.android

import android.util.Log
import tw.gov.taipei.core.LogLevel
import tw.gov.taipei.core.Logger

/**
 * Forwards the core's log lines to Logcat under one tag, the core's target leading the
 * message. Install once at start-up: `setLogger(LogcatLogger(), LogLevel.INFO)`.
 * Called on the core's threads, so it does nothing but hand the line to Logcat.
 */
class LogcatLogger(private val tag: String = "taipei") : Logger {
    override fun log(level: LogLevel, target: String, message: String) {
        val priority = when (level) {
            LogLevel.ERROR -> Log.ERROR
            LogLevel.WARN -> Log.WARN
            LogLevel.INFO -> Log.INFO
            LogLevel.DEBUG -> Log.DEBUG
            LogLevel.TRACE -> Log.VERBOSE
        }
        Log.println(priority, tag, "$target: $message")
    }
}
