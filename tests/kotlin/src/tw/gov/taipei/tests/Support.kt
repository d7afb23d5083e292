package tw.gov.taipei.tests

import java.math.BigInteger
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList
import tw.gov.taipei.core.Assurance
import tw.gov.taipei.core.Client
import tw.gov.taipei.core.ClientConfig
import tw.gov.taipei.core.DeviceInfo
import tw.gov.taipei.core.DeviceSigner
import tw.gov.taipei.core.ElapsedClock
import tw.gov.taipei.core.Event
import tw.gov.taipei.core.EventListener
import tw.gov.taipei.core.KeyAttestation
import tw.gov.taipei.core.PlatformException
import tw.gov.taipei.core.SecretStore
import tw.gov.taipei.core.TestServer
import tw.gov.taipei.core.startTestServer

/** A real reference server (embedded in the test build of the library) and a temp folder. */
class Harness(val server: TestServer, val dir: Path) {
    private val http = HttpClient.newHttpClient()

    fun config(profile: String = "main") = ClientConfig(
        dataDir = dir.resolve("phone").toString(),
        profile = profile,
        serverUrl = server.baseUrl(),
        deviceName = "JVM test phone",
        // Background sync off: each test syncs explicitly, so what it sees is its own doing.
        syncIntervalSecs = 0uL,
    )

    /** What the portal does once a person has proven who they are: returns the QR text. */
    fun offerBinding(userId: String, displayName: String): String {
        val body = """{"user_id":${json(userId)},"display_name":${json(displayName)}}"""
        // The portal calls with its own credential; the admin token is refused there.
        val reply = post(mintCredential("portal", null), "/v1/portal/bindings", body)
        return Regex(""""qr"\s*:\s*"([^"]+)"""").find(reply)?.groupValues?.get(1)
            ?: throw TestFailure("no qr in the binding offer: $reply")
    }

    /** Portal offer, then the phone binds to it. */
    suspend fun bind(client: Client, userId: String, displayName: String): DeviceInfo =
        client.bindDevice(offerBinding(userId, displayName))

    /** The administrator revokes a lost phone. */
    fun revoke(deviceId: String) {
        admin("/v1/admin/devices/$deviceId/revoke", "{}")
    }

    fun adminPost(path: String, body: String): String = admin(path, body)

    /** The operator mints a credential for a system (kind `issuer` takes its agency as scope); its token. */
    fun mintCredential(kind: String, scope: String?): String {
        val scopeField = if (scope == null) "" else ""","scope":${json(scope)}"""
        val reply = admin("/v1/admin/credentials", """{"kind":${json(kind)},"name":"Kotlin test $kind"$scopeField}""")
        return Regex(""""token"\s*:\s*"([^"]+)"""").find(reply)?.groupValues?.get(1)
            ?: throw TestFailure("no token in the minted credential: $reply")
    }

    /** `POST` as a system holding `token` (a minted credential). */
    fun postAs(token: String, path: String, body: String): String = post(token, path, body)

    private fun admin(path: String, body: String): String = post(server.adminToken(), path, body)

    private fun post(token: String, path: String, body: String): String {
        val request = HttpRequest.newBuilder(URI.create(server.baseUrl() + path))
            .header("Authorization", "Bearer " + token)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", java.util.UUID.randomUUID().toString())
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() in 200..299) { "POST $path: HTTP ${response.statusCode()} ${response.body()}" }
        return response.body()
    }
}

private fun json(text: String) = "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\""

suspend fun <T> withServer(block: suspend (Harness) -> T): T {
    val dir = Files.createTempDirectory("taipei-kotlin-test")
    val server = startTestServer(dir.resolve("server.db").toString())
    try {
        return block(Harness(server, dir))
    } finally {
        server.shutdown()
        server.close()
        dir.toFile().deleteRecursively()
    }
}

/** Opens a client, runs [block], and always closes it. */
suspend fun <T> withClient(
    config: ClientConfig,
    signer: DeviceSigner? = null,
    secrets: SecretStore? = null,
    listener: EventListener? = null,
    clock: ElapsedClock? = null,
    block: suspend (Client) -> T,
): T {
    val client = Client.open(config, signer, secrets, listener, clock)
    try {
        return block(client)
    } finally {
        client.shutdown()
        client.close()
    }
}

/**
 * A device key the way an Android app without a Keystore would hold one: the JDK's
 * EC provider, whose SHA256withECDSA returns ASN.1 DER, not r‖s.
 */
class JdkSigner : DeviceSigner {
    private val pair = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()
    val signatures = java.util.concurrent.atomic.AtomicInteger()

    override fun publicKey(): ByteArray {
        val point = (pair.public as ECPublicKey).w
        return byteArrayOf(4) + fixed32(point.affineX) + fixed32(point.affineY)
    }

    override suspend fun sign(message: ByteArray): ByteArray {
        signatures.incrementAndGet()
        return Signature.getInstance("SHA256withECDSA").run {
            initSign(pair.private)
            update(message)
            sign()
        }
    }

    override fun assurance() = Assurance.HARDWARE

    /** The JDK attests nothing: the server records the assurance as claimed. */
    override suspend fun attest(challenge: ByteArray): KeyAttestation? = null

    private fun fixed32(n: BigInteger): ByteArray {
        val raw = n.toByteArray().dropWhile { it == 0.toByte() }.toByteArray()
        return ByteArray(32 - raw.size) + raw
    }
}

/** A signer whose key works but whose signing throws, as a broken keystore would. */
class ThrowingSigner : DeviceSigner {
    private val inner = JdkSigner()
    override fun publicKey() = inner.publicKey()
    override suspend fun sign(message: ByteArray): ByteArray = throw IllegalStateException("keystore exploded")
    override fun assurance() = Assurance.HARDWARE
    override suspend fun attest(challenge: ByteArray) = inner.attest(challenge)
}

/** The platform keystore stand-in the tests control: a map, and a log of its calls. */
class MemorySecretStore : SecretStore {
    val values = ConcurrentHashMap<String, ByteArray>()
    val calls = CopyOnWriteArrayList<String>()
    @Volatile var refuse = false

    override fun get(name: String): ByteArray? {
        calls += "get $name"
        if (refuse) throw PlatformException.Unavailable("keystore locked")
        return values[name]
    }

    override fun put(name: String, value: ByteArray) {
        calls += "put $name"
        values[name] = value.copyOf()
    }

    override fun delete(name: String) {
        calls += "delete $name"
        values.remove(name)
    }
}

/** Collects events; the core delivers them all before `shutdown()` returns. */
class RecordingListener : EventListener {
    val events = CopyOnWriteArrayList<Event>()
    val threads = CopyOnWriteArrayList<String>()

    override fun onEvent(event: Event) {
        events += event
        threads += Thread.currentThread().name
    }
}
