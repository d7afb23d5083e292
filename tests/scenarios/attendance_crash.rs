//! Crash safety of punches: a real child process on a real profile is SIGKILLed at
//! random moments while recording and syncing punches, 50 times; afterwards one sync
//! delivers the rest, every punch the child reported is on the server, and the server
//! holds exactly as many punches as the phone — none lost, none twice.

use std::collections::HashSet;

use taipei_protocol::attendance::WeekReport;
use taipei_scenarios::{report_get, admin_post, kill_children, mint_credential, offer_binding, open_profile, start_server};

const RUNS: u32 = 50;
const PER_RUN: u32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_sync_fifty_times_every_punch_arrives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let url = server.base_url();
    // No minimum interval: every manual punch of the runs is a distinct, valid punch.
    let office = serde_json::json!({"office_id": "hq", "name": "HQ", "level": "static", "min_interval_ms": 0});
    let hr = mint_credential(&server, "hr", None).await;
    assert_eq!(admin_post(&url, &hr, "/v1/admin/offices", office).await.0, 201);
    {
        let client = open_profile(dir.path(), &url).await;
        client.bind_device(&offer_binding(&server, "frank").await).await.unwrap();
        client.attendance().load_office("hq").await.unwrap();
        client.close().await.unwrap();
    }

    let (data_dir, child_url) = (dir.path().to_owned(), url.clone());
    let kills = tokio::task::spawn_blocking(move || {
        kill_children(env!("CARGO_BIN_EXE_attendance-child"), &data_dir, &child_url, RUNS, PER_RUN)
    })
    .await
    .unwrap();
    let queued = &kills.queued;
    // A kill at start-up or after the child finished tests nothing: most must land
    // mid-way, and some of them while items were on their way to the server.
    assert!(kills.mid_way() >= RUNS / 2, "only {} of {RUNS} kills landed mid-way: {kills:?}", kills.mid_way());
    assert!(kills.while_queueing >= 1 && kills.while_syncing >= 1, "kills never landed in one phase: {kills:?}");
    assert!(!queued.is_empty(), "no child queued anything before it was killed");

    let client = open_profile(dir.path(), &url).await;
    let report = client.sync().await.unwrap();
    assert_eq!((report.pending, report.dead), (0, 0));
    // Every punch on the phone, each settled as accepted; every one the child reported among them.
    let week = client.attendance().week(client.server_now_ms()).await.unwrap();
    let on_phone: Vec<_> = week.days.iter().flat_map(|d| d.punches.iter()).collect();
    let ids: HashSet<String> = on_phone.iter().map(|p| p.punch_id.clone()).collect();
    assert_eq!(ids.len(), on_phone.len());
    assert!(on_phone.iter().all(|p| p.state == "accepted"), "{on_phone:?}");
    assert!(queued.is_subset(&ids), "lost: {:?}", queued.difference(&ids).collect::<Vec<_>>());
    // The server holds exactly the phone's punches: none twice.
    let server_week: WeekReport = serde_json::from_value(report_get(&server, "/v1/admin/attendance/frank/week").await).unwrap();
    let on_server: u32 = server_week.days.iter().map(|d| d.punches).sum();
    assert_eq!(on_server as usize, on_phone.len());
    eprintln!("{} of {RUNS} children killed mid-way ({} queueing, {} syncing); {} punches reported, {} on the phone and the server", kills.mid_way(), kills.while_queueing, kills.while_syncing, queued.len(), on_server);
    client.close().await.unwrap();
    server.shutdown().await;
}
