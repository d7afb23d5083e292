//! [`Client`]: the one object the apps hold, one per profile. It opens the profile,
//! binds the device, signs in, syncs, shows the outbox and shuts down; every capability
//! is an object of its own handed out by it (`client.login()`, `client.wallet()`, …,
//! each in its own module with its own error enum).
//!
//! Lifecycle: `shutdown()` and dropping the last foreign reference (Kotlin's `close()`
//! or `use {}`, Swift's `deinit`) end the same way: background work stops, queued
//! events are delivered, the database is closed. After that every call — on the
//! client and on any capability object it handed out, synchronous getters included —
//! fails with the variant `Closed`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use taipei_core::{DeviceInfo, Me, OutboxStatus, ReportEntry, SessionInfo, SyncReport};

use crate::error::{ClientError, FfiError, closed};
use crate::platform::{
    ClockBridge, DeviceSigner, ElapsedClock, EventListener, ListenerBridge, SecretStore, SecretsBridge, SignerBridge,
};
use crate::runtime::{guard, run};
use crate::types::ClientConfig;

/// The open profile, shared by the [`Client`] and the capability objects it handed out.
#[derive(Debug)]
pub(crate) struct Shared {
    core: taipei_core::Client,
    closed: AtomicBool,
}

impl Shared {
    /// The core client, unless this profile was shut down or closed.
    fn live<E: FfiError>(&self) -> Result<&taipei_core::Client, E> {
        if self.closed.load(Ordering::SeqCst) { Err(closed()) } else { Ok(&self.core) }
    }

    /// Runs one core call on the core's runtime with its error converted to `E`.
    pub(crate) async fn call<T, E, CE, F, Fut>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: FfiError,
        CE: Into<taipei_core::Error>,
        F: FnOnce(taipei_core::Client) -> Fut,
        Fut: Future<Output = Result<T, CE>> + Send + 'static,
    {
        let fut = f(self.live::<E>()?.clone());
        run(async move { fut.await.map_err(|e| E::from(e.into())) }).await
    }

    /// Runs one synchronous core call (no I/O) with the same rules.
    pub(crate) fn get<T, E: FfiError>(&self, f: impl FnOnce(&taipei_core::Client) -> Result<T, E>) -> Result<T, E> {
        guard(|| f(self.live::<E>()?))
    }

    /// The profile's end; the first caller does the work, later ones return at once.
    async fn close(&self) -> Result<(), taipei_core::Error> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.core.close().await
    }
}

#[derive(Debug, uniffi::Object)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
}

impl Drop for Client {
    /// The foreign side let go of the client (Kotlin `close()`, Swift `deinit`): shut
    /// the profile down as `shutdown()` would. Off the core's runtime (the usual case)
    /// this waits for it, so the same profile can be opened again right after.
    fn drop(&mut self) {
        if self.shared.closed.load(Ordering::SeqCst) {
            return;
        }
        let Ok(rt) = crate::runtime::runtime::<ClientError>() else { return };
        let shared = Arc::clone(&self.shared);
        let (done, wait) = std::sync::mpsc::channel();
        rt.spawn(async move {
            if let Err(e) = shared.close().await {
                tracing::warn!(code = e.code(), "closing a dropped client failed: {e}");
            }
            let _ = done.send(());
        });
        if tokio::runtime::Handle::try_current().is_err() {
            // Bounded: a wedged close must not hang the app's finalizer thread.
            let _ = wait.recv_timeout(Duration::from_secs(10));
        }
    }
}

#[uniffi::export]
impl Client {
    /// Opens (creating if needed) the profile and starts background sync.
    ///
    /// `signer`: the platform's hardware key, or null for a software key made and
    /// sealed by the core (reported to the server as `software`). `secret_store`: the
    /// platform keystore; null means [`crate::platform::file_secret_store`] in
    /// `<data_dir>/secrets` in debug and test-hooks builds only, and is refused with
    /// `InvalidInput(code = "config")` by a release app build. `listener`: receives [`crate::types::Event`]s, or null. A second
    /// open of a profile this process already has open fails with `ProfileInUse`.
    /// `clock`: elapsed time that counts through suspend, or null for the core's
    /// (right on Android; iOS passes the Swift glue's `ContinuousElapsedClock`).
    #[uniffi::constructor(default(clock = None))]
    pub async fn open(
        config: ClientConfig,
        signer: Option<Arc<dyn DeviceSigner>>,
        secret_store: Option<Arc<dyn SecretStore>>,
        listener: Option<Arc<dyn EventListener>>,
        clock: Option<Arc<dyn ElapsedClock>>,
    ) -> Result<Arc<Self>, ClientError> {
        run(async move {
            let secret_store = match secret_store {
                Some(store) => store,
                // A plain file beside the database it seals: only where nothing ships
                // (debug builds, the test-hooks build); an app's release build must say
                // where its data key lives.
                None if cfg!(any(debug_assertions, feature = "test-hooks")) => {
                    crate::platform::file_secret_store(format!("{}/secrets", config.data_dir))?
                }
                None => {
                    return Err(ClientError::InvalidInput {
                        code: "config".to_owned(),
                        detail: "no secret store: a release build keeps the profile's data key only in the \
                                 platform's keystore (pass KeystoreSecretStore / KeychainSecretStore, or \
                                 fileSecretStore(dir) on purpose for a desktop tool)"
                            .to_owned(),
                    });
                }
            };
            let platform = taipei_core::Platform {
                signer: signer.map(|s| Arc::new(SignerBridge::new(s, config.signer_timeout_secs)) as Arc<dyn taipei_core::DeviceSigner>),
                secret_store: Arc::new(SecretsBridge(secret_store)),
                listener: listener.map(|l| Arc::new(ListenerBridge(l)) as Arc<dyn taipei_core::EventListener>),
                clock: clock.map(|c| Arc::new(ClockBridge::new(c)) as Arc<dyn taipei_core::ElapsedClock>),
            };
            let core = taipei_core::Client::open(config.into(), platform).await?;
            Ok(Arc::new(Self { shared: Arc::new(Shared { core, closed: AtomicBool::new(false) }) }))
        })
        .await
    }

    /// Binds this profile to the person named by the portal's `TPB1:` binding code.
    pub async fn bind_device(&self, qr_text: String) -> Result<DeviceInfo, ClientError> {
        self.shared.call(|c| async move { c.bind_device(&qr_text).await }).await
    }

    /// The bound device, if any (also when revoked: see `revoked`).
    pub fn device(&self) -> Result<Option<DeviceInfo>, ClientError> {
        self.shared.get(|c| Ok(c.device()))
    }

    /// Gets a fresh access token (normally automatic; this forces one).
    pub async fn sign_in(&self) -> Result<SessionInfo, ClientError> {
        self.shared.call(|c| async move { c.sign_in().await }).await
    }

    /// Who the server says this device belongs to.
    pub async fn me(&self) -> Result<Me, ClientError> {
        self.shared.call(|c| async move { c.me().await }).await
    }

    /// The person's own reports as the server has them, newest first.
    pub async fn reports(&self) -> Result<Vec<ReportEntry>, ClientError> {
        self.shared.call(|c| async move { c.reports().await }).await
    }

    /// Files a signed problem report. It is stored in the outbox before this returns
    /// and sent when the network allows; returns the outbox item id.
    pub async fn report(&self, kind: String, text: String) -> Result<String, ClientError> {
        self.shared.call(|c| async move { c.report(&kind, &text).await }).await
    }

    /// Sends everything pending now and reports what happened.
    pub async fn sync(&self) -> Result<SyncReport, ClientError> {
        self.shared.call(|c| async move { c.sync().await }).await
    }

    /// What is waiting in the outbox, oldest first.
    pub async fn outbox(&self) -> Result<OutboxStatus, ClientError> {
        self.shared.call(|c| async move { c.outbox().await }).await
    }

    /// Removes a dead outbox item the person has seen.
    pub async fn discard_dead(&self, item_id: String) -> Result<(), ClientError> {
        self.shared.call(|c| async move { c.discard_dead(&item_id).await }).await
    }

    /// The server's clock as this phone estimates it (UTC ms). Never blocks.
    pub fn server_now_ms(&self) -> Result<i64, ClientError> {
        self.shared.get(|c| Ok(c.server_now_ms()))
    }

    /// Stops background work, delivers queued events and closes the database; every
    /// later call, here and on the capability objects, fails with `Closed`. Calling it
    /// twice is harmless. Kotlin's `close()` (and `use {}`) and Swift's `deinit` do
    /// the same when the app forgets this; `close()` also frees the native handle, so
    /// the Kotlin object itself cannot be used after it.
    pub async fn shutdown(&self) -> Result<(), ClientError> {
        let shared = Arc::clone(&self.shared);
        run(async move { Ok(shared.close().await?) }).await
    }
}
