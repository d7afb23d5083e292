//! The rules a punch must pass, as a pure function of the office, its beacons, the
//! punch and the server clock — so each rule is testable without HTTP or SQLite.

use taipei_protocol::attendance::{Level, NewOffice, Punch, codes, time_in_range};

use super::eid::EidBeacon;

/// A signed time ahead of the server clock by more than this is refused.
pub const MAX_AHEAD_MS: i64 = 5 * 60 * 1000;
/// `synced_at + elapsed` and the signed time may differ by this much (the phone's
/// clock-offset estimate and its monotonic clock both drift a little).
pub const MAX_DRIFT_MS: i64 = 5 * 60 * 1000;
/// Punches older than this are refused: a week covers a long absence from the network.
pub const MAX_AGE_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Arriving later than this after its time marks a punch `late` (it waited offline).
pub const LATE_AFTER_MS: i64 = 10 * 60 * 1000;
/// Bluetooth signal strengths a real advert can have (dBm).
const MIN_RSSI_DBM: i32 = -127;
const MAX_RSSI_DBM: i32 = 20;
/// A phone's running time since its last clock sync beyond this is not believed.
pub const MAX_ELAPSED_MS: i64 = 366 * 24 * 60 * 60 * 1000;

/// An office with what is registered for it.
#[derive(Debug, Clone)]
pub struct Office {
    pub rules: NewOffice,
    pub static_ids: Vec<String>,
    pub eid_beacons: Vec<EidBeacon>,
}

/// A refusal: the receipt's code and the words the person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal { code, message: message.into() }
}

/// What an accepted punch is marked with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    pub late: bool,
    pub flags: Vec<&'static str>,
}

fn minutes(ms: i64) -> i64 {
    ms.abs() / 60_000
}

/// Time: against the server clock, and against the phone's own monotonic account.
fn check_time(p: &Punch, now: i64) -> Result<(), Refusal> {
    // Bounds first, so the arithmetic below cannot overflow (an extreme time_ms used to
    // wrap past the 7-day limit in release builds).
    if !time_in_range(p.time_ms) || !time_in_range(p.synced_at_ms) || !(0..=MAX_ELAPSED_MS).contains(&p.elapsed_since_sync_ms) {
        return Err(refuse(codes::CLOCK_SKEW, "the punch times are outside any plausible date; the phone's clock is broken"));
    }
    if p.time_ms > now + MAX_AHEAD_MS || p.synced_at_ms > now + MAX_AHEAD_MS {
        return Err(refuse(
            codes::CLOCK_SKEW,
            format!("the punch time is {} min ahead of the server clock; the phone's clock is wrong", minutes(p.time_ms - now)),
        ));
    }
    if p.elapsed_since_sync_ms < 0 || (p.synced_at_ms.saturating_add(p.elapsed_since_sync_ms) - p.time_ms).abs() > MAX_DRIFT_MS {
        return Err(refuse(codes::CLOCK_SKEW, "the punch time does not match the phone's running time since its last clock sync"));
    }
    if now - p.time_ms > MAX_AGE_MS {
        return Err(refuse(codes::TOO_OLD, format!("the punch is {} days old; punches are accepted for 7 days", (now - p.time_ms) / 86_400_000)));
    }
    Ok(())
}

/// Within `radius` of the geofence centre (equirectangular approximation: exact enough
/// at office scale).
fn inside(office: &NewOffice, p: &Punch) -> bool {
    let (Some(fence), Some(loc)) = (&office.geofence, &p.evidence.location) else { return false };
    let lat = (fence.lat_e7 as f64) * 1e-7_f64.to_radians();
    let dy = (loc.lat_e7 - fence.lat_e7) as f64 * 1e-7 * 111_320.0;
    let dx = (loc.lon_e7 - fence.lon_e7) as f64 * 1e-7 * 111_320.0 * lat.cos();
    (dx * dx + dy * dy).sqrt() <= f64::from(fence.radius_m) + f64::from(loc.accuracy_m.min(100))
}

/// Evidence against the office's anti-spoofing level.
fn check_evidence(office: &Office, p: &Punch) -> Result<Vec<&'static str>, Refusal> {
    if let Some(reason) = &p.manual_reason {
        if let Err(e) = taipei_protocol::limits::MANUAL_REASON.check(reason) {
            return Err(refuse(codes::EVIDENCE, format!("a manual punch needs a reason: {e}")));
        }
        // No beacon to check: accepted and flagged for HR to review.
        return Ok(vec!["manual"]);
    }
    let ev = &p.evidence;
    let static_ok = ev.beacon_ids.iter().any(|id| office.static_ids.contains(id));
    let eid_valid = ev.eids.iter().any(|eid| office.eid_beacons.iter().any(|b| b.shows(eid, p.time_ms)));
    // An EID counts only with a sighting: adverts received at a real signal strength.
    // The schedule a phone holds lists EIDs it could quote without any beacon near.
    let sighted = ev.sightings > 0 && (MIN_RSSI_DBM..=MAX_RSSI_DBM).contains(&ev.rssi_max_dbm);
    let eid_ok = eid_valid && sighted;
    if !ev.eids.is_empty() && !eid_valid && !static_ok {
        return Err(refuse(codes::EID_INVALID, "the beacon identifier seen is not this office's at the punch time (an old or copied EID)"));
    }
    match office.rules.level {
        Level::Static if static_ok || eid_ok => Ok(Vec::new()),
        Level::Static => Err(refuse(codes::EVIDENCE, "none of this office's beacons was seen")),
        Level::Eid if eid_ok => Ok(Vec::new()),
        Level::Eid if eid_valid => {
            Err(refuse(codes::EVIDENCE, "the rotating (EID) beacon was quoted without being seen; stay near the beacon and try again"))
        }
        Level::Eid if !ev.eids.is_empty() => {
            Err(refuse(codes::EID_INVALID, "the beacon identifier seen is not this office's at the punch time (an old or copied EID)"))
        }
        Level::Eid => Err(refuse(codes::EVIDENCE, "this office needs its rotating (EID) beacon; a fixed beacon id can be copied")),
        Level::BeaconPlus if !(static_ok || eid_ok) => Err(refuse(codes::EVIDENCE, "none of this office's beacons was seen")),
        Level::BeaconPlus => {
            let network_ok = ev.network.as_ref().is_some_and(|n| office.rules.networks.contains(n));
            if network_ok || inside(&office.rules, p) {
                Ok(Vec::new())
            } else {
                Err(refuse(codes::EVIDENCE, "this office needs the office network or a location inside the office with the beacon"))
            }
        }
    }
}

/// Judges `p` at server time `now`; `previous_ms` is the time of this person's
/// accepted punch nearest to it at this office, if any.
pub fn judge(office: &Office, p: &Punch, now: i64, previous_ms: Option<i64>) -> Result<Verdict, Refusal> {
    check_time(p, now)?;
    let mut flags = check_evidence(office, p)?;
    if previous_ms.is_some_and(|prev| p.time_ms.abs_diff(prev) < office.rules.min_interval_ms.max(0).unsigned_abs()) {
        return Err(refuse(codes::TOO_SOON, "another punch was recorded moments before this one"));
    }
    let late = now - p.time_ms > LATE_AFTER_MS;
    if late {
        flags.push("late");
    }
    Ok(Verdict { late, flags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use taipei_protocol::attendance::{Evidence, Location, PresenceParams, PunchKind, Geofence};

    const NOW: i64 = 1_796_054_400_000;

    fn office(level: Level) -> Office {
        Office {
            rules: NewOffice {
                office_id: "o".into(),
                name: "n".into(),
                level,
                presence: PresenceParams::default(),
                min_interval_ms: 60_000,
                day_start_min: 0,
                networks: vec!["TPE-GOV".into()],
                geofence: Some(Geofence { lat_e7: 250_375_000, lon_e7: 1_215_637_000, radius_m: 100 }),
            },
            static_ids: vec!["ibeacon:a:1:1".into()],
            eid_beacons: vec![EidBeacon { identity_key: [7; 16], k: 10, epoch_ms: NOW - 200_000_000 }],
        }
    }

    fn punch(evidence: Evidence) -> Punch {
        Punch {
            punch_id: "p".into(),
            office_id: "o".into(),
            kind: PunchKind::In,
            time_ms: NOW,
            synced_at_ms: NOW - 1_000,
            elapsed_since_sync_ms: 1_000,
            manual_reason: None,
            evidence,
            signature: String::new(),
        }
    }

    fn with_ids(ids: &[&str], eids: &[String]) -> Evidence {
        let beacon_ids = ids.iter().map(|s| s.to_string()).collect();
        Evidence { beacon_ids, eids: eids.to_vec(), sightings: 5, rssi_max_dbm: -60, rssi_mean_dbm: -70, ..Evidence::default() }
    }

    #[test]
    fn an_eid_punch_needs_a_sighting_of_a_currently_valid_eid() {
        let o2 = office(Level::Eid);
        let current = o2.eid_beacons[0].window_at(NOW).unwrap().eid;
        assert!(judge(&o2, &punch(with_ids(&[], &[current.clone()])), NOW, None).is_ok());
        // Quoted from the schedule with no advert received.
        let unseen = Evidence { eids: vec![current.clone()], ..Evidence::default() };
        assert_eq!(judge(&o2, &punch(unseen), NOW, None).unwrap_err().code, codes::EVIDENCE);
        let mut impossible = with_ids(&[], &[current]);
        impossible.rssi_max_dbm = 90;
        assert_eq!(judge(&o2, &punch(impossible), NOW, None).unwrap_err().code, codes::EVIDENCE);
        // Valid tomorrow, not at the punch time.
        let tomorrow = o2.eid_beacons[0].window_at(NOW + 86_400_000).unwrap().eid;
        assert_eq!(judge(&o2, &punch(with_ids(&[], &[tomorrow])), NOW, None).unwrap_err().code, codes::EID_INVALID);
    }

    #[test]
    fn extreme_punch_times_are_refused_not_wrapped() {
        let o1 = office(Level::Static);
        let base = punch(with_ids(&["ibeacon:a:1:1"], &[]));
        for (time_ms, synced_at_ms, elapsed) in [
            (i64::MIN, i64::MIN, 0),
            (i64::MIN + 1, i64::MIN + 1, 0),
            (i64::MAX, i64::MAX, 0),
            (NOW, NOW - 1_000, i64::MAX),
            (NOW, i64::MIN, i64::MAX),
            (NOW, NOW, -1),
            (0, 0, 0),
        ] {
            let p = Punch { time_ms, synced_at_ms, elapsed_since_sync_ms: elapsed, ..base.clone() };
            assert_eq!(judge(&o1, &p, NOW, None).unwrap_err().code, codes::CLOCK_SKEW, "{time_ms} {synced_at_ms} {elapsed}");
            assert!(judge(&o1, &p, NOW, Some(i64::MIN)).is_err());
        }
        assert!(judge(&o1, &base, NOW, Some(i64::MIN)).is_ok());
        assert!(judge(&o1, &base, NOW, Some(i64::MAX)).is_ok());
    }

    #[test]
    fn levels_decide_what_evidence_counts() {
        let o1 = office(Level::Static);
        let o2 = office(Level::Eid);
        let o3 = office(Level::BeaconPlus);
        let current = o2.eid_beacons[0].window_at(NOW).unwrap().eid;
        let stat = punch(with_ids(&["ibeacon:a:1:1"], &[]));
        assert!(judge(&o1, &stat, NOW, None).is_ok());
        assert_eq!(judge(&o2, &stat, NOW, None).unwrap_err().code, codes::EVIDENCE);
        assert!(judge(&o2, &punch(with_ids(&[], &[current.clone()])), NOW, None).is_ok());
        assert_eq!(judge(&o1, &punch(with_ids(&["ibeacon:b:1:1"], &[])), NOW, None).unwrap_err().code, codes::EVIDENCE);
        assert_eq!(judge(&o3, &stat, NOW, None).unwrap_err().code, codes::EVIDENCE);
        let mut with_net = stat.clone();
        with_net.evidence.network = Some("TPE-GOV".into());
        assert!(judge(&o3, &with_net, NOW, None).is_ok());
        let mut near = stat.clone();
        near.evidence.location = Some(Location { lat_e7: 250_375_500, lon_e7: 1_215_637_000, accuracy_m: 10 });
        assert!(judge(&o3, &near, NOW, None).is_ok());
        near.evidence.location = Some(Location { lat_e7: 250_475_000, lon_e7: 1_215_637_000, accuracy_m: 10 });
        assert_eq!(judge(&o3, &near, NOW, None).unwrap_err().code, codes::EVIDENCE);
    }

    #[test]
    fn yesterdays_eid_and_bad_clocks_are_refused() {
        let o2 = office(Level::Eid);
        let yesterday = o2.eid_beacons[0].window_at(NOW - 86_400_000).unwrap().eid;
        assert_eq!(judge(&o2, &punch(with_ids(&[], &[yesterday])), NOW, None).unwrap_err().code, codes::EID_INVALID);

        let mut ahead = punch(with_ids(&["ibeacon:a:1:1"], &[]));
        ahead.time_ms = NOW + 86_400_000;
        ahead.synced_at_ms = ahead.time_ms;
        ahead.elapsed_since_sync_ms = 0;
        assert_eq!(judge(&office(Level::Static), &ahead, NOW, None).unwrap_err().code, codes::CLOCK_SKEW);
        let mut inconsistent = punch(with_ids(&["ibeacon:a:1:1"], &[]));
        inconsistent.time_ms = NOW - 86_400_000;
        assert_eq!(judge(&office(Level::Static), &inconsistent, NOW, None).unwrap_err().code, codes::CLOCK_SKEW);
        // Offline for a day, consistent: accepted, late.
        let mut offline = punch(with_ids(&["ibeacon:a:1:1"], &[]));
        offline.time_ms = NOW - 86_400_000;
        offline.synced_at_ms = NOW - 90_000_000;
        offline.elapsed_since_sync_ms = 3_600_000;
        let v = judge(&office(Level::Static), &offline, NOW, None).unwrap();
        assert!(v.late && v.flags.contains(&"late"));
        offline.time_ms = NOW - 8 * 86_400_000;
        offline.synced_at_ms = offline.time_ms;
        offline.elapsed_since_sync_ms = 0;
        assert_eq!(judge(&office(Level::Static), &offline, NOW, None).unwrap_err().code, codes::TOO_OLD);
    }

    #[test]
    fn manual_punches_need_a_reason_and_punches_need_spacing() {
        let o2 = office(Level::Eid);
        let mut manual = punch(Evidence::default());
        manual.manual_reason = Some("beacon battery flat".into());
        assert_eq!(judge(&o2, &manual, NOW, None).unwrap().flags, vec!["manual"]);
        manual.manual_reason = Some("  ".into());
        assert_eq!(judge(&o2, &manual, NOW, None).unwrap_err().code, codes::EVIDENCE);
        let stat = punch(with_ids(&["ibeacon:a:1:1"], &[]));
        let o1 = office(Level::Static);
        assert_eq!(judge(&o1, &stat, NOW, Some(NOW - 30_000)).unwrap_err().code, codes::TOO_SOON);
        assert!(judge(&o1, &stat, NOW, Some(NOW - 61_000)).is_ok());
    }
}
