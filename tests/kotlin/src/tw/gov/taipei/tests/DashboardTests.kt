package tw.gov.taipei.tests

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.Base64
import tw.gov.taipei.core.DashboardException

private fun field(json: String, name: String): String =
    Regex(""""$name"\s*:\s*"([^"]*)"""").find(json)?.groupValues?.get(1) ?: throw TestFailure("no $name in $json")

private fun b64(text: String) = Base64.getUrlEncoder().withoutPadding().encodeToString(text.toByteArray())

/** The personal dashboard through the generated bindings: filled through the real
 *  server, then read in one call with the server out of reach. */
val dashboardTests = listOf(
    test("dashboard: approvals and the wallet filled through the server, read offline in one call") {
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
            h.postAs(
                h.mintCredential("issuer", "TPE-EDU"),
                "/v1/admin/wallet/certificates",
                """{"user_id":"d-director","issuer":"TPE-EDU","cert_type":"diploma","holder_name":"陳小明",
                   "title":{"zh":"研習證明","en":"Course certificate"},"fields":[],"expires_at_ms":$soon}""",
            )
            val config = h.config().copy(walletRootKey = field(root, "public_key"))
            withClient(config) { client ->
                h.bind(client, "d-director", "陳處長")
                client.approvals().syncInbox()
                client.wallet().sync()
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
                client.wallet().markSeen()
                assertEquals(0u, client.dashboard(5u).wallet?.newSinceSeen, "seen")
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
