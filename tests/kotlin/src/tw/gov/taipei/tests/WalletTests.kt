package tw.gov.taipei.tests

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import tw.gov.taipei.core.WalletException
import tw.gov.taipei.core.CheckStatus
import tw.gov.taipei.core.VerdictCheck
import tw.gov.taipei.core.VerdictKind
import tw.gov.taipei.core.WalletFilter

private fun jsonField(json: String, name: String): String =
    Regex(""""$name"\s*:\s*"([^"]*)"""").find(json)?.groupValues?.get(1)
        ?: throw TestFailure("no $name in $json")

/** The city root key as an app build would ship it (read from the test server). */
fun rootKey(h: Harness): String {
    val reply = HttpClient.newHttpClient().send(
        HttpRequest.newBuilder(URI.create(h.server.baseUrl() + "/v1/wallet/root-key")).build(),
        HttpResponse.BodyHandlers.ofString(),
    )
    return jsonField(reply.body(), "public_key")
}

private fun issueDiploma(h: Harness, userId: String): String = h.postAs(
    h.mintCredential("issuer", "TPE-EDU"),
    "/v1/admin/wallet/certificates",
    """{"user_id":"$userId","issuer":"TPE-EDU","cert_type":"diploma","holder_name":"陳小明",
       "title":{"zh":"高級中等學校畢業證書","en":"Senior High School Diploma"},
       "fields":[{"label":{"zh":"學校","en":"School"},"value":"臺北市立建國高級中學"}]}""",
)

/** The certificate wallet through the generated bindings. */
val walletTests = listOf(
    test("wallet: receive, list, show a QR, verify the scanned QR, typed verdict for a forged one") {
        withServer { h ->
            withClient(h.config().copy(walletRootKey = rootKey(h))) { client ->
                h.bind(client, "u-kotlin-wallet", "陳小明")
                val wallet = client.wallet()
                val issued = issueDiploma(h, "u-kotlin-wallet")
                val id = jsonField(issued, "id")
                val qr = jsonField(issued, "qr")

                val report = wallet.sync()
                assertEquals(1u, report.added, "received")
                val page = wallet.list(WalletFilter(certType = "diploma"))
                assertEquals(1u, page.total, "listed")
                assertEquals("陳○明", page.items.first().certificate.holder, "masked holder")
                assertEquals(0u, wallet.list(WalletFilter(text = "no such school")).total, "search miss")

                val card = wallet.show(id)
                check(card.qrSvg.contains("<svg")) { "the card carries its QR as SVG" }
                assertEquals(VerdictKind.VALID, card.verdict.kind, "shown verdict")
                assertEquals("Senior High School Diploma", card.item.certificate.title.en, "title")

                val png = wallet.renderQrPng(id, 4u)
                val scanned = wallet.verifyImage(png)
                assertEquals(VerdictKind.VALID, scanned.kind, "scanned verdict")
                check(scanned.reason.contains("checked against lists of")) { "says which lists: ${scanned.reason}" }

                val forged = qr.substring(0, 30) + (if (qr[30] == 'A') 'B' else 'A') + qr.substring(31)
                val verdict = wallet.verifyText(forged)
                check(verdict.kind == VerdictKind.TAMPERED || verdict.kind == VerdictKind.INVALID_SIGNATURE) {
                    "a forged code is refused with a typed verdict, got ${verdict.kind}"
                }
                val failed = verdict.steps.single { it.status == CheckStatus.FAILED }
                check(failed.code == VerdictCheck.INTEGRITY || failed.code == VerdictCheck.SIGNATURE) { "failed step ${failed.code}" }
                check(failed.words.en == verdict.reason && failed.words.zh.isNotEmpty()) { "words in both languages: ${failed.words}" }
                assertEquals(VerdictCheck.values().toList(), verdict.steps.map { it.code }, "every check, in order")
                check(scanned.steps.all { it.status == CheckStatus.PASSED }) { "a valid scan passes every check: ${scanned.steps}" }
                val other = wallet.verifyText("https://example.com")
                assertEquals(VerdictKind.NOT_A_CERTIFICATE, other.kind, "not a certificate")
                assertEquals(VerdictCheck.FORMAT, other.steps.single { it.status == CheckStatus.FAILED }.code, "the format check fails")
            }
        }
    },
    test("wallet: unknown item and wrong passphrase are typed errors") {
        withServer { h ->
            withClient(h.config().copy(walletRootKey = rootKey(h))) { client ->
                val wallet = client.wallet()
                val e = assertThrows<WalletException.UnknownItem>("unknown item") { wallet.show("nope") }
                assertEquals("wallet_unknown_item", e.code, "error code")
                val backup = wallet.exportBackup("a long passphrase")
                val wrong = assertThrows<WalletException.WrongPassphrase>("wrong passphrase") {
                    wallet.importBackup(backup, "another passphrase")
                }
                assertEquals("wallet_wrong_passphrase", wrong.code, "error code")
            }
        }
    },
)
