//! The append-only audit log: who did what, from where, and how it ended.
//!
//! Every security-relevant step writes one row: bindings, device registrations,
//! token issuance, revocations, reports, and every refused authentication. Success
//! rows are written in the same transaction as the change they describe, so the log
//! never claims something that was rolled back. Refusals are written on their own,
//! after the refused work was rolled back. The table refuses UPDATE and DELETE
//! (triggers in the schema).

use rusqlite::{Connection, params};

use crate::db::Db;
use crate::error::ApiError;
use crate::time::now_ms;

/// What happened; stable strings an auditor can filter on.
pub mod actions {
    pub const BIND_OFFER: &str = "binding.offer";
    pub const DEVICE_REGISTER: &str = "device.register";
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
pub fn record(tx: &Connection, entry: &Entry) -> Result<(), ApiError> {
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

/// Records a refusal in its own transaction. Server faults (5xx) are logged, not
/// audited: they say nothing about the caller. A failure to write the row is logged
/// and does not change the reply the caller gets.
pub async fn refused(db: &Db, mut entry: Entry, error: &ApiError) {
    if !error.is_refusal() {
        return;
    }
    entry.outcome = error.code.to_owned();
    if let Err(e) = db.write(move |tx| record(tx, &entry)).await {
        tracing::error!(error = %e, "could not write audit entry");
    }
}
