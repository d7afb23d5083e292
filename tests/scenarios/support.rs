//! Shared helpers for the scenarios: the embedded reference server, its portal and
//! admin endpoints (plain loopback HTTP, as a portal back office would call them), and
//! profiles of the core in temp dirs.

use std::path::Path;
use std::sync::Arc;

use taipei_core::{Client, ClientConfig, FileSecretStore, Platform};
use taipei_protocol::api::{BindingOffer, NewBinding};
use taipei_server::{RunningServer, ServerConfig};

/// Starts the reference server on a loopback port with its database in `dir`.
pub async fn start_server(dir: &Path) -> RunningServer {
    start_server_at(dir, None).await
}

/// Same, on a chosen address (to restart a server where a client expects it).
pub async fn start_server_at(dir: &Path, addr: Option<std::net::SocketAddr>) -> RunningServer {
    let mut config = ServerConfig::embedded(dir.join("server.db"));
    if let Some(addr) = addr {
        config.bind = addr;
    }
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

/// The portal offers a binding for `user_id`; returns the `TPB1:` QR text.
pub async fn offer_binding(server: &RunningServer, user_id: &str) -> String {
    let body = serde_json::to_value(NewBinding { user_id: user_id.into(), display_name: format!("{user_id} name") })
        .expect("json");
    let (status, json) = admin_post(&server.base_url(), server.admin_token(), "/v1/portal/bindings", body).await;
    assert!((200..300).contains(&status), "portal offer: {status} {json}");
    let offer: BindingOffer = serde_json::from_value(json).expect("BindingOffer");
    offer.qr
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
    pub async fn start(server_url: &str, system: &str) -> Self {
        let http = http();
        let reply = http
            .post(format!("{server_url}/v1/login/start"))
            .header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36")
            .json(&serde_json::json!({ "system": system }))
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

    /// `(status, body)` of the redeem call; on success the browser is signed in.
    pub async fn redeem(&mut self) -> (u16, serde_json::Value) {
        let reply = self
            .http
            .post(format!("{}/v1/login/{}/redeem", self.base, self.rid))
            .header("Cookie", self.cookies.join("; "))
            .send()
            .await
            .expect("redeem");
        self.cookies.extend(Self::cookies_of(&reply));
        (reply.status().as_u16(), reply.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// An organizer creates a meeting running now (for an hour) through the admin API.
pub async fn create_meeting(server: &RunningServer, title: &str, invitees: &[&str]) -> taipei_protocol::meeting::MeetingCreated {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let body = serde_json::json!({
        "title": title, "room": "市府 8F 801", "organizer": "秘書處",
        "starts_at_ms": now - 60_000, "ends_at_ms": now + 3_600_000, "invitees": invitees,
    });
    let (status, json) = admin_post(&server.base_url(), server.admin_token(), "/v1/admin/meetings", body).await;
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

/// `GET` an admin endpoint with the admin bearer token; the reply's JSON.
pub async fn admin_get(server: &RunningServer, path: &str) -> serde_json::Value {
    http()
        .get(format!("{}{path}", server.base_url()))
        .header("Authorization", format!("Bearer {}", server.admin_token()))
        .send()
        .await
        .expect("admin call")
        .json()
        .await
        .expect("admin reply JSON")
}

/// A random delay from the OS's randomness (no rand crate in the workspace).
fn random_delay_ms(max: u64) -> u64 {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .expect("urandom");
    u64::from_le_bytes(b) % max
}

/// The crash scenarios' loop: runs the child binary `exe` (`<dir> <url> <run> <count>`)
/// `runs` times, SIGKILLs each after a random delay under `max_delay_ms`, and collects
/// what the children printed as `queued <id>` (printed only once committed). Blocking:
/// call it from `spawn_blocking` so the in-process server keeps serving. Returns the
/// ids and how many children were killed before they finished.
pub fn kill_children(exe: &str, dir: &Path, url: &str, runs: u32, per_run: u32, max_delay_ms: u64) -> (std::collections::HashSet<String>, u32) {
    use std::io::Read as _;
    let mut queued = std::collections::HashSet::new();
    let mut killed = 0;
    for run in 0..runs {
        let mut child = std::process::Command::new(exe)
            .args([dir.to_str().expect("utf-8 temp dir"), url, &run.to_string(), &per_run.to_string()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("child starts");
        let mut stdout = child.stdout.take().expect("piped stdout");
        std::thread::sleep(std::time::Duration::from_millis(random_delay_ms(max_delay_ms)));
        if child.try_wait().expect("child state").is_none() {
            killed += 1;
        }
        child.kill().ok(); // SIGKILL
        child.wait().expect("child reaped");
        let mut out = String::new();
        stdout.read_to_string(&mut out).expect("child output");
        queued.extend(out.lines().filter_map(|l| l.strip_prefix("queued ")).map(str::to_owned));
    }
    (queued, killed)
}
