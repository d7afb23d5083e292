package tw.gov.taipei.android

import java.security.KeyFactory
import java.security.Signature
import java.security.spec.ECPoint
import java.security.spec.ECPublicKeySpec
import java.security.AlgorithmParameters
import java.security.spec.ECGenParameterSpec
import java.security.spec.ECParameterSpec
import java.math.BigInteger
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import tw.gov.taipei.core.Assurance
import tw.gov.taipei.core.PlatformException

@RunWith(RobolectricTestRunner::class)
class KeystoreSignerTest {
    private val keyStore = memoryKeyStore()
    private val signer = KeystoreSigner(keyStore, "device", makeEcKey) { Assurance.STRONGBOX }

    /** The 65-byte point back as a JCA key, to check signatures the way the core does. */
    private fun jcaKey(point: ByteArray): java.security.PublicKey {
        val params = AlgorithmParameters.getInstance("EC").apply { init(ECGenParameterSpec("secp256r1")) }
            .getParameterSpec(ECParameterSpec::class.java)
        val x = BigInteger(1, point.copyOfRange(1, 33))
        val y = BigInteger(1, point.copyOfRange(33, 65))
        return KeyFactory.getInstance("EC").generatePublic(ECPublicKeySpec(ECPoint(x, y), params))
    }

    @Test
    fun makesOneKeyAndSignsWithIt() {
        val public = signer.publicKey()
        assertEquals(65, public.size)
        assertEquals(4.toByte(), public[0])
        assertArrayEquals("the key is made once", public, signer.publicKey())

        val message = "TPQ-test".toByteArray()
        val der = runBlocking { signer.sign(message) }
        assertEquals("DER sequence", 0x30, der[0].toInt())
        val ok = Signature.getInstance("SHA256withECDSA").run {
            initVerify(jcaKey(public))
            update(message)
            verify(der)
        }
        assertTrue("the signature verifies against the public key it reports", ok)
        assertEquals(Assurance.STRONGBOX, signer.assurance())
        assertEquals(listOf(3, 2), signer.attestationChain().map { it.size })
    }

    @Test
    fun aDeletedKeyIsReplacedAndABrokenLevelReadsAsSoftware() {
        val first = signer.publicKey()
        signer.delete()
        assertNotEquals(first.toList(), signer.publicKey().toList())
        val unsure = KeystoreSigner(keyStore, "device", makeEcKey) { throw IllegalStateException("no KeyInfo") }
        assertEquals(Assurance.SOFTWARE, unsure.assurance())
    }

    @Test
    fun aKeyStoreThatCannotMakeTheKeyIsATypedError() {
        val broken = KeystoreSigner(keyStore, "none", { _, _ -> throw java.security.KeyStoreException("no room") }) { Assurance.HARDWARE }
        val e = assertThrows(PlatformException.Unavailable::class.java) { broken.publicKey() }
        assertTrue(e.detail, e.detail.contains("no room"))
    }
}
