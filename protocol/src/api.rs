//! JSON bodies and header names of the HTTP API (`/v1/...`).
//!
//! The server's OpenAPI document (`server/openapi.json`, served at
//! `/v1/openapi.json`) is generated from these types (their `ToSchema` derives, feature
//! `openapi`) and the server's handlers; these types are what both sides
//! serialise. Times are UTC milliseconds; binary values are base64url without padding.

use serde::{Deserialize, Serialize};

/// Header names.
pub mod headers {
    /// Every state-changing request carries one; a retry reuses it.
    pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
    pub const DPOP: &str = "DPoP";
    pub const AUTHORIZATION: &str = "Authorization";
    /// The server's clock at the moment it answered, on every reply (UTC ms).
    pub const SERVER_TIME_MS: &str = "X-Server-Time-Ms";
    /// Portal and administration endpoints: `Authorization: Bearer <admin token>`.
    pub const ADMIN_SCHEME: &str = "Bearer";
}

/// Stable error codes (`ErrorBody.code`). The core maps each to a typed error; a code
/// it does not know becomes a generic server error carrying the message.
pub mod codes {
    pub const BAD_REQUEST: &str = "bad_request";
    pub const NOT_FOUND: &str = "not_found";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const FORBIDDEN: &str = "forbidden";
    pub const INVALID_TOKEN: &str = "invalid_token";
    pub const INVALID_DPOP_PROOF: &str = "invalid_dpop_proof";
    pub const REPLAYED_PROOF: &str = "replayed_proof";
    pub const CLOCK_SKEW: &str = "clock_skew";
    pub const UNKNOWN_DEVICE: &str = "unknown_device";
    pub const DEVICE_REVOKED: &str = "device_revoked";
    pub const BINDING_UNKNOWN: &str = "binding_unknown";
    pub const BINDING_EXPIRED: &str = "binding_expired";
    pub const BINDING_USED: &str = "binding_used";
    pub const SIGNATURE_INVALID: &str = "signature_invalid";
    pub const IDEMPOTENCY_KEY_REQUIRED: &str = "idempotency_key_required";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
    pub const REQUEST_IN_PROGRESS: &str = "request_in_progress";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// A body that is not `application/json` where JSON is expected.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const INTERNAL: &str = "internal";
    /// `GET /readyz`: the database does not answer, or holds a schema other than the
    /// one this server serves.
    pub const NOT_READY: &str = "not_ready";
}

/// Every error reply: a stable code and a message for people, and the facts a program
/// acts on as fields of their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable error code. Those of the HTTP layer and of authentication: `bad_request`,
    /// `not_found` (an unknown route, 404), `method_not_allowed` (405), `unauthorized`,
    /// `forbidden`, `invalid_token`, `invalid_dpop_proof`, `replayed_proof`,
    /// `clock_skew`, `unknown_device`, `device_revoked`, `binding_unknown`,
    /// `binding_expired`, `binding_used`, `signature_invalid`,
    /// `idempotency_key_required`, `idempotency_key_reused`, `request_in_progress`,
    /// `payload_too_large`, `unsupported_media_type`, `rate_limited`, `internal`,
    /// `not_ready`. Each capability adds its own (`login_…`, `approval_…`, `wallet_…`,
    /// `attendance_…`, `push_…`), named in the replies of its routes; a client treats a
    /// code it does not know as a generic error with the message.
    pub code: String,
    /// For people; not stable.
    pub message: String,
    /// A refusal that still takes another try says how many (a wrong login number:
    /// `login_wrong_number` with 0 when the request is cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tries_left: Option<u32>,
}

/// `GET /v1/time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerTime {
    /// Server clock (UTC milliseconds).
    pub now_ms: i64,
}

/// `GET /healthz` (`status` = `ok`) and `GET /readyz` (`ready`, with the database's
/// schema version): probes of load balancers and orchestrators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    /// The database's schema version (`PRAGMA user_version`), equal to the one this build
    /// migrates to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i64>,
}

/// How strongly a device key is protected, as the device reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Assurance {
    /// A key in ordinary app storage (sealed by the core): desktops, tests, old phones.
    Software,
    /// A key in a hardware-backed keystore (Android TEE, iOS Secure Enclave).
    Hardware,
    /// A key in a discrete secure element (Android StrongBox).
    Strongbox,
}

impl Assurance {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Software => "software",
            Self::Hardware => "hardware",
            Self::Strongbox => "strongbox",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "software" => Some(Self::Software),
            "hardware" => Some(Self::Hardware),
            "strongbox" => Some(Self::Strongbox),
            _ => None,
        }
    }
}

/// Whether the server verified a device's assurance or took the phone's word for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AssuranceBasis {
    /// What the phone claimed: no attestation, or one that did not verify.
    #[default]
    Claimed,
    /// A platform attestation (Android key attestation, Apple App Attest) verified it.
    Attested,
}

impl AssuranceBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Attested => "attested",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "claimed" => Some(Self::Claimed),
            "attested" => Some(Self::Attested),
            _ => None,
        }
    }
}

/// `POST /v1/portal/bindings` (portal credential): the person proved who
/// they are at the portal; offer a device binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewBinding {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub user_id: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub display_name: String,
}

/// Reply to [`NewBinding`]: what the portal renders as a QR.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BindingOffer {
    /// Binding id, 16 bytes base64url.
    pub bid: String,
    /// When the offer lapses (UTC milliseconds).
    pub expires_at_ms: i64,
    /// The `TPB1:` text to show as a QR code.
    pub qr: String,
}

crate::debug_redacted!(BindingOffer { bid, expires_at_ms; qr });

/// The prefix of an Android key attestation in [`RegisterDevice::attestation`].
pub const ANDROID_KEY_ATTESTATION_PREFIX: &str = "android-key:";

/// `POST /v1/devices`: the phone registers its key against a binding offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterDevice {
    /// From the QR.
    pub bid: String,
    /// Uncompressed SEC1 P-256 point, base64url.
    pub public_key: String,
    pub assurance: Assurance,
    /// Platform key attestation, if any: `android-key:` + the chain (leaf first, each
    /// certificate base64url, joined by `.`; challenge = the offer's bnonce), or
    /// `apple-appattest:` + the attestation object base64url (clientDataHash =
    /// SHA-256 of the binding message). Without one that verifies, the server records
    /// the assurance as [`AssuranceBasis::Claimed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 32768))]
    pub attestation: Option<String>,
    /// A name the person recognises in their device list ("Pixel 8").
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub device_name: String,
    /// r‖s over `signed::binding_message(bid, bnonce, public_key)`, base64url.
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceRegistered {
    pub device_id: String,
    pub user_id: String,
    pub display_name: String,
    /// The assurance as recorded: the attested one when an attestation verified, else
    /// the phone's claim.
    pub assurance: Assurance,
    /// `attested` when a platform attestation sent at registration verified (then
    /// `assurance` is the attested level); otherwise `claimed`: the phone's word.
    #[serde(default)]
    pub assurance_basis: AssuranceBasis,
}

/// `POST /v1/token` (with a DPoP proof): a short-lived access token bound to the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRequest {
    pub device_id: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessToken {
    /// 32 random bytes, base64url. Bound to the device key.
    pub access_token: String,
    /// Always `DPoP`.
    pub token_type: String,
    /// Expiry (default lifetime 10 min) (UTC milliseconds).
    pub expires_at_ms: i64,
}

crate::debug_redacted!(AccessToken { token_type, expires_at_ms; access_token });

/// `GET /v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub user_id: String,
    pub display_name: String,
    pub device_id: String,
    pub assurance: Assurance,
    /// `attested` when a platform attestation sent at registration verified (then
    /// `assurance` is the attested level); otherwise `claimed`: the phone's word.
    #[serde(default)]
    pub assurance_basis: AssuranceBasis,
}

/// `POST /v1/reports`: the person reports a problem or a suspicious request (the
/// "Report" button of the login screen files one). Signed, queued in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewReport {
    #[cfg_attr(feature = "openapi", schema(pattern = "^[a-z0-9_]{1,32}$"))]
    pub kind: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 4000))]
    pub text: String,
    /// Client clock when filed (UTC milliseconds).
    pub client_time_ms: i64,
    /// r‖s over `signed::report_message(device_id, kind, text, client_time_ms)`.
    pub signature: String,
}

/// The server's receipt for anything the phone's outbox delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    pub id: String,
    /// When the server accepted it (UTC milliseconds).
    pub server_time_ms: i64,
    /// `accepted` or `rejected`.
    pub status: String,
    /// Words for people; never parsed (the phone acts on `code` and `late`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a rejection, the stable refusal code (the same codes as an error reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Accepted, but judged late (it had waited offline, or came after the limit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
}

/// `GET /v1/reports`: the person's own reports, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportList {
    pub reports: Vec<ReportEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportEntry {
    pub id: String,
    pub device_id: String,
    pub kind: String,
    pub text: String,
    /// When received (UTC milliseconds).
    pub received_at_ms: i64,
}

/// `POST /v1/admin/devices/{device_id}/revoke` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceStatus {
    pub device_id: String,
    /// `active` or `revoked`.
    pub status: String,
}

/// `POST /v1/admin/credentials`: the operator mints a credential for a system that
/// calls the server on its own behalf: `kiosk`, `hr`, `issuer` (with its agency), `portal`,
/// `organizer`, `contracts` (the contracts desk), `reports` (weekly attendance reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCredential {
    pub kind: String,
    /// Who holds it, for people reading the audit log ("7-ELEVEN 市府門市 kiosk 2").
    pub name: String,
    /// What it is limited to: for `issuer`, the agency (`TPE-EDU`); none for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The minted credential. The token is shown this once; the server keeps only its hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MintedCredential {
    pub id: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Shown once; present as `Authorization: Bearer <token>`.
    pub token: String,
}

impl std::fmt::Debug for MintedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedCredential").field("id", &self.id).field("kind", &self.kind).field("name", &self.name).field("scope", &self.scope).field("token", &"<redacted>").finish()
    }
}
