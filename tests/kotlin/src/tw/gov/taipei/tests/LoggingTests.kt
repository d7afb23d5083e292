package tw.gov.taipei.tests

import java.util.concurrent.CopyOnWriteArrayList
import tw.gov.taipei.core.LogLevel
import tw.gov.taipei.core.Logger
import tw.gov.taipei.core.setLogger

private class RecordingLogger : Logger {
    val lines = CopyOnWriteArrayList<Triple<LogLevel, String, String>>()
    override fun log(level: LogLevel, target: String, message: String) {
        lines += Triple(level, target, message)
    }
}

private class ThrowingLogger : Logger {
    override fun log(level: LogLevel, target: String, message: String): Unit = throw RuntimeException("logger bug")
}

val loggingTests = listOf(
    test("the core's log lines reach a Kotlin logger, without secrets") {
        val logger = RecordingLogger()
        setLogger(logger, LogLevel.DEBUG)
        var adminToken = ""
        withServer { h ->
            adminToken = h.server.adminToken()
            withClient(h.config()) { client ->
                h.bind(client, "u-8008", "log")
                client.signIn()
            }
        }
        setLogger(RecordingLogger(), LogLevel.ERROR)
        val lines = logger.lines.toList()
        check(lines.isNotEmpty()) { "no log lines arrived" }
        check(lines.all { it.second.isNotEmpty() }) { "every line has a target" }
        check(lines.none { adminToken in it.third }) { "the admin token appeared in a log line" }
        check(lines.none { "access_token" in it.third }) { "a token appeared in a log line" }
    },

    test("a Kotlin logger that throws does not break the core") {
        setLogger(ThrowingLogger(), LogLevel.TRACE)
        try {
            withServer { h ->
                withClient(h.config()) { client ->
                    val device = h.bind(client, "u-9009", "throwing logger")
                    assertEquals(device.deviceId, client.me().deviceId, "me with a throwing logger")
                }
            }
        } finally {
            setLogger(RecordingLogger(), LogLevel.ERROR)
        }
    },
)
