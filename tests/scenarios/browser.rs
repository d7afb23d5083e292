//! The sign-in page and the meeting display in a real browser: Debian's headless
//! Chromium driven over the W3C WebDriver protocol (chromedriver), the QR read from a
//! screenshot by the core's QR engine, the phone's approval through the core, and the
//! same page then showing who signed in.
//!
//! `scripts/test` installs `chromium` and `chromium-driver` and sets
//! `TAIPEI_BROWSER_TESTS=1`, which makes a missing browser a failure; without it (a
//! plain `cargo test` on a machine without Chromium) the test says so and skips.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use taipei_core::qr;
use taipei_scenarios::{create_meeting, http, offer_binding, open_profile, start_server};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and one browser session; both end when dropped.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Best effort: the driver closes the browser with the session.
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(rt) = rt {
                let _ = rt.block_on(async { http().delete(url).send().await });
            }
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    async fn start() -> Option<Self> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
            assert!(
                std::env::var_os("TAIPEI_BROWSER_TESTS").is_none(),
                "TAIPEI_BROWSER_TESTS is set but {CHROMIUM} / {CHROMEDRIVER} are missing"
            );
            eprintln!("skipped: the browser test needs Debian's chromium and chromium-driver (scripts/test installs them)");
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http().get(format!("{base}/status")).send().await.ok();
            if let Some(r) = ready
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        // Flags from the machine notes: without the background-networking ones,
        // Chromium keeps dialling Google's hosts, which this closed network refuses.
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1000,1000".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
        }}});
        let mut browser = Self { driver, base, session: String::new(), _profile: profile };
        let created = browser.call("POST", "/session", Some(caps)).await;
        browser.session = created["sessionId"].as_str().expect("a WebDriver session").to_owned();
        Some(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let request = match method {
            "POST" => http().post(url).json(&body.unwrap_or(json!({}))),
            _ => http().get(url),
        };
        let reply: Value = request.send().await.expect("webdriver call").json().await.expect("webdriver JSON");
        assert!(reply["value"].get("error").is_none(), "webdriver {path}: {reply}");
        reply["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    async fn script(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": [] }))).await
    }

    /// Polls the page until `script` returns `want` (what a person watching would wait for).
    async fn wait_for(&self, script: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.script(script).await;
            if value.as_str() == Some(want) {
                return value;
            }
            assert!(Instant::now() < deadline, "the page never reached {want:?} (last: {value})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot_png(&self) -> Vec<u8> {
        let b64 = self.call("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().expect("base64 PNG")).expect("PNG bytes")
    }

    /// The QR on screen, read from a screenshot by the core's QR engine.
    async fn scan_screen(&self) -> String {
        let png = self.screenshot_png().await;
        let codes = qr::decode_image(&png).expect("the screenshot decodes as an image");
        assert_eq!(codes.len(), 1, "one QR code on the screen");
        codes[0].text.clone()
    }
}

const STATE: &str = "return document.getElementById('state').dataset.state";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_page_and_meeting_display_in_headless_chromium() {
    let Some(browser) = Browser::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let url = server.base_url();
    let phone = open_profile(dir.path(), &url).await;
    phone.bind_device(&offer_binding(&server, "wang").await).await.unwrap();

    // The sign-in page: its QR, read off the screen.
    browser.open(&format!("{url}/login?system=hr")).await;
    browser.wait_for(STATE, "pending").await;
    let text = browser.scan_screen().await;
    let on_page = browser.script("return document.getElementById('qr').dataset.frame").await;
    assert_eq!(Some(text.as_str()), on_page.as_str(), "the screenshot's QR is the page's frame");

    let started = Instant::now();
    let prompt = phone.login().scan(&text).await.unwrap();
    assert_eq!(prompt.system, "差勤系統", "the name registered for the page's system id");
    assert!(prompt.browser.starts_with("Chrome"), "{}", prompt.browser);
    browser.wait_for(STATE, "scanned").await;
    let number = browser.script("return document.getElementById('number').textContent").await;
    let number = number.as_str().unwrap().to_owned();
    assert_eq!(number.len(), prompt.number_digits as usize, "{number}");
    phone.login().approve(&prompt, &number).await.unwrap();
    // The page names the account it is about to enter and waits for the person's click.
    browser.wait_for(STATE, "confirm").await;
    let account = browser.script("return document.getElementById('account').textContent").await;
    assert_eq!(account.as_str(), Some("w*******e"), "wang name, masked");
    let session = browser.script("return fetch('/v1/web/session').then(r => r.status)").await;
    assert_eq!(session.as_i64(), Some(401), "not signed in before the click");
    browser.script("document.getElementById('continue').click(); return true").await;
    browser.wait_for(STATE, "signed-in").await;
    eprintln!("scan to signed-in page in Chromium: {:?} (the page polls every 500 ms)", started.elapsed());
    let who = browser.script("return document.getElementById('who').textContent").await;
    assert_eq!(who.as_str(), Some("wang name"));
    // The page's session cookie is the browser's own: the web system knows who this is.
    let session = browser
        .script("return fetch('/v1/web/session').then(r => r.json()).then(j => j.user_id)")
        .await;
    assert_eq!(session.as_str(), Some("wang"));

    // The meeting room display, its QR off the screen, and the roster updating live.
    let meeting = create_meeting(&server, "瀏覽器會議 Browser meeting", &["wang"]).await;
    browser.open(&format!("{url}{}#{}", meeting.display_path, meeting.display_token)).await;
    browser.wait_for(STATE, "showing").await;
    let text = browser.scan_screen().await;
    assert!(text.starts_with("TPM1:"), "{text}");
    let outcome = phone.meetings().sign_in(&text).await.unwrap();
    assert!(matches!(outcome, taipei_core::meetings::SignInOutcome::SignedIn { .. }), "{outcome:?}");
    browser.wait_for("return document.getElementById('count').textContent", "1").await;
    let roster = browser.script("return document.getElementById('roster').textContent").await;
    assert_eq!(roster.as_str(), Some("wang name"));

    phone.close().await.unwrap();
    server.shutdown().await;
}
