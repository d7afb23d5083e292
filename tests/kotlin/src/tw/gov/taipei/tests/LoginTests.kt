package tw.gov.taipei.tests

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import tw.gov.taipei.core.LoginException
import tw.gov.taipei.core.LoginState
import tw.gov.taipei.core.MeetingsException
import tw.gov.taipei.core.SignInOutcome

/** The browser side of a login, over plain HTTP: starts, keeps its cookie, reads the page state. */
class PlainBrowser(private val baseUrl: String) {
    private val http = HttpClient.newHttpClient()
    private val cookies = mutableListOf<String>()
    val rid: String

    init {
        val request = HttpRequest.newBuilder(URI.create("$baseUrl/v1/login/start"))
            .header("Content-Type", "application/json")
            .header("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36")
            .POST(HttpRequest.BodyPublishers.ofString("""{"system_id":"doc"}"""))
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() == 201) { "login start: ${response.statusCode()} ${response.body()}" }
        cookies += response.headers().allValues("set-cookie").map { it.substringBefore(';') }
        rid = field(response.body(), "rid")
    }

    private fun send(method: String, path: String, json: String? = null): HttpResponse<String> {
        val builder = HttpRequest.newBuilder(URI.create(baseUrl + path))
            .header("Cookie", cookies.joinToString("; "))
        if (json != null) builder.header("Content-Type", "application/json")
        val body = if (json != null) HttpRequest.BodyPublishers.ofString(json) else HttpRequest.BodyPublishers.noBody()
        return http.send(builder.method(method, body).build(), HttpResponse.BodyHandlers.ofString())
    }

    fun status(): String = send("GET", "/v1/login/$rid").body()
    fun frame(): String = field(status(), "frame")
    fun number(): String = field(status(), "number")
    fun state(): String = field(status(), "state")
    /** The masked name of the account the page is about to enter, once approved. */
    fun account(): String = field(status(), "account")

    /** The "Continue" click: redeems with the confirmation the page was given. */
    fun redeem(): HttpResponse<String> =
        send("POST", "/v1/login/$rid/redeem", """{"confirm":"${field(status(), "confirm")}"}""")
}

private fun field(json: String, name: String): String =
    Regex(""""$name"\s*:\s*"([^"]*)"""").find(json)?.groupValues?.get(1)
        ?: throw TestFailure("no $name in $json")

/** QR-key login and meeting sign-in through the generated bindings. */
val loginTests = listOf(
    test("login: scan, type the number, browser signed in") {
        withServer { h ->
            withClient(h.config()) { client ->
                h.bind(client, "u-kotlin-login", "王小明")
                val login = client.login()
                val browser = PlainBrowser(h.server.baseUrl())
                val prompt = login.scan(browser.frame())
                assertEquals("公文系統", prompt.system, "system shown")
                assertEquals("Chrome 131", prompt.browser, "browser shown")
                assertEquals(2u, prompt.numberDigits, "digits to type")
                val number = browser.number()
                val typo = assertThrows<LoginException.InvalidInput>("typo") { login.approve(prompt, "7") }
                assertEquals("invalid_input", typo.code, "typo code")
                val outcome = login.approve(prompt, number)
                assertEquals(LoginState.Approved, outcome.state, "outcome")
                assertEquals("王*明", browser.account(), "the page names the account, masked")
                val redeemed = browser.redeem()
                assertEquals(200, redeemed.statusCode(), "redeem status")
                assertEquals("王小明", field(redeemed.body(), "display_name"), "signed in as")
                assertEquals(LoginState.Redeemed, login.listHistory().first().state, "history")
            }
        }
    },
    test("login: a wrong number says so once, with the tries left as a field") {
        withServer { h ->
            withClient(h.config()) { client ->
                h.bind(client, "u-kotlin-wrong", "陳美玲")
                val login = client.login()
                val browser = PlainBrowser(h.server.baseUrl())
                val prompt = login.scan(browser.frame())
                val right = browser.number().toInt()
                val wrong = (10 + (right - 10 + 1) % 90).toString()
                val e = assertThrows<LoginException.WrongNumber>("wrong number") { login.approve(prompt, wrong) }
                assertEquals("wrong_number", e.code, "error code")
                assertEquals(0u, e.triesLeft, "tries left (the reference server takes one number)")
                assertEquals(1, Regex("not the number").findAll(e.detail).count(), "said once: ${e.detail}")
                assertEquals("cancelled", browser.state(), "the browser's request")
                assertThrows<LoginException.Cancelled>("the right number, too late") { login.approve(prompt, right.toString()) }
            }
        }
    },
    test("login: a URL from the street is not a city code") {
        withServer { h ->
            withClient(h.config()) { client ->
                h.bind(client, "u-kotlin-street", "李大華")
                val e = assertThrows<LoginException.NotCityQr>("street QR") { client.login().scan("https://example.com/login") }
                assertEquals("not_city_qr", e.code, "error code")
            }
        }
    },
    test("meeting: scan, sign in once, second time already signed in") {
        withServer { h ->
            withClient(h.config()) { client ->
                h.bind(client, "u-kotlin-meet", "林小美")
                val now = System.currentTimeMillis()
                val created = h.postAs(
                    h.mintCredential("organizer", null),
                    "/v1/admin/meetings",
                    """{"title":"市政會議","room":"801","organizer":"秘書處","starts_at_ms":${now - 60000},"ends_at_ms":${now + 3600000}}""",
                )
                val mid = field(created, "mid")
                val display = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create(h.server.baseUrl() + "/v1/meetings/$mid/display"))
                        .header("Authorization", "Bearer " + field(created, "display_token")).build(),
                    HttpResponse.BodyHandlers.ofString(),
                ).body()
                val frame = field(display, "frame")
                val meetings = client.meetings()
                assertEquals("市政會議", meetings.scan(frame).title, "meeting title")
                val outcome = meetings.signIn(frame)
                check(outcome is SignInOutcome.SignedIn && !outcome.late) { "signed in live: $outcome" }
                val e = assertThrows<MeetingsException.AlreadySignedIn>("twice") { meetings.signIn(frame) }
                assertEquals("already_signed_in", e.code, "error code")
            }
        }
    },
)
