//! The city portal's back office, as the CLI plays it: after a person proves who they
//! are (citizen certificate card), the portal asks the backend for a device-binding
//! offer and shows its QR. Also the administrator's revoke, for a lost phone.
//!
//! These calls use the admin token, which a phone never holds; they are here because
//! the CLI is also the backend developer's tool.

use taipei_core::net::{new_idempotency_key, tls};
use taipei_protocol::api::{BindingOffer, DeviceStatus, ErrorBody, NewBinding, headers};

/// These calls go to the embedded server on loopback: the core's loopback TLS config
/// (reqwest is built without a default provider) is all they need.
fn http() -> Result<reqwest::Client, String> {
    let tls = tls::refuse_all_config().map_err(|e| format!("TLS setup: {e}"))?;
    reqwest::Client::builder().use_preconfigured_tls(tls).build().map_err(|e| format!("HTTP client: {e}"))
}

async fn admin_post<T: serde::de::DeserializeOwned>(
    base_url: &str,
    admin_token: &str,
    path: &str,
    body: serde_json::Value,
) -> Result<T, String> {
    let key = new_idempotency_key();
    let reply = http()?
        .post(format!("{base_url}{path}"))
        .header(headers::AUTHORIZATION, format!("{} {admin_token}", headers::ADMIN_SCHEME))
        .header(headers::IDEMPOTENCY_KEY, key)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let status = reply.status();
    let bytes = reply.bytes().await.map_err(|e| format!("{path}: {e}"))?;
    if !status.is_success() {
        return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => format!("{path}: {} ({})", e.message, e.code),
            Err(_) => format!("{path}: HTTP {status}"),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{path}: unexpected reply: {e}"))
}

pub async fn offer_binding(base_url: &str, admin_token: &str, user_id: &str, display_name: &str) -> Result<BindingOffer, String> {
    let body = serde_json::to_value(NewBinding { user_id: user_id.into(), display_name: display_name.into() })
        .map_err(|e| e.to_string())?;
    admin_post(base_url, admin_token, "/v1/portal/bindings", body).await
}

pub async fn revoke_device(base_url: &str, admin_token: &str, device_id: &str) -> Result<DeviceStatus, String> {
    admin_post(base_url, admin_token, &format!("/v1/admin/devices/{device_id}/revoke"), serde_json::json!({})).await
}
