//! The append-only audit log: who did what, from where, and how it ended.
//!
//! Every security-relevant step writes one row: bindings, device registrations,
//! token issuance, revocations, reports, and every refused authentication. Success
//! rows are written in the same transaction as the change they describe, so the log
//! never claims something that was rolled back. Refusals are written on their own,
//! after the refused work was rolled back. The table refuses UPDATE and DELETE
//! (triggers in the schema).
//!
//! Refusals of callers nobody vouches for (no signed-in device: `anon`, a kiosk, a room
//! display) are not a row each — an anonymous flood would grow the file without bound.
//! They are counted per action, outcome and minute in `audit_refusals` (one row per
//! kind per minute, whatever the rate). Refusals of signed-in devices and admins keep
//! their own rows with device and address.

use crate::db::Conn;
use crate::params;

use crate::db::Db;
use crate::error::ApiError;
use crate::time::now_ms;

/// What happened; stable strings an auditor can filter on.
pub mod actions {
    pub const BIND_OFFER: &str = "binding.offer";
    pub const DEVICE_REGISTER: &str = "device.register";
    /// A registration's attestation that did not verify (the device is bound with its
    /// assurance `claimed`).
    pub const DEVICE_ATTESTATION: &str = "device.attestation";
    pub const TOKEN_ISSUE: &str = "token.issue";
    pub const DEVICE_REVOKE: &str = "device.revoke";
    pub const REPORT_FILE: &str = "report.file";
    pub const AUTH: &str = "auth";
    pub const ADMIN_AUTH: &str = "admin.auth";
    pub const LOGIN_START: &str = "login.start";
    pub const LOGIN_STATUS: &str = "login.status";
    pub const LOGIN_SCAN: &str = "login.scan";
    pub const LOGIN_APPROVE: &str = "login.approve";
    pub const LOGIN_DENY: &str = "login.deny";
    pub const LOGIN_REPORT: &str = "login.report";
    pub const LOGIN_REDEEM: &str = "login.redeem";
    pub const MEETING_CREATE: &str = "meeting.create";
    pub const MEETING_SIGN_IN: &str = "meeting.sign_in";
    pub const MEETING_DISPLAY: &str = "meeting.display";
    pub const ATTENDANCE_OFFICE: &str = "attendance.office";
    pub const ATTENDANCE_BEACON: &str = "attendance.beacon";
    pub const ATTENDANCE_PUNCH: &str = "attendance.punch";
    pub const ATTENDANCE_REPORT: &str = "attendance.report";
    pub const APPROVAL_ADMIN: &str = "approval.admin";
    pub const APPROVAL_ACT: &str = "approval.act";
    pub const APPROVAL_READ: &str = "approval.read";
    pub const APPROVAL_PROXY: &str = "approval.proxy";
    pub const ATTENDANCE_ASSIGN: &str = "attendance.assign";
    pub const WEB_SYSTEM: &str = "web_system.register";
    pub const PUSH_SUBSCRIBE: &str = "push.subscribe";
    pub const PUSH_UNSUBSCRIBE: &str = "push.unsubscribe";
}

/// Outcome of a step that succeeded; a refusal's outcome is its error code.
pub const OK: &str = "ok";

#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// A user id, `admin`, or `anon` when the caller is not (yet) known.
    pub actor: String,
    pub device_id: Option<String>,
    pub action: &'static str,
    pub outcome: String,
    pub ip: Option<String>,
}

impl Entry {
    pub fn new(action: &'static str, actor: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            action,
            outcome: OK.into(),
            ..Self::default()
        }
    }

    pub fn device(mut self, device_id: impl Into<String>) -> Self {
        self.device_id = Some(device_id.into());
        self
    }

    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }
}

/// Appends one row inside the caller's transaction.
pub fn record(tx: &Conn<'_>, entry: &Entry) -> Result<(), ApiError> {
    tx.execute(
        "INSERT INTO audit_log (at_ms, actor, device_id, action, outcome, ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![now_ms(), entry.actor, entry.device_id, entry.action, entry.outcome, entry.ip],
    )?;
    Ok(())
}

/// Passes `result` through, recording it first if it is a refusal.
pub async fn unless_refused<T>(
    db: &Db,
    entry: Entry,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    if let Err(e) = &result {
        refused(db, entry, e).await;
    }
    result
}

/// Actors that are only a claim: their refusals are counted, not recorded one by one.
const ANONYMOUS_ACTORS: &[&str] = &["anon", "kiosk", "display"];

/// Records a refusal in its own transaction. Server faults (5xx) are logged, not
/// audited: they say nothing about the caller. A failure to write the row is logged
/// and does not change the reply the caller gets.
pub async fn refused(db: &Db, mut entry: Entry, error: &ApiError) {
    if !error.is_refusal() {
        return;
    }
    entry.outcome = error.code.to_owned();
    let result = if ANONYMOUS_ACTORS.contains(&entry.actor.as_str()) {
        db.write(move |tx| count_refusal(tx, &entry, now_ms())).await
    } else {
        db.write(move |tx| record(tx, &entry)).await
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "could not write audit entry");
    }
}

/// Adds one to the count of `entry`'s action and outcome in the minute of `at_ms`.
pub fn count_refusal(tx: &Conn<'_>, entry: &Entry, at_ms: i64) -> Result<(), ApiError> {
    tx.execute(
        "INSERT INTO audit_refusals (minute_ms, action, outcome, count) VALUES (?1, ?2, ?3, 1) \
         ON CONFLICT (minute_ms, action, outcome) DO UPDATE SET count = audit_refusals.count + 1",
        params![at_ms - at_ms.rem_euclid(60_000), entry.action, entry.outcome],
    )?;
    Ok(())
}
