//! Presence: a stream of beacon sightings in, "entered" / "exited" out.
//!
//! RSSI from a phone in a pocket jumps by ±10 dB from one advert to the next (body
//! shadowing, multipath), so each beacon's RSSI is smoothed with an exponential moving
//! average before it is compared with the threshold. The phone is *inside* once the
//! smoothed RSSI of an office beacon stayed at or above `enter_rssi_dbm` for `dwell_ms`
//! (a person walking past the door does not clock in), and *outside* after
//! `exit_timeout_ms` with no near sighting (phones batch and pause BLE scans in the
//! background, so a short gap is not an exit).
//!
//! Defaults ([`PresenceParams::default`]): −80 dBm (a few metres from a beacon at the
//! usual −59 dBm at 1 m, through a pocket), 10 s dwell, 2 min exit timeout, 30 % weight
//! of a new sample (settles in ~3 adverts at 1 Hz). Every one can be set per office by
//! the server.
//!
//! Times are whatever clock the sightings carry (only differences matter here), so a
//! phone whose wall clock is wrong still detects presence correctly; punches are stamped
//! with the server clock elsewhere.

use std::collections::BTreeMap;

use taipei_protocol::attendance::{Evidence, PresenceParams};

/// Path-loss exponent of the distance estimate: 2 is free space; indoors is 2-4, so the
/// estimate is a rough "how near", kept as evidence, never a decision.
const PATH_LOSS_EXPONENT: f64 = 2.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Entered,
    Exited,
}

#[derive(Debug, Clone)]
struct Track {
    smoothed: f64,
    rssi_at_1m: Option<i16>,
    /// A static beacon id (`false`) or an EID (`true`).
    is_eid: bool,
    near: bool,
    /// Near at some point since the summary was last reset.
    seen_near: bool,
}

#[derive(Debug, Clone)]
pub struct Presence {
    params: PresenceParams,
    tracks: BTreeMap<String, Track>,
    inside: bool,
    near_since_ms: Option<i64>,
    last_near_ms: Option<i64>,
    near_count: u32,
    rssi_sum: i64,
    rssi_max: i32,
}

/// Log-distance path loss: `d = 10^((P_1m − RSSI) / (10 n))` metres.
pub fn distance_m(rssi_at_1m: i16, rssi: f64) -> f64 {
    10f64.powf((f64::from(rssi_at_1m) - rssi) / (10.0 * PATH_LOSS_EXPONENT))
}

impl Presence {
    pub fn new(params: PresenceParams) -> Self {
        Self {
            params,
            tracks: BTreeMap::new(),
            inside: false,
            near_since_ms: None,
            last_near_ms: None,
            near_count: 0,
            rssi_sum: 0,
            rssi_max: i32::MIN,
        }
    }

    pub fn params(&self) -> &PresenceParams {
        &self.params
    }

    pub fn inside(&self) -> bool {
        self.inside
    }

    /// One sighting of an office beacon (`key`: its static id or EID).
    pub fn observe(&mut self, key: &str, is_eid: bool, rssi: i16, rssi_at_1m: Option<i16>, at_ms: i64) -> Option<Transition> {
        // An exit is due first if the stream resumes after a long gap.
        if let Some(t) = self.tick(at_ms) {
            return Some(t);
        }
        let alpha = f64::from(self.params.smoothing_pct.clamp(1, 100)) / 100.0;
        let sample = f64::from(rssi);
        let track = self
            .tracks
            .entry(key.to_owned())
            .or_insert(Track { smoothed: sample, rssi_at_1m, is_eid, near: false, seen_near: false });
        track.smoothed = alpha * sample + (1.0 - alpha) * track.smoothed;
        track.rssi_at_1m = rssi_at_1m.or(track.rssi_at_1m);
        track.near = track.smoothed >= f64::from(self.params.enter_rssi_dbm);
        track.seen_near |= track.near;
        let any_near = self.tracks.values().any(|t| t.near);
        if !any_near {
            // Continuity broken: the dwell starts again.
            self.near_since_ms = None;
            return None;
        }
        self.last_near_ms = Some(at_ms);
        self.near_count = self.near_count.saturating_add(1);
        self.rssi_sum += i64::from(rssi);
        self.rssi_max = self.rssi_max.max(i32::from(rssi));
        if self.inside {
            return None;
        }
        let since = *self.near_since_ms.get_or_insert(at_ms);
        if at_ms.saturating_sub(since) >= self.params.dwell_ms {
            self.inside = true;
            return Some(Transition::Entered);
        }
        None
    }

    /// Time passing without sightings: the exit timeout.
    pub fn tick(&mut self, now_ms: i64) -> Option<Transition> {
        let last = self.last_near_ms?;
        if self.inside && now_ms.saturating_sub(last) >= self.params.exit_timeout_ms {
            self.inside = false;
            self.near_since_ms = None;
            for t in self.tracks.values_mut() {
                t.near = false;
            }
            return Some(Transition::Exited);
        }
        None
    }

    /// The beacon evidence gathered so far (no network or location: the platform adds
    /// those); [`Presence::reset_summary`] starts a new one.
    pub fn summary(&self) -> Evidence {
        let mut s = Evidence { sightings: self.near_count, ..Evidence::default() };
        if self.near_count > 0 {
            s.rssi_max_dbm = self.rssi_max;
            s.rssi_mean_dbm = i32::try_from(self.rssi_sum / i64::from(self.near_count)).unwrap_or(0);
        }
        let mut nearest: Option<f64> = None;
        for (key, t) in &self.tracks {
            if !t.seen_near {
                continue;
            }
            if t.is_eid { s.eids.push(key.clone()) } else { s.beacon_ids.push(key.clone()) }
            if let Some(p) = t.rssi_at_1m {
                let d = distance_m(p, t.smoothed);
                nearest = Some(nearest.map_or(d, |n| n.min(d)));
            }
        }
        // Rounded to decimetres; capped, as beyond ~100 m the estimate means nothing.
        s.distance_dm = nearest.map_or(0, |d| (d * 10.0).round().clamp(0.0, 1_000.0) as u32);
        s
    }

    pub fn reset_summary(&mut self) {
        self.near_count = 0;
        self.rssi_sum = 0;
        self.rssi_max = i32::MIN;
        for t in self.tracks.values_mut() {
            t.seen_near = t.near;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> PresenceParams {
        PresenceParams { enter_rssi_dbm: -75, dwell_ms: 10_000, exit_timeout_ms: 60_000, smoothing_pct: 30 }
    }

    #[test]
    fn entering_needs_a_dwell_and_walking_past_does_not_count() {
        let mut p = Presence::new(params());
        // Walking past: near for 5 s, then gone.
        for i in 0..5 {
            assert_eq!(p.observe("b", false, -60, Some(-59), i * 1_000), None);
        }
        for i in 5..20 {
            assert_eq!(p.observe("b", false, -95, Some(-59), i * 1_000), None);
        }
        assert!(!p.inside());
        // Staying: inside after 10 s of near sightings.
        let mut entered_at = None;
        for i in 20..40 {
            if p.observe("b", false, -62, Some(-59), i * 1_000) == Some(Transition::Entered) {
                entered_at = Some(i);
            }
        }
        assert!(p.inside());
        // The EMA takes a few adverts to climb from −95 above −75, then 10 s of dwell.
        let at = entered_at.unwrap();
        assert!((31..=35).contains(&at), "{at}");
        let s = p.summary();
        assert_eq!(s.beacon_ids, vec!["b".to_owned()]);
        assert!(s.rssi_max_dbm >= -62 && s.sightings > 10);
        assert!((5..=30).contains(&s.distance_dm), "{}", s.distance_dm);
    }

    #[test]
    fn one_noisy_advert_does_not_reset_and_a_long_silence_exits() {
        let mut p = Presence::new(params());
        for i in 0..15 {
            // A single deep fade at 7 s is smoothed away.
            let rssi = if i == 7 { -100 } else { -60 };
            p.observe("b", false, rssi, None, i * 1_000);
        }
        assert!(p.inside());
        assert_eq!(p.tick(15_000 + 30_000), None);
        assert_eq!(p.tick(14_000 + 60_000), Some(Transition::Exited));
        assert!(!p.inside());
        assert_eq!(p.tick(200_000), None);
        // Back in after a gap: a new dwell, a new entry.
        let entered = (300..315).filter_map(|i| p.observe("e", true, -60, None, i * 1_000)).collect::<Vec<_>>();
        assert_eq!(entered, vec![Transition::Entered]);
        assert_eq!(p.summary().eids, vec!["e".to_owned()]);
    }

    #[test]
    fn distance_follows_the_calibration() {
        assert!((distance_m(-59, -59.0) - 1.0).abs() < 1e-9);
        assert!((distance_m(-59, -79.0) - 10.0).abs() < 1e-9);
    }
}
