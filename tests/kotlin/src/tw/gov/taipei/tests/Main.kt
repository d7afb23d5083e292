package tw.gov.taipei.tests

import kotlin.system.exitProcess

fun main() {
    val failed = runAll(pipelineTests + clientTests + panicTests + loggingTests + loginTests + attendanceTests + approvalTests + pushTests + dashboardTests + qrTests + walletTests)
    exitProcess(if (failed == 0) 0 else 1)
}
