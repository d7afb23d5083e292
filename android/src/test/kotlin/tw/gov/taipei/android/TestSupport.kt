package tw.gov.taipei.android

import java.io.InputStream
import java.io.OutputStream
import java.nio.file.Files
import java.security.Key
import java.security.KeyPairGenerator
import java.security.PublicKey
import java.security.KeyStore
import java.security.KeyStoreSpi
import java.security.Provider
import java.security.cert.Certificate
import java.util.Collections
import java.security.spec.ECGenParameterSpec
import java.util.Date
import java.util.Enumeration
import java.util.concurrent.ConcurrentHashMap
import javax.crypto.KeyGenerator
import kotlinx.coroutines.runBlocking
import javax.crypto.SecretKey
import tw.gov.taipei.core.ClientConfig

/**
 * An in-memory key store behind a JCA provider of its own: what AndroidKeyStore is to
 * the glue (keys fetched by alias without a password), which Robolectric lacks.
 */
class MemoryKeyStoreSpi : KeyStoreSpi() {
    private val keys = ConcurrentHashMap<String, Key>()
    private val chains = ConcurrentHashMap<String, Array<Certificate>>()
    override fun engineGetKey(alias: String, password: CharArray?): Key? = keys[alias]
    override fun engineGetCertificateChain(alias: String): Array<Certificate>? = chains[alias]?.clone()
    override fun engineGetCertificate(alias: String): Certificate? = chains[alias]?.firstOrNull()
    override fun engineGetCreationDate(alias: String): Date? = if (keys.containsKey(alias)) Date(0) else null
    override fun engineSetKeyEntry(alias: String, key: Key, password: CharArray?, chain: Array<out Certificate>?) {
        keys[alias] = key
        if (chain != null) chains[alias] = arrayOf(*chain) else chains.remove(alias)
    }
    override fun engineSetKeyEntry(alias: String, key: ByteArray, chain: Array<out Certificate>?) = throw UnsupportedOperationException()
    override fun engineSetCertificateEntry(alias: String, cert: Certificate) = throw UnsupportedOperationException()
    override fun engineDeleteEntry(alias: String) {
        keys.remove(alias)
        chains.remove(alias)
    }
    override fun engineAliases(): Enumeration<String> = Collections.enumeration(keys.keys.toList())
    override fun engineContainsAlias(alias: String) = keys.containsKey(alias)
    override fun engineSize() = keys.size
    override fun engineIsKeyEntry(alias: String) = keys.containsKey(alias)
    override fun engineIsCertificateEntry(alias: String) = false
    override fun engineGetCertificateAlias(cert: Certificate): String? = null
    override fun engineStore(stream: OutputStream?, password: CharArray?) {}
    override fun engineLoad(stream: InputStream?, password: CharArray?) {}
}

class TestKeyStoreProvider : Provider("TaipeiTestKeyStore", "1.0", "in-memory key store for tests") {
    init {
        put("KeyStore.Memory", MemoryKeyStoreSpi::class.java.name)
    }
}

fun memoryKeyStore(): KeyStore = KeyStore.getInstance("Memory", TestKeyStoreProvider()).apply { load(null) }

/** Makes an AES-256 key and leaves it in the store, as the AndroidKeyStore generator does. */
val makeAesKey: (KeyStore, String) -> SecretKey = { store, alias ->
    KeyGenerator.getInstance("AES").apply { init(256) }.generateKey().also { store.setKeyEntry(alias, it, null, null) }
}

/**
 * What AndroidKeyStore puts beside a key pair: a certificate for its public key (on a
 * device, the attestation chain's leaf). Only the key and the encoding are read.
 */
class TestCertificate(private val key: PublicKey, private val der: ByteArray) : Certificate("X.509") {
    override fun getEncoded() = der.clone()
    override fun verify(key: PublicKey?) = throw UnsupportedOperationException()
    override fun verify(key: PublicKey?, sigProvider: String?) = throw UnsupportedOperationException()
    override fun toString() = "TestCertificate(${key.algorithm})"
    override fun getPublicKey() = key
}

/**
 * Makes a P-256 pair and leaves it in the store with a two-certificate chain, as the
 * AndroidKeyStore generator does with an attestation challenge: the leaf's bytes are
 * `challenge ‖ 04 x y` (an empty challenge without one), so a test can read both back.
 */
val makeEcKey: (KeyStore, String, ByteArray?) -> Unit = { store, alias, challenge ->
    val pair = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()
    val leaf = (challenge ?: ByteArray(0)) + KeystoreSigner.uncompressedPoint(pair.public as java.security.interfaces.ECPublicKey)
    val chain = arrayOf<Certificate>(TestCertificate(pair.public, leaf), TestCertificate(pair.public, byteArrayOf(4, 5)))
    store.setKeyEntry(alias, pair.private, null, chain)
}

/** A profile in a fresh folder; the server address is never reached by these tests. */
fun offlineConfig(): ClientConfig = ClientConfig(
    dataDir = Files.createTempDirectory("taipei-android").toString(),
    profile = "main",
    serverUrl = "http://127.0.0.1:9",
    deviceName = "Robolectric phone",
)

/**
 * Opens an offline client for a test, takes one capability object from it, runs [use]
 * with both, closes the client, and returns the capability: the caller then checks it
 * answers `Closed`.
 */
fun <C> withOfflineClient(take: (TaipeiClient) -> C, use: suspend (TaipeiClient, C) -> Unit): C = runBlocking {
    val client = TaipeiClient.openWithFileSecretsForTests(offlineConfig())
    val capability = take(client)
    client.use { use(it, capability) }
    capability
}
