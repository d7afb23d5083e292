package tw.gov.taipei.android

import android.content.Context
import android.content.SharedPreferences
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import java.security.GeneralSecurityException
import java.security.KeyStore
import java.util.Base64
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import tw.gov.taipei.core.PlatformException
import tw.gov.taipei.core.SecretStore

/**
 * The core's [SecretStore] over SharedPreferences, every value sealed with an AES-GCM
 * key that never leaves the key store. The entry name is the GCM associated data, so
 * a value copied under another name fails to open instead of being accepted.
 *
 * The key store and the way a missing key is made are injected: on a device use
 * [KeystoreSecretStore.forDevice] (AndroidKeyStore); tests pass a JCA key store,
 * because Robolectric has no AndroidKeyStore provider.
 */
class KeystoreSecretStore(
    private val prefs: SharedPreferences,
    private val keyStore: KeyStore,
    private val alias: String,
    /** Makes the key and leaves it in [keyStore] under [alias]. */
    private val createKey: (KeyStore, String) -> SecretKey,
) : SecretStore {
    private val lock = Any()

    override fun get(name: String): ByteArray? = synchronized(lock) {
        val stored = prefs.getString(name, null) ?: return null
        val sealed = try {
            Base64.getDecoder().decode(stored)
        } catch (e: IllegalArgumentException) {
            throw PlatformException.Unavailable("secret $name is not readable: ${e.message}")
        }
        if (sealed.size < IV_BYTES + TAG_BITS / 8) throw PlatformException.Unavailable("secret $name is truncated")
        val key = existingKey() ?: throw PlatformException.Unavailable("the key sealing secret $name is gone")
        try {
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BITS, sealed, 0, IV_BYTES))
            cipher.updateAAD(name.toByteArray(Charsets.UTF_8))
            cipher.doFinal(sealed, IV_BYTES, sealed.size - IV_BYTES)
        } catch (e: GeneralSecurityException) {
            // A wiped or replaced key, or tampered bytes: the secret cannot come back.
            throw PlatformException.Unavailable("secret $name does not open: ${e.javaClass.simpleName}")
        }
    }

    override fun put(name: String, value: ByteArray) = synchronized(lock) {
        val sealed = try {
            val cipher = Cipher.getInstance(TRANSFORMATION)
            // No IV of ours: AndroidKeyStore insists on choosing it (randomized encryption).
            cipher.init(Cipher.ENCRYPT_MODE, existingKey() ?: createKey(keyStore, alias))
            cipher.updateAAD(name.toByteArray(Charsets.UTF_8))
            val iv = cipher.iv
            check(iv.size == IV_BYTES) { "unexpected GCM IV length ${iv.size}" }
            iv + cipher.doFinal(value)
        } catch (e: GeneralSecurityException) {
            throw PlatformException.Failed("sealing secret $name: ${e.javaClass.simpleName}")
        }
        // commit, not apply: the core goes on to rely on the secret being on disk.
        if (!prefs.edit().putString(name, Base64.getEncoder().encodeToString(sealed)).commit()) {
            throw PlatformException.Failed("writing secret $name failed")
        }
    }

    override fun delete(name: String) = synchronized(lock) {
        if (!prefs.edit().remove(name).commit()) throw PlatformException.Failed("deleting secret $name failed")
    }

    private fun existingKey(): SecretKey? = try {
        keyStore.getKey(alias, null) as? SecretKey
    } catch (e: GeneralSecurityException) {
        throw PlatformException.Unavailable("key store refused key $alias: ${e.javaClass.simpleName}")
    }

    companion object {
        private const val TRANSFORMATION = "AES/GCM/NoPadding"
        private const val IV_BYTES = 12
        private const val TAG_BITS = 128

        /** The store an app uses: a 256-bit AES key in AndroidKeyStore, values in private prefs. */
        @JvmStatic
        fun forDevice(context: Context, alias: String = "taipei-secrets", prefsName: String = "taipei-secrets"): KeystoreSecretStore {
            val keyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }
            return KeystoreSecretStore(
                context.getSharedPreferences(prefsName, Context.MODE_PRIVATE), keyStore, alias,
            ) { _, name ->
                val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore")
                generator.init(
                    KeyGenParameterSpec.Builder(name, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                        .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                        .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                        .setKeySize(256)
                        .build(),
                )
                generator.generateKey()
            }
        }
    }
}
