//! Wire types of the certificate wallet (issue #6). The certificate format, the
//! signed lists, verdicts and contract checks live in [`crate::cert`]; this is the
//! JSON the phone, the kiosk and the agencies' systems exchange with the server.

use serde::{Deserialize, Serialize};

pub use crate::cert::city::{Field, Text};
pub use crate::cert::contract::Contract;
pub use crate::cert::lists::SignedList;

/// Stable error codes of the wallet endpoints.
pub mod codes {
    pub const UNKNOWN_CERTIFICATE: &str = "wallet_unknown_certificate";
    pub const UNKNOWN_ISSUER: &str = "wallet_unknown_issuer";
    pub const TYPE_NOT_ALLOWED: &str = "wallet_type_not_allowed";
    pub const PICKUP_INVALID: &str = "wallet_pickup_invalid";
    /// Too many wrong codes from this kiosk, or tries of this code, in the window.
    pub const PICKUP_LOCKED: &str = "wallet_pickup_locked";
    /// The body names another agency than the issuer credential's own.
    pub const WRONG_ISSUER: &str = "wallet_wrong_issuer";
    pub const UNKNOWN_CONTRACT: &str = "wallet_unknown_contract";
}

/// `GET /v1/wallet/root-key`: the city root key, for configuring an app build. An
/// app must ship this key, never fetch it at run time (that would trust the network).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RootKey {
    /// base64url SEC1 P-256.
    pub public_key: String,
}

/// `POST /v1/admin/wallet/certificates`: an agency issues a certificate to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCertificate {
    pub user_id: String,
    /// The agency id in the trust list (`TPE-EDU`).
    pub issuer: String,
    pub cert_type: String,
    /// The holder's full name; the server masks it (`陳○明`) before signing.
    pub holder_name: String,
    pub title: Text,
    #[serde(default)]
    pub fields: Vec<Field>,
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
    #[serde(default)]
    pub document_sha256: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedCertificate {
    pub id: String,
    pub status_index: u64,
    /// The `TPC1:` text of its QR code.
    pub qr: String,
}

crate::debug_redacted!(IssuedCertificate { id, status_index; qr });

/// One certificate held for a person, as `GET /v1/wallet/certificates` lists it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WalletEntry {
    pub id: String,
    pub qr: String,
    pub issued_at_ms: i64,
}

crate::debug_redacted!(WalletEntry { id, issued_at_ms; qr });

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WalletEntries {
    pub certificates: Vec<WalletEntry>,
}

/// `POST /v1/wallet/pickup-codes`: a one-time code for a kiosk to print a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPickupCode {
    pub certificate_id: String,
    /// Lifetime, at most [`MAX_PICKUP_TTL_SECS`]; default [`DEFAULT_PICKUP_TTL_SECS`].
    #[serde(default)]
    pub ttl_secs: Option<u32>,
}

pub const DEFAULT_PICKUP_TTL_SECS: u32 = 600;
pub const MAX_PICKUP_TTL_SECS: u32 = 3600;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PickupCode {
    /// 10 digits, what a person types on a kiosk.
    pub code: String,
    pub certificate_id: String,
    pub expires_at_ms: i64,
}

crate::debug_redacted!(PickupCode { certificate_id, expires_at_ms; code });

/// `POST /v1/wallet/pickup-codes/revoke`: the owner revokes an unused code. The code
/// travels in the body, never in a URL, so no request log holds it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokePickup {
    /// The 10-digit pickup code.
    pub code: String,
}

crate::debug_redacted!(RevokePickup { ; code });

/// `POST /v1/kiosk/pickup`: the kiosk redeems a code, once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RedeemPickup {
    pub code: String,
}

crate::debug_redacted!(RedeemPickup { ; code });

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PickedUp {
    pub certificate_id: String,
    pub qr: String,
}

crate::debug_redacted!(PickedUp { certificate_id; qr });

/// `POST /v1/admin/wallet/contracts`: a contract the named parties sign in order
/// (the reference server signs for its test parties with keys from its test CA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewContract {
    /// The person whose wallet shows it.
    pub user_id: String,
    pub title: String,
    pub document_sha256: String,
    /// Party names, in signing order; each gets a certificate from the test CA.
    pub parties: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contracts {
    pub contracts: Vec<Contract>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VoidContract {
    pub reason: String,
}

/// `POST /v1/wallet/verify`: the verifier page's call; the reply is a
/// [`crate::cert::verdict::Verdict`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyRequest {
    pub qr: String,
}
