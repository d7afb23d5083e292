//! Shared helpers for the scenarios: the embedded reference server, its portal and
//! admin endpoints (plain loopback HTTP, as a portal back office would call them), and
//! profiles of the core in temp dirs.

pub mod push_service;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use taipei_core::{Client, ClientConfig, FileSecretStore, Platform};
use taipei_protocol::api::{BindingOffer, NewBinding};
use taipei_server::{RunningServer, ServerConfig};

/// Starts the reference server on a loopback port with its database in `dir`.
pub async fn start_server(dir: &Path) -> RunningServer {
    start_server_at(dir, None).await
}

/// The key-encryption key of every scenario server (one per test process), so a
/// restarted server opens its file and a test can act as the operator who holds it.
pub fn server_kek() -> taipei_server::sealing::Kek {
    static KEK: std::sync::OnceLock<taipei_server::sealing::Kek> = std::sync::OnceLock::new();
    KEK.get_or_init(|| std::sync::Arc::new(taipei_server::sealing::LocalKek::generate().expect("system randomness"))).clone()
}

/// Same, on a chosen address (to restart a server where a client expects it).
pub async fn start_server_at(dir: &Path, addr: Option<std::net::SocketAddr>) -> RunningServer {
    start_server_with(dir, |config| {
        if let Some(addr) = addr {
            config.bind = addr;
        }
    })
    .await
}

/// Same, with the embedded configuration adjusted first (e.g. rate limits off for a
/// bench that measures throughput from one address).
pub async fn start_server_with(dir: &Path, adjust: impl FnOnce(&mut ServerConfig)) -> RunningServer {
    let mut config = ServerConfig::embedded(dir.join("server.db"));
    config.kek = server_kek();
    adjust(&mut config);
    taipei_server::start(config).await.expect("server starts")
}

/// A reqwest client for loopback HTTP (reqwest needs a TLS config even for http).
pub fn http() -> reqwest::Client {
    let tls = taipei_core::net::tls::refuse_all_config().expect("loopback TLS config");
    reqwest::Client::builder().use_preconfigured_tls(tls).build().expect("http client")
}

/// `POST` an admin/portal endpoint with the admin bearer token; returns status and JSON.
pub async fn admin_post(server_url: &str, admin_token: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let reply = http()
        .post(format!("{server_url}{path}"))
        .header("Authorization", format!("Bearer {admin_token}"))
        .header("Idempotency-Key", format!("scenario-{}", std::process::id()) + path)
        .json(&body)
        .send()
        .await
        .expect("admin call");
    let status = reply.status().as_u16();
    let json = reply.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// The portal, with its own credential, offers a binding for `user_id`; returns the
/// `TPB1:` QR text.
pub async fn offer_binding(server: &RunningServer, user_id: &str) -> String {
    offer_binding_at(&server.base_url(), server.admin_token(), user_id).await
}

/// [`offer_binding`] on a server known by its address and admin token (one running in
/// another process).
pub async fn offer_binding_at(server_url: &str, admin_token: &str, user_id: &str) -> String {
    let body = serde_json::to_value(NewBinding { user_id: user_id.into(), display_name: format!("{user_id} name") })
        .expect("json");
    let portal = mint_credential_at(server_url, admin_token, "portal", None).await;
    let (status, json) = admin_post(server_url, &portal, "/v1/portal/bindings", body).await;
    assert!((200..300).contains(&status), "portal offer: {status} {json}");
    let offer: BindingOffer = serde_json::from_value(json).expect("BindingOffer");
    offer.qr
}

/// A credential of `kind` (limited to `scope`: an issuer's agency), minted by the
/// operator through the admin endpoint; returns its token.
pub async fn mint_credential(server: &RunningServer, kind: &str, scope: Option<&str>) -> String {
    mint_credential_at(&server.base_url(), server.admin_token(), kind, scope).await
}

async fn mint_credential_at(server_url: &str, admin_token: &str, kind: &str, scope: Option<&str>) -> String {
    let body = serde_json::json!({"kind": kind, "name": format!("scenario {kind}"), "scope": scope});
    let (status, json) = admin_post(server_url, admin_token, "/v1/admin/credentials", body).await;
    assert_eq!(status, 201, "{json}");
    json["token"].as_str().expect("token").to_owned()
}

/// A kiosk credential.
pub async fn mint_kiosk(server: &RunningServer) -> String {
    mint_credential(server, "kiosk", None).await
}

/// HR, with a credential the operator minted for it, assigns `user` to `office` (only
/// assigned people get an EID office's rotating ids).
pub async fn assign_to_office(server: &RunningServer, office: &str, user: &str) {
    let hr = mint_credential(server, "hr", None).await;
    let path = format!("/v1/hr/offices/{office}/assignments");
    let (status, json) = admin_post(&server.base_url(), &hr, &path, serde_json::json!({"user_id": user})).await;
    assert_eq!(status, 200, "{json}");
}

/// `POST` a back-office endpoint with the admin token and no idempotency key (each
/// call is a new request); returns status and JSON.
pub async fn admin_post_plain(server: &RunningServer, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let reply = http()
        .post(format!("{}{path}", server.base_url()))
        .header("Authorization", format!("Bearer {}", server.admin_token()))
        .json(&body)
        .send()
        .await
        .expect("admin call");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(serde_json::Value::Null))
}

/// Registers someone who can hold approval items, at `level` of 分層負責 (1 = head).
pub async fn approval_person(server: &RunningServer, user_id: &str, level: u8) {
    let body = serde_json::json!({"user_id": user_id, "display_name": user_id, "title": "", "agency": "資訊局", "level": level});
    let (status, json) = admin_post_plain(server, "/v1/admin/approval/people", body).await;
    assert_eq!(status, 201, "{json}");
}

/// Creates an item of `kind` (`document`, `form`, `leave`) on `chain` (drafter first,
/// decider last at level 2), body `<p>{subject}</p>`; returns its id.
pub async fn approval_item(server: &RunningServer, subject: &str, chain: &[&str], kind: &str) -> String {
    let mut body = serde_json::json!({
        "kind": kind,
        "subject": subject,
        "body": taipei_protocol::b64::encode(format!("<p>{subject}</p>").as_bytes()),
        "urgency": "urgent",
        "agency": "資訊局",
        "decision_level": 2,
        "chain": chain,
    });
    if kind == "leave" {
        body["leave"] = serde_json::json!({"leave_type": "特休", "from_ms": 0, "until_ms": 3_600_000, "hours": 8, "cover_user_id": chain[0]});
    }
    let (status, json) = admin_post_plain(server, "/v1/admin/approval/items", body).await;
    assert_eq!(status, 201, "{json}");
    json["item_id"].as_str().expect("item_id").to_owned()
}

/// Revokes a device through the admin endpoint.
pub async fn revoke(server: &RunningServer, device_id: &str) {
    let path = format!("/v1/admin/devices/{device_id}/revoke");
    let (status, json) = admin_post(&server.base_url(), server.admin_token(), &path, serde_json::json!({})).await;
    assert!((200..300).contains(&status), "revoke: {status} {json}");
}

/// A profile config in `dir` (no background sync: scenarios sync explicitly).
pub fn profile_config(dir: &Path, server_url: &str) -> ClientConfig {
    let mut config = ClientConfig::new(dir.join("profiles"), "main", server_url, "scenario phone");
    config.sync_interval_secs = 0;
    config
}

pub fn software_platform(dir: &Path) -> Platform {
    Platform {
        signer: None,
        secret_store: Arc::new(FileSecretStore::new(dir.join("secrets")).expect("secret dir")),
        listener: None,
        clock: None,
    }
}

pub async fn open_profile(dir: &Path, server_url: &str) -> Client {
    Client::open(profile_config(dir, server_url), software_platform(dir)).await.expect("profile opens")
}

/// A browser on the sign-in page, as plain HTTP: starts a login, keeps the HttpOnly
/// cookie, reads the state and redeems. (The headless-Chromium scenario drives the
/// real page; this one lets scenarios and benches run without a browser.)
#[derive(Debug)]
pub struct LoginBrowser {
    http: reqwest::Client,
    base: String,
    pub rid: String,
    cookies: Vec<String>,
}

impl LoginBrowser {
    pub async fn start(server_url: &str, system_id: &str) -> Self {
        Self::start_with(&http(), server_url, system_id).await
    }

    /// [`LoginBrowser::start`] on a client the caller keeps, so one browser's logins
    /// share its kept-alive connections (a new client is a new connection pool).
    pub async fn start_with(http: &reqwest::Client, server_url: &str, system_id: &str) -> Self {
        let http = http.clone();
        let reply = http
            .post(format!("{server_url}/v1/login/start"))
            .header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36")
            .json(&serde_json::json!({ "system_id": system_id }))
            .send()
            .await
            .expect("login start");
        assert_eq!(reply.status().as_u16(), 201, "login start");
        let cookies = Self::cookies_of(&reply);
        let started: taipei_protocol::login::LoginStarted = reply.json().await.expect("LoginStarted");
        Self { http, base: server_url.to_owned(), rid: started.rid, cookies }
    }

    fn cookies_of(reply: &reqwest::Response) -> Vec<String> {
        reply
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::to_owned)
            .collect()
    }

    pub async fn status(&self) -> taipei_protocol::login::LoginStatus {
        self.http
            .get(format!("{}/v1/login/{}", self.base, self.rid))
            .header("Cookie", self.cookies.join("; "))
            .send()
            .await
            .expect("login status")
            .json()
            .await
            .expect("LoginStatus")
    }

    /// The QR text the page shows now.
    pub async fn frame(&self) -> String {
        self.status().await.frame.expect("a pending request shows a frame")
    }

    /// `(status, body)` of the redeem call after the person confirmed the account the
    /// page showed (what the "Continue" click sends); on success the browser is signed in.
    pub async fn redeem(&mut self) -> (u16, serde_json::Value) {
        let confirm = self.status().await.confirm.unwrap_or_default();
        self.redeem_with(&confirm).await
    }

    /// `(status, body)` of a redeem carrying `confirm` as is.
    pub async fn redeem_with(&mut self, confirm: &str) -> (u16, serde_json::Value) {
        let reply = self
            .http
            .post(format!("{}/v1/login/{}/redeem", self.base, self.rid))
            .header("Cookie", self.cookies.join("; "))
            .json(&taipei_protocol::login::LoginConfirm { confirm: confirm.to_owned() })
            .send()
            .await
            .expect("redeem");
        self.cookies.extend(Self::cookies_of(&reply));
        (reply.status().as_u16(), reply.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// An organizer's system, with its own credential, creates a meeting running now (for an hour).
pub async fn create_meeting(server: &RunningServer, title: &str, invitees: &[&str]) -> taipei_protocol::meeting::MeetingCreated {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let body = serde_json::json!({
        "title": title, "room": "市府 8F 801", "organizer": "秘書處",
        "starts_at_ms": now - 60_000, "ends_at_ms": now + 3_600_000, "invitees": invitees,
    });
    let organizer = mint_credential(server, "organizer", None).await;
    let (status, json) = admin_post(&server.base_url(), &organizer, "/v1/admin/meetings", body).await;
    assert_eq!(status, 201, "create meeting: {json}");
    serde_json::from_value(json).expect("MeetingCreated")
}

/// What the room display shows now.
pub async fn meeting_display(server_url: &str, meeting: &taipei_protocol::meeting::MeetingCreated) -> taipei_protocol::meeting::DisplayFrame {
    http()
        .get(format!("{server_url}/v1/meetings/{}/display", meeting.mid))
        .header("Authorization", format!("Bearer {}", meeting.display_token))
        .send()
        .await
        .expect("display")
        .json()
        .await
        .expect("DisplayFrame")
}

/// `GET` a weekly-report endpoint with a reports credential; the reply's JSON.
pub async fn report_get(server: &RunningServer, path: &str) -> serde_json::Value {
    let reader = mint_credential(server, "reports", None).await;
    http()
        .get(format!("{}{path}", server.base_url()))
        .header("Authorization", format!("Bearer {reader}"))
        .send()
        .await
        .expect("admin call")
        .json()
        .await
        .expect("admin reply JSON")
}

/// Where outside test data lives: `$TAIPEI_TESTDATA`, else `../shared/testdata` beside
/// the repository.
fn testdata_root() -> PathBuf {
    match std::env::var_os("TAIPEI_TESTDATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
    }
}

/// `root/sub` if it exists. When it does not: under CI (`ci`) an error, because a
/// build that silently skips its conformance tests is not a passing build; elsewhere
/// `None`, and the caller skips with a plain message.
pub fn find_testdata(root: &Path, sub: &str, ci: bool) -> Result<Option<PathBuf>, String> {
    let dir = root.join(sub);
    if dir.is_dir() {
        return Ok(Some(dir));
    }
    let why = format!("the outside test data {} is absent; set TAIPEI_TESTDATA", dir.display());
    if ci { Err(why) } else { Ok(None) }
}

/// [`find_testdata`] for a test: panics under `CI=true` when the data is missing,
/// otherwise prints why the test skips and returns `None`.
pub fn testdata_dir(sub: &str) -> Option<PathBuf> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    match find_testdata(&testdata_root(), sub, ci) {
        Ok(Some(dir)) => Some(dir),
        Ok(None) => {
            println!("skipped: the outside test data {sub} is absent (set TAIPEI_TESTDATA)");
            None
        }
        Err(why) => panic!("CI=true: {why}"),
    }
}

/// A random delay from the OS's randomness (no rand crate in the workspace).
fn random_delay_ms(max: u64) -> u64 {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .expect("urandom");
    u64::from_le_bytes(b) % max
}

/// Where a crash-test child was when the parent's SIGKILL landed, read from the phase
/// lines it prints (`opened`, `queued <id>` once committed, `syncing`, `synced`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillPhase {
    /// The child had exited before the kill (or never reached the queue): nothing was
    /// interrupted, so the run proves nothing about crash safety.
    NotMidWay,
    /// Killed after opening its profile, while queueing items (possibly mid-transaction).
    Queueing,
    /// Killed after queueing everything, while sending it to the server.
    Syncing,
}

impl KillPhase {
    /// `still_running`: the child had not exited when the kill was sent.
    pub fn of(output: &str, still_running: bool) -> Self {
        let last = output.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("");
        if !still_running {
            return Self::NotMidWay;
        }
        match last {
            "syncing" => Self::Syncing,
            "opened" => Self::Queueing,
            l if l.starts_with("queued ") => Self::Queueing,
            _ => Self::NotMidWay,
        }
    }
}

/// What [`kill_children`] saw.
#[derive(Debug, Default)]
pub struct Kills {
    /// Every id a child printed as `queued <id>` (printed only once committed).
    pub queued: std::collections::HashSet<String>,
    /// Kills that landed while the child was queueing items.
    pub while_queueing: u32,
    /// Kills that landed while the child was syncing.
    pub while_syncing: u32,
}

impl Kills {
    pub fn mid_way(&self) -> u32 {
        self.while_queueing + self.while_syncing
    }
}

/// Starts the child binary `exe` (`<dir> <url> <run> <count>`) and waits for its
/// `opened` line; the reader keeps the rest of its output.
fn spawn_child(exe: &str, dir: &Path, url: &str, run: u32, per_run: u32) -> (std::process::Child, std::io::BufReader<std::process::ChildStdout>, String) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(exe)
        .args([dir.to_str().expect("utf-8 temp dir"), url, &run.to_string(), &per_run.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child starts");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut out = String::new();
    stdout.read_line(&mut out).expect("child output");
    assert_eq!(out.trim(), "opened", "run {run}: the child did not open its profile");
    (child, stdout, out)
}

/// The crash scenarios' loop. One child first runs to its end, which measures how
/// long queueing and syncing take on this machine now; then `runs` children are each
/// SIGKILLed at a random moment within that span (shrunk whenever a child finished
/// first) after they say `opened`, and the
/// phase each kill landed in is noted. Timing the kills from `opened` keeps them off
/// the start-up, where they would test nothing. Blocking: call it from
/// `spawn_blocking` so the in-process server keeps serving.
pub fn kill_children(exe: &str, dir: &Path, url: &str, runs: u32, per_run: u32) -> Kills {
    use std::io::Read as _;
    let mut kills = Kills::default();
    let collect = |kills: &mut Kills, out: &str| {
        kills.queued.extend(out.lines().filter_map(|l| l.strip_prefix("queued ")).map(str::to_owned));
    };
    let (mut child, mut stdout, mut out) = spawn_child(exe, dir, url, runs, per_run);
    let started = std::time::Instant::now();
    stdout.read_to_string(&mut out).expect("child output");
    child.wait().expect("child reaped");
    let mut span_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX).max(2);
    assert!(out.contains("synced"), "the measuring child did not finish: {out}");
    collect(&mut kills, &out);
    for run in 0..runs {
        let (mut child, mut stdout, mut out) = spawn_child(exe, dir, url, run, per_run);
        std::thread::sleep(std::time::Duration::from_millis(random_delay_ms(span_ms)));
        let still_running = child.try_wait().expect("child state").is_none();
        // One slow measuring run must not spoil the rest: a child that finished before
        // the kill means the span was too long, so it shrinks.
        if !still_running {
            span_ms = (span_ms * 2 / 3).max(2);
        }
        child.kill().ok(); // SIGKILL
        child.wait().expect("child reaped");
        stdout.read_to_string(&mut out).expect("child output");
        match KillPhase::of(&out, still_running) {
            KillPhase::Queueing => kills.while_queueing += 1,
            KillPhase::Syncing => kills.while_syncing += 1,
            KillPhase::NotMidWay => {}
        }
        collect(&mut kills, &out);
    }
    kills
}

#[cfg(test)]
mod tests {
    use super::{KillPhase, find_testdata};

    /// Reliability check: missing outside test data fails the build under CI instead
    /// of passing as "skipped".
    #[test]
    fn missing_testdata_fails_under_ci() {
        let root = tempfile::tempdir().unwrap();
        assert!(find_testdata(root.path(), "eu-dcc", true).is_err());
        assert_eq!(find_testdata(root.path(), "eu-dcc", false), Ok(None));
        std::fs::create_dir(root.path().join("eu-dcc")).unwrap();
        assert_eq!(find_testdata(root.path(), "eu-dcc", true), Ok(Some(root.path().join("eu-dcc"))));
    }

    /// Reliability check: a kill counts only if it landed while items were being
    /// queued or synced; one during start-up or after the child finished does not.
    #[test]
    fn crash_kills_count_only_mid_queue_or_sync() {
        assert_eq!(KillPhase::of("", true), KillPhase::NotMidWay);
        assert_eq!(KillPhase::of("opened\nqueued a\nsyncing\nsynced\n", true), KillPhase::NotMidWay);
        assert_eq!(KillPhase::of("opened\nqueued a\n", false), KillPhase::NotMidWay);
        assert_eq!(KillPhase::of("opened\n", true), KillPhase::Queueing);
        assert_eq!(KillPhase::of("opened\nqueued a\n", true), KillPhase::Queueing);
        assert_eq!(KillPhase::of("opened\nqueued a\nqueued b\nsyncing\n", true), KillPhase::Syncing);
    }
}
