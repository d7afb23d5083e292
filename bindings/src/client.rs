//! [`Client`]: the one object the apps hold, one per profile. Each method converts its
//! arguments, runs the core's method on the core's runtime, and converts the result.

use std::future::Future;
use std::sync::Arc;

use taipei_core::{DeviceInfo, Me, OutboxStatus, ReportEntry, SessionInfo, SyncReport};

use crate::error::ClientError;
use crate::platform::{DeviceSigner, EventListener, ListenerBridge, SecretStore, SecretsBridge, SignerBridge};
use crate::runtime::{guard, run};
use crate::types::ClientConfig;

#[derive(Debug, uniffi::Object)]
pub struct Client {
    pub(crate) core: taipei_core::Client,
}

impl Client {
    /// Runs one core call on the core's runtime with its error converted.
    pub(crate) async fn call<T, F, Fut>(&self, f: F) -> Result<T, ClientError>
    where
        T: Send + 'static,
        F: FnOnce(taipei_core::Client) -> Fut,
        Fut: Future<Output = Result<T, taipei_core::Error>> + Send + 'static,
    {
        let fut = f(self.core.clone());
        run(async move { Ok(fut.await?) }).await
    }
}

#[uniffi::export]
impl Client {
    /// Opens (creating if needed) the profile and starts background sync.
    ///
    /// `signer`: the platform's hardware key, or null for a software key made and
    /// sealed by the core. `secret_store`: the platform keystore, or null for
    /// [`crate::platform::file_secret_store`] in `<data_dir>/secrets` (desktops and
    /// tests only). `listener`: receives [`taipei_core::Event`]s, or null.
    #[uniffi::constructor]
    pub async fn open(
        config: ClientConfig,
        signer: Option<Arc<dyn DeviceSigner>>,
        secret_store: Option<Arc<dyn SecretStore>>,
        listener: Option<Arc<dyn EventListener>>,
    ) -> Result<Arc<Self>, ClientError> {
        run(async move {
            let secret_store = match secret_store {
                Some(store) => store,
                None => crate::platform::file_secret_store(format!("{}/secrets", config.data_dir))?,
            };
            let platform = taipei_core::Platform {
                signer: signer.map(|s| Arc::new(SignerBridge(s)) as Arc<dyn taipei_core::DeviceSigner>),
                secret_store: Arc::new(SecretsBridge(secret_store)),
                listener: listener.map(|l| Arc::new(ListenerBridge(l)) as Arc<dyn taipei_core::EventListener>),
                // The Rust default counts through suspend on Android (CLOCK_BOOTTIME);
                // on iOS it stops during sleep until an `ElapsedClock` foreign trait
                // is exported here.
                clock: None,
            };
            let core = taipei_core::Client::open(config.into(), platform).await?;
            Ok(Arc::new(Self { core }))
        })
        .await
    }

    /// Binds this profile to the person named by the portal's `TPB1:` binding code.
    pub async fn bind_device(&self, qr_text: String) -> Result<DeviceInfo, ClientError> {
        self.call(|c| async move { c.bind_device(&qr_text).await }).await
    }

    /// The bound device, if any (also when revoked: see `revoked`).
    pub fn device(&self) -> Result<Option<DeviceInfo>, ClientError> {
        guard(|| Ok(self.core.device()))
    }

    /// Gets a fresh access token (normally automatic; this forces one).
    pub async fn sign_in(&self) -> Result<SessionInfo, ClientError> {
        self.call(|c| async move { c.sign_in().await }).await
    }

    /// Who the server says this device belongs to.
    pub async fn me(&self) -> Result<Me, ClientError> {
        self.call(|c| async move { c.me().await }).await
    }

    /// The person's own reports as the server has them, newest first.
    pub async fn reports(&self) -> Result<Vec<ReportEntry>, ClientError> {
        self.call(|c| async move { c.reports().await }).await
    }

    /// Files a signed problem report. It is stored in the outbox before this returns
    /// and sent when the network allows; returns the outbox item id.
    pub async fn report(&self, kind: String, text: String) -> Result<String, ClientError> {
        self.call(|c| async move { c.report(&kind, &text).await }).await
    }

    /// Sends everything pending now and reports what happened.
    pub async fn sync(&self) -> Result<SyncReport, ClientError> {
        self.call(|c| async move { c.sync().await }).await
    }

    /// What is waiting in the outbox, oldest first.
    pub async fn outbox(&self) -> Result<OutboxStatus, ClientError> {
        self.call(|c| async move { c.outbox().await }).await
    }

    /// Removes a dead outbox item the person has seen.
    pub async fn discard_dead(&self, item_id: String) -> Result<(), ClientError> {
        self.call(|c| async move { c.discard_dead(&item_id).await }).await
    }

    /// The server's clock as this phone estimates it (UTC ms). Never blocks.
    pub fn server_now_ms(&self) -> Result<i64, ClientError> {
        guard(|| Ok(self.core.server_now_ms()))
    }

    /// Stops background work, delivers queued events and closes the database; later
    /// calls fail with `Closed`. Not named `close`: the generated Kotlin class is
    /// `AutoCloseable`, whose `close()` frees the native handle.
    pub async fn shutdown(&self) -> Result<(), ClientError> {
        self.call(|c| async move { c.close().await }).await
    }
}
