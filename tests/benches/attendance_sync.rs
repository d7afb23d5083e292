//! Time to sync 1,000 queued punches to the reference server on loopback (closing-note
//! figure of the attendance issue). The punches are recorded first (signed, written
//! with their outbox items), then one `sync()` sends them in order, each an
//! authenticated, idempotent POST judged by the server and settled on the phone.
//!
//! Phone and server share this machine's cores. Run:
//! `cargo bench -p taipei-scenarios --bench attendance_sync` (`-- --quick`: 100 punches).

use std::time::Instant;

use taipei_core::{Client, PunchKind};
use taipei_scenarios::{admin_post, mint_credential, offer_binding, profile_config, software_platform, start_server};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let count: u32 = if quick { 100 } else { 1_000 };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    rt.block_on(async {
        let server = start_server(dir.path()).await;
        let url = server.base_url();
        let office = serde_json::json!({"office_id": "hq", "name": "HQ", "level": "static", "min_interval_ms": 0});
        let hr = mint_credential(&server, "hr", None).await;
        assert_eq!(admin_post(&url, &hr, "/v1/admin/offices", office).await.0, 201);
        let client = Client::open(profile_config(dir.path(), &url), software_platform(dir.path())).await.expect("open");
        client.bind_device(&offer_binding(&server, "bench").await).await.expect("bind");
        client.attendance().load_office("hq").await.expect("office");

        let t = Instant::now();
        for i in 0..count {
            let kind = if i % 2 == 0 { PunchKind::In } else { PunchKind::Out };
            client.attendance().manual_punch(kind, &format!("bench {i}")).await.expect("punch");
        }
        let queued = t.elapsed();
        let t = Instant::now();
        let report = client.sync().await.expect("sync");
        let synced = t.elapsed();
        assert_eq!((report.sent, report.pending, report.dead), (count, 0, 0));
        println!(
            "attendance: recorded {count} punches in {:.2} s ({:.0}/s); synced them in {:.2} s ({:.0} punches/s, {:.2} ms each)",
            queued.as_secs_f64(),
            f64::from(count) / queued.as_secs_f64(),
            synced.as_secs_f64(),
            f64::from(count) / synced.as_secs_f64(),
            synced.as_secs_f64() * 1e3 / f64::from(count)
        );
        client.close().await.expect("close");
        server.shutdown().await;
    });
}
