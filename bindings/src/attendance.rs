//! Beacon attendance on the [`Client`]: conversion only. Sightings go in from whatever
//! scans (Android's `ScanRecord`, iOS CoreLocation ranging), punches and the week come out.

use taipei_core::attendance::{AdvertData, DayView, PunchRecord, Sighting, WeekView};
use taipei_core::{DayReport, Location, OfficeConfig, PunchKind};

use crate::client::Client;
use crate::error::ClientError;

#[uniffi::remote(Enum)]
pub enum PunchKind {
    In,
    Out,
}

#[uniffi::remote(Record)]
pub struct PunchRecord {
    pub punch_id: String,
    pub office_id: String,
    pub kind: PunchKind,
    pub time_ms: i64,
    pub workday: i64,
    pub manual_reason: Option<String>,
    pub state: String,
    pub reason: Option<String>,
    pub late: bool,
}

#[uniffi::remote(Record)]
pub struct DayReport {
    pub date: String,
    pub first_in_ms: Option<i64>,
    pub last_out_ms: Option<i64>,
    pub worked_ms: i64,
    pub punches: u32,
    pub flags: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct DayView {
    pub summary: DayReport,
    pub sync: String,
    pub punches: Vec<PunchRecord>,
}

#[uniffi::remote(Record)]
pub struct WeekView {
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

/// What the app shows of the office configuration in use.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OfficeSummary {
    pub office_id: String,
    pub name: String,
    /// `static`, `eid` or `beacon_plus`.
    pub level: String,
    pub beacons: u32,
    pub eids: u32,
    /// Load the office again before this (the EID list ends).
    pub refresh_before_ms: i64,
}

impl From<OfficeConfig> for OfficeSummary {
    fn from(c: OfficeConfig) -> Self {
        let level = serde_level(c.level);
        Self {
            office_id: c.office_id,
            name: c.name,
            level,
            beacons: u32::try_from(c.beacons.len()).unwrap_or(u32::MAX),
            eids: u32::try_from(c.eids.len()).unwrap_or(u32::MAX),
            refresh_before_ms: c.refresh_before_ms,
        }
    }
}

fn serde_level(level: taipei_core::attendance::Level) -> String {
    use taipei_core::attendance::Level;
    match level {
        Level::Static => "static",
        Level::Eid => "eid",
        Level::BeaconPlus => "beacon_plus",
    }
    .to_owned()
}

impl Client {
    async fn feed(&self, data: AdvertData, rssi: i16, at_ms: i64) -> Result<Option<PunchRecord>, ClientError> {
        self.call(|c| async move { c.attendance().sighting(Sighting { data, rssi, at_ms }).await }).await
    }
}

#[uniffi::export]
impl Client {
    /// Fetches and keeps the office's configuration (needs the network once).
    pub async fn attendance_load_office(&self, office_id: String) -> Result<OfficeSummary, ClientError> {
        self.call(|c| async move { c.attendance().load_office(&office_id).await.map(OfficeSummary::from) }).await
    }

    /// One advertisement as raw advertising data (AD structures). Returns the punch it
    /// caused, if any.
    pub async fn attendance_sighting(&self, advert: Vec<u8>, rssi: i16, at_ms: i64) -> Result<Option<PunchRecord>, ClientError> {
        self.feed(AdvertData::Raw(advert), rssi, at_ms).await
    }

    /// One manufacturer-data entry (Android `ScanRecord.getManufacturerSpecificData`).
    pub async fn attendance_sighting_manufacturer(&self, company: u16, data: Vec<u8>, rssi: i16, at_ms: i64) -> Result<Option<PunchRecord>, ClientError> {
        self.feed(AdvertData::Manufacturer { company, data }, rssi, at_ms).await
    }

    /// One 16-bit service-data entry (Android `ScanRecord.getServiceData`, Eddystone).
    pub async fn attendance_sighting_service(&self, uuid16: u16, data: Vec<u8>, rssi: i16, at_ms: i64) -> Result<Option<PunchRecord>, ClientError> {
        self.feed(AdvertData::Service { uuid16, data }, rssi, at_ms).await
    }

    /// An iBeacon ranged by iOS CoreLocation (`CLBeacon`): UUID text, major, minor.
    pub async fn attendance_sighting_ibeacon(&self, uuid: String, major: u16, minor: u16, measured_power: i8, rssi: i16, at_ms: i64) -> Result<Option<PunchRecord>, ClientError> {
        let advert = taipei_core::attendance::ibeacon(&uuid, major, minor, measured_power)?;
        self.feed(AdvertData::Parsed(advert), rssi, at_ms).await
    }

    /// Time passing without sightings (same clock as the sightings).
    pub async fn attendance_tick(&self, at_ms: i64) -> Result<Option<PunchRecord>, ClientError> {
        self.call(|c| async move { c.attendance().tick(at_ms).await }).await
    }

    /// Network name and location for offices that ask for them with the beacon.
    pub fn attendance_set_context(&self, network: Option<String>, location: Option<Location>) -> Result<(), ClientError> {
        crate::runtime::guard(|| {
            self.core.attendance().set_context(network, location);
            Ok(())
        })
    }

    /// A punch without a beacon, with the person's reason (flagged for review).
    pub async fn attendance_manual_punch(&self, kind: PunchKind, reason: String) -> Result<PunchRecord, ClientError> {
        self.call(|c| async move { c.attendance().manual_punch(kind, &reason).await }).await
    }

    /// The week holding `at_ms`, from the phone's store (offline).
    pub async fn attendance_week(&self, at_ms: i64) -> Result<WeekView, ClientError> {
        self.call(|c| async move { c.attendance().week(at_ms).await }).await
    }
}
