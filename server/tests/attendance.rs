//! Attendance on the reference server over real HTTP: registry, EID lists without keys,
//! punch verdicts as receipts (accepted, each kind of rejection, replays), the weekly
//! report and its audit trail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Session, TestServer, error_of, random_id};
use reqwest::{Method, StatusCode};
use taipei_protocol::api::{Receipt, codes as api_codes, headers};
use taipei_protocol::attendance::{Evidence, OfficeConfig, Punch, PunchKind, WeekReport, codes, punch_message};

const IK: &str = "0102030405060708090a111213141516";

fn now_ms() -> i64 {
    common::now_s() * 1000
}

/// `POST` with `token`: offices and beacons belong to HR's credential.
async fn post_as(t: &TestServer, token: &str, path: &str, body: serde_json::Value) -> StatusCode {
    t.http.post(t.url(path)).bearer_auth(token).json(&body).send().await.unwrap().status()
}

/// An EID office (beacon epoch two days back) and a static one.
async fn offices(t: &TestServer) -> i64 {
    let hr = mint_hr(t).await;
    let admin = |path: &'static str, body: serde_json::Value| post_as(t, &hr, path, body);
    let epoch = now_ms() - 2 * 86_400_000;
    // The admin token no longer manages offices.
    let office = serde_json::json!({"office_id": "x", "name": "x", "level": "static"});
    assert_eq!(post_as(t, t.server.admin_token(), "/v1/admin/offices", office).await, StatusCode::UNAUTHORIZED);
    let eid = serde_json::json!({"office_id": "hq", "name": "市府", "level": "eid", "min_interval_ms": 60000});
    assert_eq!(admin("/v1/admin/offices", eid).await, StatusCode::CREATED);
    let beacon = serde_json::json!({"kind": "eid", "identity_key": IK, "rotation_exponent": 10, "epoch_ms": epoch});
    assert_eq!(admin("/v1/admin/offices/hq/beacons", beacon).await, StatusCode::CREATED);
    let plain = serde_json::json!({"office_id": "annex", "name": "Annex", "level": "static"});
    assert_eq!(admin("/v1/admin/offices", plain).await, StatusCode::CREATED);
    let beacon = serde_json::json!({"kind": "static", "beacon_id": "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1"});
    assert_eq!(admin("/v1/admin/offices/annex/beacons", beacon).await, StatusCode::CREATED);
    assert_eq!(admin("/v1/admin/offices/nowhere/beacons", serde_json::json!({"kind": "static", "beacon_id": "x:1"})).await, StatusCode::NOT_FOUND);
    assert_eq!(assign(t, &hr, "hq", "alice", true).await, StatusCode::OK);
    epoch
}

/// An HR credential, minted by the operator.
async fn mint_hr(t: &TestServer) -> String {
    let body = serde_json::json!({"kind": "hr", "name": "HR system"});
    let response = t.http.post(t.url("/v1/admin/credentials")).bearer_auth(t.server.admin_token()).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

async fn assign(t: &TestServer, token: &str, office: &str, user: &str, assigned: bool) -> StatusCode {
    let body = serde_json::json!({"user_id": user, "assigned": assigned});
    t.http.post(t.url(&format!("/v1/hr/offices/{office}/assignments"))).bearer_auth(token).json(&body).send().await.unwrap().status()
}

fn punch(s: &Session, office: &str, kind: PunchKind, time_ms: i64, evidence: Evidence) -> Punch {
    let mut p = Punch {
        punch_id: random_id(),
        office_id: office.into(),
        kind,
        time_ms,
        synced_at_ms: time_ms - 5_000,
        elapsed_since_sync_ms: 5_000,
        manual_reason: None,
        evidence,
        signature: String::new(),
    };
    p.signature = s.phone.sign(&punch_message(&s.device_id, &p));
    p
}

async fn send(t: &TestServer, s: &Session, p: &Punch, key: &str) -> reqwest::Response {
    t.authed(s, Method::POST, "/v1/attendance/punches").header(headers::IDEMPOTENCY_KEY, key).json(p).send().await.unwrap()
}

async fn receipt(t: &TestServer, s: &Session, p: &Punch) -> Receipt {
    let response = send(t, s, p, &random_id()).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn code_of(r: &Receipt) -> &str {
    r.reason.as_deref().and_then(|r| r.split(':').next()).unwrap_or("")
}

async fn config(t: &TestServer, s: &Session, office: &str) -> OfficeConfig {
    let response = t.authed(s, Method::GET, &format!("/v1/attendance/offices/{office}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    // The identity key never reaches a phone.
    assert!(!text.to_lowercase().contains(IK));
    serde_json::from_str(&text).unwrap()
}

fn eids(list: &[String]) -> Evidence {
    Evidence { eids: list.to_vec(), sightings: 5, rssi_max_dbm: -60, rssi_mean_dbm: -65, ..Evidence::default() }
}

#[tokio::test]
async fn item6_eid_office_accepts_current_eids_and_refuses_copies_old_eids_and_bad_clocks() {
    let t = TestServer::start().await;
    let epoch = offices(&t).await;
    let s = t.session("alice").await;
    let cfg = config(&t, &s, "hq").await;
    let now = now_ms();
    let current = cfg.eids.iter().find(|w| w.valid_from_ms <= now && now < w.valid_until_ms).expect("a current EID");
    assert!(cfg.eids.last().unwrap().valid_until_ms >= now + 11 * 3_600_000, "EIDs for the next hours");

    let ok = receipt(&t, &s, &punch(&s, "hq", PunchKind::In, now, eids(&[current.eid.clone()]))).await;
    assert_eq!(ok.status, "accepted", "{ok:?}");

    // A cloned static iBeacon is not enough at an EID office.
    let cloned = Evidence { beacon_ids: vec!["ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1".into()], ..Evidence::default() };
    let r = receipt(&t, &s, &punch(&s, "hq", PunchKind::Out, now, cloned)).await;
    assert_eq!((r.status.as_str(), code_of(&r)), ("rejected", codes::EVIDENCE));

    // Yesterday's EID, recorded and replayed today.
    let old = {
        let b = taipei_server::attendance::eid::EidBeacon { identity_key: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16], k: 10, epoch_ms: epoch };
        b.window_at(now - 86_400_000).unwrap().eid
    };
    let r = receipt(&t, &s, &punch(&s, "hq", PunchKind::Out, now + 120_000, eids(&[old]))).await;
    assert_eq!((r.status.as_str(), code_of(&r)), ("rejected", codes::EID_INVALID));

    // A phone trusting its own clock, a day ahead.
    let r = receipt(&t, &s, &punch(&s, "hq", PunchKind::Out, now + 86_400_000, eids(&[current.eid.clone()]))).await;
    assert_eq!((r.status.as_str(), code_of(&r)), ("rejected", codes::CLOCK_SKEW));
    assert!(r.reason.unwrap().contains("ahead of the server clock"));

    assert_eq!(t.count("SELECT count(*) FROM attendance_punches"), 1);
    assert_eq!(t.count("SELECT count(*) FROM audit_log WHERE action = 'attendance.punch' AND outcome = 'ok'"), 1);
    assert_eq!(t.count("SELECT count(*) FROM audit_log WHERE action = 'attendance.punch' AND outcome LIKE 'attendance_%'"), 3);
}

#[tokio::test]
async fn item6_eid_schedules_go_only_to_people_assigned_to_the_office() {
    let t = TestServer::start().await;
    offices(&t).await;
    let s = t.session("mallory").await;
    // Bound, but not working at hq: the rules, no rotating ids.
    let cfg = config(&t, &s, "hq").await;
    assert!(cfg.eids.is_empty(), "{:?}", cfg.eids);
    // Only the HR credential assigns; the admin token and a kiosk's do not.
    assert_eq!(assign(&t, t.server.admin_token(), "hq", "mallory", true).await, StatusCode::UNAUTHORIZED);
    let hr = mint_hr(&t).await;
    assert_eq!(assign(&t, &hr, "nowhere", "mallory", true).await, StatusCode::NOT_FOUND);
    assert_eq!(assign(&t, &hr, "hq", "mallory", true).await, StatusCode::OK);
    assert!(!config(&t, &s, "hq").await.eids.is_empty());
    assert_eq!(assign(&t, &hr, "hq", "mallory", false).await, StatusCode::OK);
    assert!(config(&t, &s, "hq").await.eids.is_empty());
    assert_eq!(t.count("SELECT count(*) FROM audit_log WHERE action = 'attendance.assign' AND outcome = 'ok'"), 3);
}

#[tokio::test]
async fn retries_get_the_same_receipt_and_copies_are_replays() {
    let t = TestServer::start().await;
    offices(&t).await;
    let s = t.session("bob").await;
    let ev = Evidence { beacon_ids: vec!["ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1".into()], ..Evidence::default() };
    let p = punch(&s, "annex", PunchKind::In, now_ms(), ev);
    let first = send(&t, &s, &p, "k1").await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Receipt = first.json().await.unwrap();
    assert_eq!(first.status, "accepted");
    let again = send(&t, &s, &p, "k1").await;
    assert!(again.headers().contains_key("idempotent-replayed"));
    assert_eq!(again.json::<Receipt>().await.unwrap(), first);
    // The same signed punch under a new key: a replay, refused, and still one punch.
    let copy = receipt(&t, &s, &p).await;
    assert_eq!((copy.status.as_str(), code_of(&copy)), ("rejected", codes::REPLAYED));
    assert_eq!(t.count("SELECT count(*) FROM attendance_punches"), 1);
    // Each verdict (accepted, then the replay refused) is a push to the person, in the
    // verdict's transaction; the retry that replayed the stored reply is none.
    let verdicts: Vec<String> = {
        let db = t.db();
        let mut stmt = db.prepare("SELECT signed FROM push_messages WHERE user_id = 'bob' ORDER BY seq").unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(verdicts.len(), 2);
    assert!(verdicts[0].contains("\"kind\":\"punch_settled\"") && verdicts[0].contains("打卡成功"));
    assert!(verdicts[1].contains("打卡未受理") && verdicts[1].contains("\"urgency\":\"high\""));

    // A tampered punch does not verify: an error reply, not a receipt.
    let mut forged = punch(&s, "annex", PunchKind::Out, now_ms(), Evidence::default());
    forged.evidence.beacon_ids.push("ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1".into());
    let (status, code) = error_of(send(&t, &s, &forged, "k2").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, api_codes::SIGNATURE_INVALID));
    let (status, code) = error_of(send(&t, &s, &punch(&s, "nowhere", PunchKind::In, now_ms(), Evidence::default()), "k3").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, codes::UNKNOWN_OFFICE));
}

#[tokio::test]
async fn the_week_report_shows_first_in_last_out_and_flags() {
    let t = TestServer::start().await;
    offices(&t).await;
    let s = t.session("carol").await;
    let ev = || Evidence { beacon_ids: vec!["ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1".into()], ..Evidence::default() };
    // Four punches of today (Taipei), a minimum interval (60 s) and a second apart, the
    // last one now. In the first minutes after Taipei's midnight today has no room for
    // them yet: wait until it has, rather than let the time of day decide the verdicts.
    let gap = 61_000;
    let today_start = |now| taipei_protocol::attendance::workday_start_ms(taipei_protocol::attendance::workday(now, 0), 0);
    let young = 3 * gap - (now_ms() - today_start(now_ms()));
    if young > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(young.unsigned_abs() + 1_000)).await;
    }
    let now = now_ms();
    let t_in = now - 3 * gap;
    for (kind, at) in [(PunchKind::In, t_in), (PunchKind::Out, now - 2 * gap), (PunchKind::Out, now - gap)] {
        let mut p = punch(&s, "annex", kind, at, ev());
        // Offline since shortly before the punch.
        p.synced_at_ms = at - 1_000;
        p.elapsed_since_sync_ms = 1_000;
        p.signature = s.phone.sign(&punch_message(&s.device_id, &p));
        let r = receipt(&t, &s, &p).await;
        assert_eq!(r.status, "accepted", "{r:?}");
    }
    let mut manual = punch(&s, "annex", PunchKind::Out, now, Evidence::default());
    manual.manual_reason = Some("beacon was off".into());
    manual.signature = s.phone.sign(&punch_message(&s.device_id, &manual));
    assert_eq!(receipt(&t, &s, &manual).await.reason.as_deref(), Some("manual"));

    let week: WeekReport = t.authed(&s, Method::GET, "/v1/attendance/week").send().await.unwrap().json().await.unwrap();
    let today = week.days.iter().find(|d| d.punches > 0).expect("today has punches");
    assert_eq!(today.punches, 4);
    assert_eq!(today.first_in_ms, Some(t_in));
    assert_eq!(today.last_out_ms, Some(now));
    assert_eq!(today.worked_ms, now - t_in);
    assert!(today.flags.contains(&"manual".to_owned()));
    assert_eq!(week.days.len(), 7);

    let reports = t.mint("reports", None).await;
    let response = t.http.get(t.url("/v1/admin/attendance/carol/week.html")).bearer_auth(&reports).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("Name of carol") && page.contains(&today.date));
    let json: WeekReport = t.http.get(t.url("/v1/admin/attendance/carol/week")).bearer_auth(&reports).send().await.unwrap().json().await.unwrap();
    assert_eq!(json, week);
    let unauth = t.http.get(t.url("/v1/admin/attendance/carol/week")).send().await.unwrap();
    assert_eq!(unauth.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(t.count("SELECT count(*) FROM audit_log WHERE action = 'attendance.report'"), 2);
}
