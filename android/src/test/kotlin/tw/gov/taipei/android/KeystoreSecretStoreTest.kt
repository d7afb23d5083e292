package tw.gov.taipei.android

import android.content.Context
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import tw.gov.taipei.core.Client
import tw.gov.taipei.core.PlatformException

@RunWith(RobolectricTestRunner::class)
class KeystoreSecretStoreTest {
    private val prefs = RuntimeEnvironment.getApplication().getSharedPreferences("secrets-test", Context.MODE_PRIVATE)
    private val keyStore = memoryKeyStore()
    private val store = KeystoreSecretStore(prefs, keyStore, "k", makeAesKey)

    @Test
    fun valuesComeBackAndAreSealedAtRest() {
        assertNull(store.get("data-key"))
        val secret = ByteArray(32) { it.toByte() }
        store.put("data-key", secret)
        assertArrayEquals(secret, store.get("data-key"))
        val atRest = java.util.Base64.getDecoder().decode(prefs.getString("data-key", null))
        assertEquals("iv + ciphertext + tag", 12 + 32 + 16, atRest.size)
        assertFalse("plaintext at rest", atRest.toList().windowed(32).any { it == secret.toList() })
        store.delete("data-key")
        assertNull(store.get("data-key"))
    }

    @Test
    fun aValueMovedToAnotherNameOrTamperedDoesNotOpen() {
        store.put("a", byteArrayOf(1, 2, 3))
        prefs.edit().putString("b", prefs.getString("a", null)).commit()
        val moved = assertThrows(PlatformException.Unavailable::class.java) { store.get("b") }
        assertTrue(moved.detail, moved.detail.contains("does not open"))

        val bytes = java.util.Base64.getDecoder().decode(prefs.getString("a", null))
        bytes[bytes.size - 1] = (bytes[bytes.size - 1].toInt() xor 1).toByte()
        prefs.edit().putString("a", java.util.Base64.getEncoder().encodeToString(bytes)).commit()
        assertThrows(PlatformException.Unavailable::class.java) { store.get("a") }

        prefs.edit().putString("c", "not base64 !!").commit()
        assertThrows(PlatformException.Unavailable::class.java) { store.get("c") }
        prefs.edit().putString("d", "AAAA").commit()
        assertThrows(PlatformException.Unavailable::class.java) { store.get("d") }
    }

    @Test
    fun aWipedKeyIsReportedAsUnavailable() {
        store.put("a", byteArrayOf(9))
        keyStore.deleteEntry("k")
        val e = assertThrows(PlatformException.Unavailable::class.java) { store.get("a") }
        assertTrue(e.detail, e.detail.contains("gone"))
    }

    /** The core keeps its profile's data key in the store and finds it again on reopen. */
    @Test
    fun theCoreKeepsItsProfileKeyInTheStore() = runBlocking {
        val config = offlineConfig()
        Client.open(config, null, store, null).use { it.shutdown() }
        val names = prefs.all.keys
        assertTrue("the core stored nothing: $names", names.isNotEmpty())
        Client.open(config, null, store, null).use { it.shutdown() }
        assertEquals("reopening made no new secret", names, prefs.all.keys)

        // Without its key the profile does not open: a typed error, not a new empty profile.
        keyStore.deleteEntry("k")
        val e = runCatching { Client.open(config, null, store, null).use { it.shutdown() } }.exceptionOrNull()
        assertTrue("opened without its key: $e", e is tw.gov.taipei.core.ClientException)
    }
}
