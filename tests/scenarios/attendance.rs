//! Beacon attendance end to end: the core fed advert streams, against the reference
//! server over real HTTP, with real SQLite files — the faults the issue names.

use std::sync::{Arc, Mutex};

use taipei_core::attendance::{AdvertData, Sighting, simulate};
use taipei_core::{Client, Error, Event, EventListener, PunchKind};
use taipei_protocol::beacon::{Advert, encode_ad};
use taipei_scenarios::{
    report_get, admin_post, assign_to_office, mint_credential, offer_binding, open_profile, profile_config, software_platform, start_server, start_server_at,
};
use taipei_server::RunningServer;
use taipei_server::attendance::eid::EidBeacon;

const IK: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16];
const STATIC_ID: &str = "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1";

fn now_ms() -> i64 {
    taipei_core::net::clock::local_now_ms()
}

/// An office at `level` with one EID beacon (epoch two days back) and one static beacon.
async fn office(server: &RunningServer, id: &str, level: &str) -> EidBeacon {
    let url = server.base_url();
    let body = serde_json::json!({"office_id": id, "name": "市府", "level": level, "min_interval_ms": 60000});
    let hr = mint_credential(server, "hr", None).await;
    assert_eq!(admin_post(&url, &hr, "/v1/admin/offices", body).await.0, 201);
    let beacon = EidBeacon { identity_key: IK, k: 10, epoch_ms: now_ms() - 2 * 86_400_000 };
    let key: String = IK.iter().map(|b| format!("{b:02x}")).collect();
    let eid = serde_json::json!({"kind": "eid", "identity_key": key, "rotation_exponent": 10, "epoch_ms": beacon.epoch_ms});
    let path = format!("/v1/admin/offices/{id}/beacons");
    assert_eq!(admin_post(&url, &hr, &path, eid).await.0, 201);
    let fixed = serde_json::json!({"kind": "static", "beacon_id": STATIC_ID});
    assert_eq!(admin_post(&url, &hr, &path, fixed).await.0, 201);
    beacon
}

fn eid_advert(eid_hex: &str) -> Advert {
    let mut eid = [0u8; 8];
    for (i, b) in eid.iter_mut().enumerate() {
        *b = u8::from_str_radix(&eid_hex[2 * i..2 * i + 2], 16).unwrap();
    }
    Advert::EddystoneEid { tx_power: -20, eid }
}

#[derive(Default)]
struct Events(Mutex<Vec<Event>>);

impl EventListener for Events {
    fn on_event(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

async fn bound_client(dir: &std::path::Path, server: &RunningServer, user: &str, events: Option<Arc<Events>>) -> Client {
    let mut platform = software_platform(dir);
    platform.listener = events.map(|e| e as Arc<dyn EventListener>);
    let client = Client::open(profile_config(dir, &server.base_url()), platform).await.unwrap();
    client.bind_device(&offer_binding(server, user).await).await.unwrap();
    client
}

/// Feeds a stream; returns the punches it caused.
async fn feed(client: &Client, stream: Vec<Sighting>) -> Vec<taipei_core::attendance::PunchRecord> {
    let mut out = Vec::new();
    for s in stream {
        out.extend(client.attendance().sighting(s).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_adverts_are_typed_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    office(&server, "hq", "eid").await;
    assign_to_office(&server, "hq", "amy").await;
    let client = bound_client(dir.path(), &server, "amy", None).await;
    let raw = |bytes: &[u8]| Sighting { data: AdvertData::Raw(bytes.to_vec()), rssi: -50, at_ms: 0 };
    // Before any office is known, a good advert is refused with a reason.
    let good = encode_ad(&Advert::IBeacon { uuid: [1; 16], major: 1, minor: 1, measured_power: -59 });
    assert_eq!(client.attendance().sighting(raw(&good)).await.unwrap_err().code(), "attendance_no_office");
    client.attendance().load_office("hq").await.unwrap();

    let cases: [(&[u8], &str); 5] = [
        (&good[..good.len() - 3], "beacon_truncated"),
        (&[0x02, 0x01, 0x06, 0x16, 0xff, 0x18, 0x01, 0xbe, 0xac], "beacon_truncated"),
        (&[0x02, 0x01, 0x06], "beacon_not_a_beacon"),
        (&[0x02, 0x01, 0x06, 0x04, 0x16, 0xaa, 0xfe, 0x77], "beacon_unknown_frame"),
        (&[0x02, 0x01, 0x06, 0x06, 0x16, 0xaa, 0xfe, 0x10, 0xeb, 0x09], "beacon_malformed"),
    ];
    for (bytes, code) in cases {
        let err = client.attendance().sighting(raw(bytes)).await.unwrap_err();
        assert_eq!(err.code(), code, "{bytes:02x?}");
        assert!(matches!(err, Error::Attendance(_)));
    }
    let wrong_company = Sighting { data: AdvertData::Manufacturer { company: 0x0006, data: vec![0x02, 0x15] }, rssi: -50, at_ms: 0 };
    assert_eq!(client.attendance().sighting(wrong_company).await.unwrap_err().code(), "beacon_not_a_beacon");
    // A beacon that is not this office's is ignored, not an error.
    assert_eq!(client.attendance().sighting(raw(&good)).await.unwrap(), None);
    assert!(!client.attendance().inside());
    assert_eq!(client.outbox().await.unwrap().pending, 0);
    client.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_in_and_out_at_an_eid_office_and_the_week_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    office(&server, "hq", "eid").await;
    assign_to_office(&server, "hq", "ben").await;
    let events = Arc::new(Events::default());
    let client = bound_client(dir.path(), &server, "ben", Some(events.clone())).await;
    let config = client.attendance().load_office("hq").await.unwrap();
    let advert = simulate::office_advert(&config, client.server_now_ms()).unwrap();
    assert!(matches!(advert, Advert::EddystoneEid { .. }));

    let punches = feed(&client, simulate::walk_in(&advert, 0, 60)).await;
    assert_eq!(punches.iter().map(|p| p.kind).collect::<Vec<_>>(), vec![PunchKind::In]);
    assert!(client.attendance().inside());
    // Walking in again (back from lunch) is not a second clock-in.
    assert!(feed(&client, simulate::walk_in(&advert, 100_000, 30)).await.is_empty());
    assert!(feed(&client, simulate::walk_out(&advert, 130_000, 30)).await.is_empty());
    let out = client.attendance().tick(160_000 + config.presence.exit_timeout_ms).await.unwrap().expect("a clock-out");
    assert_eq!(out.kind, PunchKind::Out);

    let report = client.sync().await.unwrap();
    assert_eq!((report.sent, report.pending, report.dead), (2, 0, 0));
    let week = client.attendance().week(client.server_now_ms()).await.unwrap();
    let day = week.days.iter().find(|d| !d.punches.is_empty()).unwrap();
    assert_eq!(day.sync, "synced");
    assert_eq!(day.summary.first_in_ms, Some(punches[0].time_ms));
    assert_eq!(day.summary.last_out_ms, Some(out.time_ms));
    assert!(day.punches.iter().all(|p| p.state == "accepted"));
    client.close().await.unwrap();
    let seen = events.0.lock().unwrap().clone();
    let recorded = seen.iter().filter(|e| matches!(e, Event::PunchRecorded { .. })).count();
    let accepted = seen.iter().filter(|e| matches!(e, Event::PunchSettled { accepted: true, .. })).count();
    assert_eq!((recorded, accepted), (2, 2), "{seen:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloned_static_beacon_at_an_eid_office_is_rejected_and_the_person_is_told_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    office(&server, "hq", "eid").await;
    assign_to_office(&server, "hq", "cai").await;
    let events = Arc::new(Events::default());
    let client = bound_client(dir.path(), &server, "cai", Some(events.clone())).await;
    client.attendance().load_office("hq").await.unwrap();
    // Someone copied the office's static iBeacon (any phone app can): the phone sees it.
    let clone = simulate::advert_of_id(STATIC_ID).unwrap();
    let punches = feed(&client, simulate::walk_in(&clone, 0, 60)).await;
    assert_eq!(punches.len(), 1, "the phone records; the server judges");
    client.sync().await.unwrap();
    let settled = client.attendance().punch(&punches[0].punch_id).await.unwrap().unwrap();
    assert_eq!(settled.state, "rejected");
    assert!(settled.reason.as_deref().unwrap().starts_with("attendance_evidence:"), "{settled:?}");
    let week = client.attendance().week(client.server_now_ms()).await.unwrap();
    let day = week.days.iter().find(|d| !d.punches.is_empty()).unwrap();
    assert_eq!((day.sync.as_str(), day.summary.first_in_ms), ("rejected", None));
    // Nothing left silently in the outbox; the refusal reached the listener.
    let status = client.outbox().await.unwrap();
    assert_eq!((status.pending, status.dead), (0, 0));
    client.close().await.unwrap();
    let told = events.0.lock().unwrap().iter().any(|e| {
        matches!(e, Event::PunchSettled { accepted: false, reason: Some(r), punch_id } if r.contains("EID") && *punch_id == punches[0].punch_id)
    });
    assert!(told, "{:?}", events.0.lock().unwrap());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yesterdays_eid_is_ignored_and_a_wrong_phone_clock_does_not_move_the_punch() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let beacon = office(&server, "hq", "eid").await;
    assign_to_office(&server, "hq", "dai").await;
    let client = bound_client(dir.path(), &server, "dai", None).await;
    client.attendance().load_office("hq").await.unwrap();

    // A recording of yesterday's EID, replayed at the door.
    let yesterday = beacon.window_at(now_ms() - 86_400_000).unwrap().eid;
    assert!(feed(&client, simulate::walk_in(&eid_advert(&yesterday), 0, 60)).await.is_empty());
    assert!(!client.attendance().inside());

    // The phone's wall clock is a day behind: its sightings carry yesterday's times.
    let today = beacon.window_at(now_ms()).unwrap().eid;
    let day_behind = now_ms() - 86_400_000;
    let punches = feed(&client, simulate::walk_in(&eid_advert(&today), day_behind, 60)).await;
    assert_eq!(punches.len(), 1);
    let server_now = client.server_now_ms();
    assert!((punches[0].time_ms - server_now).abs() < 60_000, "stamped with the server clock");
    client.sync().await.unwrap();
    let p = client.attendance().punch(&punches[0].punch_id).await.unwrap().unwrap();
    assert_eq!(p.state, "accepted", "{p:?}");
    assert!(!p.late);
    client.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_punches_survive_a_restart_and_arrive_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let addr = server.addr();
    office(&server, "annex", "static").await;
    {
        let client = bound_client(dir.path(), &server, "eve", None).await;
        client.attendance().load_office("annex").await.unwrap();
        client.close().await.unwrap();
    }
    server.shutdown().await;

    // No network: the phone restarts, reads its office from the store, and punches.
    let client = open_profile(dir.path(), &format!("http://{addr}")).await;
    let advert = simulate::advert_of_id(STATIC_ID).unwrap();
    let mut queued = feed(&client, simulate::walk_in(&advert, 0, 60)).await;
    queued.push(client.attendance().manual_punch(PunchKind::Out, "left by the back door").await.unwrap());
    assert!(client.sync().await.is_err(), "offline");
    let week = client.attendance().week(client.server_now_ms()).await.unwrap();
    assert_eq!(week.days.iter().find(|d| !d.punches.is_empty()).unwrap().sync, "pending");
    client.close().await.unwrap();

    // Back online (same address), reopened again: one sync delivers both, once.
    let server = start_server_at(dir.path(), Some(addr)).await;
    let client = open_profile(dir.path(), &server.base_url()).await;
    let report = client.sync().await.unwrap();
    assert_eq!((report.sent, report.pending), (2, 0));
    assert_eq!(client.sync().await.unwrap().sent, 0);
    for p in &queued {
        assert_eq!(client.attendance().punch(&p.punch_id).await.unwrap().unwrap().state, "accepted");
    }
    let week: taipei_protocol::attendance::WeekReport = serde_json::from_value(report_get(&server, "/v1/admin/attendance/eve/week").await).unwrap();
    assert_eq!(week.days.iter().map(|d| d.punches).sum::<u32>(), 2);
    assert!(week.days.iter().any(|d| d.flags.contains(&"manual".to_owned())));
    client.close().await.unwrap();
    server.shutdown().await;
}

/// A clock the test moves by hand: the phone "sleeps" without the process noticing.
#[derive(Default)]
struct SleepyClock(std::sync::atomic::AtomicU64);

impl taipei_core::ElapsedClock for SleepyClock {
    fn elapsed_ms(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_spent_suspended_counts_in_the_punch_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    office(&server, "hq", "static").await;
    let clock = Arc::new(SleepyClock(std::sync::atomic::AtomicU64::new(1_000_000)));
    let mut platform = software_platform(dir.path());
    platform.clock = Some(clock.clone());
    let client = Client::open(profile_config(dir.path(), &server.base_url()), platform).await.unwrap();
    client.bind_device(&offer_binding(&server, "sleeper").await).await.unwrap();
    let config = client.attendance().load_office("hq").await.unwrap();

    // Forty minutes asleep: a monotonic `Instant` would not have moved at all.
    const ASLEEP_MS: i64 = 40 * 60_000;
    clock.0.fetch_add(ASLEEP_MS as u64, std::sync::atomic::Ordering::SeqCst);
    let punch = client.attendance().manual_punch(PunchKind::In, "badge reader broken").await.unwrap();
    let since_load = punch.time_ms - config.server_time_ms;
    assert_eq!(since_load, ASLEEP_MS, "the stamp is the fetch's server time plus the elapsed clock");
    client.close().await.unwrap();
    server.shutdown().await;
}
