//! Generated advertisement streams: a person walking into or out of an office, for the
//! CLI's `attendance simulate`, the demo, the tests and the bench. The RSSI follows a
//! ramp with deterministic pseudo-random noise of ±6 dB, at one advert per second (a
//! typical beacon interval as a phone's batched scan reports it).

use taipei_protocol::attendance::OfficeConfig;
use taipei_protocol::beacon::{Advert, encode_ad};

use super::{AdvertData, Sighting};

/// The advert an office beacon sends at server time `now_ms`: its current EID if the
/// office has EIDs, else its first static beacon id rebuilt as an advert.
pub fn office_advert(config: &OfficeConfig, now_ms: i64) -> Option<Advert> {
    if let Some(w) = config.eids.iter().find(|w| w.valid_from_ms <= now_ms && now_ms < w.valid_until_ms) {
        let mut eid = [0u8; 8];
        for (i, b) in eid.iter_mut().enumerate() {
            *b = u8::from_str_radix(w.eid.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        return Some(Advert::EddystoneEid { tx_power: -20, eid });
    }
    config.beacons.iter().find_map(|id| advert_of_id(id))
}

/// `xxxxxxxx-xxxx-...` (dashes optional) to 16 bytes.
pub fn uuid_of(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    if hex.len() != 32 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The inverse of `Advert::beacon_id` for iBeacon and AltBeacon ids.
pub fn advert_of_id(id: &str) -> Option<Advert> {
    let parts: Vec<&str> = id.split(':').collect();
    match parts.as_slice() {
        ["ibeacon", uuid, major, minor] => {
            Some(Advert::IBeacon { uuid: uuid_of(uuid)?, major: major.parse().ok()?, minor: minor.parse().ok()?, measured_power: -59 })
        }
        ["altbeacon", uuid, id2, id3] => Some(Advert::AltBeacon {
            manufacturer: 0x0118,
            id1: uuid_of(uuid)?,
            id2: id2.parse().ok()?,
            id3: id3.parse().ok()?,
            reference_rssi: -59,
            reserved: 0,
        }),
        _ => None,
    }
}

/// A small linear congruential generator: the same walk every time, no rand crate.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> i16 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        // Top bits are the best of an LCG; map to -6..=6.
        i16::try_from((self.0 >> 59) % 13).unwrap_or(6) - 6
    }
}

fn stream(advert: &Advert, start_ms: i64, seconds: u32, rssi_at: impl Fn(f64) -> f64, seed: u64) -> Vec<Sighting> {
    let bytes = encode_ad(advert);
    let mut noise = Noise(seed);
    (0..seconds)
        .map(|s| {
            let progress = f64::from(s) / f64::from(seconds.max(1));
            let rssi = (rssi_at(progress) + f64::from(noise.next())).round().clamp(-127.0, 20.0) as i16;
            Sighting { data: AdvertData::Raw(bytes.clone()), rssi, at_ms: start_ms + i64::from(s) * 1000 }
        })
        .collect()
}

/// Walking in from the corridor (−95 dBm) to the desk (−60 dBm) over the first third,
/// then staying at the desk.
pub fn walk_in(advert: &Advert, start_ms: i64, seconds: u32) -> Vec<Sighting> {
    stream(advert, start_ms, seconds, |p| if p < 1.0 / 3.0 { -95.0 + 105.0 * p } else { -60.0 }, 1)
}

/// Walking out from the desk to out of range: the stream fades and then stops; the
/// caller ticks past the exit timeout.
pub fn walk_out(advert: &Advert, start_ms: i64, seconds: u32) -> Vec<Sighting> {
    stream(advert, start_ms, seconds, |p| -60.0 - 40.0 * p, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use taipei_protocol::beacon::parse_ad;

    #[test]
    fn beacon_ids_map_back_to_adverts_and_walks_ramp() {
        let id = "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:2";
        let advert = advert_of_id(id).unwrap();
        assert_eq!(advert.beacon_id().unwrap(), id);
        assert_eq!(advert_of_id("altbeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6:1:2").unwrap().beacon_id().unwrap(), "altbeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6:1:2");
        assert!(advert_of_id("ibeacon:nothex:1:2").is_none());
        let walk = walk_in(&advert, 1_000, 60);
        assert_eq!(walk.len(), 60);
        assert!(walk[0].rssi <= -89 && walk[59].rssi >= -66, "{} {}", walk[0].rssi, walk[59].rssi);
        let AdvertData::Raw(bytes) = &walk[0].data else { panic!("raw") };
        assert_eq!(parse_ad(bytes).unwrap(), advert);
        assert_eq!(walk[59].at_ms, 60_000);
        let out = walk_out(&advert, 0, 30);
        assert!(out[29].rssi <= -92);
    }
}
