package tw.gov.taipei.tests

import tw.gov.taipei.core.libraryVersion

/** The library loads through JNA and a plain call round-trips. */
val pipelineTests = listOf(
    test("library loads and reports its version") {
        val version = libraryVersion()
        check(Regex("""\d+\.\d+\.\d+.*""").matches(version)) { "unexpected version text '$version'" }
    },
)
