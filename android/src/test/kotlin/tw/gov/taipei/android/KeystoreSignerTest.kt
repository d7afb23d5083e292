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
import tw.gov.taipei.core.KeyAttestation
import tw.gov.taipei.core.PlatformException

@RunWith(RobolectricTestRunner::class)
class KeystoreSignerTest {
    private val keyStore = memoryKeyStore()
    private val signer = KeystoreSigner(keyStore, "device", makeEcKey, level = { Assurance.STRONGBOX })

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
        assertEquals("no challenge outside a binding: the leaf is the bare point", listOf(65, 2), signer.attestationChain().map { it.size })
    }

    @Test
    fun attestMakesTheKeyAnewWithTheChallengeAndReturnsItsChain() {
        val before = signer.publicKey()
        val challenge = ByteArray(16) { (it + 1).toByte() }
        val attestation = runBlocking { signer.attest(challenge) } as KeyAttestation.AndroidKey
        val after = signer.publicKey()
        assertNotEquals("a new key for the binding", before.toList(), after.toList())
        assertEquals(2, attestation.chain.size)
        assertArrayEquals("the leaf was made with the challenge, for the key now in use", challenge + after, attestation.chain[0])
        assertArrayEquals(byteArrayOf(4, 5), attestation.chain[1])
        assertEquals(signer.attestationChain().map { it.toList() }, attestation.chain.map { it.toList() })
        // The key signs as before.
        val der = runBlocking { signer.sign(byteArrayOf(1)) }
        assertTrue(Signature.getInstance("SHA256withECDSA").run { initVerify(jcaKey(after)); update(byteArrayOf(1)); verify(der) })
    }

    @Test
    fun aKeyStoreWithoutAttestationAttestsNothingAndOneThatCannotMakeAKeyIsTyped() {
        val selfSigned = KeystoreSigner(keyStore, "lone", { store, alias, _ ->
            val pair = java.security.KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()
            store.setKeyEntry(alias, pair.private, null, arrayOf(TestCertificate(pair.public, byteArrayOf(9))))
        }, level = { Assurance.SOFTWARE })
        assertEquals(null, runBlocking { selfSigned.attest(byteArrayOf(1, 2)) })
        // A key store that refuses to attest: the key is made without a challenge, nothing attested.
        val challenges = mutableListOf<ByteArray?>()
        val cannotAttest = KeystoreSigner(keyStore, "no-attestation", { store, alias, challenge ->
            challenges += challenge
            if (challenge != null) throw java.security.ProviderException("attestation key revoked")
            makeEcKey(store, alias, null)
        }, level = { Assurance.HARDWARE })
        assertEquals(null, runBlocking { cannotAttest.attest(byteArrayOf(3)) })
        assertEquals(listOf(1, null), challenges.map { it?.size })
        assertEquals(65, cannotAttest.publicKey().size)
        val full = KeystoreSigner(keyStore, "full", { _, _, _ -> throw java.security.KeyStoreException("no room") }, level = { Assurance.HARDWARE })
        val e = assertThrows(PlatformException.Unavailable::class.java) { runBlocking { full.attest(byteArrayOf(1)) } }
        assertTrue(e.detail, e.detail.contains("no room"))
    }

    @Test
    fun aDeletedKeyIsReplacedAndABrokenLevelReadsAsSoftware() {
        val first = signer.publicKey()
        signer.delete()
        assertNotEquals(first.toList(), signer.publicKey().toList())
        val unsure = KeystoreSigner(keyStore, "device", makeEcKey, level = { throw IllegalStateException("no KeyInfo") })
        assertEquals(Assurance.SOFTWARE, unsure.assurance())
    }

    @Test
    fun aKeyStoreThatCannotMakeTheKeyIsATypedError() {
        val broken = KeystoreSigner(keyStore, "none", { _, _, _ -> throw java.security.KeyStoreException("no room") }, level = { Assurance.HARDWARE })
        val e = assertThrows(PlatformException.Unavailable::class.java) { broken.publicKey() }
        assertTrue(e.detail, e.detail.contains("no room"))
    }
}
