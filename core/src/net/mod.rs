//! Talking to the server: HTTPS (or loopback HTTP for development), typed errors,
//! bounded retries for safe requests, and the server clock learned from every reply.
//!
//! - `clock`: the server-clock estimate;
//! - `tls`: rustls with ring, the deployment's roots and optional SPKI pins.

pub mod clock;
pub mod tls;

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use ring::rand::{SecureRandom as _, SystemRandom};
use serde::de::DeserializeOwned;
use taipei_protocol::api::{ErrorBody, codes, headers};

pub use clock::ServerClock;

/// A reply body over this is refused: no endpoint of ours sends one.
const MAX_REPLY_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("network configuration: {0}")]
    Config(String),
    /// No connection: offline, the server is down, or the connection dropped.
    #[error("the server cannot be reached: {0}")]
    Unreachable(String),
    #[error("the server did not answer in time: {0}")]
    Timeout(String),
    /// The server answered with an error reply; `tries_left` is the reply's own field,
    /// when it has one (a refusal that takes another try).
    #[error("the server refused the request ({code}, HTTP {status}): {message}")]
    Server { status: u16, code: String, message: String, tries_left: Option<u32> },
    /// The reply is not what the protocol says it must be.
    #[error("the server's reply is malformed: {0}")]
    MalformedReply(String),
    #[error("secure connection failed: {0}")]
    Tls(String),
}

impl NetError {
    pub fn code(&self) -> &str {
        match self {
            Self::Config(_) => "net_config",
            Self::Unreachable(_) => "unreachable",
            Self::Timeout(_) => "timeout",
            Self::Server { code, .. } => code,
            Self::MalformedReply(_) => "malformed_reply",
            Self::Tls(_) => "tls",
        }
    }

    /// The server's error code, if this is a server error reply.
    pub fn server_code(&self) -> Option<&str> {
        match self {
            Self::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Worth another attempt (for a request that is safe to repeat).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable(_) | Self::Timeout(_) => true,
            Self::Server { status, code, .. } => {
                matches!(status, 502..=504) || code == codes::REQUEST_IN_PROGRESS
            }
            _ => false,
        }
    }
}

/// Bounded exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 4, base_delay_ms: 200, max_delay_ms: 5_000 }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (1-based): between half and all of
    /// `base·2^(retry-1)`, capped. `unit` in [0, 1) supplies the jitter.
    pub fn delay_ms(&self, retry: u32, unit: f64) -> u64 {
        let exp = self.base_delay_ms.saturating_mul(1u64 << retry.saturating_sub(1).min(30));
        let ceiling = exp.min(self.max_delay_ms);
        let half = ceiling / 2;
        half + ((ceiling - half) as f64 * unit.clamp(0.0, 1.0)) as u64
    }
}

/// A random value in [0, 1) for jitter.
pub fn jitter_unit() -> f64 {
    let mut b = [0u8; 4];
    let _ = SystemRandom::new().fill(&mut b);
    f64::from(u32::from_be_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

/// A fresh random idempotency key (reused by every retry of one request).
pub fn new_idempotency_key() -> String {
    let mut b = [0u8; 16];
    let _ = SystemRandom::new().fill(&mut b);
    taipei_protocol::b64::encode(b)
}

#[derive(Debug, Clone)]
pub struct NetConfig {
    pub server_url: String,
    pub root_certs_pem: Option<String>,
    pub spki_pins: Vec<String>,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl NetConfig {
    pub fn new(server_url: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            root_certs_pem: None,
            spki_pins: Vec::new(),
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// https anywhere; http only to this machine (development and tests).
pub fn check_server_url(url: &str) -> Result<reqwest::Url, NetError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| NetError::Config(format!("server URL {url:?}: {e}")))?;
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(NetError::Config("the server URL must not carry a query, fragment or user".into()));
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" => {
            let host = parsed.host_str().unwrap_or("");
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(parsed)
            } else {
                Err(NetError::Config(format!(
                    "plain http is allowed only to this machine (127.0.0.0/8, ::1, localhost), not {url}"
                )))
            }
        }
        other => Err(NetError::Config(format!("unsupported URL scheme {other:?}; use https"))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "GET" => Some(Self::Get),
            "POST" => Some(Self::Post),
            "PUT" => Some(Self::Put),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// One attempt's request. Built afresh per attempt (a DPoP proof is single-use).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Option<Vec<u8>>,
    pub idempotency_key: Option<String>,
    pub headers: Vec<(&'static str, String)>,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self { method, path: path.into(), body: None, idempotency_key: None, headers: Vec::new() }
    }

    pub fn json(mut self, body: &impl serde::Serialize) -> Result<Self, NetError> {
        self.body = Some(serde_json::to_vec(body).map_err(|e| NetError::Config(format!("request body: {e}")))?);
        Ok(self)
    }

    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// The HTTP client of one profile.
#[derive(Debug)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    clock: ServerClock,
    retry: RetryPolicy,
}

/// The rustls error in `e`, looking inside `io::Error`s: their `source()` skips the
/// error they wrap, and the connectors wrap one `io::Error` in another.
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    rustls_error(inner)
}

fn classify(e: &reqwest::Error) -> NetError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(tls) = rustls_error(s) {
            return NetError::Tls(tls.to_string());
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>()
            && h.is_parse()
        {
            return NetError::MalformedReply(format!("not an HTTP reply: {h}"));
        }
        source = s.source();
    }
    if e.is_timeout() {
        NetError::Timeout(e.to_string())
    } else {
        // Connect refused, DNS failure, or the connection dropped mid-request.
        NetError::Unreachable(full_message(e))
    }
}

fn full_message(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Parses a 2xx body; anything else is [`NetError::MalformedReply`] naming what was wrong.
pub fn parse_json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, NetError> {
    serde_json::from_slice(body).map_err(|e| {
        let head = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        NetError::MalformedReply(format!("expected {what} JSON ({e}); the reply began with {head:?}"))
    })
}

fn error_from_reply(status: u16, body: &[u8]) -> NetError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => NetError::Server { status, code: b.code, message: b.message, tries_left: b.tries_left },
        Err(_) => NetError::Server {
            status,
            code: format!("http_{status}"),
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            tries_left: None,
        },
    }
}

impl Api {
    pub fn new(config: &NetConfig) -> Result<Self, NetError> {
        let url = check_server_url(&config.server_url)?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none());
        if url.scheme() == "https" {
            builder = builder
                .use_preconfigured_tls(tls::client_config(config.root_certs_pem.as_deref(), &config.spki_pins)?)
                .https_only(true);
        } else if !config.spki_pins.is_empty() {
            return Err(NetError::Config("SPKI pins need an https server URL".into()));
        } else {
            builder = builder.use_preconfigured_tls(tls::refuse_all_config()?);
        }
        let http = builder.build().map_err(|e| NetError::Config(format!("HTTP client: {}", full_message(&e))))?;
        Ok(Self {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
            clock: ServerClock::default(),
            retry: config.retry,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn clock(&self) -> &ServerClock {
        &self.clock
    }

    /// One attempt: the 2xx body, or a typed error. Learns the server clock from any reply.
    pub async fn send_once(&self, req: Request) -> Result<Vec<u8>, NetError> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.http.request(method, self.url(&req.path));
        if let Some(key) = req.idempotency_key {
            builder = builder.header(headers::IDEMPOTENCY_KEY, key);
        }
        for (name, value) in req.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = req.body {
            builder = builder.header("Content-Type", "application/json").body(body);
        }
        let sent = clock::local_now_ms();
        let mut response = builder.send().await.map_err(|e| classify(&e))?;
        let received = clock::local_now_ms();
        if let Some(server_ms) = response
            .headers()
            .get(headers::SERVER_TIME_MS)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
        {
            self.clock.learn(sent, received, server_ms);
        }
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            if body.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(NetError::MalformedReply(format!("reply larger than {MAX_REPLY_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        if (200..300).contains(&status) { Ok(body) } else { Err(error_from_reply(status, &body)) }
    }

    /// Sends with retries. `attempt` builds each attempt's request (fresh proofs); it
    /// is retried only when safe: a GET, PUT or DELETE (idempotent by HTTP's
    /// definition), or a request carrying an idempotency key. A
    /// `clock_skew` refusal is retried once at once: its reply already re-taught the clock.
    pub async fn send<F, Fut, E>(&self, mut attempt: F) -> Result<Vec<u8>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Request, E>>,
        E: From<NetError>,
    {
        let mut tries = 0u32;
        let mut skew_retried = false;
        loop {
            let req = attempt().await?;
            let safe = matches!(req.method, Method::Get | Method::Put | Method::Delete) || req.idempotency_key.is_some();
            tries += 1;
            let err = match self.send_once(req).await {
                Ok(body) => return Ok(body),
                Err(e) => e,
            };
            if err.server_code() == Some(codes::CLOCK_SKEW) && !skew_retried {
                skew_retried = true;
                tracing::info!(offset_ms = self.clock.offset_ms(), "clock skew reported; retrying with the learned offset");
                continue;
            }
            if !(safe && err.is_transient() && tries < self.retry.max_attempts) {
                return Err(err.into());
            }
            let delay = self.retry.delay_ms(tries, jitter_unit());
            tracing::debug!(attempt = tries, delay_ms = delay, error = %err, "retrying");
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
    }

    /// `GET /v1/time`: learns the clock explicitly (also learned from every reply).
    pub async fn sync_clock(&self) -> Result<i64, NetError> {
        let body = self
            .send(|| async { Ok::<_, NetError>(Request::new(Method::Get, "/v1/time")) })
            .await?;
        let t: taipei_protocol::api::ServerTime = parse_json(&body, "ServerTime")?;
        Ok(t.now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_only_for_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.8.9.10/",
            "http://[::1]:9000",
            "http://localhost:1",
            "https://api.taipei.example/",
        ] {
            assert!(check_server_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1",
            "http://api.taipei.example",
            "http://localhost.evil.example",
            "http://[::2]",
            "ftp://127.0.0.1",
            "not a url",
            "https://x.example/?q=1",
        ] {
            assert!(matches!(check_server_url(bad), Err(NetError::Config(_))), "{bad}");
        }
    }

    #[test]
    fn https_needs_no_roots_and_pins_need_https() {
        let mut c = NetConfig::new("https://api.example");
        assert!(Api::new(&c).is_ok(), "the platform's store when no roots are given");
        c = NetConfig::new("http://127.0.0.1:1");
        c.spki_pins = vec!["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into()];
        assert!(matches!(Api::new(&c), Err(NetError::Config(_))));
    }

    /// A TLS server on loopback with a certificate from a CA of its own (as a city
    /// deployment's private CA would be): answers one request per connection with `{}`.
    fn tls_server() -> (String, String, std::thread::JoinHandle<()>) {
        use std::sync::Arc;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&leaf_key, &issuer).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![CertificateDer::from(leaf.der().to_vec())],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
                )
                .unwrap(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://localhost:{}", listener.local_addr().unwrap().port());
        let handle = std::thread::spawn(move || {
            use std::io::{Read as _, Write as _};
            for stream in listener.incoming().take(3) {
                let Ok(mut tcp) = stream else { continue };
                let mut conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
                let mut buf = [0u8; 4096];
                // A client that refuses the certificate ends the handshake here.
                if tls.read(&mut buf).is_ok() {
                    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            }
        });
        (url, pem_of(ca.der()), handle)
    }

    fn pem_of(der: &[u8]) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
    }

    /// Without roots the platform's store decides (here the operating system's), so a
    /// private CA is refused as `tls`; with it as `root_certs_pem` the same server is
    /// trusted, and a pin that matches no certificate of the chain refuses it again.
    #[tokio::test]
    async fn https_trusts_the_platform_store_by_default_and_pem_roots_on_request() {
        let (url, ca_pem, server) = tls_server();
        let get = || Request::new(Method::Get, "/v1/ping");

        let platform = Api::new(&NetConfig::new(url.clone())).unwrap();
        let refused = platform.send_once(get()).await.unwrap_err();
        assert_eq!(refused.code(), "tls", "{refused}");

        let mut own = NetConfig::new(url.clone());
        own.root_certs_pem = Some(ca_pem.clone());
        assert_eq!(Api::new(&own).unwrap().send_once(get()).await.unwrap(), b"{}");

        own.spki_pins = vec!["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into()];
        let unpinned = Api::new(&own).unwrap().send_once(get()).await.unwrap_err();
        assert_eq!(unpinned.code(), "tls", "{unpinned}");
        server.join().unwrap();
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let p = RetryPolicy { max_attempts: 10, base_delay_ms: 100, max_delay_ms: 1_000 };
        assert_eq!(p.delay_ms(1, 0.0), 50);
        assert_eq!(p.delay_ms(1, 1.0), 100);
        assert_eq!(p.delay_ms(3, 0.0), 200);
        assert_eq!(p.delay_ms(3, 0.999_999), 399);
        assert_eq!(p.delay_ms(20, 1.0), 1_000);
        assert_eq!(p.delay_ms(u32::MAX, 1.0), 1_000);
        for _ in 0..100 {
            let u = jitter_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn replies_map_to_typed_errors() {
        let e = error_from_reply(409, br#"{"code":"binding_used","message":"used"}"#);
        assert_eq!(e.code(), "binding_used");
        let html = error_from_reply(502, b"<html>bad gateway</html>");
        assert_eq!(html.code(), "http_502");
        assert!(html.is_transient());
        assert!(!error_from_reply(400, b"{}").is_transient());
        assert!(error_from_reply(409, br#"{"code":"request_in_progress","message":""}"#).is_transient());
        let bad: Result<ErrorBody, _> = parse_json(b"<html>", "ErrorBody");
        assert!(matches!(bad, Err(NetError::MalformedReply(m)) if m.contains("<html>")));
    }

    #[test]
    fn idempotency_keys_are_random() {
        assert_ne!(new_idempotency_key(), new_idempotency_key());
        assert_eq!(new_idempotency_key().len(), 22);
    }
}
