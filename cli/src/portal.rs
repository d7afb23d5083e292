//! The city portal's back office, as the CLI plays it: after a person proves who they
//! are (citizen certificate card), the portal asks the backend for a device-binding
//! offer and shows its QR. Also the administrator's revoke, for a lost phone.
//!
//! Each system calls with a credential of its own kind (portal, organizer, HR, issuer),
//! which the operator mints with the admin token; a phone never holds any of them.
//! They are here because the CLI is also the backend developer's tool.

use taipei_core::net::{new_idempotency_key, tls};
use taipei_protocol::api::{BindingOffer, DeviceStatus, ErrorBody, MintedCredential, NewBinding, NewCredential, headers};
use taipei_protocol::approval::{ItemCreated, NewItem};
use taipei_protocol::attendance::{Assignment, NewBeacon, NewOffice};
use taipei_protocol::meeting::{MeetingCreated, NewMeeting};
use taipei_protocol::wallet::{IssuedCertificate, NewCertificate, RootKey};

/// These calls go to the embedded server on loopback: the core's loopback TLS config
/// (reqwest is built without a default provider) is all they need.
pub fn http() -> Result<reqwest::Client, String> {
    let tls = tls::refuse_all_config().map_err(|e| format!("TLS setup: {e}"))?;
    reqwest::Client::builder().use_preconfigured_tls(tls).build().map_err(|e| format!("HTTP client: {e}"))
}

/// `POST` with a bearer token: the admin token, or a credential minted for a system.
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
    reply_json(reply, path).await
}

/// The JSON of a reply, or the server's `{code, message}` as an error line.
pub async fn reply_json<T: serde::de::DeserializeOwned>(reply: reqwest::Response, what: &str) -> Result<T, String> {
    let status = reply.status();
    let bytes = reply.bytes().await.map_err(|e| format!("{what}: {e}"))?;
    if !status.is_success() {
        return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => format!("{what}: {} ({})", e.message, e.code),
            Err(_) => format!("{what}: HTTP {status}"),
        });
    }
    // A 204 has no body: read it as JSON null, which `()` accepts.
    let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
    serde_json::from_slice(bytes).map_err(|e| format!("{what}: unexpected reply: {e}"))
}

/// The portal (with its credential) offers a device binding.
pub async fn offer_binding(base_url: &str, portal_token: &str, user_id: &str, display_name: &str) -> Result<BindingOffer, String> {
    let body = serde_json::to_value(NewBinding { user_id: user_id.into(), display_name: display_name.into() })
        .map_err(|e| e.to_string())?;
    admin_post(base_url, portal_token, "/v1/portal/bindings", body).await
}

pub async fn revoke_device(base_url: &str, admin_token: &str, device_id: &str) -> Result<DeviceStatus, String> {
    admin_post(base_url, admin_token, &format!("/v1/admin/devices/{device_id}/revoke"), serde_json::json!({})).await
}

/// An organizer's system (with its credential) schedules a meeting; the reply carries
/// the room display's token.
pub async fn create_meeting(base_url: &str, organizer_token: &str, meeting: &NewMeeting) -> Result<MeetingCreated, String> {
    let body = serde_json::to_value(meeting).map_err(|e| e.to_string())?;
    admin_post(base_url, organizer_token, "/v1/admin/meetings", body).await
}

/// HR's system sets up an office and its rules, then registers a beacon of it.
/// HR (with its credential) registers an office and its beacon.
pub async fn create_office(base_url: &str, hr_token: &str, office: &NewOffice, beacon: &NewBeacon) -> Result<(), String> {
    let body = serde_json::to_value(office).map_err(|e| e.to_string())?;
    let _: NewOffice = admin_post(base_url, hr_token, "/v1/admin/offices", body).await?;
    let body = serde_json::to_value(beacon).map_err(|e| e.to_string())?;
    let path = format!("/v1/admin/offices/{}/beacons", office.office_id);
    let _: serde_json::Value = admin_post(base_url, hr_token, &path, body).await?;
    Ok(())
}

/// The operator mints a credential of `kind` (limited to `scope`, an issuer's agency)
/// for a system that calls on its own behalf; the token is in the reply only.
pub async fn mint_credential(base_url: &str, admin_token: &str, kind: &str, scope: Option<&str>) -> Result<MintedCredential, String> {
    let body = NewCredential { kind: kind.to_owned(), name: format!("demo {kind} system"), scope: scope.map(str::to_owned) };
    admin_post(base_url, admin_token, "/v1/admin/credentials", serde_json::to_value(body).map_err(|e| e.to_string())?).await
}

/// HR (with its credential, not the admin token) assigns a person to an office: only
/// assigned people are given an EID office's rotating ids.
pub async fn assign_to_office(base_url: &str, hr_token: &str, office_id: &str, user_id: &str) -> Result<(), String> {
    let body = serde_json::to_value(Assignment { user_id: user_id.to_owned(), assigned: true }).map_err(|e| e.to_string())?;
    let _: Assignment = admin_post(base_url, hr_token, &format!("/v1/hr/offices/{office_id}/assignments"), body).await?;
    Ok(())
}

/// An agency's system issues a certificate to a person's wallet with its issuer
/// credential (the agency is the credential's).
pub async fn issue_certificate(base_url: &str, issuer_token: &str, certificate: &NewCertificate) -> Result<IssuedCertificate, String> {
    let body = serde_json::to_value(certificate).map_err(|e| e.to_string())?;
    admin_post(base_url, issuer_token, "/v1/admin/wallet/certificates", body).await
}

pub async fn revoke_certificate(base_url: &str, issuer_token: &str, id: &str) -> Result<(), String> {
    admin_post(base_url, issuer_token, &format!("/v1/admin/wallet/certificates/{id}/revoke"), serde_json::json!({})).await
}

/// An agency's document system files an item through approval's back office (the
/// admin token runs it); the server tells whoever it first waits for by push.
pub async fn file_approval_item(base_url: &str, admin_token: &str, item: &NewItem) -> Result<ItemCreated, String> {
    let body = serde_json::to_value(item).map_err(|e| e.to_string())?;
    admin_post(base_url, admin_token, "/v1/admin/approval/items", body).await
}

/// The city root key, as an app build is configured with it (the demo's server makes
/// its own at first start; a real app ships the city's key, never fetches it).
pub async fn root_key(base_url: &str) -> Result<String, String> {
    let reply = http()?.get(format!("{base_url}/v1/wallet/root-key")).send().await.map_err(|e| format!("root key: {e}"))?;
    Ok(reply_json::<RootKey>(reply, "root key").await?.public_key)
}
