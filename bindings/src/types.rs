//! The plain data that crosses the FFI. The core's own types are exported as they are
//! (`#[uniffi::remote]` restates their fields, so a change in the core that is not
//! mirrored here fails to compile instead of drifting). Times are UTC ms, ids strings.

use taipei_core::outbox::ItemState;
use taipei_core::{Assurance, AssuranceBasis, DeviceInfo, KeyAttestation, Event, MeetingInfo, Me, OutboxItem, OutboxStatus, PunchKind, ReportEntry, SessionInfo, SyncReport};

/// What opening a profile needs. `sync_interval_secs = 0` turns background sync off.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ClientConfig {
    /// Folder holding the profile databases (the app's private files folder).
    pub data_dir: String,
    /// 1-64 of `[A-Za-z0-9_-]`; one database and one data key per profile.
    pub profile: String,
    /// `https://...`, or `http://` to loopback for development.
    pub server_url: String,
    /// Shown to the person in their device list ("Pixel 8").
    pub device_name: String,
    /// The deployment's own roots (PEM), trusted instead of the platform's store; null
    /// trusts what the phone trusts (on Android, not yet: pass them there).
    #[uniffi(default = None)]
    pub root_certs_pem: Option<String>,
    /// Optional SPKI SHA-256 pins (base64).
    #[uniffi(default = [])]
    pub spki_pins: Vec<String>,
    #[uniffi(default = 60)]
    pub sync_interval_secs: u64,
    /// The city root key (base64url SEC1 P-256) for the wallet's signed lists.
    #[uniffi(default = None)]
    pub wallet_root_key: Option<String>,
    /// How long the app's `DeviceSigner.sign` may take (a prompt the person must answer)
    /// before the action fails with the identity code `signer_timeout`.
    #[uniffi(default = 120)]
    pub signer_timeout_secs: u64,
}

impl From<ClientConfig> for taipei_core::ClientConfig {
    fn from(c: ClientConfig) -> Self {
        let mut config = Self::new(c.data_dir, &c.profile, &c.server_url, &c.device_name);
        config.root_certs_pem = c.root_certs_pem;
        config.spki_pins = c.spki_pins;
        config.sync_interval_secs = c.sync_interval_secs;
        config.wallet_root_key = c.wallet_root_key;
        config
    }
}

#[uniffi::remote(Enum)]
pub enum Assurance {
    Software,
    Hardware,
    Strongbox,
}

/// A platform's attestation of the device key, returned by `DeviceSigner.attest`.
#[uniffi::remote(Enum)]
pub enum KeyAttestation {
    /// Android key attestation: the chain AndroidKeyStore issued for the key
    /// (`KeyStore.getCertificateChain`), leaf first, each certificate DER.
    AndroidKey { chain: Vec<Vec<u8>> },
}

/// Whether the server verified the assurance (a platform attestation) or took the
/// phone's word for it.
#[uniffi::remote(Enum)]
pub enum AssuranceBasis {
    Claimed,
    Attested,
}

#[uniffi::remote(Record)]
pub struct DeviceInfo {
    pub device_id: String,
    pub user_id: String,
    pub display_name: String,
    pub assurance: Assurance,
    pub public_key: Vec<u8>,
    pub bound_at_ms: i64,
    pub revoked: bool,
}

#[uniffi::remote(Record)]
pub struct SessionInfo {
    pub device_id: String,
    pub user_id: String,
    pub expires_at_ms: i64,
}

#[uniffi::remote(Record)]
pub struct Me {
    pub user_id: String,
    pub display_name: String,
    pub device_id: String,
    pub assurance: Assurance,
    pub assurance_basis: AssuranceBasis,
}

#[uniffi::remote(Record)]
pub struct ReportEntry {
    pub id: String,
    pub device_id: String,
    pub kind: String,
    pub text: String,
    pub received_at_ms: i64,
}

#[uniffi::remote(Record)]
pub struct SyncReport {
    pub sent: u32,
    pub failed: u32,
    pub pending: u32,
    pub dead: u32,
}

#[uniffi::remote(Enum)]
pub enum ItemState {
    Pending,
    Dead,
}

#[uniffi::remote(Record)]
pub struct OutboxItem {
    pub id: String,
    pub kind: String,
    pub method: String,
    pub path: String,
    pub body: String,
    pub idempotency_key: String,
    pub created_at_ms: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub last_code: Option<String>,
    pub next_attempt_at_ms: i64,
    pub state: ItemState,
}

#[uniffi::remote(Record)]
pub struct OutboxStatus {
    pub pending: u32,
    pub dead: u32,
    pub items: Vec<OutboxItem>,
}

/// In or out; here rather than with attendance because every build's `Event` names it.
#[uniffi::remote(Enum)]
pub enum PunchKind {
    In,
    Out,
}

#[uniffi::remote(Enum)]
pub enum Event {
    SyncStarted,
    SyncFinished { sent: u32, failed: u32, pending: u32, dead: u32 },
    OutboxChanged { pending: u32, dead: u32 },
    DeviceBound { device_id: String },
    DeviceRevoked { device_id: String },
    SessionStarted { expires_at_ms: i64 },
    SessionEnded { reason: String },
    PunchRecorded { punch_id: String, kind: PunchKind, time_ms: i64, manual: bool },
    PunchSettled { punch_id: String, accepted: bool, reason: Option<String> },
    PushReceived { message_id: String, kind: String, route: String, shown: bool },
    BadgeChanged { count: u32 },
}

/// A meeting as the server describes it (meeting sign-in; the dashboard's meetings).
#[uniffi::remote(Record)]
pub struct MeetingInfo {
    pub mid: String,
    pub title: String,
    pub room: String,
    pub organizer: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub signed_in_at_ms: Option<i64>,
}
