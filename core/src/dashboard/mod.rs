#![doc = include_str!("README.md")]

use std::sync::Arc;

use taipei_protocol::approval::{ItemSummary, KindCounts};
use taipei_protocol::attendance::{DayReport, PunchKind, date_text, workday};
use taipei_protocol::cert::city::CityCertificate;
use taipei_protocol::meeting::MeetingInfo;

use crate::ctx::{Account, CommonError, Ctx};

/// Items in each "newest" list when the caller passes 0.
pub const DEFAULT_NEWEST: u32 = 5;
/// The longest "newest" list a dashboard call returns.
pub const MAX_NEWEST: u32 = 20;
/// "Expiring soon" in the wallet section: within this many days of now.
pub const EXPIRING_WITHIN_DAYS: i64 = 30;

/// Why the dashboard could not be read: a section's own failure (named by its
/// capability's code), or one every capability shares (the store, a closed client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DashboardError {
    #[error("the {section} section could not be read: {message}")]
    Section { section: &'static str, code: String, message: String },
    #[error(transparent)]
    Common(CommonError),
}

crate::ctx::common_error!(DashboardError);

impl DashboardError {
    pub fn code(&self) -> &str {
        match self {
            Self::Section { code, .. } => code,
            Self::Common(e) => e.code(),
        }
    }
}

/// A capability's error becomes the dashboard's: its shared failures stay shared, its
/// own kinds are named with their section and code.
macro_rules! section_error {
    ($(#[$meta:meta])* $section:literal, $error:ty) => {
        $(#[$meta])*
        impl From<$error> for DashboardError {
            fn from(e: $error) -> Self {
                type Capability = $error;
                match e {
                    Capability::Common(c) => Self::Common(c),
                    other => Self::Section { section: $section, code: other.code().to_owned(), message: other.to_string() },
                }
            }
        }
    };
}

section_error!(#[cfg(feature = "approval")] "approvals", crate::approval::ApprovalError);
section_error!(#[cfg(feature = "attendance")] "punches", crate::attendance::AttendanceError);
section_error!(#[cfg(feature = "meetings")] "meetings", crate::login::LoginError);
section_error!(#[cfg(feature = "wallet")] "wallet", crate::wallet::WalletError);
section_error!(#[cfg(feature = "push")] "inbox", crate::push::PushError);

/// The day at a glance. A section is `None` when the app build has no such capability
/// (TaipeiPASS has no approvals, punches or meetings).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DashboardView {
    /// The time it was read for (server clock, UTC ms).
    pub at_ms: i64,
    /// That time's date in Asia/Taipei, `YYYY-MM-DD`.
    pub date: String,
    pub approvals: Option<ApprovalsSection>,
    pub punches: Option<PunchesSection>,
    pub meetings: Option<MeetingsSection>,
    pub wallet: Option<WalletSection>,
    /// The push inbox; `None` in a build without push.
    pub inbox: Option<InboxSection>,
}

/// Items waiting for the person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApprovalsSection {
    /// Actionable items in all.
    pub waiting: u32,
    /// Per kind, and how many are past due.
    pub counts: KindCounts,
    /// Marked 最速件 or 速件.
    pub urgent: u32,
    /// The items the feed brought or changed last, newest first.
    pub newest: Vec<ApprovalLine>,
    pub synced_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApprovalLine {
    pub summary: ItemSummary,
    /// Past its deadline at the dashboard's time.
    pub overdue: bool,
    /// An action the person took on it waits to be sent.
    pub pending: bool,
}

/// Today's punches (the working day by the office's day start).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PunchesSection {
    /// First in, last out, hours, flags (rejected punches left out).
    pub day: DayReport,
    /// Every punch of the day, oldest first.
    pub punches: Vec<PunchLine>,
    /// Waiting to be sent.
    pub pending: u32,
    pub rejected: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PunchLine {
    pub punch_id: String,
    pub kind: PunchKind,
    pub time_ms: i64,
    /// `queued`, `accepted` or `rejected`.
    pub state: String,
    pub manual: bool,
}

/// Today's meetings as this phone knows them (those it was shown) and its sign-ins.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MeetingsSection {
    /// Meetings starting today (Asia/Taipei).
    pub count: u32,
    /// The first of today's meetings that has not ended yet.
    pub next: Option<MeetingLine>,
    /// Today's meetings, earliest first.
    pub today: Vec<MeetingLine>,
    /// Sign-ins made today, and how many wait to be sent.
    pub sign_ins: u32,
    pub pending: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MeetingLine {
    pub info: MeetingInfo,
    /// This phone's latest sign-in to it: `queued`, `accepted`, `rejected`; `None`: none.
    pub sign_in: Option<String>,
}

/// The certificate wallet: new since the person last looked, expiring soon.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WalletSection {
    pub total: u32,
    pub new_since_seen: u32,
    pub seen_at_ms: Option<i64>,
    /// Not expired, expiring within [`EXPIRING_WITHIN_DAYS`].
    pub expiring_soon: u32,
    /// Newest received first.
    pub newest: Vec<WalletLine>,
    /// The first to expire first.
    pub expiring: Vec<WalletLine>,
}

/// A certificate as the dashboard lists it (its QR text stays in the wallet).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WalletLine {
    pub id: String,
    pub certificate: CityCertificate,
    pub received_at_ms: i64,
}

/// The push inbox: the badge as the app icon shows it, unread per kind, the newest
/// messages (expired ones are never listed nor counted).
#[cfg(feature = "push")]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InboxSection {
    pub badge: u32,
    pub unread_by_kind: Vec<crate::push::KindCount>,
    /// Highest sequence first, read ones included (they show as read).
    pub newest: Vec<crate::push::InboxMessage>,
}

/// Keeps the record's shape in a build without push: the section is always `None`.
#[cfg(not(feature = "push"))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum InboxSection {}

/// The dashboard of a [`crate::Client`]; see `Client::dashboard`. It reads each
/// capability of the build through that capability's own offline queries, never its
/// tables, and needs no network: from the context only the server clock's estimate.
#[derive(Clone)]
pub struct Dashboard {
    account: Arc<Account>,
    #[cfg(feature = "approval")]
    approvals: crate::approval::Approvals,
    #[cfg(feature = "attendance")]
    attendance: crate::attendance::Attendance,
    #[cfg(feature = "meetings")]
    meetings: crate::meetings::Meetings,
    #[cfg(feature = "wallet")]
    wallet: crate::wallet::Wallet,
    #[cfg(feature = "push")]
    push: crate::push::Push,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dashboard(..)")
    }
}

impl Dashboard {
    #[cfg_attr(
        not(any(feature = "approval", feature = "attendance", feature = "meetings", feature = "wallet", feature = "push")),
        allow(unused_variables, reason = "a build without capabilities has an empty dashboard")
    )]
    pub(crate) fn new(
        ctx: &Ctx,
        #[cfg(feature = "approval")] approvals: crate::approval::Approvals,
        #[cfg(feature = "attendance")] attendance: crate::attendance::Attendance,
        #[cfg(feature = "meetings")] meetings: crate::meetings::Meetings,
        #[cfg(feature = "wallet")] wallet: crate::wallet::Wallet,
        #[cfg(feature = "push")] push: crate::push::Push,
    ) -> Self {
        Self {
            account: Arc::clone(&ctx.account),
            #[cfg(feature = "approval")]
            approvals,
            #[cfg(feature = "attendance")]
            attendance,
            #[cfg(feature = "meetings")]
            meetings,
            #[cfg(feature = "wallet")]
            wallet,
            #[cfg(feature = "push")]
            push,
        }
    }

    /// The dashboard now (the server clock as this phone estimates it), with at most
    /// `newest` items per list (0: [`DEFAULT_NEWEST`]; at most [`MAX_NEWEST`]).
    pub async fn get(&self, newest: u32) -> Result<DashboardView, DashboardError> {
        self.at(self.account.server_now_ms(), newest).await
    }

    /// The dashboard as of `at_ms` (UTC ms): today is that time's day in Asia/Taipei.
    pub async fn at(&self, at_ms: i64, newest: u32) -> Result<DashboardView, DashboardError> {
        self.account.check_open()?;
        let newest = match newest {
            0 => DEFAULT_NEWEST,
            n => n.min(MAX_NEWEST),
        };
        let today = workday(at_ms, 0);
        Ok(DashboardView {
            at_ms,
            date: date_text(today),
            approvals: self.approvals(at_ms, newest).await?,
            punches: self.punches(at_ms).await?,
            meetings: self.meetings(at_ms, today).await?,
            wallet: self.wallet(at_ms, newest).await?,
            inbox: self.inbox(at_ms, newest).await?,
        })
    }

    #[cfg(feature = "approval")]
    async fn approvals(&self, at_ms: i64, newest: u32) -> Result<Option<ApprovalsSection>, DashboardError> {
        let o = self.approvals.overview(at_ms, newest).await?;
        let newest = o
            .newest
            .into_iter()
            .map(|e| ApprovalLine { overdue: e.summary.due_at_ms <= at_ms, pending: e.pending.is_some(), summary: e.summary })
            .collect();
        let waiting = o.counts.document.saturating_add(o.counts.form).saturating_add(o.counts.leave);
        Ok(Some(ApprovalsSection { waiting, counts: o.counts, urgent: o.urgent, newest, synced_at_ms: o.synced_at_ms }))
    }

    #[cfg(not(feature = "approval"))]
    async fn approvals(&self, _at_ms: i64, _newest: u32) -> Result<Option<ApprovalsSection>, DashboardError> {
        Ok(None)
    }

    #[cfg(feature = "attendance")]
    async fn punches(&self, at_ms: i64) -> Result<Option<PunchesSection>, DashboardError> {
        let day = self.attendance.day(at_ms).await?;
        let count = |state: &str| u32::try_from(day.punches.iter().filter(|p| p.state == state).count()).unwrap_or(u32::MAX);
        let (pending, rejected) = (count("queued"), count("rejected"));
        let punches = day
            .punches
            .into_iter()
            .map(|p| PunchLine { manual: p.manual_reason.is_some(), punch_id: p.punch_id, kind: p.kind, time_ms: p.time_ms, state: p.state })
            .collect();
        Ok(Some(PunchesSection { day: day.summary, punches, pending, rejected }))
    }

    #[cfg(not(feature = "attendance"))]
    async fn punches(&self, _at_ms: i64) -> Result<Option<PunchesSection>, DashboardError> {
        Ok(None)
    }

    #[cfg(feature = "meetings")]
    async fn meetings(&self, at_ms: i64, today: i64) -> Result<Option<MeetingsSection>, DashboardError> {
        let start = taipei_protocol::attendance::workday_start_ms(today, 0);
        let day = self.meetings.day(start, start.saturating_add(taipei_protocol::attendance::DAY_MS)).await?;
        let today: Vec<MeetingLine> = day.meetings.into_iter().map(|m| MeetingLine { info: m.info, sign_in: m.sign_in }).collect();
        let next = today.iter().find(|m| m.info.ends_at_ms > at_ms).cloned();
        Ok(Some(MeetingsSection {
            count: u32::try_from(today.len()).unwrap_or(u32::MAX),
            next,
            today,
            sign_ins: day.sign_ins,
            pending: day.pending,
        }))
    }

    #[cfg(not(feature = "meetings"))]
    async fn meetings(&self, _at_ms: i64, _today: i64) -> Result<Option<MeetingsSection>, DashboardError> {
        Ok(None)
    }

    #[cfg(feature = "wallet")]
    async fn wallet(&self, at_ms: i64, newest: u32) -> Result<Option<WalletSection>, DashboardError> {
        let o = self.wallet.overview(at_ms, EXPIRING_WITHIN_DAYS * taipei_protocol::attendance::DAY_MS, newest).await?;
        let line = |i: crate::wallet::Item| WalletLine { id: i.id, certificate: i.certificate, received_at_ms: i.received_at_ms };
        Ok(Some(WalletSection {
            total: o.total,
            new_since_seen: o.new_since_seen,
            seen_at_ms: o.seen_at_ms,
            expiring_soon: o.expiring_soon,
            newest: o.newest.into_iter().map(line).collect(),
            expiring: o.expiring.into_iter().map(line).collect(),
        }))
    }

    #[cfg(not(feature = "wallet"))]
    async fn wallet(&self, _at_ms: i64, _newest: u32) -> Result<Option<WalletSection>, DashboardError> {
        Ok(None)
    }

    #[cfg(feature = "push")]
    async fn inbox(&self, at_ms: i64, newest: u32) -> Result<Option<InboxSection>, DashboardError> {
        let o = self.push.overview(at_ms, newest).await?;
        Ok(Some(InboxSection { badge: o.badge, unread_by_kind: o.unread_by_kind, newest: o.newest }))
    }

    #[cfg(not(feature = "push"))]
    async fn inbox(&self, _at_ms: i64, _newest: u32) -> Result<Option<InboxSection>, DashboardError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Client, ClientConfig, Platform};
    use crate::secrets::FileSecretStore;

    /// A profile whose server cannot be reached: everything the dashboard shows is local.
    async fn offline_client(dir: &std::path::Path) -> Client {
        let mut config = ClientConfig::new(dir.join("profiles"), "p", "http://127.0.0.1:9", "test");
        config.sync_interval_secs = 0;
        let platform = Platform { signer: None, secret_store: Arc::new(FileSecretStore::new(dir.join("s")).unwrap()), listener: None, clock: None };
        Client::open(config, platform).await.unwrap()
    }

    /// 2026-12-03 00:00 in Taipei is 2026-12-02 16:00 UTC.
    const TAIPEI_MIDNIGHT_MS: i64 = 1_796_227_200_000;

    #[tokio::test]
    async fn today_is_the_taipei_date_and_each_section_follows_its_feature() {
        let dir = tempfile::tempdir().unwrap();
        let client = offline_client(dir.path()).await;
        let dashboard = client.dashboard();
        assert_eq!(dashboard.at(TAIPEI_MIDNIGHT_MS - 1, 0).await.unwrap().date, "2026-12-02");
        let view = dashboard.at(TAIPEI_MIDNIGHT_MS, 0).await.unwrap();
        assert_eq!(view.date, "2026-12-03");
        assert_eq!(view.approvals.is_some(), cfg!(feature = "approval"));
        assert_eq!(view.punches.is_some(), cfg!(feature = "attendance"));
        assert_eq!(view.meetings.is_some(), cfg!(feature = "meetings"));
        assert_eq!(view.wallet.is_some(), cfg!(feature = "wallet"));
        assert_eq!(view.inbox.is_some(), cfg!(feature = "push"));
        if let Some(a) = &view.approvals {
            assert_eq!((a.waiting, a.urgent, a.newest.len(), a.synced_at_ms), (0, 0, 0, None));
        }
        if let Some(p) = &view.punches {
            assert_eq!((p.day.date.as_str(), p.punches.len(), p.pending, p.rejected), ("2026-12-03", 0, 0, 0));
        }
        if let Some(m) = &view.meetings {
            assert_eq!((m.count, m.next.is_none(), m.sign_ins), (0, true, 0));
        }
        #[cfg(feature = "push")]
        if let Some(i) = &view.inbox {
            assert_eq!((i.badge, i.unread_by_kind.len(), i.newest.len()), (0, 0, 0));
        }
        // Nothing here went to the (unreachable) server, so it answers at once, and
        // after close it says so.
        client.close().await.unwrap();
        assert_eq!(crate::Error::from(dashboard.get(0).await.unwrap_err()), crate::Error::Closed);
    }

    #[cfg(feature = "wallet")]
    mod wallet {
        use super::*;
        use ring::rand::SystemRandom;
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
        use taipei_protocol::cert::city::sample_diploma;

        const DAY_S: i64 = 86_400;

        fn signer() -> (EcdsaKeyPair, Vec<u8>) {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
            let kid = taipei_protocol::cert::key_id(key.public_key().as_ref()).to_vec();
            (key, kid)
        }

        #[tokio::test]
        async fn expiring_within_thirty_days_and_new_since_the_last_look() {
            let dir = tempfile::tempdir().unwrap();
            let client = offline_client(dir.path()).await;
            let (key, kid) = signer();
            let now_s = TAIPEI_MIDNIGHT_MS / 1000;
            // (status index, expires): expired a second ago, expiring now, in a day, at the
            // end of the 30th day, a second later, never.
            let expiries = [Some(now_s - 1), Some(now_s), Some(now_s + DAY_S), Some(now_s + 30 * DAY_S), Some(now_s + 30 * DAY_S + 1), None];
            for (i, expires_at) in expiries.into_iter().enumerate() {
                let cert = taipei_protocol::cert::city::CityCertificate { expires_at, ..sample_diploma("陳小明", i as u64, now_s - 100 * DAY_S) };
                client.wallet().add(&cert.sign(&key, &kid).unwrap()).await.unwrap();
            }
            let w = client.dashboard().at(TAIPEI_MIDNIGHT_MS, 10).await.unwrap().wallet.unwrap();
            assert_eq!(w.total, 6);
            assert_eq!(w.expiring_soon, 3, "now, a day and exactly 30 days; not the expired, the 30 days + 1 s, nor the one without end");
            let order: Vec<Option<i64>> = w.expiring.iter().map(|l| l.certificate.expires_at).collect();
            assert_eq!(order, [Some(now_s), Some(now_s + DAY_S), Some(now_s + 30 * DAY_S)], "first to expire first");
            assert_eq!((w.new_since_seen, w.seen_at_ms), (6, None), "never looked: all are new");
            let received: Vec<i64> = w.newest.iter().map(|l| l.received_at_ms).collect();
            assert!(received.windows(2).all(|p| p[0] >= p[1]), "newest received first: {received:?}");

            client.wallet().mark_seen().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let cert = sample_diploma("林大華", 99, now_s);
            let added = client.wallet().add(&cert.sign(&key, &kid).unwrap()).await.unwrap();
            let w = client.dashboard().at(TAIPEI_MIDNIGHT_MS, 2).await.unwrap().wallet.unwrap();
            assert_eq!((w.total, w.new_since_seen), (7, 1));
            assert!(w.seen_at_ms.is_some());
            assert_eq!(w.newest.len(), 2, "as many as asked");
            assert_eq!(w.newest[0].id, added.id, "the one received last leads");
            assert_eq!(w.expiring.len(), 2);
            client.close().await.unwrap();
        }
    }
}
