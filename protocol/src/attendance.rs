//! Beacon attendance: the office configuration a phone fetches, the signed punch it
//! sends through its outbox, the receipt, the weekly report, and the Asia/Taipei
//! working-day arithmetic both sides must agree on.
//!
//! A punch is judged by the server against its office's anti-spoofing level:
//! 1 `static` — a registered beacon id was seen (a copied iBeacon passes: the weakest);
//! 2 `eid` — a rotating Eddystone-EID valid at the punch time was seen (the identity
//! keys stay on the server; phones get only the EIDs of the next hours);
//! 3 `beacon_plus` — a registered beacon (static or EID) plus network or location evidence.

use serde::{Deserialize, Serialize};

use crate::signed::{SignedMessage, tags};

pub mod codes {
    pub const UNKNOWN_OFFICE: &str = "attendance_unknown_office";
    /// The evidence does not meet the office's anti-spoofing level.
    pub const EVIDENCE: &str = "attendance_evidence";
    /// The EID seen is not valid at the punch time (old, future, or not this office's).
    pub const EID_INVALID: &str = "attendance_eid_invalid";
    /// The signed time does not fit the server clock or the phone's own monotonic time.
    pub const CLOCK_SKEW: &str = "attendance_clock_skew";
    /// This exact signed punch was sent before under another idempotency key.
    pub const REPLAYED: &str = "attendance_replayed";
    /// Older than the server keeps accepting.
    pub const TOO_OLD: &str = "attendance_too_old";
    /// Within the office's minimum interval of the previous punch of this person.
    pub const TOO_SOON: &str = "attendance_too_soon";
}

/// Asia/Taipei is UTC+8 all year (no daylight saving since 1979), so a fixed offset is exact.
pub const TAIPEI_OFFSET_MS: i64 = 8 * 60 * 60 * 1000;
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The times an attendance field may hold: 2000-01-01 to 2100-01-01 UTC. Anything
/// outside is a broken clock or a crafted value, refused before any arithmetic.
pub const MIN_TIME_MS: i64 = 946_684_800_000;
pub const MAX_TIME_MS: i64 = 4_102_444_800_000;

/// Whether `ms` is a plausible attendance time (see [`MIN_TIME_MS`]).
pub fn time_in_range(ms: i64) -> bool {
    (MIN_TIME_MS..MAX_TIME_MS).contains(&ms)
}

/// The working day (days since 1970-01-01 in Taipei) a UTC time falls in, for a day that
/// starts `day_start_min` minutes after Taipei midnight (night shifts belong to the
/// evening's day).
pub fn workday(time_ms: i64, day_start_min: u32) -> i64 {
    // Saturating: an extreme time (refused elsewhere) must not wrap into a real day.
    time_ms.saturating_add(TAIPEI_OFFSET_MS).saturating_sub(i64::from(day_start_min) * 60_000).div_euclid(DAY_MS)
}

/// UTC ms at which working day `day` starts.
pub fn workday_start_ms(day: i64, day_start_min: u32) -> i64 {
    day.saturating_mul(DAY_MS).saturating_sub(TAIPEI_OFFSET_MS).saturating_add(i64::from(day_start_min) * 60_000)
}

/// The Monday of the week holding working day `day` (1970-01-01 was a Thursday).
pub fn week_monday(day: i64) -> i64 {
    day.saturating_sub(weekday(day))
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01).
pub fn date_text(day: i64) -> String {
    let (y, m, d) = crate::cert::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of a `YYYY-MM-DD` date (the inverse of [`date_text`]); `None` unless
/// the text is exactly such a date.
pub fn date_day(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) { part.parse().ok() } else { None }
    };
    let (y, m, d) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d == 0 || d > crate::cert::days_in_month(y, m) {
        return None;
    }
    Some(crate::cert::days_from_civil(y, m, d))
}

/// Monday is 0, Sunday 6.
pub fn weekday(day: i64) -> i64 {
    (day.rem_euclid(7) + 3) % 7
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Static,
    Eid,
    BeaconPlus,
}

/// How the phone turns a stream of sightings into "inside" / "outside". Defaults are
/// chosen for a phone in a pocket in an office of ordinary size: see the core's
/// `attendance::presence` for the reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresenceParams {
    /// Smoothed RSSI at or above this (dBm) counts as "near".
    pub enter_rssi_dbm: i32,
    /// Near for this long, continuously, before the phone is inside.
    pub dwell_ms: i64,
    /// No near sighting for this long and the phone is outside.
    pub exit_timeout_ms: i64,
    /// Weight of a new sample in the running average, in percent (1-100).
    pub smoothing_pct: u32,
}

impl Default for PresenceParams {
    fn default() -> Self {
        Self { enter_rssi_dbm: -80, dwell_ms: 10_000, exit_timeout_ms: 120_000, smoothing_pct: 30 }
    }
}

/// An EID the phone may accept, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EidWindow {
    /// 16 lowercase hex digits.
    pub eid: String,
    pub valid_from_ms: i64,
    pub valid_until_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Geofence {
    pub lat_e7: i64,
    pub lon_e7: i64,
    pub radius_m: u32,
}

/// `POST /v1/admin/offices` (HR's system, admin token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewOffice {
    pub office_id: String,
    pub name: String,
    pub level: Level,
    /// Phone-side presence detection.
    #[serde(default)]
    pub presence: PresenceParams,
    /// Punches of one person closer together than this are refused (debounce).
    #[serde(default = "default_min_interval")]
    pub min_interval_ms: i64,
    /// Minutes after Taipei midnight when a working day starts.
    #[serde(default)]
    pub day_start_min: u32,
    /// Level 3: network names (e.g. Wi-Fi SSIDs) that prove presence with a beacon.
    #[serde(default)]
    pub networks: Vec<String>,
    /// Level 3 location evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geofence: Option<Geofence>,
}

pub fn default_min_interval() -> i64 {
    60_000
}

/// `POST /v1/admin/offices/{office_id}/beacons`: a static id, or an EID beacon's
/// identity key (hex, 16 bytes) with its rotation exponent and time-counter epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NewBeacon {
    Static { beacon_id: String },
    Eid { identity_key: String, rotation_exponent: u8, epoch_ms: i64 },
}

/// `GET /v1/attendance/offices/{office_id}` (phone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfficeConfig {
    pub office_id: String,
    pub name: String,
    pub level: Level,
    /// Phone-side presence detection.
    pub presence: PresenceParams,
    pub min_interval_ms: i64,
    pub day_start_min: u32,
    /// Static beacon ids (`Advert::beacon_id`) of the office.
    pub beacons: Vec<String>,
    /// EIDs valid from now for the next hours; refreshed with the config.
    pub eids: Vec<EidWindow>,
    pub networks: Vec<String>,
    /// Level 3 location evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geofence: Option<Geofence>,
    pub server_time_ms: i64,
    /// Fetch again before this: the EID list ends here.
    pub refresh_before_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PunchKind {
    In,
    Out,
}

impl PunchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "in" => Some(Self::In),
            "out" => Some(Self::Out),
            _ => None,
        }
    }
}

/// Integers only, so the JSON the server re-encodes is byte for byte what was signed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Location {
    pub lat_e7: i64,
    pub lon_e7: i64,
    pub accuracy_m: u32,
}

/// What the phone saw. Empty beacon lists with a manual reason make a manual punch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evidence {
    /// Static beacon ids seen near (`Advert::beacon_id`), sorted.
    pub beacon_ids: Vec<String>,
    /// EIDs seen near (16 hex), sorted.
    pub eids: Vec<String>,
    pub sightings: u32,
    pub rssi_max_dbm: i32,
    pub rssi_mean_dbm: i32,
    /// Estimated distance to the nearest beacon, decimetres.
    pub distance_dm: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// `POST /v1/hr/offices/{office_id}/assignments` (HR credential): whether a person
/// works at the office. Only assigned people are given an EID office's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignment {
    pub user_id: String,
    /// `false` ends the assignment.
    #[serde(default = "assigned_default")]
    pub assigned: bool,
}

fn assigned_default() -> bool {
    true
}

/// `POST /v1/attendance/punches` (phone, through the outbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Punch {
    /// The phone's id of this punch (random, base64url).
    pub punch_id: String,
    pub office_id: String,
    pub kind: PunchKind,
    /// Server-clock time of the punch, as the phone estimates it.
    pub time_ms: i64,
    /// Server time at the phone's last clock sync, and the phone's monotonic time since:
    /// a phone whose wall clock is wrong still gets `synced_at + elapsed` right.
    pub synced_at_ms: i64,
    pub elapsed_since_sync_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_reason: Option<String>,
    /// What the phone saw (integers and strings only: the JSON is signed).
    pub evidence: Evidence,
    /// r‖s over [`punch_message`].
    pub signature: String,
}

/// `PUNCH ‖ device ‖ punch id ‖ office ‖ kind ‖ time ‖ synced at ‖ elapsed ‖ manual flag ‖
/// reason ‖ evidence JSON`.
pub fn punch_message(device_id: &str, p: &Punch) -> Vec<u8> {
    // Evidence has integer and string fields only and a fixed field order, so
    // serde_json gives the same bytes on both ends.
    let evidence = serde_json::to_vec(&p.evidence).unwrap_or_default();
    SignedMessage::new(tags::PUNCH)
        .text(device_id)
        .text(&p.punch_id)
        .text(&p.office_id)
        .text(p.kind.as_str())
        .i64(p.time_ms)
        .i64(p.synced_at_ms)
        .i64(p.elapsed_since_sync_ms)
        .u64(u64::from(p.manual_reason.is_some()))
        .text(p.manual_reason.as_deref().unwrap_or(""))
        .bytes(&evidence)
        .finish()
}

/// The receipt's `reason` for a refusal: `code: message`.
pub fn refusal_reason(code: &str, message: &str) -> String {
    format!("{code}: {message}")
}

/// One working day in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayReport {
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_in_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_out_ms: Option<i64>,
    pub worked_ms: i64,
    pub punches: u32,
    /// `manual`, `late` (synced after the day), `no_out`, ...
    pub flags: Vec<String>,
}

/// One punch as a day's summary needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayPunch {
    pub kind: PunchKind,
    pub time_ms: i64,
    pub manual: bool,
    pub late: bool,
}

/// First in, last out, hours and flags of one working day — the one definition the
/// server's report and the phone's history both use.
pub fn summarize_day(day: i64, punches: &[DayPunch]) -> DayReport {
    let first_in_ms = punches.iter().filter(|p| p.kind == PunchKind::In).map(|p| p.time_ms).min();
    let last_out_ms = punches.iter().filter(|p| p.kind == PunchKind::Out).map(|p| p.time_ms).max();
    let mut flags = Vec::new();
    if punches.iter().any(|p| p.manual) {
        flags.push("manual".to_owned());
    }
    if punches.iter().any(|p| p.late) {
        flags.push("late".to_owned());
    }
    let worked_ms = match (first_in_ms, last_out_ms) {
        (Some(i), Some(o)) if o > i => o.saturating_sub(i),
        (Some(_), _) => {
            flags.push("no_out".to_owned());
            0
        }
        (None, Some(_)) => {
            flags.push("no_in".to_owned());
            0
        }
        (None, None) => 0,
    };
    DayReport {
        date: date_text(day),
        first_in_ms,
        last_out_ms,
        worked_ms,
        punches: u32::try_from(punches.len()).unwrap_or(u32::MAX),
        flags,
    }
}

/// `GET /v1/attendance/week?at_ms=` (phone) and the admin report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeekReport {
    pub user_id: String,
    pub display_name: String,
    /// Monday's date.
    pub week_of: String,
    pub days: Vec<DayReport>,
    pub worked_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_back_to_their_day() {
        for day in [-1, 0, 11_016, 20_454, 20_513] {
            assert_eq!(date_day(&date_text(day)), Some(day));
        }
        assert_eq!(weekday(date_day("2026-12-05").unwrap_or(0)), 5, "a Saturday");
        for bad in ["2026-02-29", "2026-13-01", "2026-1-01", "2026/01/01", "２０２６-01-01", "2026-01-00", ""] {
            assert_eq!(date_day(bad), None, "{bad}");
        }
        assert!(date_day("2028-02-29").is_some());
    }

    #[test]
    fn extreme_times_saturate_instead_of_wrapping() {
        assert!(!time_in_range(i64::MIN) && !time_in_range(i64::MAX) && !time_in_range(0));
        assert!(time_in_range(1_796_054_400_000));
        for t in [i64::MIN, i64::MAX, i64::MIN + 1] {
            let day = workday(t, 1439);
            let _ = week_monday(day);
            let _ = workday_start_ms(day, 1439);
        }
        assert!(workday(i64::MIN, 0) < 0 && workday(i64::MAX, 0) > 0);
        assert_eq!(week_monday(i64::MAX).rem_euclid(7), 4, "a Monday (day 4 was 1970-01-05)");
        let p = |kind, time_ms| DayPunch { kind, time_ms, manual: false, late: false };
        let day = summarize_day(0, &[p(PunchKind::In, i64::MIN), p(PunchKind::Out, i64::MAX)]);
        assert_eq!(day.worked_ms, i64::MAX);
    }

    #[test]
    fn taipei_days_weeks_and_dates() {
        // 2026-11-30T16:00:00Z is 2026-12-01 00:00 in Taipei.
        let t = 1_796_054_400_000;
        assert_eq!(date_text(workday(t, 0)), "2026-12-01");
        assert_eq!(date_text(workday(t - 1, 0)), "2026-11-30");
        // With a 04:00 day start, 00:00 still belongs to the evening before.
        assert_eq!(date_text(workday(t, 240)), "2026-11-30");
        assert_eq!(workday_start_ms(workday(t, 0), 0), t);
        // 2026-11-30 is a Monday.
        let monday = week_monday(workday(t, 0));
        assert_eq!(date_text(monday), "2026-11-30");
        assert_eq!(week_monday(monday), monday);
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(week_monday(0)), "1969-12-29");
        assert_eq!(date_text(11_016), "2000-02-29");
    }

    #[test]
    fn a_day_is_first_in_to_last_out() {
        let p = |kind, time_ms| DayPunch { kind, time_ms, manual: false, late: false };
        let day = summarize_day(0, &[p(PunchKind::Out, 50), p(PunchKind::In, 10), p(PunchKind::In, 20), p(PunchKind::Out, 90)]);
        assert_eq!((day.first_in_ms, day.last_out_ms, day.worked_ms, day.punches), (Some(10), Some(90), 80, 4));
        assert!(day.flags.is_empty());
        let only_in = summarize_day(0, &[DayPunch { manual: true, ..p(PunchKind::In, 10) }]);
        assert_eq!(only_in.flags, vec!["manual", "no_out"]);
        assert_eq!(summarize_day(0, &[p(PunchKind::Out, 10)]).flags, vec!["no_in"]);
        assert_eq!(summarize_day(0, &[]).date, "1970-01-01");
    }

    #[test]
    fn the_signature_covers_the_evidence_and_the_manual_flag() {
        let mut p = Punch {
            punch_id: "p".into(),
            office_id: "o".into(),
            kind: PunchKind::In,
            time_ms: 5,
            synced_at_ms: 1,
            elapsed_since_sync_ms: 4,
            manual_reason: None,
            evidence: Evidence { beacon_ids: vec!["ibeacon:x:1:2".into()], ..Evidence::default() },
            signature: String::new(),
        };
        let base = punch_message("d", &p);
        p.evidence.rssi_max_dbm = -40;
        assert_ne!(punch_message("d", &p), base);
        p.evidence.rssi_max_dbm = 0;
        assert_eq!(punch_message("d", &p), base);
        p.manual_reason = Some(String::new());
        assert_ne!(punch_message("d", &p), base);
        let json = serde_json::to_string(&p).unwrap();
        let back: Punch = serde_json::from_str(&json).unwrap();
        assert_eq!(punch_message("d", &back), punch_message("d", &p));
    }
}
