//! How a server instance is set up.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::limits::RateLimits;
use crate::random;
use crate::sealing::{Kek, LocalKek};
use crate::web_systems::WebSystem;

/// Everything a server instance needs. Built by the CLI (`taipei server`) or by tests
/// and the core's scenarios through [`ServerConfig::embedded`].
#[derive(Clone)]
pub struct ServerConfig {
    /// The one SQLite file holding all state.
    pub db_path: PathBuf,
    /// Where to listen; `127.0.0.1:0` picks a free loopback port.
    pub bind: SocketAddr,
    /// Bearer token of the portal and administration endpoints.
    pub admin_token: String,
    /// Lifetime of an access token.
    pub token_ttl: Duration,
    /// Lifetime of a binding offer (the QR a portal shows).
    pub binding_ttl: Duration,
    /// How often lapsed login requests, web sessions and idempotency replies are purged.
    pub purge_interval: Duration,
    /// Per-address and per-device request budgets (`RateLimits::off()` to disable).
    pub rate_limits: RateLimits,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` headers are believed. Empty
    /// (the default): the socket peer is the client, and those headers are ignored —
    /// anyone can write them.
    pub trusted_proxies: Vec<IpNet>,
    /// The city's own networks: a browser outside them gets `outside_city_network`.
    /// Embedded: loopback only (the demo); a deployment lists its ranges. Private
    /// ranges are not assumed: a café's Wi-Fi is 192.168.x.x too.
    pub city_networks: Vec<IpNet>,
    /// Seals every server key stored in the database (`sealing.rs`). The same KEK
    /// must be supplied on every start; a database sealed under another refuses to
    /// sign anything.
    pub kek: Kek,
    /// Verifies the platform attestation a phone may send with its registration
    /// (`attestation.rs`). Default: Google's and Apple's roots, no App Attest app
    /// allowed until the deployment names its apps.
    pub attestation: crate::attestation::Verifier,
    /// Web systems registered (or updated) at start, beside those registered through
    /// `POST /v1/admin/web-systems`. Embedded: the demo's [`demo_web_systems`].
    pub web_systems: Vec<WebSystem>,
    /// The push sender: VAPID contact, retries, reminder lead (`push::PushConfig`).
    pub push: crate::push::PushConfig,
    /// How long a shutdown waits for requests in flight before it drops them.
    pub shutdown_grace: Duration,
    /// The format of a standalone server's log (`run_standalone`).
    pub log_format: crate::ops::logs::LogFormat,
}

// The admin token is a secret: Debug must never print it (configs end up in logs).
impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            // A PostgreSQL URL may carry a password.
            .field("db_path", &crate::db::shown_location(&self.db_path.to_string_lossy()))
            .field("bind", &self.bind)
            .field("admin_token", &"<redacted>")
            .field("token_ttl", &self.token_ttl)
            .field("binding_ttl", &self.binding_ttl)
            .field("purge_interval", &self.purge_interval)
            .field("rate_limits", &self.rate_limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("city_networks", &self.city_networks)
            .field("kek", &self.kek)
            .field("attestation", &self.attestation)
            .field("web_systems", &self.web_systems)
            .field("push", &self.push)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("log_format", &self.log_format)
            .finish()
    }
}

pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(10 * 60);
pub const DEFAULT_BINDING_TTL: Duration = Duration::from_secs(120);
/// Often enough that a flood of abandoned login requests is gone within minutes.
pub const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// Longer than any request of the API takes (a 24 MiB item upload on a slow link is the
/// longest), shorter than the 30 s most orchestrators wait before killing a process.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

impl ServerConfig {
    /// A server for tests and demos: loopback, a free port, a fresh random admin token
    /// and a fresh random KEK (clone the config to restart on the same file).
    #[allow(clippy::expect_used)] // a failing RNG must stop the process, as in random::token
    pub fn embedded(db_path: PathBuf) -> Self {
        Self {
            db_path,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            admin_token: random::token(),
            token_ttl: DEFAULT_TOKEN_TTL,
            binding_ttl: DEFAULT_BINDING_TTL,
            purge_interval: DEFAULT_PURGE_INTERVAL,
            rate_limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
            city_networks: loopback(),
            kek: std::sync::Arc::new(LocalKek::generate().expect("system random generator unavailable")),
            attestation: std::sync::Arc::new(crate::attestation::PlatformAttestation::default()),
            web_systems: demo_web_systems(),
            push: crate::push::PushConfig::default(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            log_format: crate::ops::logs::LogFormat::default(),
        }
    }
}

/// The web systems of the demo and the tests: `doc` (公文系統) and `hr` (差勤系統),
/// reached through the server's own `/login` page.
pub fn demo_web_systems() -> Vec<WebSystem> {
    vec![WebSystem::new("doc", "公文系統"), WebSystem::new("hr", "差勤系統")]
}

/// `127.0.0.0/8` and `::1/128`.
pub fn loopback() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"].iter().filter_map(|n| n.parse().ok()).collect()
}
