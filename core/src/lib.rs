//! taipei-core: the whole logic of the TaipeiON / TaipeiPASS phone apps, as plain
//! async Rust. Nothing here knows uniffi exists; `bindings/` wraps it.

/// The QR engine, a crate of its own (`qr/`), re-exported for the capabilities that scan.
pub use taipei_qr as qr;

pub mod clock;
pub mod secrets;
pub mod store;
pub mod identity;
pub mod net;
pub mod events;
pub mod outbox;
pub mod ctx;
pub mod login;
#[cfg(feature = "meetings")]
pub mod meetings;
#[cfg(feature = "attendance")]
pub mod attendance;
#[cfg(feature = "wallet")]
pub mod wallet;
#[cfg(feature = "approval")]
pub mod approval;
#[cfg(feature = "push")]
pub mod push;
#[cfg(feature = "dashboard")]
pub mod dashboard;
pub mod client;
pub mod error;

pub use client::{Client, ClientConfig, Platform, SessionInfo};
pub use error::Error;
pub use login::LoginError;
pub use clock::{ElapsedClock, SystemElapsed};
pub use events::{Event, EventListener};
pub use identity::{DeviceInfo, DeviceSigner, KeyAttestation, SignerError, SoftwareSigner};
pub use net::NetError;
pub use outbox::{OutboxError, OutboxItem, OutboxStatus, SyncReport};
pub use secrets::{FileSecretStore, SecretError, SecretStore};
pub use store::StoreError;
pub use taipei_protocol::api::{Assurance, AssuranceBasis, Me, ReportEntry};
pub use taipei_protocol::login::{LoginContext, LoginHistoryEntry};
pub use taipei_protocol::meeting::MeetingInfo;
pub use taipei_protocol::attendance::{DayReport, Location, OfficeConfig, PunchKind};
