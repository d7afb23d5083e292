//! Scenarios: the core driven against the reference server over real HTTP.

mod foundation;
mod attestation;
mod outbox_crash;
mod wallet_conformance;
mod wallet;
mod login;
mod browser;
mod approval;
mod approval_crash;
mod attendance;
mod attendance_crash;
mod limits;
mod cancel;
mod push;
mod dashboard;
