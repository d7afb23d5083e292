//! The reference backend: the server side of the protocol the phone core speaks.
//!
//! City backend teams read this crate as the executable contract: every rule the
//! phone relies on (binding, DPoP-bound tokens, idempotent writes, the server clock
//! header, the error codes) is implemented here once, against a real SQLite file.
//! Embedded use (tests, the CLI demo): [`start`] on the current tokio runtime;
//! a standalone process: [`run_standalone`].

pub mod approval;
pub mod attendance;
pub mod audit;
pub mod auth;
pub mod background;
pub mod config;
pub mod attestation;
pub mod credentials;
pub mod db;
pub mod devices;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod limits;
pub mod login;
pub mod meetings;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod purge;
pub mod push;
mod random;
pub mod reports;
pub mod sealing;
pub mod time;
pub mod wallet;
pub mod web;
pub mod web_systems;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::MethodRouter;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::ServerConfig;
pub use error::{ApiError, ServerError};

use db::Db;
use limits::{Class, Limiters};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
}

/// The parts of the configuration handlers need; the admin token only as its digest.
#[derive(Debug)]
pub struct Settings {
    pub admin_token_hash: [u8; 32],
    pub token_ttl: Duration,
    pub binding_ttl: Duration,
    /// The city's networks (`ServerConfig::city_networks`).
    pub city_networks: Vec<ipnet::IpNet>,
    /// Seals and opens the keys kept in the database.
    pub kek: sealing::Kek,
    /// Verifies device key attestations.
    pub attestation: attestation::Verifier,
    /// Wakes the push sender after a trigger queued messages.
    pub push: push::Outgoing,
    /// What `/metrics` renders; the outermost middleware records into it.
    pub metrics: Arc<ops::metrics::Metrics>,
}

struct Route {
    method: &'static str,
    path: &'static str,
    handler: MethodRouter<AppState>,
    limit: Option<Class>,
}

impl Route {
    /// Draws on the rate-limit budget of `class`.
    fn limited(mut self, class: Class) -> Self {
        self.limit = Some(class);
        self
    }
}

fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Route {
    Route {
        method: "GET",
        path,
        handler: axum::routing::get(handler),
        limit: None,
    }
}

fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Route {
    Route {
        method: "POST",
        path,
        handler: axum::routing::post(handler),
        limit: None,
    }
}

fn put<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Route {
    Route {
        method: "PUT",
        path,
        handler: axum::routing::put(handler),
        limit: None,
    }
}

fn delete<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Route {
    Route {
        method: "DELETE",
        path,
        handler: axum::routing::delete(handler),
        limit: None,
    }
}

/// A route that takes larger bodies than [`extract::BODY_LIMIT`] (documents with
/// attachments from an agency's system).
fn with_body_limit(route: Route, limit: usize) -> Route {
    Route { handler: route.handler.layer(DefaultBodyLimit::max(limit)), ..route }
}

/// Every endpoint, once. The router is built from this table and [`served_routes`]
/// lists it, so a test can hold the OpenAPI document against what is really served.
fn route_table() -> Vec<Route> {
    vec![
        get("/healthz", ops::healthz).limited(Class::Anonymous),
        get("/readyz", ops::readyz).limited(Class::Anonymous),
        get("/metrics", ops::get_metrics).limited(Class::Anonymous),
        get("/v1/time", time::get_time).limited(Class::Anonymous),
        get("/v1/openapi.json", openapi::get_openapi).limited(Class::Anonymous),
        post("/v1/portal/bindings", devices::create_binding).limited(Class::Admin),
        post("/v1/devices", devices::register_device).limited(Class::Anonymous),
        post("/v1/token", auth::issue_token).limited(Class::Anonymous),
        get("/v1/me", devices::me),
        post("/v1/reports", reports::file_report),
        get("/v1/reports", reports::list_reports),
        post("/v1/admin/devices/{device_id}/revoke", devices::revoke_device).limited(Class::Admin),
        get("/login", pages::login_page).limited(Class::Anonymous),
        post("/v1/login/start", login::start).limited(Class::Anonymous),
        get("/v1/login/{rid}", login::status).limited(Class::Anonymous),
        post("/v1/login/{rid}/redeem", login::redeem).limited(Class::Anonymous),
        post("/v1/login/scan", login::scan).limited(Class::Device),
        post("/v1/login/decide", login::decide).limited(Class::Device),
        get("/v1/login/history", login::history),
        get("/v1/web/session", login::web_session).limited(Class::Anonymous),
        post("/v1/admin/meetings", meetings::create).limited(Class::Admin),
        get("/v1/meetings/{mid}", meetings::info),
        post("/v1/meetings/{mid}/sign-ins", meetings::sign_in).limited(Class::Device),
        get("/v1/meetings/{mid}/display", meetings::display).limited(Class::Anonymous),
        get("/meetings/{mid}/display", pages::meeting_display_page).limited(Class::Anonymous),
        get("/v1/wallet/root-key", wallet::root_key).limited(Class::Anonymous),
        get("/v1/wallet/trust-list", wallet::get_trust_list).limited(Class::Anonymous),
        get("/v1/wallet/status-list", wallet::get_status_list).limited(Class::Anonymous),
        get("/v1/wallet/certificates", wallet::list),
        post("/v1/admin/wallet/certificates", wallet::issue).limited(Class::Admin),
        post("/v1/admin/wallet/certificates/{id}/revoke", wallet::revoke).limited(Class::Admin),
        post("/v1/wallet/pickup-codes", wallet::pickup::create).limited(Class::Device),
        post("/v1/wallet/pickup-codes/revoke", wallet::pickup::revoke).limited(Class::Device),
        post("/v1/kiosk/pickup", wallet::pickup::redeem).limited(Class::Anonymous),
        post("/v1/admin/wallet/contracts", wallet::contracts::create).limited(Class::Admin),
        post("/v1/admin/wallet/contracts/{id}/void", wallet::contracts::void).limited(Class::Admin),
        get("/v1/wallet/contracts", wallet::contracts::list),
        post("/v1/wallet/verify", wallet::verify::verify).limited(Class::Anonymous),
        get("/verify", wallet::verify::page).limited(Class::Anonymous),
        post("/v1/admin/offices", attendance::put_office).limited(Class::Admin),
        post("/v1/admin/offices/{office_id}/beacons", attendance::add_beacon).limited(Class::Admin),
        post("/v1/hr/offices/{office_id}/assignments", attendance::assign).limited(Class::Admin),
        get("/v1/attendance/offices/{office_id}", attendance::office_config),
        post("/v1/attendance/punches", attendance::punch),
        get("/v1/attendance/week", attendance::my_week),
        get("/v1/admin/attendance/{user_id}/week", attendance::admin_week).limited(Class::Admin),
        get("/v1/admin/attendance/{user_id}/week.html", attendance::admin_week_html).limited(Class::Admin),
        post("/v1/admin/credentials", credentials::mint).limited(Class::Admin),
        post("/v1/admin/web-systems", web_systems::post).limited(Class::Admin),
        post("/v1/admin/approval/people", approval::admin::people).limited(Class::Admin),
        post("/v1/admin/approval/proxies", approval::admin::proxies).limited(Class::Admin),
        post("/v1/admin/approval/calendar", approval::admin::calendar).limited(Class::Admin),
        with_body_limit(post("/v1/admin/approval/items", approval::admin::items), approval::admin::ITEM_REQUEST_LIMIT).limited(Class::Admin),
        post("/v1/admin/approval/items/{item_id}/edit", approval::admin::edit).limited(Class::Admin),
        get("/v1/admin/approval/items/{item_id}/history.html", approval::admin::history_html).limited(Class::Admin),
        get("/v1/approval/inbox", approval::inbox),
        get("/v1/approval/changes", approval::changes),
        get("/v1/approval/items/{item_id}", approval::item),
        get("/v1/approval/items/{item_id}/attachments/{index}", approval::attachment),
        post("/v1/approval/actions", approval::act),
        post("/v1/approval/actions/batch", approval::batch),
        post("/v1/approval/proxies", approval::set_proxy),
        put("/v1/push/subscription", push::routes::put_subscription).limited(Class::Device),
        delete("/v1/push/subscription", push::routes::delete_subscription).limited(Class::Device),
        get("/v1/push/messages", push::routes::messages),
        post("/v1/push/read", push::routes::read).limited(Class::Device),
    ]
}

/// `(method, path template)` of every endpoint the router serves.
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    route_table()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

/// `(method, path template)` of the endpoints that draw on a rate-limit budget (and so
/// may answer 429).
pub fn rate_limited_routes() -> Vec<(&'static str, &'static str)> {
    route_table()
        .into_iter()
        .filter(|r| r.limit.is_some())
        .map(|r| (r.method, r.path))
        .collect()
}

fn router(state: AppState, limiters: &Limiters, edge: Arc<middleware::Edge>) -> Router {
    let mut router = Router::new();
    for route in route_table() {
        let handler = match route.limit {
            Some(class) => route.handler.route_layer(axum::middleware::from_fn_with_state(
                (limiters.clone(), class),
                limits::limit,
            )),
            None => route.handler,
        };
        // Outermost of the route layers, so a refused request's log line names it too.
        let handler = handler.route_layer(axum::middleware::from_fn(middleware::note_route));
        // Two methods on one path merge into one method router.
        router = router.route(route.path, handler);
    }
    router
        .fallback(middleware::unknown_route)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(edge, middleware::around))
        .with_state(state)
}

/// A server running on a tokio runtime. Dropping it without [`RunningServer::shutdown`]
/// also stops the server gracefully, but without waiting for it.
pub struct RunningServer {
    addr: SocketAddr,
    admin_token: String,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
    grace: Duration,
    purger: background::Background,
    push: push::sender::Sender,
}

// The admin token is a secret: Debug must never print it.
impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer").field("addr", &self.addr).field("admin_token", &"<redacted>").finish_non_exhaustive()
    }
}

impl RunningServer {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Stops accepting connections, lets in-flight requests finish (for at most
    /// `ServerConfig::shutdown_grace`; then they are dropped, and with them their
    /// uncommitted transactions), then closes the database (its last handle is
    /// dropped with the router).
    pub async fn shutdown(self) {
        // A purge is one transaction: stopping between two loses nothing, and one under
        // way commits before the server says it stopped.
        self.purger.stop().await;
        // A delivery is settled in one transaction after its request: stopping between
        // two leaves the rest queued in the file for the next start.
        self.push.stop().await;
        let _ = self.shutdown.send(());
        let mut task = self.task;
        match tokio::time::timeout(self.grace, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "server stopped with an error"),
            Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
            Err(_) => {
                tracing::warn!(grace_s = self.grace.as_secs_f64(), "requests still in flight after the grace period; dropping them");
                task.abort();
                let _ = task.await;
            }
        }
    }
}

/// Opens the database (migrating it), binds the listener and serves on the current
/// tokio runtime until [`RunningServer::shutdown`].
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let path = config.db_path.clone();
    let db = tokio::task::spawn_blocking(move || Db::open(&path))
        .await
        .map_err(|e| ServerError::Serve(std::io::Error::other(e)))??;
    sealing::seal_stored_keys(&db, &config.kek).await.map_err(|e| ServerError::Serve(std::io::Error::other(e.to_string())))?;
    wallet::init(&db, &config.kek).await.map_err(|e| ServerError::Serve(std::io::Error::other(e.to_string())))?;
    push::init(&db, &config.kek).await.map_err(|e| ServerError::Serve(std::io::Error::other(e.to_string())))?;
    let systems = config.web_systems.clone();
    db.write(move |tx| systems.iter().try_for_each(|s| web_systems::register(tx, s)))
        .await
        .map_err(|e| ServerError::Serve(std::io::Error::other(format!("web systems in the configuration: {e}"))))?;
    let state = AppState {
        db,
        settings: Arc::new(Settings {
            admin_token_hash: auth::sha256(config.admin_token.as_bytes()),
            token_ttl: config.token_ttl,
            binding_ttl: config.binding_ttl,
            city_networks: config.city_networks.clone(),
            kek: config.kek.clone(),
            attestation: config.attestation.clone(),
            push: push::Outgoing::default(),
            metrics: Arc::default(),
        }),
    };
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.bind.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.bind.to_string(),
        source,
    })?;
    let (shutdown, signal) = oneshot::channel::<()>();
    let purger = purge::spawn(state.db.clone(), config.purge_interval);
    let push = push::sender::Sender::spawn(state.db.clone(), config.kek.clone(), config.push.clone(), state.settings.push.clone(), Arc::clone(&state.settings.metrics))
        .await
        .map_err(|e| ServerError::Serve(std::io::Error::other(format!("push sender: {e}"))))?;
    let edge = Arc::new(middleware::Edge { proxies: config.trusted_proxies.clone(), metrics: Arc::clone(&state.settings.metrics) });
    let limiters = Limiters::new(config.rate_limits, &state.db, config.purge_interval);
    let app = router(state, &limiters, edge).into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = signal.await;
            })
            .await
            .map_err(ServerError::Serve)
    });
    tracing::info!(%addr, "server listening");
    Ok(RunningServer {
        addr,
        admin_token: config.admin_token,
        shutdown,
        task,
        grace: config.shutdown_grace,
        purger,
        push,
    })
}

/// `taipei server`: logs to stdout (`RUST_LOG`, default `info`; in
/// `ServerConfig::log_format`), serves until Ctrl-C or SIGTERM (what orchestrators
/// send), then shuts down gracefully.
pub async fn run_standalone(config: ServerConfig) -> Result<(), ServerError> {
    ops::logs::init(config.log_format);
    let server = start(config).await?;
    tracing::info!(url = %server.base_url(), "reference server ready; Ctrl-C or SIGTERM stops it");
    stop_signal().await;
    tracing::info!("stopping: no new connections; finishing the requests in flight");
    server.shutdown().await;
    tracing::info!("server stopped");
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stop_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot wait for Ctrl-C; stopping");
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot wait for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
