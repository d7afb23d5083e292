package tw.gov.taipei.android

import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyInfo
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.UserNotAuthenticatedException
import java.math.BigInteger
import java.security.GeneralSecurityException
import java.security.KeyFactory
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.ProviderException
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import tw.gov.taipei.core.Assurance
import tw.gov.taipei.core.DeviceSigner
import tw.gov.taipei.core.KeyAttestation
import tw.gov.taipei.core.PlatformException

/**
 * The core's [DeviceSigner] over a P-256 key that never leaves the key store: the
 * public key as uncompressed SEC1 (`04 ‖ x ‖ y`), signatures as the DER the platform
 * returns (the core converts and verifies each one).
 *
 * The key store and the way a missing key is made are injected, as for
 * [KeystoreSecretStore]: an app uses [KeystoreSigner.forDevice] (AndroidKeyStore,
 * StrongBox when the phone has one); tests pass a JCA key store.
 *
 * At binding the core calls [attest] with the portal code's nonce first: the key is
 * made anew with that nonce as its attestation challenge, and its certificate chain
 * goes to the server with the registration, which checks it up to Google's roots and
 * records the assurance as attested.
 */
class KeystoreSigner(
    private val keyStore: KeyStore,
    private val alias: String,
    /**
     * Makes the key pair and leaves it in [keyStore] under [alias]; the third argument
     * is the attestation challenge to make it with (null outside a binding).
     */
    private val createKey: (KeyStore, String, ByteArray?) -> Unit,
    /** Where the key lives; read from the key itself on a device ([securityLevelOf]). */
    private val level: (PrivateKey) -> Assurance,
    /**
     * Runs before each signature with the [Signature] already initialised with the key.
     * A key made to need the person for every use shows BiometricPrompt here with
     * `BiometricPrompt.CryptoObject(signature)` and returns once they pass it, or throws
     * [PlatformException.Cancelled] when they dismiss it. It may suspend as long as the
     * person takes: the core waits without holding a thread, up to
     * `ClientConfig.signerTimeoutSecs`, then cancels this coroutine.
     */
    private val authorize: suspend (Signature) -> Unit = {},
) : DeviceSigner {
    private val lock = Any()

    override fun publicKey(): ByteArray = synchronized(lock) {
        ensureKey()
        val public = keyStore.getCertificate(alias)?.publicKey as? ECPublicKey
            ?: throw PlatformException.Unavailable("key $alias has no P-256 public key in the key store")
        uncompressedPoint(public)
    }

    override suspend fun sign(message: ByteArray): ByteArray {
        val key = synchronized(lock) { privateKey() }
        val signature = keystoreCall { Signature.getInstance("SHA256withECDSA").apply { initSign(key) } }
        authorize(signature)
        // StrongBox takes tens of milliseconds per signature: not on the caller's thread.
        return withContext(Dispatchers.IO) {
            keystoreCall {
                signature.update(message)
                signature.sign()
            }
        }
    }

    private fun <T> keystoreCall(call: () -> T): T {
        return try {
            call()
        } catch (e: KeyPermanentlyInvalidatedException) {
            // The person changed the screen lock or biometrics: the key is gone for good.
            throw PlatformException.Unavailable("key $alias was invalidated by a change of screen lock or biometrics; bind again")
        } catch (e: UserNotAuthenticatedException) {
            throw PlatformException.Failed("key $alias needs the person to unlock or authenticate first")
        } catch (e: GeneralSecurityException) {
            throw PlatformException.Failed("signing with key $alias: ${e.javaClass.simpleName}")
        }
    }

    override fun assurance(): Assurance = try {
        synchronized(lock) { level(privateKey()) }
    } catch (e: Exception) {
        // The core cannot take an error here; the weakest claim is the safe one.
        Assurance.SOFTWARE
    }

    /**
     * Called by the core once per binding, before [publicKey]: replaces the key with
     * one made with [challenge] (the binding offer's nonce) as its attestation
     * challenge and returns its chain. A phone whose key store gives no chain (a lone
     * self-signed certificate) or cannot attest (a `ProviderException`: the key is then
     * made without a challenge) returns null and binds with its claim.
     */
    override suspend fun attest(challenge: ByteArray): KeyAttestation? = withContext(Dispatchers.IO) {
        synchronized(lock) {
            try {
                keyStore.deleteEntry(alias)
                try {
                    createKey(keyStore, alias, challenge)
                } catch (e: ProviderException) {
                    // Some key stores cannot attest (a broken or revoked attestation key):
                    // a key without a chain still binds, with the assurance as claimed.
                    keyStore.deleteEntry(alias)
                    createKey(keyStore, alias, null)
                    return@synchronized null
                }
            } catch (e: GeneralSecurityException) {
                throw PlatformException.Unavailable("making key $alias for binding: ${e.javaClass.simpleName}: ${e.message}")
            }
            attestationChain().takeIf { it.size >= 2 }?.let { KeyAttestation.AndroidKey(it) }
        }
    }

    /**
     * The key's certificate chain (leaf first, DER): AndroidKeyStore's attestation
     * chain when the key was made with a challenge, one self-signed certificate without.
     */
    fun attestationChain(): List<ByteArray> = synchronized(lock) {
        ensureKey()
        keyStore.getCertificateChain(alias)?.map { it.encoded } ?: emptyList()
    }

    /** Removes the key (unbinding this phone); the next use makes a new one. */
    fun delete() = synchronized(lock) { keyStore.deleteEntry(alias) }

    private fun ensureKey() {
        try {
            if (!keyStore.containsAlias(alias)) createKey(keyStore, alias, null)
        } catch (e: GeneralSecurityException) {
            throw PlatformException.Unavailable("making key $alias: ${e.javaClass.simpleName}: ${e.message}")
        }
    }

    private fun privateKey(): PrivateKey {
        ensureKey()
        return try {
            keyStore.getKey(alias, null) as? PrivateKey
        } catch (e: GeneralSecurityException) {
            throw PlatformException.Unavailable("key store refused key $alias: ${e.javaClass.simpleName}")
        } ?: throw PlatformException.Unavailable("key $alias is not a private key")
    }

    companion object {
        /** The uncompressed SEC1 point the core expects: `04`, then x and y as 32 bytes each. */
        @JvmStatic
        fun uncompressedPoint(key: ECPublicKey): ByteArray {
            fun fixed(n: BigInteger): ByteArray {
                val raw = n.toByteArray().dropWhile { it == 0.toByte() }.toByteArray()
                if (raw.size > 32) throw PlatformException.Unavailable("not a P-256 key (coordinate of ${raw.size} bytes)")
                return ByteArray(32 - raw.size) + raw
            }
            return byteArrayOf(4) + fixed(key.w.affineX) + fixed(key.w.affineY)
        }

        /** Where AndroidKeyStore keeps [key]: StrongBox, the TEE, or software. */
        @JvmStatic
        fun securityLevelOf(key: PrivateKey): Assurance {
            val info = KeyFactory.getInstance(key.algorithm, "AndroidKeyStore").getKeySpec(key, KeyInfo::class.java)
            return if (Build.VERSION.SDK_INT >= 31) {
                when (info.securityLevel) {
                    KeyProperties.SECURITY_LEVEL_STRONGBOX -> Assurance.STRONGBOX
                    KeyProperties.SECURITY_LEVEL_TRUSTED_ENVIRONMENT -> Assurance.HARDWARE
                    else -> Assurance.SOFTWARE
                }
            } else {
                @Suppress("DEPRECATION")
                if (info.isInsideSecureHardware) Assurance.HARDWARE else Assurance.SOFTWARE
            }
        }

        /**
         * The signer an app uses: a P-256 key in AndroidKeyStore, in StrongBox when the
         * phone has one ([PackageManager.FEATURE_STRONGBOX_KEYSTORE]) and the TEE
         * otherwise. [userAuthSeconds]: when set, the key signs only within that many
         * seconds of the person unlocking or passing BiometricPrompt (device credential
         * or strong biometric), and `0` for every use, with [authorize] showing the prompt
         * with the signature as its `CryptoObject`; null keeps background punches and
         * sync working while the phone is locked. The key made at binding ([attest])
         * carries the binding offer's nonce as its attestation challenge, so its chain
         * proves to the server where the key lives.
         */
        @JvmStatic
        fun forDevice(
            context: Context,
            alias: String = "taipei-device",
            userAuthSeconds: Int? = null,
            authorize: suspend (Signature) -> Unit = {},
        ): KeystoreSigner {
            val keyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }
            val strongBox = Build.VERSION.SDK_INT >= 28 &&
                context.packageManager.hasSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE)
            return KeystoreSigner(keyStore, alias, { _, name, attestationChallenge ->
                fun spec(inStrongBox: Boolean) = KeyGenParameterSpec.Builder(name, KeyProperties.PURPOSE_SIGN)
                    .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
                    .setDigests(KeyProperties.DIGEST_SHA256)
                    .apply {
                        if (inStrongBox) setIsStrongBoxBacked(true)
                        if (attestationChallenge != null) setAttestationChallenge(attestationChallenge)
                        if (userAuthSeconds != null) {
                            setUserAuthenticationRequired(true)
                            if (Build.VERSION.SDK_INT >= 30) {
                                setUserAuthenticationParameters(
                                    userAuthSeconds,
                                    KeyProperties.AUTH_DEVICE_CREDENTIAL or KeyProperties.AUTH_BIOMETRIC_STRONG,
                                )
                            } else {
                                @Suppress("DEPRECATION")
                                setUserAuthenticationValidityDurationSeconds(userAuthSeconds)
                            }
                        }
                    }
                    .build()
                val generator = KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_EC, "AndroidKeyStore")
                try {
                    generator.initialize(spec(strongBox))
                    generator.generateKeyPair()
                } catch (e: ProviderException) {
                    // StrongBoxUnavailableException (API 28, a ProviderException): advertised
                    // but busy or full. The TEE still keeps the key out of the app's memory.
                    if (!strongBox) throw e
                    generator.initialize(spec(false))
                    generator.generateKeyPair()
                }
            }, ::securityLevelOf, authorize)
        }
    }
}
