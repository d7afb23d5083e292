//! taipei-ffi: the uniffi surface over `taipei-core`, the library the apps load.
//!
//! Thin on purpose: conversion only, no logic. One [`Client`] object that hands out one
//! object per capability (each module below holds the object, its records and its
//! error enum, so one cfg can gate a capability), the platform services as foreign
//! traits with Rust defaults, and no panic ever crossing into Kotlin or Swift.

uniffi::setup_scaffolding!();

#[cfg(feature = "taipei-on")]
mod approval;
#[cfg(any(target_os = "android", test))]
mod android;
#[cfg(feature = "taipei-on")]
mod attendance;
mod client;
#[cfg(any(feature = "taipei-on", feature = "taipei-pass"))]
mod dashboard;
mod error;
mod logging;
mod login;
#[cfg(feature = "taipei-on")]
mod meetings;
mod platform;
#[cfg(any(feature = "taipei-on", feature = "taipei-pass"))]
mod push;
mod qr;
mod runtime;
mod types;
#[cfg(any(feature = "taipei-on", feature = "taipei-pass"))]
mod wallet;

#[cfg(feature = "test-hooks")]
mod test_hooks;

#[cfg(feature = "taipei-on")]
pub use approval::{Approvals, ApprovalError};
#[cfg(feature = "taipei-on")]
pub use attendance::{Attendance, AttendanceError};
pub use client::Client;
#[cfg(any(feature = "taipei-on", feature = "taipei-pass"))]
pub use dashboard::DashboardError;
pub use error::{ClientError, PlatformError};
pub use login::{Login, LoginError};
#[cfg(feature = "taipei-on")]
pub use meetings::{Meetings, MeetingsError};
#[cfg(any(feature = "taipei-on", feature = "taipei-pass"))]
pub use push::{Push, PushError, push_receive_light};
pub use qr::{QrCode, QrError, QrScanner, decode_luma, qr_buffer_bytes, release_qr_buffers};
#[cfg(any(feature = "taipei-on", feature = "taipei-pass"))]
pub use wallet::{Wallet, WalletError};
pub use logging::{LogLevel, Logger, set_logger, stderr_logger};
pub use platform::{DeviceSigner, ElapsedClock, EventListener, SecretStore, file_secret_store};
pub use types::ClientConfig;

/// The library's version (the workspace version it was built from).
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// What this library is, as `taipei-ffi-contract:<version>:<build>:<interface>`: the
/// workspace version, the app build and extras (`taipei-on`, `taipei-pass+image`, …) and
/// a digest of the sources the foreign code is generated from (see build.rs). The
/// generated Kotlin and Swift carry the contract of the library they were generated
/// from and compare it with this one on first use (`BindingsContract`).
pub const CONTRACT: &str = env!("TAIPEI_FFI_CONTRACT");

/// The library's [`CONTRACT`].
#[uniffi::export]
pub fn library_contract() -> String {
    CONTRACT.to_owned()
}
