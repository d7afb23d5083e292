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
