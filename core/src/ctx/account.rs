//! [`Account`]: the bound device, its session and the authenticated calls made as it.
//! The client binds and signs in through it; a capability calls the server through it
//! and asks it for the device key to sign with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use taipei_protocol::api::{AccessToken, DeviceRegistered, TokenRequest, codes, headers};
use taipei_protocol::ecdsa::PublicKey;
use taipei_protocol::limits;

use super::{CommonError, blocking};
use crate::events::{Event, EventBus};
use crate::identity::session::{self, Token};
use crate::identity::{DeviceInfo, DeviceSigner, IdentityError, Session, device};
use crate::net::{self, Api, Method, NetError, Request, parse_json};
use crate::store::Store;

/// Who this profile signs in as, while it has a session.
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

/// The device the calls are made as, with the key that signs for it.
pub(crate) struct Active {
    pub info: DeviceInfo,
    pub signer: Arc<dyn DeviceSigner>,
    pub public: PublicKey,
}

pub(crate) struct Account {
    api: Api,
    store: Arc<Store>,
    events: Arc<EventBus>,
    device_name: String,
    platform_signer: Option<Arc<dyn DeviceSigner>>,
    bound: RwLock<Option<Bound>>,
    session: Session,
    sign_in_lock: tokio::sync::Mutex<()>,
    closed: AtomicBool,
}

impl Account {
    /// Loads the bound device and the kept token, if any.
    pub(crate) async fn open(
        api: Api,
        store: Arc<Store>,
        events: Arc<EventBus>,
        device_name: String,
        platform_signer: Option<Arc<dyn DeviceSigner>>,
    ) -> Result<Self, CommonError> {
        let s = Arc::clone(&store);
        let (loaded, token) = blocking(move || Ok::<_, CommonError>((device::load_device(&s)?, session::load_token(&s)?))).await?;
        let bound = loaded.map(|(info, software)| Bound { info, signer: software.or_else(|| platform_signer.clone()) });
        let session = Session::default();
        if let Some(token) = token {
            session.set(token);
        }
        Ok(Self {
            api,
            store,
            events,
            device_name,
            platform_signer,
            bound: RwLock::new(bound),
            session,
            sign_in_lock: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
        })
    }

    /// Ends every later call with `Closed`; true for the first caller only.
    pub(crate) fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::SeqCst)
    }

    pub(crate) fn check_open(&self) -> Result<(), CommonError> {
        if self.closed.load(Ordering::SeqCst) { Err(CommonError::Closed) } else { Ok(()) }
    }

    /// The server, for calls that need no session (the wallet's public lists).
    pub(crate) fn api(&self) -> &Api {
        &self.api
    }

    /// The server's clock as this phone estimates it (UTC ms).
    pub(crate) fn server_now_ms(&self) -> i64 {
        self.api.clock().now_ms()
    }

    fn bound(&self) -> Option<Bound> {
        self.bound.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The bound device, if any (also when revoked).
    pub(crate) fn device(&self) -> Option<DeviceInfo> {
        self.bound().map(|b| b.info)
    }

    /// The active device and its signer, or why there is none.
    pub(crate) fn active(&self) -> Result<Active, CommonError> {
        self.check_open()?;
        let bound = self.bound().ok_or(IdentityError::NotBound)?;
        if bound.info.revoked {
            return Err(IdentityError::DeviceRevoked.into());
        }
        let signer = bound.signer.ok_or(IdentityError::NoSigner)?;
        let public = PublicKey::from_sec1(&bound.info.public_key)
            .map_err(|e| IdentityError::BadSigner(format!("stored public key: {e}")))?;
        Ok(Active { info: bound.info, signer, public })
    }

    /// Turns a server refusal into the core's error, recording a revocation on the way.
    async fn fail(&self, e: CommonError) -> CommonError {
        if e == CommonError::Identity(IdentityError::DeviceRevoked) {
            let device_id = self.bound().map(|b| b.info.device_id).unwrap_or_default();
            let store = Arc::clone(&self.store);
            if let Err(err) = blocking(move || Ok::<_, CommonError>(device::mark_revoked(&store)?)).await {
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

    /// The server time now, learning the clock first if this run has not yet.
    pub(crate) async fn now_ms(&self) -> Result<i64, CommonError> {
        if !self.api.clock().is_learned() {
            self.api.sync_clock().await?;
        }
        Ok(self.api.clock().now_ms())
    }

    /// Binds this profile to the person named by the portal's `TPB1:` code.
    pub(crate) async fn bind_device(&self, qr_text: &str) -> Result<DeviceInfo, CommonError> {
        self.check_open()?;
        if let Some(b) = self.bound().filter(|b| !b.info.revoked) {
            return Err(IdentityError::AlreadyBound(b.info.device_id).into());
        }
        limits::DEVICE_NAME.check(&self.device_name)?;
        // A call dropped after the device was saved (the save runs to its end on the
        // blocking pool) left it in the store only: that call did bind.
        let store = Arc::clone(&self.store);
        if let Some((info, software)) = blocking(move || Ok::<_, CommonError>(device::load_device(&store)?)).await?
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
        let resumed = blocking(move || Ok::<_, CommonError>(device::load_intent(&store, &bid, platform)?)).await?;
        let (pending, key) = match resumed {
            Some((pending, key)) => (Arc::new(pending), key),
            None => {
                let now = self.now_ms().await?;
                let (qr, platform, name) = (qr_text.to_owned(), self.platform_signer.clone(), self.device_name.clone());
                let key = net::new_idempotency_key();
                let (store, k) = (Arc::clone(&self.store), key.clone());
                let pending = device::prepare_binding(&qr, platform, &name, now).await?;
                let pending = blocking(move || {
                    device::save_intent(&store, &pending, &k, now)?;
                    Ok::<_, CommonError>(pending)
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
                Some(codes::BINDING_EXPIRED) => CommonError::Identity(IdentityError::BindingExpired),
                Some(code) if code.starts_with("binding_") || code == codes::SIGNATURE_INVALID => {
                    CommonError::Identity(IdentityError::BindingRefused { code: code.to_owned(), message: e.to_string() })
                }
                _ => CommonError::from(e),
            });
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                // Refused for good: nothing to resume. Anything else (offline, timeout)
                // keeps the intent for the next call.
                if matches!(e, CommonError::Identity(IdentityError::BindingExpired | IdentityError::BindingRefused { .. })) {
                    let store = Arc::clone(&self.store);
                    if let Err(err) = blocking(move || Ok::<_, CommonError>(device::clear_intent(&store)?)).await {
                        tracing::warn!(code = err.code(), "could not forget a refused binding");
                    }
                }
                return Err(e);
            }
        };
        let registered: DeviceRegistered = parse_json(&body, "DeviceRegistered")?;
        let (store, p) = (Arc::clone(&self.store), Arc::clone(&pending));
        let now = self.api.clock().now_ms();
        let info = blocking(move || Ok::<_, CommonError>(device::save_device(&store, &p, &registered, now)?)).await?;
        *self.bound.write().unwrap_or_else(|p| p.into_inner()) =
            Some(Bound { info: info.clone(), signer: Some(Arc::clone(&pending.signer)) });
        self.session.clear();
        self.events.emit(Event::DeviceBound { device_id: info.device_id.clone() });
        Ok(info)
    }

    /// A DPoP proof; the platform signer's wait holds no thread (its `sign` is async).
    async fn proof(&self, method: Method, path: &str, token: Option<String>) -> Result<String, CommonError> {
        let Active { signer, public, .. } = self.active()?;
        let url = self.api.url(path);
        let now = self.api.clock().now_ms();
        Ok(session::proof(signer.as_ref(), &public, method.as_str(), &url, now, token.as_deref()).await?)
    }

    /// Gets a fresh access token (normally automatic; this forces one).
    pub(crate) async fn sign_in(&self) -> Result<SessionInfo, CommonError> {
        self.check_open()?;
        let _guard = self.sign_in_lock.lock().await;
        self.sign_in_locked().await
    }

    /// Caller holds `sign_in_lock`.
    async fn sign_in_locked(&self) -> Result<SessionInfo, CommonError> {
        let info = self.active()?.info;
        self.now_ms().await?;
        let request = TokenRequest { device_id: info.device_id.clone() };
        let result = self
            .api
            .send(|| async {
                let proof = self.proof(Method::Post, "/v1/token", None).await?;
                Ok::<_, CommonError>(Request::new(Method::Post, "/v1/token").json(&request)?.header(headers::DPOP, proof))
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
        if let Err(e) = blocking(move || Ok::<_, CommonError>(session::save_token(&store, &token)?)).await {
            tracing::warn!(code = e.code(), "could not keep the session token");
        }
        self.events.emit(Event::SessionStarted { expires_at_ms });
        Ok(SessionInfo { device_id: info.device_id, user_id: info.user_id, expires_at_ms })
    }

    async fn token(&self) -> Result<String, CommonError> {
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
            .ok_or_else(|| CommonError::Net(NetError::MalformedReply("the server issued an already expired token".into())))
    }

    /// An authenticated call; signs in first when needed and once more on `invalid_token`.
    pub(crate) async fn authed(&self, method: Method, path: &str, body: Option<Vec<u8>>, key: Option<String>) -> Result<Vec<u8>, CommonError> {
        let mut refreshed = false;
        loop {
            let token = self.token().await?;
            let result = self
                .api
                .send(|| async {
                    let proof = self.proof(method, path, Some(token.clone())).await?;
                    Ok::<_, CommonError>(Request {
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
                Err(CommonError::Net(e)) if !refreshed && e.server_code() == Some(codes::INVALID_TOKEN) => {
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

    /// [`Account::authed`] with a JSON body and a fresh idempotency key: a one-shot
    /// state change whose answer the caller waits for.
    pub(crate) async fn post_json(&self, path: &str, body: &impl serde::Serialize) -> Result<Vec<u8>, CommonError> {
        let body = serde_json::to_vec(body).map_err(|e| CommonError::Internal(e.to_string()))?;
        self.authed(Method::Post, path, Some(body), Some(net::new_idempotency_key())).await
    }

    /// [`Account::authed`] for a GET whose reply is JSON of type `T` (`what` names it in errors).
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, CommonError> {
        let body = self.authed(Method::Get, path, None, None).await?;
        Ok(parse_json(&body, what)?)
    }
}
