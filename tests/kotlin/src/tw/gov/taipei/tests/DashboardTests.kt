package tw.gov.taipei.tests

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.Base64
import tw.gov.taipei.core.DashboardException
import tw.gov.taipei.core.PushChannel
import tw.gov.taipei.core.PushKindCount
import tw.gov.taipei.core.PushRoute

private fun field(json: String, name: String): String =
    Regex(""""$name"\s*:\s*"([^"]*)"""").find(json)?.groupValues?.get(1) ?: throw TestFailure("no $name in $json")

private fun b64(text: String) = Base64.getUrlEncoder().withoutPadding().encodeToString(text.toByteArray())

/** The personal dashboard through the generated bindings: filled through the real
 *  server (approvals, a certificate and its push), then read in one call with the
 *  server out of reach. */
val dashboardTests = listOf(
    test("dashboard: approvals, the wallet and the push inbox filled through the server, read offline in one call") {
        withServer { h ->
            for ((id, level) in listOf("d-clerk" to 5, "d-director" to 2)) {
                h.adminPost("/v1/admin/approval/people", """{"user_id":"$id","display_name":"$id","title":"","agency":"資訊局","level":$level}""")
            }
            val items = listOf("document", "form").map { kind ->
                val reply = h.adminPost(
                    "/v1/admin/approval/items",
                    """{"kind":"$kind","subject":"主旨 $kind","body":"${b64("<p>$kind</p>")}","urgency":"urgent","agency":"資訊局","decision_level":2,"chain":["d-clerk","d-director"]}""",
                )
                field(reply, "item_id")
            }
            val root = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create(h.server.baseUrl() + "/v1/wallet/root-key")).build(),
                HttpResponse.BodyHandlers.ofString(),
            ).body()
            val soon = System.currentTimeMillis() + 5L * 86_400_000
            val config = h.config().copy(walletRootKey = field(root, "public_key"))
            withClient(config) { client ->
                h.bind(client, "d-director", "陳處長")
                // Registered, so the push log is the phone's to read; nothing listens at
                // the endpoint, and the sync below brings what push could not deliver.
                client.push().register(PushChannel.WEB_PUSH, "http://127.0.0.1:9/push/kotlin")
                // Issued to a person with a phone: the server logs a certificate_issued push.
                h.postAs(
                    h.mintCredential("issuer", "TPE-EDU"),
                    "/v1/admin/wallet/certificates",
                    """{"user_id":"d-director","issuer":"TPE-EDU","cert_type":"diploma","holder_name":"陳小明",
                       "title":{"zh":"研習證明","en":"Course certificate"},"fields":[],"expires_at_ms":$soon}""",
                )
                client.approvals().syncInbox()
                client.wallet().sync()
                assertEquals(1u, client.push().sync().new, "the certificate's push from the server's log")
            }
            withClient(config.copy(serverUrl = "http://127.0.0.1:9")) { client ->
                val view = client.dashboard(5u)
                val approvals = view.approvals ?: throw TestFailure("TaipeiON has the approvals section")
                assertEquals(2u, approvals.waiting, "waiting")
                assertEquals(2u, approvals.urgent, "urgent")
                assertEquals(items.reversed(), approvals.newest.map { it.itemId }, "newest first")
                assertEquals("主旨 form", approvals.newest.first().subject, "subject")
                val wallet = view.wallet ?: throw TestFailure("the wallet section")
                assertEquals(1u, wallet.total, "certificates")
                assertEquals(1u, wallet.expiringSoon, "expiring within 30 days")
                assertEquals("Course certificate", wallet.expiring.single().titleEn, "which one")
                assertEquals(1u, wallet.newSinceSeen, "new")
                val inbox = view.inbox ?: throw TestFailure("the inbox section")
                assertEquals(1u, inbox.badge, "badge")
                assertEquals(listOf(PushKindCount("certificate_issued", 1u)), inbox.unreadByKind, "unread per kind")
                val message = inbox.newest.single()
                assertEquals("新憑證", message.title, "title")
                val certificate = wallet.newest.single().id
                assertEquals(PushRoute.CertificateIssued(certificate), message.target, "leads to the certificate")
                client.wallet().markSeen()
                client.push().markRead(listOf(message.id))
                val after = client.dashboard(5u)
                assertEquals(0u, after.wallet?.newSinceSeen, "seen")
                assertEquals(0u, after.inbox?.badge, "read: the badge clears")
                check(after.inbox?.newest?.single()?.read == true) { "the read message is still listed: ${after.inbox}" }
                check(view.punches != null && view.punches!!.punches.isEmpty()) { "no punches today: ${view.punches}" }
                check(view.date.matches(Regex("""\d{4}-\d{2}-\d{2}"""))) { "date ${view.date}" }
            }
            withClient(config) { client ->
                client.shutdown()
                val closed = assertThrows<DashboardException.Closed>("after shutdown") { client.dashboard(5u) }
                assertEquals("closed", closed.code(), "code")
            }
        }
    },
)
