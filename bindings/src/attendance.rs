//! [`Attendance`]: beacon attendance — sightings go in from whatever scans (Android's
//! `ScanRecord`, iOS CoreLocation ranging), punches and the week come out — and its
//! error enum [`AttendanceError`].

use std::sync::Arc;

use taipei_core::attendance::{self as core_att, AdvertData, Level, Sighting};
use taipei_core::{Error as CoreError, Location, NetError, OfficeConfig, PunchKind};

use crate::client::{Client, Shared};
use crate::error::{ClientError, ffi_error};

/// Where a punch stands with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PunchState {
    /// Kept on the phone and in the outbox, not yet answered.
    Queued,
    Accepted,
    /// Refused by the server; `PunchRecord.reason` says why.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PunchRecord {
    pub punch_id: String,
    pub office_id: String,
    pub kind: PunchKind,
    /// Server-clock time.
    pub time_ms: i64,
    /// Working day (days since 1970-01-01, Asia/Taipei, the office's day start).
    pub workday: i64,
    /// Set for a manual punch (no beacon seen).
    pub manual_reason: Option<String>,
    pub state: PunchState,
    /// The server's words when it rejected the punch, for people.
    pub reason: Option<String>,
    /// Accepted after waiting offline.
    pub late: bool,
}

/// A remark on a day's summary.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum DayFlag {
    /// A punch of the day was manual.
    Manual,
    /// A punch was synced after the day.
    Late,
    /// Came in, no punch out.
    NoOut,
    /// Went out with no punch in.
    NoIn,
    /// A remark this version does not know; `value` is its raw name.
    Unknown { value: String },
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DayReport {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub first_in_ms: Option<i64>,
    pub last_out_ms: Option<i64>,
    pub worked_ms: i64,
    pub punches: u32,
    pub flags: Vec<DayFlag>,
}

/// How far a day is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DaySync {
    /// No punch that day.
    NoPunches,
    /// A punch waits to be sent.
    Pending,
    /// A punch was refused.
    Rejected,
    /// Every punch was accepted.
    Synced,
}

/// One day: the summary (rejected punches left out), its sync, every punch.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DayView {
    pub summary: DayReport,
    pub sync: DaySync,
    pub punches: Vec<PunchRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WeekView {
    /// Monday's date, `YYYY-MM-DD`.
    pub week_of: String,
    pub days: Vec<DayView>,
    pub worked_ms: i64,
}

#[uniffi::remote(Record)]
pub struct Location {
    pub lat_e7: i64,
    pub lon_e7: i64,
    pub accuracy_m: u32,
}

/// How much an office asks of a punch besides the beacon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OfficeLevel {
    /// A fixed beacon identity.
    Static,
    /// Rotating Eddystone-EID beacons.
    Eid,
    /// The beacon plus the network name and location (`set_context`).
    BeaconPlus,
}

/// What the app shows of the office configuration in use.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OfficeSummary {
    pub office_id: String,
    pub name: String,
    pub level: OfficeLevel,
    pub beacons: u32,
    pub eids: u32,
    /// Load the office again before this (the EID list ends).
    pub refresh_before_ms: i64,
}

impl From<OfficeConfig> for OfficeSummary {
    fn from(c: OfficeConfig) -> Self {
        Self {
            office_id: c.office_id,
            name: c.name,
            level: match c.level {
                Level::Static => OfficeLevel::Static,
                Level::Eid => OfficeLevel::Eid,
                Level::BeaconPlus => OfficeLevel::BeaconPlus,
            },
            beacons: u32::try_from(c.beacons.len()).unwrap_or(u32::MAX),
            eids: u32::try_from(c.eids.len()).unwrap_or(u32::MAX),
            refresh_before_ms: c.refresh_before_ms,
        }
    }
}

// The core names these states with its own fixed words (documented on its types); an
// unexpected one is a bug between two parts of this library, shown as the safe reading.
impl From<core_att::PunchRecord> for PunchRecord {
    fn from(p: core_att::PunchRecord) -> Self {
        let state = match p.state.as_str() {
            "accepted" => PunchState::Accepted,
            "rejected" => PunchState::Rejected,
            _ => PunchState::Queued,
        };
        Self {
            punch_id: p.punch_id,
            office_id: p.office_id,
            kind: p.kind,
            time_ms: p.time_ms,
            workday: p.workday,
            manual_reason: p.manual_reason,
            state,
            reason: p.reason,
            late: p.late,
        }
    }
}

impl From<taipei_core::DayReport> for DayReport {
    fn from(d: taipei_core::DayReport) -> Self {
        let flags = d
            .flags
            .into_iter()
            .map(|f| match f.as_str() {
                "manual" => DayFlag::Manual,
                "late" => DayFlag::Late,
                "no_out" => DayFlag::NoOut,
                "no_in" => DayFlag::NoIn,
                _ => DayFlag::Unknown { value: f },
            })
            .collect();
        Self {
            date: d.date,
            first_in_ms: d.first_in_ms,
            last_out_ms: d.last_out_ms,
            worked_ms: d.worked_ms,
            punches: d.punches,
            flags,
        }
    }
}

impl From<core_att::WeekView> for WeekView {
    fn from(w: core_att::WeekView) -> Self {
        let days = w
            .days
            .into_iter()
            .map(|d| DayView {
                summary: d.summary.into(),
                sync: match d.sync.as_str() {
                    "pending" => DaySync::Pending,
                    "rejected" => DaySync::Rejected,
                    "synced" => DaySync::Synced,
                    _ => DaySync::NoPunches,
                },
                punches: d.punches.into_iter().map(Into::into).collect(),
            })
            .collect();
        Self { week_of: w.week_of, days, worked_ms: w.worked_ms }
    }
}

ffi_error! {
    /// What beacon attendance refuses.
    pub enum AttendanceError {
        /// The advertisement cannot be read (`beacon_truncated`, `beacon_unknown_frame`,
        /// `beacon_not_a_beacon`, `beacon_malformed`). Adverts from the street are
        /// expected: skip it quietly.
        BadAdvert {},
        /// No office is set up on this phone: call `load_office` once while online.
        /// Code `attendance_no_office`.
        NoOffice {},
        /// A manual punch needs a reason. Code `attendance_needs_reason`.
        NeedsReason {},
        /// The server knows no such office. Code `attendance_unknown_office`.
        UnknownOffice {},
        /// An attendance refusal this version has no variant for; `code` is the
        /// server's raw code.
        Unknown {},
    }
    specific = |e| match e {
        CoreError::Attendance(a) => {
            let (code, detail) = (a.code().to_owned(), a.to_string());
            Ok(match a {
                core_att::AttendanceError::Advert(_) => AttendanceError::BadAdvert { code, detail },
                core_att::AttendanceError::NoOffice => AttendanceError::NoOffice { code, detail },
                core_att::AttendanceError::NeedsReason => AttendanceError::NeedsReason { code, detail },
                core_att::AttendanceError::Common(c) => return Err(CoreError::from(c)),
            })
        }
        CoreError::Net(NetError::Server { code, message, .. }) if code == taipei_protocol::attendance::codes::UNKNOWN_OFFICE => {
            Ok(AttendanceError::UnknownOffice { code, detail: message })
        }
        CoreError::Net(NetError::Server { code, message, .. }) if code.starts_with("attendance_") => {
            Ok(AttendanceError::Unknown { code, detail: message })
        }
        e => Err(e),
    };
}

/// Beacon attendance, handed out by `Client.attendance()`.
#[derive(Debug, uniffi::Object)]
pub struct Attendance {
    client: Arc<Shared>,
}

#[uniffi::export]
impl Client {
    /// Beacon attendance. No I/O; fails only with `Closed`.
    pub fn attendance(&self) -> Result<Arc<Attendance>, ClientError> {
        self.shared.get(|_| Ok(Arc::new(Attendance { client: Arc::clone(&self.shared) })))
    }
}

impl Attendance {
    async fn feed(&self, data: AdvertData, rssi: i16, at_ms: i64) -> Result<Option<PunchRecord>, AttendanceError> {
        self.client
            .call(|c| async move { Ok::<_, core_att::AttendanceError>(c.attendance().sighting(Sighting { data, rssi, at_ms }).await?.map(Into::into)) })
            .await
    }
}

#[uniffi::export]
impl Attendance {
    /// Fetches and keeps the office's configuration (needs the network once).
    pub async fn load_office(&self, office_id: String) -> Result<OfficeSummary, AttendanceError> {
        self.client.call(|c| async move { c.attendance().load_office(&office_id).await.map(OfficeSummary::from) }).await
    }

    /// One advertisement as raw advertising data (AD structures). Returns the punch it
    /// caused, if any.
    pub async fn feed_advert(&self, advert: Vec<u8>, rssi: i16, at_ms: i64) -> Result<Option<PunchRecord>, AttendanceError> {
        self.feed(AdvertData::Raw(advert), rssi, at_ms).await
    }

    /// One manufacturer-data entry (Android `ScanRecord.getManufacturerSpecificData`).
    pub async fn feed_manufacturer_data(&self, company: u16, data: Vec<u8>, rssi: i16, at_ms: i64) -> Result<Option<PunchRecord>, AttendanceError> {
        self.feed(AdvertData::Manufacturer { company, data }, rssi, at_ms).await
    }

    /// One 16-bit service-data entry (Android `ScanRecord.getServiceData`, Eddystone).
    pub async fn feed_service_data(&self, uuid16: u16, data: Vec<u8>, rssi: i16, at_ms: i64) -> Result<Option<PunchRecord>, AttendanceError> {
        self.feed(AdvertData::Service { uuid16, data }, rssi, at_ms).await
    }

    /// An iBeacon ranged by iOS CoreLocation (`CLBeacon`): UUID text, major, minor.
    pub async fn feed_ibeacon(&self, uuid: String, major: u16, minor: u16, measured_power: i8, rssi: i16, at_ms: i64) -> Result<Option<PunchRecord>, AttendanceError> {
        let advert = core_att::ibeacon(&uuid, major, minor, measured_power).map_err(CoreError::from)?;
        self.feed(AdvertData::Parsed(advert), rssi, at_ms).await
    }

    /// Time passing without sightings (same clock as the sightings).
    pub async fn tick(&self, at_ms: i64) -> Result<Option<PunchRecord>, AttendanceError> {
        self.client.call(|c| async move { Ok::<_, core_att::AttendanceError>(c.attendance().tick(at_ms).await?.map(Into::into)) }).await
    }

    /// Network name and location for offices that ask for them with the beacon.
    pub fn set_context(&self, network: Option<String>, location: Option<Location>) -> Result<(), AttendanceError> {
        self.client.get(|c| {
            c.attendance().set_context(network, location);
            Ok(())
        })
    }

    /// A punch without a beacon, with the person's reason (flagged for review).
    pub async fn punch_manually(&self, kind: PunchKind, reason: String) -> Result<PunchRecord, AttendanceError> {
        self.client.call(|c| async move { c.attendance().manual_punch(kind, &reason).await.map(Into::into) }).await
    }

    /// The week holding `at_ms`, from the phone's store (offline).
    pub async fn load_week(&self, at_ms: i64) -> Result<WeekView, AttendanceError> {
        self.client.call(|c| async move { c.attendance().week(at_ms).await.map(Into::into) }).await
    }
}
