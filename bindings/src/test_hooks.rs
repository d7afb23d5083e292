//! Exports for tests/kotlin only, behind the `test-hooks` feature (never in a release
//! build): a deliberate panic, to prove panics arrive as errors and the library keeps
//! working, and the reference server embedded in the library so the Kotlin tests
//! drive the real protocol over loopback HTTP.

use std::sync::{Arc, Mutex};

use crate::error::ClientError;
use crate::runtime::{guard, run};

/// Panics inside a synchronous export.
#[uniffi::export]
pub fn debug_panic(message: String) -> Result<(), ClientError> {
    guard(|| panic!("{message}"))
}

/// Panics inside an async export, on the core's runtime.
#[uniffi::export]
pub async fn debug_panic_async(message: String) -> Result<(), ClientError> {
    run(async move { panic!("{message}") }).await
}

/// A reference server on a free loopback port, with its database at `db_path`.
#[uniffi::export]
pub async fn start_test_server(db_path: String) -> Result<Arc<TestServer>, ClientError> {
    run(async move {
        let config = taipei_server::ServerConfig::embedded(db_path.into());
        let server = taipei_server::start(config)
            .await
            .map_err(|e| ClientError::Internal { code: "internal".to_owned(), detail: format!("the test server did not start: {e}") })?;
        Ok(Arc::new(TestServer {
            base_url: server.base_url(),
            admin_token: server.admin_token().to_owned(),
            running: Mutex::new(Some(server)),
        }))
    })
    .await
}

#[derive(Debug, uniffi::Object)]
pub struct TestServer {
    base_url: String,
    admin_token: String,
    running: Mutex<Option<taipei_server::RunningServer>>,
}

#[uniffi::export]
impl TestServer {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// `Authorization: Bearer <this>` for the portal and admin endpoints.
    pub fn admin_token(&self) -> String {
        self.admin_token.clone()
    }

    /// Stops the server; calling it again does nothing.
    pub async fn shutdown(&self) -> Result<(), ClientError> {
        let server = self.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        run(async move {
            if let Some(server) = server {
                server.shutdown().await;
            }
            Ok(())
        })
        .await
    }
}

/// A push sender for the Kotlin tests: registers the profile at `data_dir`/`profile`
/// (before any `Client` opens it) as `Push.register` would, with a server key of its
/// own, and seals payloads to it exactly as the server does (signed, then RFC 8291).
#[uniffi::export]
pub fn test_push_sender(data_dir: String, profile: String, secret_store: Arc<dyn crate::SecretStore>) -> Result<Arc<TestPushSender>, ClientError> {
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    guard(|| {
        let internal = |what: &str| ClientError::Internal { code: "internal".to_owned(), detail: what.to_owned() };
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|_| internal("key"))?;
        let make = || EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).map_err(|_| internal("key"));
        let server = make()?;
        let forger_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|_| internal("key"))?;
        let forger = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, forger_pkcs8.as_ref(), &rng).map_err(|_| internal("key"))?;
        let secrets = crate::platform::SecretsBridge(secret_store);
        let (public, auth) = taipei_core::push::fixture_register(std::path::Path::new(&data_dir), &profile, &secrets, server.public_key().as_ref(), TEST_PUSH_USER)
            .map_err(|e| internal(&e.to_string()))?;
        Ok(Arc::new(TestPushSender { server, forger, public, auth }))
    })
}

const TEST_PUSH_USER: &str = "kotlin-push-user";

#[derive(uniffi::Object)]
pub struct TestPushSender {
    server: ring::signature::EcdsaKeyPair,
    forger: ring::signature::EcdsaKeyPair,
    public: Vec<u8>,
    auth: Vec<u8>,
}

impl std::fmt::Debug for TestPushSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestPushSender(..)")
    }
}

impl TestPushSender {
    fn seal(&self, seq: u64, kind: &str, route: &str, key: &ring::signature::EcdsaKeyPair) -> Result<Vec<u8>, ClientError> {
        use taipei_protocol::push::message::{PushContent, PushKind, PushMessage, Urgency, push_plaintext};
        let internal = |e: String| ClientError::Internal { code: "internal".to_owned(), detail: e };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&seq.to_be_bytes());
        let message = PushMessage {
            id: taipei_protocol::b64::encode(id),
            user_id: TEST_PUSH_USER.to_owned(),
            seq,
            kind: PushKind::parse(kind),
            collapse_key: None,
            created_ms: now,
            expires_ms: now + 3_600_000,
            urgency: Urgency::Normal,
            content: PushContent::Body { title: format!("Message {seq}"), text: "A document waits for you".to_owned(), route: route.to_owned() },
        };
        let rng = ring::rand::SystemRandom::new();
        let plain = push_plaintext(&message, key, &rng).map_err(|e| internal(e.to_string()))?;
        taipei_protocol::push::encryption::seal(&plain, &self.public, &self.auth, 0, &rng).map_err(|e| internal(e.to_string()))
    }
}

#[uniffi::export]
impl TestPushSender {
    /// Message `seq` of `kind` (a wire name) leading to `route`, as the server sends it.
    pub fn payload(&self, seq: u64, kind: String, route: String) -> Result<Vec<u8>, ClientError> {
        guard(|| self.seal(seq, &kind, &route, &self.server))
    }

    /// The same, signed by a key that is not the server's.
    pub fn forged(&self, seq: u64, kind: String, route: String) -> Result<Vec<u8>, ClientError> {
        guard(|| self.seal(seq, &kind, &route, &self.forger))
    }
}
