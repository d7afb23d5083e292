//! Shared helpers for the scenarios: the embedded reference server, its portal and
//! admin endpoints (plain loopback HTTP, as a portal back office would call them), and
//! profiles of the core in temp dirs.

use std::path::Path;
use std::sync::Arc;

use taipei_core::{Client, ClientConfig, FileSecretStore, Platform};
use taipei_protocol::api::{BindingOffer, NewBinding};
use taipei_server::{RunningServer, ServerConfig};

/// Starts the reference server on a loopback port with its database in `dir`.
pub async fn start_server(dir: &Path) -> RunningServer {
    start_server_at(dir, None).await
}

/// Same, on a chosen address (to restart a server where a client expects it).
pub async fn start_server_at(dir: &Path, addr: Option<std::net::SocketAddr>) -> RunningServer {
    let mut config = ServerConfig::embedded(dir.join("server.db"));
    if let Some(addr) = addr {
        config.bind = addr;
    }
    taipei_server::start(config).await.expect("server starts")
}

/// A reqwest client for loopback HTTP (reqwest needs a TLS config even for http).
pub fn http() -> reqwest::Client {
    let tls = taipei_core::net::tls::refuse_all_config().expect("loopback TLS config");
    reqwest::Client::builder().use_preconfigured_tls(tls).build().expect("http client")
}

/// `POST` an admin/portal endpoint with the admin bearer token; returns status and JSON.
pub async fn admin_post(server_url: &str, admin_token: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let reply = http()
        .post(format!("{server_url}{path}"))
        .header("Authorization", format!("Bearer {admin_token}"))
        .header("Idempotency-Key", format!("scenario-{}", std::process::id()) + path)
        .json(&body)
        .send()
        .await
        .expect("admin call");
    let status = reply.status().as_u16();
    let json = reply.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// The portal offers a binding for `user_id`; returns the `TPB1:` QR text.
pub async fn offer_binding(server: &RunningServer, user_id: &str) -> String {
    let body = serde_json::to_value(NewBinding { user_id: user_id.into(), display_name: format!("{user_id} name") })
        .expect("json");
    let (status, json) = admin_post(&server.base_url(), server.admin_token(), "/v1/portal/bindings", body).await;
    assert!((200..300).contains(&status), "portal offer: {status} {json}");
    let offer: BindingOffer = serde_json::from_value(json).expect("BindingOffer");
    offer.qr
}

/// Revokes a device through the admin endpoint.
pub async fn revoke(server: &RunningServer, device_id: &str) {
    let path = format!("/v1/admin/devices/{device_id}/revoke");
    let (status, json) = admin_post(&server.base_url(), server.admin_token(), &path, serde_json::json!({})).await;
    assert!((200..300).contains(&status), "revoke: {status} {json}");
}

/// A profile config in `dir` (no background sync: scenarios sync explicitly).
pub fn profile_config(dir: &Path, server_url: &str) -> ClientConfig {
    let mut config = ClientConfig::new(dir.join("profiles"), "main", server_url, "scenario phone");
    config.sync_interval_secs = 0;
    config
}

pub fn software_platform(dir: &Path) -> Platform {
    Platform {
        signer: None,
        secret_store: Arc::new(FileSecretStore::new(dir.join("secrets")).expect("secret dir")),
        listener: None,
    }
}

pub async fn open_profile(dir: &Path, server_url: &str) -> Client {
    Client::open(profile_config(dir, server_url), software_platform(dir)).await.expect("profile opens")
}
