//! The personal dashboard: `client.dashboard(newest)` returns the day at a glance across
//! the app build's capabilities in one FFI crossing, offline, and its error enum
//! [`DashboardError`]. A section the build has no capability for is `null` / `nil`.

use taipei_core::{Error as CoreError, MeetingInfo, PunchKind};
use taipei_core::dashboard as core_dashboard;

use crate::client::Client;
use crate::error::ffi_error;

/// The day at a glance. Times are UTC ms; `date` is today in Asia/Taipei.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DashboardView {
    pub at_ms: i64,
    /// `YYYY-MM-DD` in Asia/Taipei.
    pub date: String,
    /// TaipeiON only.
    pub approvals: Option<DashboardApprovals>,
    /// TaipeiON only.
    pub punches: Option<DashboardPunches>,
    /// TaipeiON only.
    pub meetings: Option<DashboardMeetings>,
    pub wallet: Option<DashboardWallet>,
    /// The push inbox (both apps).
    pub inbox: Option<DashboardInbox>,
}

/// Items waiting for the person.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DashboardApprovals {
    pub waiting: u32,
    pub documents: u32,
    pub forms: u32,
    pub leave: u32,
    /// Past their deadline.
    pub overdue: u32,
    /// 最速件 and 速件.
    pub urgent: u32,
    /// The items the change feed brought or changed last, newest first.
    pub newest: Vec<DashboardApproval>,
    pub synced_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DashboardApproval {
    pub item_id: String,
    /// `document`, `form` or `leave`.
    pub kind: String,
    /// `None` for a classified item (open it at the desk).
    pub subject: Option<String>,
    /// `most` (最速件), `urgent` (速件) or `normal` (普通件).
    pub urgency: String,
    pub agency: String,
    pub due_at_ms: i64,
    pub overdue: bool,
    /// An action the person took on it waits to be sent.
    pub pending: bool,
    /// Set when the person would act for someone else (代).
    pub acting_for: Option<String>,
}

/// Today's punches (the office's working day).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DashboardPunches {
    pub date: String,
    pub first_in_ms: Option<i64>,
    pub last_out_ms: Option<i64>,
    pub worked_ms: i64,
    /// `manual`, `late`, `no_out`, `no_in`.
    pub flags: Vec<String>,
    /// Oldest first.
    pub punches: Vec<DashboardPunch>,
    /// Waiting to be sent.
    pub pending: u32,
    pub rejected: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DashboardPunch {
    pub punch_id: String,
    pub kind: PunchKind,
    pub time_ms: i64,
    /// `queued`, `accepted` or `rejected`.
    pub state: String,
    pub manual: bool,
}

/// Today's meetings this phone was shown, and its sign-ins.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DashboardMeetings {
    pub count: u32,
    /// The first of today's meetings that has not ended.
    pub next: Option<DashboardMeeting>,
    /// Earliest first.
    pub today: Vec<DashboardMeeting>,
    pub sign_ins: u32,
    /// Sign-ins waiting to be sent.
    pub pending: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DashboardMeeting {
    pub info: MeetingInfo,
    /// This phone's latest sign-in: `queued`, `accepted`, `rejected`; `None`: none.
    pub sign_in: Option<String>,
}

/// The wallet: new since the person last looked (`wallet.markSeen()`), expiring within 30 days.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DashboardWallet {
    pub total: u32,
    pub new_since_seen: u32,
    pub seen_at_ms: Option<i64>,
    pub expiring_soon: u32,
    /// Newest received first.
    pub newest: Vec<DashboardCertificate>,
    /// First to expire first.
    pub expiring: Vec<DashboardCertificate>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DashboardCertificate {
    /// The wallet's id (`wallet.show(id)`).
    pub id: String,
    pub cert_type: String,
    pub issuer: String,
    pub title_zh: String,
    pub title_en: String,
    pub holder: String,
    pub issued_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub received_at_ms: i64,
}

/// The push inbox: the badge to show, unread per kind, the newest messages (read ones
/// included, expired ones never).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DashboardInbox {
    pub badge: u32,
    pub unread_by_kind: Vec<crate::push::PushKindCount>,
    /// Highest sequence first.
    pub newest: Vec<crate::push::PushMessage>,
}

ffi_error! {
    /// What the dashboard refuses (it never goes online, so no network variant is expected).
    pub enum DashboardError {
        /// One section could not be read; `section` names it (`approvals`, `punches`,
        /// `meetings`, `wallet`, `inbox`) and `code` is its capability's code.
        Section { section: String },
    }
    specific = |e| match e {
        CoreError::Dashboard(core_dashboard::DashboardError::Section { section, code, message }) => {
            Ok(DashboardError::Section { code, detail: message, section: section.to_owned() })
        }
        CoreError::Dashboard(core_dashboard::DashboardError::Common(c)) => Err(CoreError::from(c)),
        e => Err(e),
    };
}

fn ms(seconds: i64) -> i64 {
    seconds.saturating_mul(1000)
}

fn certificate(l: core_dashboard::WalletLine) -> DashboardCertificate {
    let c = l.certificate;
    DashboardCertificate {
        id: l.id,
        cert_type: c.cert_type,
        issuer: c.issuer,
        title_zh: c.title.zh,
        title_en: c.title.en,
        holder: c.holder,
        issued_at_ms: ms(c.issued_at),
        expires_at_ms: c.expires_at.map(ms),
        received_at_ms: l.received_at_ms,
    }
}

fn meeting(m: core_dashboard::MeetingLine) -> DashboardMeeting {
    DashboardMeeting { info: m.info, sign_in: m.sign_in }
}

fn inbox(i: core_dashboard::InboxSection) -> DashboardInbox {
    DashboardInbox {
        badge: i.badge,
        unread_by_kind: i.unread_by_kind.into_iter().map(Into::into).collect(),
        newest: i.newest.into_iter().map(Into::into).collect(),
    }
}

impl From<core_dashboard::DashboardView> for DashboardView {
    fn from(v: core_dashboard::DashboardView) -> Self {
        Self {
            at_ms: v.at_ms,
            date: v.date,
            approvals: v.approvals.map(|a| DashboardApprovals {
                waiting: a.waiting,
                documents: a.counts.document,
                forms: a.counts.form,
                leave: a.counts.leave,
                overdue: a.counts.overdue,
                urgent: a.urgent,
                newest: a
                    .newest
                    .into_iter()
                    .map(|l| DashboardApproval {
                        item_id: l.summary.item_id,
                        kind: l.summary.kind.as_str().to_owned(),
                        subject: l.summary.subject,
                        urgency: l.summary.urgency.as_str().to_owned(),
                        agency: l.summary.agency,
                        due_at_ms: l.summary.due_at_ms,
                        overdue: l.overdue,
                        pending: l.pending,
                        acting_for: l.summary.acting_for,
                    })
                    .collect(),
                synced_at_ms: a.synced_at_ms,
            }),
            punches: v.punches.map(|p| DashboardPunches {
                date: p.day.date,
                first_in_ms: p.day.first_in_ms,
                last_out_ms: p.day.last_out_ms,
                worked_ms: p.day.worked_ms,
                flags: p.day.flags,
                punches: p
                    .punches
                    .into_iter()
                    .map(|l| DashboardPunch { punch_id: l.punch_id, kind: l.kind, time_ms: l.time_ms, state: l.state, manual: l.manual })
                    .collect(),
                pending: p.pending,
                rejected: p.rejected,
            }),
            meetings: v.meetings.map(|m| DashboardMeetings {
                count: m.count,
                next: m.next.map(meeting),
                today: m.today.into_iter().map(meeting).collect(),
                sign_ins: m.sign_ins,
                pending: m.pending,
            }),
            wallet: v.wallet.map(|w| DashboardWallet {
                total: w.total,
                new_since_seen: w.new_since_seen,
                seen_at_ms: w.seen_at_ms,
                expiring_soon: w.expiring_soon,
                newest: w.newest.into_iter().map(certificate).collect(),
                expiring: w.expiring.into_iter().map(certificate).collect(),
            }),
            inbox: v.inbox.map(inbox),
        }
    }
}

#[uniffi::export]
impl Client {
    /// The day at a glance, from this phone's store alone (works offline): approvals,
    /// today's punches and meetings, the wallet, the push inbox. `newest`: items per list, 1–20 (0: 5).
    pub async fn dashboard(&self, newest: u32) -> Result<DashboardView, DashboardError> {
        self.shared.call(move |c| async move { c.dashboard().get(newest).await.map(DashboardView::from) }).await
    }
}
