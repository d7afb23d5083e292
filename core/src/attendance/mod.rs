//! Beacon attendance from the phone's side (issue 5): sightings in from any scanner,
//! presence detection, clock-in/clock-out punches signed by the device key and kept in
//! the outbox, receipts, and the week's history — all of it offline-first.
//!
//! Flow: the native layer (or btleplug, or the simulator) hands each advertisement to
//! [`Attendance::sighting`]; the advert is parsed (`protocol::beacon`), matched against
//! the office's beacon ids and currently valid EIDs (from the server's office
//! configuration, cached in the store), and fed to the [`presence::Presence`] engine.
//! An enter or exit becomes a punch when [`rules::decide`] says so. The punch is
//! stamped with the server clock — the server time learned when the configuration was
//! fetched plus the phone's monotonic time since, never the phone's wall clock alone —
//! signed, and written with its outbox item in one transaction. The outbox delivers it;
//! the server's receipt (accepted, or rejected with a code and words) settles the row,
//! and the person is told through [`crate::Event::PunchSettled`].

pub mod presence;
pub mod rules;
pub mod simulate;
mod store;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Transaction;
use taipei_protocol::api::Receipt;
use taipei_protocol::attendance::{
    DayPunch, DayReport, Evidence, Location, OfficeConfig, Punch, PunchKind, date_text, punch_message, summarize_day,
    week_monday, workday,
};
use taipei_protocol::{b64, limits};
use taipei_protocol::beacon::{self, BeaconError};

use crate::clock::ElapsedClock;
use crate::ctx::{Account, Active, AfterSync, CommonError, Ctx, Queue, blocking, common_error};
use crate::events::{Event, EventBus};
use crate::identity::signer::sign_checked;
use crate::net;
use crate::outbox::{self, NewItem, Outbox, OutboxError, OutboxItem, ReceiptHandler, Rejection};
use crate::store::Store as ProfileStore;

pub use presence::{Presence, Transition};
pub use taipei_protocol::attendance::Level;
pub use taipei_protocol::beacon::Advert;
pub use store::PunchRecord;

/// The outbox kind of a punch.
pub const PUNCH_KIND: &str = "attendance_punch";
/// An EID is still taken this long after its window closed (a scan batch delivered
/// late) or before it opens (the phone's offset estimate is a little off).
const EID_SLACK_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttendanceError {
    #[error(transparent)]
    Advert(BeaconError),
    #[error("no office is set up on this phone yet: load the office's configuration once while online")]
    NoOffice,
    #[error("a manual punch needs a reason")]
    NeedsReason,
    /// A failure every capability shares (offline, not bound, the store, …).
    #[error(transparent)]
    Common(CommonError),
}

common_error!(AttendanceError);

impl AttendanceError {
    pub fn code(&self) -> &str {
        match self {
            Self::Advert(e) => e.code(),
            Self::NoOffice => "attendance_no_office",
            Self::NeedsReason => "attendance_needs_reason",
            Self::Common(e) => e.code(),
        }
    }
}

impl From<BeaconError> for AttendanceError {
    fn from(e: BeaconError) -> Self {
        Self::Advert(e)
    }
}

/// An advertisement as the scanner reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdvertData {
    /// Raw advertising data (AD structures).
    Raw(Vec<u8>),
    /// One manufacturer-data entry: the company id and the bytes after it.
    Manufacturer { company: u16, data: Vec<u8> },
    /// One 16-bit service-data entry: the UUID and the bytes after it.
    Service { uuid16: u16, data: Vec<u8> },
    /// Already parsed, e.g. an iBeacon ranged by iOS CoreLocation.
    Parsed(Advert),
}

/// One sighting: the advert, its RSSI (dBm) and when it was seen (any clock, used only
/// for time differences; [`Attendance::tick`] must use the same one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub data: AdvertData,
    pub rssi: i16,
    pub at_ms: i64,
}

/// An iBeacon as iOS CoreLocation reports it (`CLBeacon`: UUID text, major, minor).
pub fn ibeacon(uuid: &str, major: u16, minor: u16, measured_power: i8) -> Result<Advert, AttendanceError> {
    let uuid = simulate::uuid_of(uuid).ok_or_else(|| CommonError::InvalidInput(format!("{uuid} is not a UUID")))?;
    Ok(Advert::IBeacon { uuid, major, minor, measured_power })
}

pub fn parse(data: &AdvertData) -> Result<Advert, BeaconError> {
    match data {
        AdvertData::Raw(bytes) => beacon::parse_ad(bytes),
        AdvertData::Manufacturer { company, data } => beacon::parse_manufacturer_data(*company, data),
        AdvertData::Service { uuid16, data } => beacon::parse_service_data(*uuid16, data),
        AdvertData::Parsed(advert) => Ok(advert.clone()),
    }
}

/// The office's beacon this advert is, if it is one: its key and whether it is an EID.
pub fn office_key(config: &OfficeConfig, advert: &Advert, server_now_ms: i64) -> Option<(String, bool)> {
    if let Some(eid) = advert.eid_hex() {
        let valid = config.eids.iter().any(|w| {
            w.eid.eq_ignore_ascii_case(&eid)
                && w.valid_from_ms.saturating_sub(EID_SLACK_MS) <= server_now_ms
                && server_now_ms < w.valid_until_ms.saturating_add(EID_SLACK_MS)
        });
        return valid.then_some((eid, true));
    }
    advert.beacon_id().filter(|id| config.beacons.contains(id)).map(|id| (id, false))
}

/// The live part: the office, the presence engine and the server-clock anchor.
#[derive(Debug)]
struct Live {
    config: OfficeConfig,
    presence: Presence,
    /// Server time at the last configuration fetch and the elapsed-clock reading of it
    /// (a clock that counts through suspend: `crate::clock`).
    anchor: Option<(i64, u64)>,
    network: Option<String>,
    location: Option<Location>,
}

/// Attendance state kept across calls (one per client: the capability is built once).
#[derive(Debug, Default)]
struct Shared {
    live: Mutex<Option<Live>>,
    /// The store has been asked once for a saved office. Without this, a phone with no
    /// office yet would read SQLite for every advert it hears (many a second).
    store_read: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One day of the history: the summary (rejected punches left out), how far it is
/// synced, and every punch with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayView {
    pub summary: DayReport,
    /// `none`, `pending` (a punch waits to be sent), `rejected` (one was refused), `synced`.
    pub sync: String,
    pub punches: Vec<PunchRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekView {
    /// Monday's date, `YYYY-MM-DD`.
    pub week_of: String,
    pub days: Vec<DayView>,
    pub worked_ms: i64,
}

/// The attendance capability of a [`crate::Client`]; see `Client::attendance`. Its
/// context: the store (its punch and office tables), the account, the outbox (the
/// `attendance_punch` kind and the after-sync announcement, registered here), events
/// and the elapsed clock.
#[derive(Clone)]
pub struct Attendance {
    store: Arc<ProfileStore>,
    account: Arc<Account>,
    outbox: Arc<Queue>,
    events: Arc<EventBus>,
    clock: Arc<dyn ElapsedClock>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Attendance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attendance(..)")
    }
}

impl Attendance {
    pub(crate) fn new(ctx: &Ctx) -> Self {
        ctx.outbox.register(PUNCH_KIND, Arc::new(Receipts));
        ctx.outbox.on_after_sync(Arc::new(Announce { store: Arc::clone(&ctx.store), events: Arc::clone(&ctx.events) }));
        Self {
            store: Arc::clone(&ctx.store),
            account: Arc::clone(&ctx.account),
            outbox: Arc::clone(&ctx.outbox),
            events: Arc::clone(&ctx.events),
            clock: Arc::clone(&ctx.clock),
            shared: Arc::default(),
        }
    }

    /// Fetches the office's configuration (rules, beacon ids, the EIDs of the next hours)
    /// and keeps it for offline use. Call it at start and again before
    /// `refresh_before_ms`.
    pub async fn load_office(&self, office_id: &str) -> Result<OfficeConfig, AttendanceError> {
        let path = format!("/v1/attendance/offices/{}", office_id);
        let config: OfficeConfig = self.account.get_json(&path, "OfficeConfig").await?;
        let received = self.clock.elapsed_ms();
        let store = Arc::clone(&self.store);
        let saved = config.clone();
        blocking(move || Ok::<_, AttendanceError>(store.write(|tx| store::save_office(tx, &saved))?)).await?;
        let mut live = self.shared.lock();
        let keep = live.as_ref().is_some_and(|l| l.config.office_id == config.office_id && l.config.presence == config.presence);
        let (network, location) = live.as_ref().map_or((None, None), |l| (l.network.clone(), l.location.clone()));
        let presence = match live.take() {
            Some(l) if keep => l.presence,
            _ => Presence::new(config.presence),
        };
        *live = Some(Live { anchor: Some((config.server_time_ms, received)), config: config.clone(), presence, network, location });
        Ok(config)
    }

    /// The office configuration in use (from this session or the store).
    pub async fn office(&self) -> Result<Option<OfficeConfig>, AttendanceError> {
        self.ensure_live().await?;
        Ok(self.shared.lock().as_ref().map(|l| l.config.clone()))
    }

    async fn ensure_live(&self) -> Result<(), AttendanceError> {
        let shared = &self.shared;
        if shared.store_read.load(Ordering::Acquire) || shared.lock().is_some() {
            return Ok(());
        }
        let store = Arc::clone(&self.store);
        let saved = blocking(move || Ok::<_, AttendanceError>(store.read(store::load_office)?)).await?;
        shared.store_read.store(true, Ordering::Release);
        let mut live = shared.lock();
        if live.is_none()
            && let Some(config) = saved
        {
            *live = Some(Live { presence: Presence::new(config.presence), config, anchor: None, network: None, location: None });
        }
        Ok(())
    }

    /// Level-3 context the platform knows: the Wi-Fi network name and a location fix.
    pub fn set_context(&self, network: Option<String>, location: Option<Location>) {
        if let Some(l) = self.shared.lock().as_mut() {
            l.network = network;
            l.location = location;
        }
    }

    /// The server-clock time now, the anchor's server time and the time elapsed since
    /// (suspended time included).
    fn stamp(&self, anchor: Option<(i64, u64)>) -> (i64, i64, i64) {
        match anchor {
            Some((server_ms, at)) => {
                let since = self.clock.elapsed_ms().saturating_sub(at);
                let elapsed = i64::try_from(since).unwrap_or(i64::MAX);
                (server_ms.saturating_add(elapsed), server_ms, elapsed)
            }
            // Restarted offline: the last learned offset is all there is.
            None => {
                let now = self.account.server_now_ms();
                (now, now, 0)
            }
        }
    }

    /// One advertisement from any scanner. Returns the punch it caused, if any. Adverts
    /// of other beacons are ignored; unreadable bytes are a typed error.
    pub async fn sighting(&self, sighting: Sighting) -> Result<Option<PunchRecord>, AttendanceError> {
        let advert = parse(&sighting.data)?;
        self.ensure_live().await?;
        let transition = {
            let mut guard = self.shared.lock();
            let live = guard.as_mut().ok_or(AttendanceError::NoOffice)?;
            let (now, _, _) = self.stamp(live.anchor);
            match office_key(&live.config, &advert, now) {
                Some((key, is_eid)) => live.presence.observe(&key, is_eid, sighting.rssi, advert.rssi_at_1m(), sighting.at_ms),
                None => None,
            }
        };
        match transition {
            Some(t) => self.on_transition(t).await,
            None => Ok(None),
        }
    }

    /// Time passing without sightings (call it from a timer, same clock as sightings):
    /// the exit timeout may record a clock-out.
    pub async fn tick(&self, at_ms: i64) -> Result<Option<PunchRecord>, AttendanceError> {
        self.ensure_live().await?;
        let transition = self.shared.lock().as_mut().and_then(|l| l.presence.tick(at_ms));
        match transition {
            Some(t) => self.on_transition(t).await,
            None => Ok(None),
        }
    }

    /// Whether the presence engine has the phone inside the office now.
    pub fn inside(&self) -> bool {
        self.shared.lock().as_ref().is_some_and(|l| l.presence.inside())
    }

    async fn on_transition(&self, transition: Transition) -> Result<Option<PunchRecord>, AttendanceError> {
        let (config, anchor, evidence) = {
            let mut guard = self.shared.lock();
            let live = guard.as_mut().ok_or(AttendanceError::NoOffice)?;
            let evidence = evidence_of(live);
            live.presence.reset_summary();
            (live.config.clone(), live.anchor, evidence)
        };
        let (now, _, _) = self.stamp(anchor);
        let today = workday(now, config.day_start_min);
        let store = Arc::clone(&self.store);
        let earlier = blocking(move || Ok::<_, AttendanceError>(store.read(|c| store::recent(c, today))?)).await?;
        match rules::decide(transition, today, now, config.min_interval_ms, &earlier) {
            Some(kind) => self.record(kind, evidence, None).await.map(Some),
            None => Ok(None),
        }
    }

    /// A punch with no beacon (the beacon is broken, the phone's Bluetooth is off):
    /// flagged as manual, with the person's reason, for HR to review.
    pub async fn manual_punch(&self, kind: PunchKind, reason: &str) -> Result<PunchRecord, AttendanceError> {
        if reason.trim().is_empty() {
            return Err(AttendanceError::NeedsReason);
        }
        limits::MANUAL_REASON.check(reason)?;
        self.ensure_live().await?;
        let evidence = self.shared.lock().as_ref().map(evidence_of).ok_or(AttendanceError::NoOffice)?;
        self.record(kind, evidence, Some(reason.trim().to_owned())).await
    }

    /// Signs the punch and writes it with its outbox item in one transaction; then asks
    /// the background sync to send it.
    async fn record(&self, kind: PunchKind, evidence: Evidence, manual_reason: Option<String>) -> Result<PunchRecord, AttendanceError> {
        let Active { info, signer, public } = self.account.active()?;
        let (config, anchor) = {
            let guard = self.shared.lock();
            let live = guard.as_ref().ok_or(AttendanceError::NoOffice)?;
            (live.config.clone(), live.anchor)
        };
        let (time_ms, synced_at_ms, elapsed_since_sync_ms) = self.stamp(anchor);
        let mut punch = Punch {
            punch_id: net::new_idempotency_key(),
            office_id: config.office_id.clone(),
            kind,
            time_ms,
            synced_at_ms,
            elapsed_since_sync_ms,
            manual_reason,
            evidence,
            signature: String::new(),
        };
        // Refused here, not queued to die in the outbox when the server says the same.
        limits::check_punch(&punch)?;
        let record = PunchRecord {
            punch_id: punch.punch_id.clone(),
            office_id: punch.office_id.clone(),
            kind,
            time_ms,
            workday: workday(time_ms, config.day_start_min),
            manual_reason: punch.manual_reason.clone(),
            state: "queued".into(),
            reason: None,
            late: false,
        };
        let store = Arc::clone(&self.store);
        let row = record.clone();
        let signature = sign_checked(signer.as_ref(), &public, &punch_message(&info.device_id, &punch)).await?;
        punch.signature = b64::encode(signature);
        blocking(move || {
            let item = NewItem {
                kind: PUNCH_KIND.into(),
                method: "POST".into(),
                path: "/v1/attendance/punches".into(),
                body: serde_json::to_value(&punch).map_err(|e| CommonError::Internal(e.to_string()))?,
            };
            Ok::<_, AttendanceError>(store.write(|tx| {
                let outbox_id = outbox::enqueue_in(tx, &item, time_ms)?;
                store::insert(tx, &row, &outbox_id)?;
                Ok::<_, OutboxError>(())
            })?)
        })
        .await?;
        self.events.emit(Event::PunchRecorded {
            punch_id: record.punch_id.clone(),
            kind,
            time_ms,
            manual: record.manual_reason.is_some(),
        });
        self.outbox.changed().await;
        self.outbox.kick();
        Ok(record)
    }

    /// One punch by id, with its current state.
    pub async fn punch(&self, punch_id: &str) -> Result<Option<PunchRecord>, AttendanceError> {
        let (store, id) = (Arc::clone(&self.store), punch_id.to_owned());
        blocking(move || Ok::<_, AttendanceError>(store.read(|c| store::by_id(c, &id))?)).await
    }

    /// The week holding `at_ms` (Monday to Sunday, Asia/Taipei), from the store alone.
    pub async fn week(&self, at_ms: i64) -> Result<WeekView, AttendanceError> {
        let monday = week_monday(self.workday_of(at_ms).await?);
        let punches = self.punches_between(monday, monday + 7).await?;
        let days: Vec<DayView> = (monday..monday + 7).map(|day| day_view(day, &punches)).collect();
        Ok(WeekView { week_of: date_text(monday), worked_ms: days.iter().fold(0_i64, |sum, d| sum.saturating_add(d.summary.worked_ms)), days })
    }

    /// The working day holding `at_ms` (Asia/Taipei, from the office's day start), from
    /// the store alone.
    pub async fn day(&self, at_ms: i64) -> Result<DayView, AttendanceError> {
        let day = self.workday_of(at_ms).await?;
        Ok(day_view(day, &self.punches_between(day, day + 1).await?))
    }

    /// The working day of `at_ms` by the office's day start (Taipei midnight without an office).
    async fn workday_of(&self, at_ms: i64) -> Result<i64, AttendanceError> {
        self.ensure_live().await?;
        let day_start = self.shared.lock().as_ref().map_or(0, |l| l.config.day_start_min);
        Ok(workday(at_ms, day_start))
    }

    async fn punches_between(&self, from_day: i64, to_day: i64) -> Result<Vec<PunchRecord>, AttendanceError> {
        let store = Arc::clone(&self.store);
        blocking(move || Ok::<_, AttendanceError>(store.read(|c| store::between(c, from_day, to_day))?)).await
    }
}

/// One working day of the history from its punches (any others in `punches` are skipped).
fn day_view(day: i64, punches: &[PunchRecord]) -> DayView {
    let of_day: Vec<PunchRecord> = punches.iter().filter(|p| p.workday == day).cloned().collect();
    let counted: Vec<DayPunch> = of_day
        .iter()
        .filter(|p| p.state != "rejected")
        .map(|p| DayPunch { kind: p.kind, time_ms: p.time_ms, manual: p.manual_reason.is_some(), late: p.late })
        .collect();
    let sync = if of_day.is_empty() {
        "none"
    } else if of_day.iter().any(|p| p.state == "queued") {
        "pending"
    } else if of_day.iter().any(|p| p.state == "rejected") {
        "rejected"
    } else {
        "synced"
    };
    DayView { summary: summarize_day(day, &counted), sync: sync.into(), punches: of_day }
}

fn evidence_of(live: &Live) -> Evidence {
    Evidence { network: live.network.clone(), location: live.location.clone(), ..live.presence.summary() }
}

/// Applies the server's verdict to the punch row, in the outbox's transaction.
struct Receipts;

impl ReceiptHandler for Receipts {
    fn on_receipt(&self, tx: &Transaction<'_>, item: &OutboxItem, receipt: &Receipt) -> Result<(), OutboxError> {
        Ok(store::settle(tx, &item.id, receipt.status == "accepted", receipt.late, receipt.reason.as_deref())?)
    }

    fn on_rejected(&self, tx: &Transaction<'_>, item: &OutboxItem, rejection: &Rejection) -> Result<(), OutboxError> {
        Ok(store::settle(tx, &item.id, false, false, Some(&rejection.message))?)
    }
}

/// After a sync: tells the person about every punch settled since. The rows are marked
/// told in a committed transaction first, so an event never announces what a crash
/// undid; the state and reason stay in the history either way. A refused punch's dead
/// outbox item is cleared: its row keeps the reason.
struct Announce {
    store: Arc<ProfileStore>,
    events: Arc<EventBus>,
}

impl AfterSync for Announce {
    fn after_sync<'a>(&'a self, outbox: &'a Outbox) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(announce(&self.store, &self.events, outbox))
    }
}

async fn announce(store: &Arc<ProfileStore>, events: &EventBus, outbox: &Outbox) {
    let store = Arc::clone(store);
    let settled = match blocking(move || Ok::<_, AttendanceError>(store.write(store::take_unannounced)?)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(code = e.code(), "could not read settled punches");
            return;
        }
    };
    for (punch, outbox_id) in settled {
        let accepted = punch.state == "accepted";
        events.emit(Event::PunchSettled { punch_id: punch.punch_id, accepted, reason: punch.reason });
        if !accepted {
            match outbox.discard_dead(outbox_id).await {
                Ok(()) | Err(OutboxError::NotFound(_)) => {}
                Err(e) => tracing::warn!(code = e.code(), "could not clear a refused punch from the outbox"),
            }
        }
    }
}
