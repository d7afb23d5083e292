//! [`Client`]: the one entry object of the core, one per profile.
//!
//! Owns the profile's store, HTTP client, device identity, session, outbox and the
//! background sync task. `Send + Sync`; share it behind an `Arc` across tasks.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use taipei_protocol::api::{
    AccessToken, DeviceRegistered, Me, NewReport, Receipt, ReportEntry, ReportList, TokenRequest, codes, headers,
};
use taipei_protocol::ecdsa::PublicKey;
use taipei_protocol::{b64, limits, signed};
use tokio::sync::{Notify, watch};

use crate::clock::{ElapsedClock, SystemElapsed};
use crate::error::Error;
use crate::events::{Event, EventBus, EventListener};
use crate::identity::session::{self, Token};
use crate::identity::signer::sign_checked;
use crate::identity::{DeviceInfo, DeviceSigner, IdentityError, Session, device};
use crate::net::{self, Api, Method, NetConfig, NetError, Request, RetryPolicy, parse_json};
use crate::outbox::{self, DeliveryError, ItemSender, NewItem, Outbox, OutboxItem, OutboxStatus, SendFuture, SyncReport};
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub device_id: String,
    pub user_id: String,
    pub expires_at_ms: i64,
}

/// The bound device with the key that signs for it.
#[derive(Clone)]
struct Bound {
    info: DeviceInfo,
    signer: Option<Arc<dyn DeviceSigner>>,
}

pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) store: Arc<Store>,
    pub(crate) api: Api,
    platform_signer: Option<Arc<dyn DeviceSigner>>,
    bound: RwLock<Option<Bound>>,
    session: Session,
    sign_in_lock: tokio::sync::Mutex<()>,
    sync_lock: tokio::sync::Mutex<()>,
    pub(crate) outbox: Outbox,
    events: EventBus,
    #[cfg(feature = "attendance")]
    pub(crate) attendance: crate::attendance::Shared,
    #[cfg_attr(not(feature = "attendance"), allow(dead_code, reason = "only punches stamp elapsed time so far"))]
    pub(crate) elapsed: Arc<dyn ElapsedClock>,
    pub(crate) kick: Arc<Notify>,
    stop: watch::Sender<bool>,
    background: Mutex<Option<tokio::task::JoinHandle<()>>>,
    closed: AtomicBool,
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

fn check_profile(profile: &str) -> Result<(), Error> {
    let ok = !profile.is_empty()
        && profile.len() <= 64
        && profile.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok { Ok(()) } else { Err(Error::Config(format!("profile name {profile:?} must be 1-64 of [A-Za-z0-9_-]"))) }
}

fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send + 'static) -> impl Future<Output = Result<T, Error>> {
    async move {
        tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
    }
}

impl Client {
    /// Opens (creating if needed) the profile and starts background sync.
    pub async fn open(config: ClientConfig, platform: Platform) -> Result<Self, Error> {
        check_profile(&config.profile)?;
        let mut net_config = NetConfig::new(config.server_url.clone());
        net_config.root_certs_pem = config.root_certs_pem.clone();
        net_config.spki_pins = config.spki_pins.clone();
        let api = Api::new(&net_config)?;

        let path = config.data_dir.join(format!("{}.db", config.profile));
        let key_name = format!("taipei-core.{}.data-key", config.profile);
        let secrets = Arc::clone(&platform.secret_store);
        let (store, loaded, token) = blocking(move || {
            let store = Store::open(&path, secrets.as_ref(), &key_name)?;
            let loaded = device::load_device(&store)?;
            let token = session::load_token(&store)?;
            Ok((Arc::new(store), loaded, token))
        })
        .await?;

        let bound = loaded.map(|(info, software)| Bound { info, signer: software.or_else(|| platform.signer.clone()) });
        let session = Session::default();
        if let Some(token) = token {
            session.set(token);
        }
        let outbox = Outbox::new(Arc::clone(&store), RetryPolicy { max_attempts: u32::MAX, base_delay_ms: 2_000, max_delay_ms: 300_000 });
        let (stop, stop_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            api,
            store,
            platform_signer: platform.signer,
            bound: RwLock::new(bound),
            session,
            sign_in_lock: tokio::sync::Mutex::new(()),
            sync_lock: tokio::sync::Mutex::new(()),
            outbox,
            events: EventBus::new(platform.listener),
            #[cfg(feature = "attendance")]
            attendance: crate::attendance::Shared::default(),
            elapsed: platform.clock.unwrap_or_else(|| Arc::new(SystemElapsed)),
            kick: Arc::new(Notify::new()),
            stop,
            background: Mutex::new(None),
            closed: AtomicBool::new(false),
            config,
        });
        #[cfg(feature = "meetings")]
        inner.outbox.register_handler(crate::meetings::SIGN_IN_KIND, Arc::new(crate::meetings::Receipts));
        #[cfg(feature = "attendance")]
        inner.outbox.register_handler(crate::attendance::PUNCH_KIND, Arc::new(crate::attendance::Receipts));
        #[cfg(feature = "approval")]
        inner.outbox.register_handler(crate::approval::ACTION_KIND, Arc::new(crate::approval::Receipts));
        if inner.config.sync_interval_secs > 0 {
            let task = tokio::spawn(background_sync(
                Arc::downgrade(&inner),
                Arc::clone(&inner.kick),
                stop_rx,
                Duration::from_secs(inner.config.sync_interval_secs),
            ));
            *inner.background.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
        Ok(Self { inner })
    }

    /// Binds this profile to the person named by the portal's `TPB1:` code.
    pub async fn bind_device(&self, qr_text: &str) -> Result<DeviceInfo, Error> {
        self.inner.bind_device(qr_text).await
    }

    /// The bound device, if any (also when revoked: see `revoked`).
    pub fn device(&self) -> Option<DeviceInfo> {
        self.inner.bound().map(|b| b.info)
    }

    /// Gets a fresh access token (normally automatic; this forces one).
    pub async fn sign_in(&self) -> Result<SessionInfo, Error> {
        self.inner.check_open()?;
        let _guard = self.inner.sign_in_lock.lock().await;
        self.inner.sign_in_locked().await
    }

    pub async fn me(&self) -> Result<Me, Error> {
        let body = self.inner.authed(Method::Get, "/v1/me", None, None).await?;
        Ok(parse_json(&body, "Me")?)
    }

    /// The person's own reports as the server has them, newest first.
    pub async fn reports(&self) -> Result<Vec<ReportEntry>, Error> {
        let body = self.inner.authed(Method::Get, "/v1/reports", None, None).await?;
        Ok(parse_json::<ReportList>(&body, "ReportList")?.reports)
    }

    /// Files a signed problem report: queued durably, then sent by the outbox.
    /// Returns the outbox item id.
    pub async fn report(&self, kind: &str, text: &str) -> Result<String, Error> {
        self.inner.report(kind, text).await
    }

    /// Sends everything pending now (ignoring back-off) and reports what happened.
    /// If delivery stopped on an error (offline, server down), that error is returned;
    /// the items stay queued in order ([`Client::outbox`] shows them).
    pub async fn sync(&self) -> Result<SyncReport, Error> {
        self.inner.sync(true).await
    }

    pub async fn outbox(&self) -> Result<OutboxStatus, Error> {
        self.inner.check_open()?;
        Ok(self.inner.outbox.status().await?)
    }

    /// Removes a dead outbox item the person has seen.
    pub async fn discard_dead(&self, item_id: &str) -> Result<(), Error> {
        self.inner.check_open()?;
        self.inner.outbox.discard_dead(item_id.to_owned()).await?;
        self.inner.outbox_changed().await;
        Ok(())
    }

    /// QR-key login: scan a sign-in page's code, approve or deny, see the history.
    pub fn login(&self) -> crate::login::Login {
        crate::login::Login::new(Arc::clone(&self.inner))
    }

    /// Meeting sign-in: scan a room display's code, sign in with one call.
    #[cfg(feature = "meetings")]
    pub fn meetings(&self) -> crate::meetings::Meetings {
        crate::meetings::Meetings::new(Arc::clone(&self.inner))
    }

    /// Beacon attendance: sightings in, punches out, the week's history.
    #[cfg(feature = "attendance")]
    pub fn attendance(&self) -> crate::attendance::Attendance {
        crate::attendance::Attendance::new(Arc::clone(&self.inner))
    }

    /// Certificate wallet: receive, keep sealed, list, show, verify, back up.
    #[cfg(feature = "wallet")]
    pub fn wallet(&self) -> crate::wallet::Wallet {
        crate::wallet::Wallet::new(Arc::clone(&self.inner))
    }

    /// Mobile approval: the inbox offline, items read and kept, signed actions, batches.
    #[cfg(feature = "approval")]
    pub fn approvals(&self) -> crate::approval::Approvals {
        crate::approval::Approvals::new(Arc::clone(&self.inner))
    }

    /// The server's clock as this phone estimates it (UTC ms).
    pub fn server_now_ms(&self) -> i64 {
        self.inner.api.clock().now_ms()
    }

    /// Lets a capability module act on its outbox items' receipts.
    pub fn register_receipt_handler(&self, kind: &str, handler: Arc<dyn outbox::ReceiptHandler>) {
        self.inner.outbox.register_handler(kind, handler);
    }

    /// Stops background work, waits for a running sync, delivers queued events and
    /// closes the database. Later calls fail with [`Error::Closed`].
    pub async fn close(&self) -> Result<(), Error> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let _ = self.inner.stop.send(true);
        let task = self.inner.background.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let _sync = self.inner.sync_lock.lock().await;
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            inner.events.close();
            Ok(inner.store.close()?)
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
        if inner.closed.load(Ordering::SeqCst) {
            return;
        }
        if inner.bound().is_some_and(|b| !b.info.revoked)
            && let Err(e) = inner.sync(false).await
        {
            tracing::info!(code = e.code(), error = %e, "background sync did not finish");
        }
    }
}

impl Inner {
    fn check_open(&self) -> Result<(), Error> {
        if self.closed.load(Ordering::SeqCst) { Err(Error::Closed) } else { Ok(()) }
    }

    fn bound(&self) -> Option<Bound> {
        self.bound.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The active device and its signer, or why there is none.
    pub(crate) fn active(&self) -> Result<(DeviceInfo, Arc<dyn DeviceSigner>, PublicKey), Error> {
        self.check_open()?;
        let bound = self.bound().ok_or(IdentityError::NotBound)?;
        if bound.info.revoked {
            return Err(IdentityError::DeviceRevoked.into());
        }
        let signer = bound.signer.ok_or(IdentityError::NoSigner)?;
        let public = PublicKey::from_sec1(&bound.info.public_key)
            .map_err(|e| IdentityError::BadSigner(format!("stored public key: {e}")))?;
        Ok((bound.info, signer, public))
    }

    /// Turns a server refusal into the core's error, recording a revocation on the way.
    async fn fail(&self, e: Error) -> Error {
        if e == Error::Identity(IdentityError::DeviceRevoked) {
            let device_id = self.bound().map(|b| b.info.device_id).unwrap_or_default();
            let store = Arc::clone(&self.store);
            if let Err(err) = blocking(move || Ok(device::mark_revoked(&store)?)).await {
                tracing::warn!(error = %err, "could not record the revocation");
            }
            if let Some(b) = self.bound.write().unwrap_or_else(|p| p.into_inner()).as_mut() {
                b.info.revoked = true;
            }
            self.session.clear();
            self.events.emit(Event::DeviceRevoked { device_id });
            self.events.emit(Event::SessionEnded { reason: codes::DEVICE_REVOKED.into() });
        }
        e
    }

    pub(crate) async fn now_ms(&self) -> Result<i64, Error> {
        if !self.api.clock().is_learned() {
            self.api.sync_clock().await?;
        }
        Ok(self.api.clock().now_ms())
    }

    async fn bind_device(&self, qr_text: &str) -> Result<DeviceInfo, Error> {
        self.check_open()?;
        if let Some(b) = self.bound().filter(|b| !b.info.revoked) {
            return Err(IdentityError::AlreadyBound(b.info.device_id).into());
        }
        limits::DEVICE_NAME.check(&self.config.device_name)?;
        // A call dropped after the device was saved (the save runs to its end on the
        // blocking pool) left it in the store only: that call did bind.
        let store = Arc::clone(&self.store);
        if let Some((info, software)) = blocking(move || Ok(device::load_device(&store)?)).await?
            && !info.revoked
        {
            let signer = software.or_else(|| self.platform_signer.clone());
            *self.bound.write().unwrap_or_else(|p| p.into_inner()) = Some(Bound { info: info.clone(), signer });
            self.session.clear();
            self.events.emit(Event::DeviceBound { device_id: info.device_id.clone() });
            return Ok(info);
        }
        // Cancel-safe: the request and its idempotency key are kept before it leaves, and
        // a second call for the same code resends exactly that, so a caller that stopped
        // waiting anywhere still ends with one device on the server.
        let bid = device::binding_id(qr_text)?;
        let (store, platform) = (Arc::clone(&self.store), self.platform_signer.clone());
        let resumed = blocking(move || Ok(device::load_intent(&store, &bid, platform)?)).await?;
        let (pending, key) = match resumed {
            Some((pending, key)) => (Arc::new(pending), key),
            None => {
                let now = self.now_ms().await?;
                let (qr, platform, name) = (qr_text.to_owned(), self.platform_signer.clone(), self.config.device_name.clone());
                let key = net::new_idempotency_key();
                let (store, k) = (Arc::clone(&self.store), key.clone());
                let pending = blocking(move || {
                    let pending = device::prepare_binding(&qr, platform, &name, now)?;
                    device::save_intent(&store, &pending, &k, now)?;
                    Ok(pending)
                })
                .await?;
                (Arc::new(pending), key)
            }
        };
        let body = self
            .api
            .send(|| {
                let req = Request::new(Method::Post, "/v1/devices").json(&pending.request);
                let key = key.clone();
                async move { req.map(|r| Request { idempotency_key: Some(key), ..r }) }
            })
            .await
            .map_err(|e: NetError| match e.server_code() {
                Some(codes::BINDING_EXPIRED) => Error::Identity(IdentityError::BindingExpired),
                Some(code) if code.starts_with("binding_") || code == codes::SIGNATURE_INVALID => {
                    Error::Identity(IdentityError::BindingRefused { code: code.to_owned(), message: e.to_string() })
                }
                _ => Error::from(e),
            });
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                // Refused for good: nothing to resume. Anything else (offline, timeout)
                // keeps the intent for the next call.
                if matches!(e, Error::Identity(IdentityError::BindingExpired | IdentityError::BindingRefused { .. })) {
                    let store = Arc::clone(&self.store);
                    if let Err(err) = blocking(move || Ok(device::clear_intent(&store)?)).await {
                        tracing::warn!(code = err.code(), "could not forget a refused binding");
                    }
                }
                return Err(e);
            }
        };
        let registered: DeviceRegistered = parse_json(&body, "DeviceRegistered")?;
        let (store, p) = (Arc::clone(&self.store), Arc::clone(&pending));
        let now = self.api.clock().now_ms();
        let info = blocking(move || Ok(device::save_device(&store, &p, &registered, now)?)).await?;
        *self.bound.write().unwrap_or_else(|p| p.into_inner()) =
            Some(Bound { info: info.clone(), signer: Some(Arc::clone(&pending.signer)) });
        self.session.clear();
        self.events.emit(Event::DeviceBound { device_id: info.device_id.clone() });
        Ok(info)
    }

    /// A DPoP proof made on the blocking pool (a platform signer may take a while).
    async fn proof(&self, method: Method, path: &str, token: Option<String>) -> Result<String, Error> {
        let (_, signer, public) = self.active()?;
        let url = self.api.url(path);
        let now = self.api.clock().now_ms();
        blocking(move || Ok(session::proof(signer.as_ref(), &public, method.as_str(), &url, now, token.as_deref())?))
            .await
    }

    /// Caller holds `sign_in_lock`.
    async fn sign_in_locked(&self) -> Result<SessionInfo, Error> {
        let (info, _, _) = self.active()?;
        self.now_ms().await?;
        let request = TokenRequest { device_id: info.device_id.clone() };
        let result = self
            .api
            .send(|| async {
                let proof = self.proof(Method::Post, "/v1/token", None).await?;
                Ok::<_, Error>(Request::new(Method::Post, "/v1/token").json(&request)?.header(headers::DPOP, proof))
            })
            .await;
        let body = match result {
            Ok(b) => b,
            Err(e) => return Err(self.fail(e).await),
        };
        let token: AccessToken = parse_json(&body, "AccessToken")?;
        let token = Token { access_token: token.access_token, expires_at_ms: token.expires_at_ms };
        self.session.set(token.clone());
        let store = Arc::clone(&self.store);
        let expires_at_ms = token.expires_at_ms;
        // Keeping the token across restarts is a convenience; failing to is not an error.
        if let Err(e) = blocking(move || Ok(session::save_token(&store, &token)?)).await {
            tracing::warn!(code = e.code(), "could not keep the session token");
        }
        self.events.emit(Event::SessionStarted { expires_at_ms });
        Ok(SessionInfo { device_id: info.device_id, user_id: info.user_id, expires_at_ms })
    }

    async fn token(&self) -> Result<String, Error> {
        let now = self.api.clock().now_ms();
        if let Some(t) = self.session.valid_token(now) {
            return Ok(t.access_token);
        }
        let _guard = self.sign_in_lock.lock().await;
        if let Some(t) = self.session.valid_token(self.api.clock().now_ms()) {
            return Ok(t.access_token);
        }
        self.sign_in_locked().await?;
        self.session
            .valid_token(self.api.clock().now_ms())
            .map(|t| t.access_token)
            .ok_or_else(|| Error::Net(NetError::MalformedReply("the server issued an already expired token".into())))
    }

    /// An authenticated call; signs in first when needed and once more on `invalid_token`.
    pub(crate) async fn authed(&self, method: Method, path: &str, body: Option<Vec<u8>>, key: Option<String>) -> Result<Vec<u8>, Error> {
        let mut refreshed = false;
        loop {
            let token = self.token().await?;
            let result = self
                .api
                .send(|| async {
                    let proof = self.proof(method, path, Some(token.clone())).await?;
                    Ok::<_, Error>(Request {
                        method,
                        path: path.to_owned(),
                        body: body.clone(),
                        idempotency_key: key.clone(),
                        headers: vec![
                            (headers::AUTHORIZATION, format!("DPoP {token}")),
                            (headers::DPOP, proof),
                        ],
                    })
                })
                .await;
            match result {
                Err(Error::Net(e)) if !refreshed && e.server_code() == Some(codes::INVALID_TOKEN) => {
                    refreshed = true;
                    if self.session.clear() {
                        self.events.emit(Event::SessionEnded { reason: codes::INVALID_TOKEN.into() });
                    }
                }
                Err(e) => return Err(self.fail(e).await),
                Ok(body) => return Ok(body),
            }
        }
    }

    async fn report(&self, kind: &str, text: &str) -> Result<String, Error> {
        // The server's own rules: a report it would refuse must not wait in the outbox.
        limits::REPORT_KIND.check(kind)?;
        limits::REPORT_TEXT.check(text)?;
        let (info, signer, public) = self.active()?;
        // Offline is fine: the phone clock plus the last learned offset stamps it.
        let client_time_ms = self.api.clock().now_ms();
        let (kind, text, store) = (kind.to_owned(), text.to_owned(), Arc::clone(&self.store));
        let id = blocking(move || {
            let message = signed::report_message(&info.device_id, &kind, &text, client_time_ms);
            let signature = sign_checked(signer.as_ref(), &public, &message)?;
            let body = NewReport { kind, text, client_time_ms, signature: b64::encode(signature) };
            let item = NewItem {
                kind: REPORT_KIND.into(),
                method: "POST".into(),
                path: "/v1/reports".into(),
                body: serde_json::to_value(&body).map_err(|e| Error::Internal(e.to_string()))?,
            };
            Ok(store.write(|tx| outbox::enqueue_in(tx, &item, client_time_ms))?)
        })
        .await?;
        self.outbox_changed().await;
        self.kick.notify_one();
        Ok(id)
    }

    #[cfg_attr(not(feature = "attendance"), allow(dead_code, reason = "only attendance emits from outside client"))]
    pub(crate) fn emit(&self, event: Event) {
        self.events.emit(event);
    }

    pub(crate) async fn outbox_changed(&self) {
        if let Ok(s) = self.outbox.status().await {
            self.events.emit(Event::OutboxChanged { pending: s.pending, dead: s.dead });
        }
    }

    pub(crate) async fn sync(&self, force: bool) -> Result<SyncReport, Error> {
        self.check_open()?;
        let _guard = self.sync_lock.lock().await;
        self.active()?;
        self.events.emit(Event::SyncStarted);
        let clock = || self.api.clock().now_ms();
        let result = self.outbox.sync(&Deliver(self), &clock, force).await;
        // Whatever settled before an error is told now.
        #[cfg(feature = "attendance")]
        crate::attendance::announce(self).await;
        #[cfg(feature = "approval")]
        crate::approval::clear_refused(self).await;
        let (report, stopped_by) = match result {
            Ok(o) => (o.report, o.stopped_by),
            Err(e) => {
                self.outbox_changed().await;
                return Err(e.into());
            }
        };
        self.events.emit(Event::SyncFinished {
            sent: report.sent,
            failed: report.failed,
            pending: report.pending,
            dead: report.dead,
        });
        if report.sent + report.failed > 0 {
            self.events.emit(Event::OutboxChanged { pending: report.pending, dead: report.dead });
        }
        match stopped_by {
            Some(e) => Err(e.into()),
            None => Ok(report),
        }
    }
}

/// Delivers outbox items as authenticated requests with their stored idempotency key.
struct Deliver<'a>(&'a Inner);

impl ItemSender for Deliver<'_> {
    fn send<'a>(&'a self, item: &'a OutboxItem) -> SendFuture<'a> {
        Box::pin(async move {
            let method = Method::parse(&item.method).ok_or_else(|| {
                Error::Internal(format!("outbox item {} has method {}", item.id, item.method)).into_delivery()
            })?;
            let body = self
                .0
                .authed(method, &item.path, Some(item.body.clone().into_bytes()), Some(item.idempotency_key.clone()))
                .await
                .map_err(Error::into_delivery)?;
            parse_json::<Receipt>(&body, "Receipt").map_err(DeliveryError::Net)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
