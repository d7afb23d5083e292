package tw.gov.taipei.android

import android.content.Context
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.shadows.ShadowLog

@RunWith(RobolectricTestRunner::class)
class PlatformTrustTest {
    private val app: Context get() = RuntimeEnvironment.getApplication()

    @Before
    fun fresh() {
        PlatformTrust.resetForTests()
        ShadowLog.clear()
    }

    @After
    fun forget() = PlatformTrust.resetForTests()

    @Test
    fun theApplicationContextReachesTheNativeInitOnce() {
        val given = mutableListOf<Context>()
        var loads = 0
        assertTrue(PlatformTrust.init(app, { loads++ }, { given += it }))
        assertTrue(PlatformTrust.init(app, { loads++ }, { given += it }))
        assertEquals("loaded and initialised once per process", listOf(1, 1), listOf(loads, given.size))
        assertSame(app.applicationContext, given.single())
        assertTrue(PlatformTrust.isReady)
    }

    @Test
    fun aMissingEntryPointOrAFailedInitIsLoggedNotThrownAndALaterInitMayStillSucceed() {
        assertFalse(PlatformTrust.init(app, { throw UnsatisfiedLinkError("no taipei_ffi in java.library.path") }, {}))
        assertFalse(PlatformTrust.init(app, {}, { throw RuntimeException("no class loader") }))
        assertFalse(PlatformTrust.isReady)
        val logged = ShadowLog.getLogsForTag("taipei").map { it.msg }
        assertEquals(2, logged.size)
        assertTrue(logged[0], logged[0].contains("no taipei_ffi") && logged[0].contains("rootCertsPem"))
        assertTrue(logged[1], logged[1].contains("no class loader"))
        assertTrue(PlatformTrust.init(app, {}, {}))
    }

    @Test
    fun theHostLibraryHasNoEntryPointSoTheRealInitAndTheProviderReportFalse() {
        // The library these tests load is the host build: its JNI export exists only in
        // Android builds (bindings/src/android.rs), so the real path ends in a logged
        // UnsatisfiedLinkError, never an exception out of app start.
        assertFalse(PlatformTrust.init(app))
        PlatformTrust.resetForTests()
        Robolectric.buildContentProvider(TaipeiInitProvider::class.java).create("tw.gov.taipei.test.taipei-init")
        assertFalse(PlatformTrust.isReady)
        assertTrue(ShadowLog.getLogsForTag("taipei").all { it.msg.startsWith("platform trust:") })
    }
}
