//! [`Client`]: the one entry object of the core, one per profile.
//!
//! Wiring only: opens the profile's parts (store, account, outbox queue, events,
//! clock) into one [`Ctx`], builds each capability from it, and runs the background
//! sync. What a capability does, and what it registers, lives in its own module.
//! `Send + Sync`; share it behind an `Arc` across tasks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use taipei_protocol::api::{Me, NewReport, ReportEntry, ReportList};
use taipei_protocol::{b64, limits, signed};
use tokio::sync::{Notify, watch};

use crate::clock::{ElapsedClock, SystemElapsed};
pub use crate::ctx::SessionInfo;
use crate::ctx::{Account, Active, Ctx, Queue, blocking};
use crate::error::Error;
use crate::events::{EventBus, EventListener};
use crate::identity::signer::sign_checked;
use crate::identity::{DeviceInfo, DeviceSigner};
use crate::net::{Api, NetConfig, RetryPolicy};
use crate::outbox::{self, NewItem, Outbox, OutboxStatus, SyncReport};
use crate::secrets::SecretStore;
use crate::store::Store;

/// The outbox kind of a problem report.
pub const REPORT_KIND: &str = "report";

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Folder holding the profile databases (`<profile>.db`).
    pub data_dir: PathBuf,
    /// 1-64 of `[A-Za-z0-9_-]`; one database and one data key per profile.
    pub profile: String,
    /// `https://...`, or `http://` to loopback for development.
    pub server_url: String,
    /// The deployment's trusted roots (PEM); required for https.
    pub root_certs_pem: Option<String>,
    /// Optional SPKI SHA-256 pins (base64).
    pub spki_pins: Vec<String>,
    /// Shown to the person in their device list ("Pixel 8").
    pub device_name: String,
    /// Background sync period; 0 turns background sync off (explicit `sync()` only).
    pub sync_interval_secs: u64,
    /// The city root public key (base64url SEC1 P-256) the wallet checks the signed
    /// trust and status lists with; shipped in the app build. `None`: the wallet can
    /// show stored certificates but not sync or verify.
    pub wallet_root_key: Option<String>,
}

impl ClientConfig {
    pub fn new(data_dir: impl Into<PathBuf>, profile: &str, server_url: &str, device_name: &str) -> Self {
        Self {
            data_dir: data_dir.into(),
            profile: profile.to_owned(),
            server_url: server_url.to_owned(),
            root_certs_pem: None,
            spki_pins: Vec::new(),
            device_name: device_name.to_owned(),
            sync_interval_secs: 60,
            wallet_root_key: None,
        }
    }
}

/// The platform's services.
#[derive(Clone)]
pub struct Platform {
    /// A hardware-backed key; `None` = a software key made and sealed by the core.
    pub signer: Option<Arc<dyn DeviceSigner>>,
    pub secret_store: Arc<dyn SecretStore>,
    pub listener: Option<Arc<dyn EventListener>>,
    /// Elapsed time through suspend; `None` = [`SystemElapsed`] (see `crate::clock`).
    pub clock: Option<Arc<dyn ElapsedClock>>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("signer", &self.signer.is_some())
            .field("listener", &self.listener.is_some())
            .field("clock", &self.clock.is_some())
            .finish_non_exhaustive()
    }
}

/// The profile's parts, its capabilities (built once, so their state and what they
/// registered live as long as the client) and the background sync.
pub(crate) struct Inner {
    config: ClientConfig,
    ctx: Ctx,
    login: crate::login::Login,
    #[cfg(feature = "meetings")]
    meetings: crate::meetings::Meetings,
    #[cfg(feature = "attendance")]
    attendance: crate::attendance::Attendance,
    #[cfg(feature = "wallet")]
    wallet: crate::wallet::Wallet,
    #[cfg(feature = "approval")]
    approvals: crate::approval::Approvals,
    #[cfg(feature = "push")]
    push: crate::push::Push,
    #[cfg(feature = "dashboard")]
    dashboard: crate::dashboard::Dashboard,
    stop: watch::Sender<bool>,
    background: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The core's entry object.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("profile", &self.inner.config.profile).finish_non_exhaustive()
    }
}

impl Client {
    /// Opens (creating if needed) the profile and starts background sync.
    pub async fn open(config: ClientConfig, platform: Platform) -> Result<Self, Error> {
        let (path, key_name) = crate::store::profile_location(&config.data_dir, &config.profile).map_err(Error::Config)?;
        let mut net_config = NetConfig::new(config.server_url.clone());
        net_config.root_certs_pem = config.root_certs_pem.clone();
        net_config.spki_pins = config.spki_pins.clone();
        let api = Api::new(&net_config)?;

        let secrets = Arc::clone(&platform.secret_store);
        let store = blocking(move || Ok::<_, Error>(Arc::new(Store::open(&path, secrets.as_ref(), &key_name)?))).await?;
        let events = Arc::new(EventBus::new(platform.listener));
        let account = Account::open(api, Arc::clone(&store), Arc::clone(&events), config.device_name.clone(), platform.signer).await?;
        let account = Arc::new(account);
        let outbox = Outbox::new(Arc::clone(&store), RetryPolicy { max_attempts: u32::MAX, base_delay_ms: 2_000, max_delay_ms: 300_000 });
        let ctx = Ctx {
            outbox: Arc::new(Queue::new(outbox, Arc::clone(&account), Arc::clone(&events))),
            store,
            account,
            events,
            clock: platform.clock.unwrap_or_else(|| Arc::new(SystemElapsed)),
        };
        let (stop, stop_rx) = watch::channel(false);
        #[cfg(feature = "meetings")]
        let meetings = crate::meetings::Meetings::new(&ctx);
        #[cfg(feature = "attendance")]
        let attendance = crate::attendance::Attendance::new(&ctx);
        #[cfg(feature = "wallet")]
        let wallet = crate::wallet::Wallet::new(&ctx, config.wallet_root_key.clone());
        #[cfg(feature = "approval")]
        let approvals = crate::approval::Approvals::new(&ctx);
        #[cfg(feature = "push")]
        let push = crate::push::Push::new(&ctx);
        let inner = Arc::new(Inner {
            login: crate::login::Login::new(&ctx),
            #[cfg(feature = "dashboard")]
            dashboard: crate::dashboard::Dashboard::new(
                &ctx,
                #[cfg(feature = "approval")]
                approvals.clone(),
                #[cfg(feature = "attendance")]
                attendance.clone(),
                #[cfg(feature = "meetings")]
                meetings.clone(),
                #[cfg(feature = "wallet")]
                wallet.clone(),
                #[cfg(feature = "push")]
                push.clone(),
            ),
            #[cfg(feature = "meetings")]
            meetings,
            #[cfg(feature = "attendance")]
            attendance,
            #[cfg(feature = "wallet")]
            wallet,
            #[cfg(feature = "approval")]
            approvals,
            #[cfg(feature = "push")]
            push,
            ctx,
            stop,
            background: Mutex::new(None),
            config,
        });
        if inner.config.sync_interval_secs > 0 {
            let task = tokio::spawn(background_sync(
                Arc::downgrade(&inner),
                inner.ctx.outbox.kicker(),
                stop_rx,
                Duration::from_secs(inner.config.sync_interval_secs),
            ));
            *inner.background.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
        Ok(Self { inner })
    }

    fn account(&self) -> &Account {
        &self.inner.ctx.account
    }

    /// Binds this profile to the person named by the portal's `TPB1:` code.
    pub async fn bind_device(&self, qr_text: &str) -> Result<DeviceInfo, Error> {
        Ok(self.account().bind_device(qr_text).await?)
    }

    /// The bound device, if any (also when revoked: see `revoked`).
    pub fn device(&self) -> Option<DeviceInfo> {
        self.account().device()
    }

    /// Gets a fresh access token (normally automatic; this forces one).
    pub async fn sign_in(&self) -> Result<SessionInfo, Error> {
        Ok(self.account().sign_in().await?)
    }

    pub async fn me(&self) -> Result<Me, Error> {
        Ok(self.account().get_json("/v1/me", "Me").await?)
    }

    /// The person's own reports as the server has them, newest first.
    pub async fn reports(&self) -> Result<Vec<ReportEntry>, Error> {
        Ok(self.account().get_json::<ReportList>("/v1/reports", "ReportList").await?.reports)
    }

    /// Files a signed problem report: queued durably, then sent by the outbox.
    /// Returns the outbox item id.
    pub async fn report(&self, kind: &str, text: &str) -> Result<String, Error> {
        // The server's own rules: a report it would refuse must not wait in the outbox.
        limits::REPORT_KIND.check(kind)?;
        limits::REPORT_TEXT.check(text)?;
        let Active { info, signer, public } = self.account().active()?;
        // Offline is fine: the phone clock plus the last learned offset stamps it.
        let client_time_ms = self.account().server_now_ms();
        let (kind, text, store) = (kind.to_owned(), text.to_owned(), Arc::clone(&self.inner.ctx.store));
        let message = signed::report_message(&info.device_id, &kind, &text, client_time_ms);
        let signature = sign_checked(signer.as_ref(), &public, &message).await?;
        let id = blocking(move || {
            let body = NewReport { kind, text, client_time_ms, signature: b64::encode(signature) };
            let item = NewItem {
                kind: REPORT_KIND.into(),
                method: "POST".into(),
                path: "/v1/reports".into(),
                body: serde_json::to_value(&body).map_err(|e| Error::Internal(e.to_string()))?,
            };
            Ok::<_, Error>(store.write(|tx| outbox::enqueue_in(tx, &item, client_time_ms))?)
        })
        .await?;
        self.inner.ctx.outbox.changed().await;
        self.inner.ctx.outbox.kick();
        Ok(id)
    }

    /// Sends everything pending now (ignoring back-off) and reports what happened.
    /// If delivery stopped on an error (offline, server down), that error is returned;
    /// the items stay queued in order ([`Client::outbox`] shows them).
    pub async fn sync(&self) -> Result<SyncReport, Error> {
        Ok(self.inner.ctx.outbox.sync(true).await?)
    }

    pub async fn outbox(&self) -> Result<OutboxStatus, Error> {
        self.account().check_open()?;
        Ok(self.inner.ctx.outbox.status().await?)
    }

    /// Removes a dead outbox item the person has seen.
    pub async fn discard_dead(&self, item_id: &str) -> Result<(), Error> {
        self.account().check_open()?;
        Ok(self.inner.ctx.outbox.discard_dead(item_id).await?)
    }

    /// QR-key login: scan a sign-in page's code, approve or deny, see the history.
    pub fn login(&self) -> crate::login::Login {
        self.inner.login.clone()
    }

    /// Meeting sign-in: scan a room display's code, sign in with one call.
    #[cfg(feature = "meetings")]
    pub fn meetings(&self) -> crate::meetings::Meetings {
        self.inner.meetings.clone()
    }

    /// Beacon attendance: sightings in, punches out, the week's history.
    #[cfg(feature = "attendance")]
    pub fn attendance(&self) -> crate::attendance::Attendance {
        self.inner.attendance.clone()
    }

    /// Certificate wallet: receive, keep sealed, list, show, verify, back up.
    #[cfg(feature = "wallet")]
    pub fn wallet(&self) -> crate::wallet::Wallet {
        self.inner.wallet.clone()
    }

    /// Mobile approval: the inbox offline, items read and kept, signed actions, batches.
    #[cfg(feature = "approval")]
    pub fn approvals(&self) -> crate::approval::Approvals {
        self.inner.approvals.clone()
    }

    /// Push: registration, payloads in, the inbox, badges, read marks across devices.
    #[cfg(feature = "push")]
    pub fn push(&self) -> crate::push::Push {
        self.inner.push.clone()
    }

    /// The day at a glance across the build's capabilities, offline, in one call.
    #[cfg(feature = "dashboard")]
    pub fn dashboard(&self) -> crate::dashboard::Dashboard {
        self.inner.dashboard.clone()
    }

    /// The server's clock as this phone estimates it (UTC ms).
    pub fn server_now_ms(&self) -> i64 {
        self.account().server_now_ms()
    }

    /// Stops background work, waits for a running sync, delivers queued events and
    /// closes the database. Later calls fail with [`Error::Closed`].
    pub async fn close(&self) -> Result<(), Error> {
        if !self.account().close() {
            return Ok(());
        }
        let _ = self.inner.stop.send(true);
        let task = self.inner.background.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let _sync = self.inner.ctx.outbox.quiesce().await;
        let ctx = self.inner.ctx.clone();
        blocking(move || {
            ctx.events.close();
            Ok(ctx.store.close()?)
        })
        .await
    }
}

async fn background_sync(inner: Weak<Inner>, kick: Arc<Notify>, mut stop: watch::Receiver<bool>, every: Duration) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = kick.notified() => {}
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { return },
        }
        // Hold the client only while syncing, so dropping it ends this task.
        let Some(inner) = inner.upgrade() else { return };
        let account = &inner.ctx.account;
        if account.check_open().is_err() {
            return;
        }
        if account.device().is_some_and(|d| !d.revoked)
            && let Err(e) = inner.ctx.outbox.sync(false).await
        {
            tracing::info!(code = e.code(), error = %e, "background sync did not finish");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityError;
    use crate::net::NetError;
    use crate::secrets::FileSecretStore;

    fn platform(dir: &std::path::Path) -> Platform {
        Platform {
            signer: None,
            secret_store: Arc::new(FileSecretStore::new(dir.join("s")).unwrap()),
            listener: None,
            clock: None,
        }
    }

    #[tokio::test]
    async fn configuration_is_checked_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        for (profile, url) in [("../x", "http://127.0.0.1:1"), ("ok", "http://example.com"), ("", "http://127.0.0.1:1")] {
            let config = ClientConfig::new(dir.path().join("d"), profile, url, "test");
            let err = Client::open(config, platform(dir.path())).await.unwrap_err();
            assert!(matches!(err, Error::Config(_) | Error::Net(NetError::Config(_))), "{err:?}");
        }
        assert!(!dir.path().join("d").exists());
    }

    #[tokio::test]
    async fn an_unbound_profile_says_so_and_closes_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ClientConfig::new(dir.path(), "p1", "http://127.0.0.1:9", "test");
        config.sync_interval_secs = 1;
        let client = Client::open(config, platform(dir.path())).await.unwrap();
        assert_eq!(client.device(), None);
        assert_eq!(client.report("bug", "x").await.unwrap_err(), Error::Identity(IdentityError::NotBound));
        assert_eq!(client.sync().await.unwrap_err().code(), "not_bound");
        assert_eq!(client.outbox().await.unwrap().pending, 0);
        client.close().await.unwrap();
        assert_eq!(client.outbox().await.unwrap_err(), Error::Closed);
        client.close().await.unwrap();
    }

    #[test]
    fn client_is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Client>();
    }
}
