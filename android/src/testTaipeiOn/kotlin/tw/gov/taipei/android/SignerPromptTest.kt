package tw.gov.taipei.android

import java.security.Signature
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import tw.gov.taipei.core.Assurance
import tw.gov.taipei.core.ClientException
import tw.gov.taipei.core.PlatformException
import tw.gov.taipei.tests.withServer

/**
 * A key that needs the person for every signature, through the core's async `sign`:
 * the prompt ([KeystoreSigner]'s `authorize`) gets the initialised signature, a
 * dismissed prompt fails binding with `signer_cancelled`, and a prompt nobody answers
 * fails it with `signer_timeout` after `signerTimeoutSecs`, its coroutine cancelled.
 * Nothing is bound in either case.
 */
@RunWith(RobolectricTestRunner::class)
class SignerPromptTest {
    @Test
    fun aDismissedPromptIsCancelledAndAnUnansweredOneTimesOut() = runBlocking {
        withServer { harness ->
            val keys = memoryKeyStore()
            var prompted: Signature? = null
            val dismissing = KeystoreSigner(keys, "dismissed", makeEcKey, { Assurance.HARDWARE }) { signature ->
                prompted = signature
                throw PlatformException.Cancelled("the person dismissed BiometricPrompt")
            }
            TaipeiClient.openWithFileSecretsForTests(harness.config("dismissed"), dismissing).use { taipei ->
                val e = assertThrows(ClientException.Identity::class.java) {
                    runBlocking { taipei.bindDevice(harness.offerBinding("u-dismissed", "取消")) }
                }
                assertEquals("signer_cancelled", e.code)
                assertTrue(e.detail, e.detail.contains("dismissed BiometricPrompt"))
                assertNotNull("the prompt got the signature to authorise", prompted)
                assertNull(taipei.device())
            }

            val abandoned = CompletableDeferred<Unit>()
            val unanswered = KeystoreSigner(keys, "unanswered", makeEcKey, { Assurance.HARDWARE }) {
                try {
                    awaitCancellation()
                } finally {
                    abandoned.complete(Unit)
                }
            }
            val config = harness.config("unanswered").copy(signerTimeoutSecs = 1uL)
            TaipeiClient.openWithFileSecretsForTests(config, unanswered).use { taipei ->
                val e = assertThrows(ClientException.Identity::class.java) {
                    runBlocking { taipei.bindDevice(harness.offerBinding("u-unanswered", "逾時")) }
                }
                assertEquals("signer_timeout", e.code)
                // The core dropped its wait: the prompt's coroutine is cancelled, not leaked.
                withTimeout(5_000) { abandoned.await() }
                assertNull(taipei.device())
            }
        }
    }
}
