//! Adverts per second through the phone's beacon path on one core: parse the raw AD
//! bytes, match them against the office (static ids and the EID list), and run the
//! presence engine (closing-note figure of the attendance issue).
//!
//! The stream mixes the office's EID beacon walking in and out with foreign iBeacons,
//! as a scan in a city office would. Run: `cargo bench -p taipei-core --bench attendance_presence`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use taipei_core::attendance::{AdvertData, Presence, office_key, parse, simulate};
use taipei_protocol::attendance::{EidWindow, Level, OfficeConfig, PresenceParams};
use taipei_protocol::beacon::{Advert, encode_ad};

fn config() -> OfficeConfig {
    OfficeConfig {
        office_id: "hq".into(),
        name: "HQ".into(),
        level: Level::Eid,
        presence: PresenceParams::default(),
        min_interval_ms: 60_000,
        day_start_min: 0,
        beacons: vec!["ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1".into()],
        // Twelve hours of 17-minute EIDs, as the server hands them out.
        eids: (0..43)
            .map(|i| EidWindow { eid: format!("{:016x}", 0xa9b7_6a71_c5f8_9290_u64 + i), valid_from_ms: i as i64 * 1_024_000, valid_until_ms: (i as i64 + 1) * 1_024_000 })
            .collect(),
        networks: Vec::new(),
        geofence: None,
        server_time_ms: 0,
        refresh_before_ms: 43_000_000,
    }
}

fn stream() -> Vec<(AdvertData, i16, i64)> {
    let office = Advert::EddystoneEid { tx_power: -20, eid: 0xa9b7_6a71_c5f8_9290_u64.to_be_bytes() };
    let mut out = Vec::new();
    for walk in 0..50 {
        let start = walk * 200_000;
        for s in simulate::walk_in(&office, start, 60).into_iter().chain(simulate::walk_out(&office, start + 60_000, 60)) {
            out.push((s.data, s.rssi, s.at_ms));
            // Two foreign beacons for every office advert.
            for minor in [7u16, 8] {
                let foreign = Advert::IBeacon { uuid: [0x42; 16], major: 1, minor, measured_power: -59 };
                out.push((AdvertData::Raw(encode_ad(&foreign)), -70, s.at_ms));
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let config = config();
    let stream = stream();
    let mut group = c.benchmark_group("attendance");
    group.throughput(Throughput::Elements(stream.len() as u64));
    group.bench_function("parse_match_presence", |b| {
        b.iter(|| {
            let mut presence = Presence::new(config.presence);
            let mut transitions = 0u32;
            for (data, rssi, at) in &stream {
                let Ok(advert) = parse(data) else { continue };
                if let Some((key, is_eid)) = office_key(&config, &advert, 500_000) {
                    transitions += u32::from(presence.observe(&key, is_eid, *rssi, advert.rssi_at_1m(), *at).is_some());
                }
                transitions += u32::from(presence.tick(*at).is_some());
            }
            black_box(transitions)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
