package tw.gov.taipei.android

import java.io.InputStream
import java.io.OutputStream
import java.nio.file.Files
import java.security.Key
import java.security.KeyStore
import java.security.KeyStoreSpi
import java.security.Provider
import java.security.cert.Certificate
import java.util.Collections
import java.util.Date
import java.util.Enumeration
import java.util.concurrent.ConcurrentHashMap
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import tw.gov.taipei.core.ClientConfig

/**
 * An in-memory key store behind a JCA provider of its own: what AndroidKeyStore is to
 * the glue (keys fetched by alias without a password), which Robolectric lacks.
 */
class MemoryKeyStoreSpi : KeyStoreSpi() {
    private val keys = ConcurrentHashMap<String, Key>()
    override fun engineGetKey(alias: String, password: CharArray?): Key? = keys[alias]
    override fun engineGetCertificateChain(alias: String): Array<Certificate>? = null
    override fun engineGetCertificate(alias: String): Certificate? = null
    override fun engineGetCreationDate(alias: String): Date? = if (keys.containsKey(alias)) Date(0) else null
    override fun engineSetKeyEntry(alias: String, key: Key, password: CharArray?, chain: Array<out Certificate>?) { keys[alias] = key }
    override fun engineSetKeyEntry(alias: String, key: ByteArray, chain: Array<out Certificate>?) = throw UnsupportedOperationException()
    override fun engineSetCertificateEntry(alias: String, cert: Certificate) = throw UnsupportedOperationException()
    override fun engineDeleteEntry(alias: String) { keys.remove(alias) }
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

/** A profile in a fresh folder; the server address is never reached by these tests. */
fun offlineConfig(): ClientConfig = ClientConfig(
    dataDir = Files.createTempDirectory("taipei-android").toString(),
    profile = "main",
    serverUrl = "http://127.0.0.1:9",
    deviceName = "Robolectric phone",
)
