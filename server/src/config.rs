//! How a server instance is set up.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::random;
use crate::sealing::{Kek, LocalKek};

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
    /// Seals every server key stored in the database (`sealing.rs`). The same KEK
    /// must be supplied on every start; a database sealed under another refuses to
    /// sign anything.
    pub kek: Kek,
}

// The admin token is a secret: Debug must never print it (configs end up in logs).
impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("db_path", &self.db_path)
            .field("bind", &self.bind)
            .field("admin_token", &"<redacted>")
            .field("token_ttl", &self.token_ttl)
            .field("binding_ttl", &self.binding_ttl)
            .field("kek", &self.kek)
            .finish()
    }
}

pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(10 * 60);
pub const DEFAULT_BINDING_TTL: Duration = Duration::from_secs(120);

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
            kek: std::sync::Arc::new(LocalKek::generate().expect("system random generator unavailable")),
        }
    }
}
