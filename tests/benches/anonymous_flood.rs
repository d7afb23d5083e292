//! An anonymous flood against the reference server on loopback: 100,000 requests
//! (`--quick`: 10,000) spread over every anonymous kind — login start, status and
//! redeem, the web session, kiosk pickup, the verifier, the room display, tokens,
//! device registration and admin-token guesses — from 32 concurrent senders, while one
//! signed-in phone keeps calling `/v1/me` and `/v1/login/history`.
//!
//! Checks what the security issue asks: the database file (with its WAL) grows by less
//! than 10 MB, and the signed-in phone is answered within 100 ms at the 99th
//! percentile while the flood runs. Prints the numbers; exits non-zero if a bound is
//! broken. Bounded in count, and each request times out after 10 s.
//!
//! `cargo bench -p taipei-scenarios --bench anonymous_flood [-- --quick] [--no-limits]`
//! (`--no-limits`: rate limits off, so every request reaches the handlers and the
//! storage bounds alone keep the file small).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use taipei_scenarios::{http, offer_binding, open_profile, start_server_with};

const SENDERS: u64 = 32;

fn db_bytes(dir: &std::path::Path) -> u64 {
    ["server.db", "server.db-wal", "server.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Request number `i` of the flood: one of the anonymous kinds, in turn.
fn request(client: &reqwest::Client, base: &str, i: u64) -> reqwest::RequestBuilder {
    let json = |path: &str, body: serde_json::Value| client.post(format!("{base}{path}")).json(&body);
    match i % 10 {
        0 => json("/v1/login/start", serde_json::json!({ "system_id": "doc" }))
            .header("User-Agent", format!("Flood/{i} {}", "x".repeat(2_000))),
        1 => client.get(format!("{base}/v1/login/AAAAAAAAAAAAAAAAAAAAAA")).header("Cookie", format!("tpl_x={i}")),
        2 => json("/v1/login/AAAAAAAAAAAAAAAAAAAAAA/redeem", serde_json::json!({ "confirm": i.to_string() })),
        3 => client.get(format!("{base}/v1/web/session")).header("Cookie", format!("tp_session={i}")),
        4 => json("/v1/kiosk/pickup", serde_json::json!({ "code": format!("{:010}", i) })),
        5 => json("/v1/wallet/verify", serde_json::json!({ "qr": format!("TPC1:{i}") })),
        6 => client.get(format!("{base}/v1/meetings/AAAAAAAAAAAAAAAAAAAAAA/display")).bearer_auth(i.to_string()),
        7 => json("/v1/token", serde_json::json!({ "device_id": format!("d{i}") })).header("DPoP", "x.y.z"),
        8 => json("/v1/devices", serde_json::json!({ "bid": i.to_string() })).header("Idempotency-Key", format!("k{i}")),
        _ => json("/v1/admin/meetings", serde_json::json!({})).bearer_auth(format!("guess{i}")),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let no_limits = std::env::args().any(|a| a == "--no-limits");
    let total: u64 = if quick { 10_000 } else { 100_000 };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let ok = rt.block_on(async {
        let server = start_server_with(dir.path(), |c| {
            if no_limits {
                c.rate_limits = taipei_server::limits::RateLimits::off();
            }
        })
        .await;
        let base = server.base_url();
        let phone = open_profile(&dir.path().join("phone"), &base).await;
        phone.bind_device(&offer_binding(&server, "flood-watcher").await).await.expect("bind");
        phone.sign_in().await.expect("sign in");
        phone.login().history().await.expect("warm-up");
        let before = db_bytes(dir.path());

        let sent = Arc::new(AtomicU64::new(0));
        let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
        let flooding = Arc::new(AtomicBool::new(true));
        let started = Instant::now();
        let senders: Vec<_> = (0..SENDERS)
            .map(|_| {
                let (sent, statuses, base) = (Arc::clone(&sent), Arc::clone(&statuses), base.clone());
                tokio::spawn(async move {
                    let client = http();
                    loop {
                        let i = sent.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            break;
                        }
                        let status = match request(&client, &base, i).timeout(Duration::from_secs(10)).send().await {
                            Ok(r) => r.status().as_u16(),
                            Err(_) => 0,
                        };
                        *statuses.lock().unwrap().entry(status).or_default() += 1;
                    }
                })
            })
            .collect();
        // The signed-in phone, meanwhile.
        let watcher = {
            let flooding = Arc::clone(&flooding);
            tokio::spawn(async move {
                let mut times = Vec::new();
                while flooding.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    phone.login().history().await.expect("history during the flood");
                    times.push(t.elapsed());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                times
            })
        };
        for s in senders {
            s.await.expect("sender");
        }
        let elapsed = started.elapsed();
        flooding.store(false, Ordering::Relaxed);
        let mut times = watcher.await.expect("watcher");
        times.sort();
        let grown = db_bytes(dir.path()).saturating_sub(before);
        let p99 = percentile(&times, 0.99);
        println!(
            "anonymous flood (rate limits {}): {total} requests in {:.1} s ({:.0}/s) from {SENDERS} senders; replies by status {:?}",
            if no_limits { "off" } else { "on" },
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            statuses.lock().unwrap()
        );
        println!("database grew by {:.2} MB (bound 10 MB)", grown as f64 / 1e6);
        println!(
            "signed-in phone during the flood: {} calls, median {:.1} ms, p99 {:.1} ms (bound 100 ms), max {:.1} ms",
            times.len(),
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            times.last().unwrap().as_secs_f64() * 1e3
        );
        server.shutdown().await;
        grown < 10_000_000 && p99 < Duration::from_millis(100)
    });
    if !ok {
        eprintln!("a bound was broken");
        std::process::exit(1);
    }
}
