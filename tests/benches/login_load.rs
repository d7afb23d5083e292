//! QR-key login on loopback, measured (closing-note figures of the login issue):
//!
//! 1. latency — from the phone's scan call to the browser holding its session (scan,
//!    the browser reads its number, approve, redeem), median and p95 of 100 logins;
//! 2. throughput — several phones logging in at once for a few seconds: completed
//!    scan+approve pairs per second, and the HTTP requests per second that took
//!    (start, status, scan, decide, redeem per login; tokens are reused).
//!
//! Phones, browsers and server share this machine's cores, so the throughput is a
//! floor for a server with cores of its own. The server runs on a runtime of its own
//! (threads named `server…`), so the CPU a login costs is split between the server and
//! the load generator (phones and browsers) from each thread's scheduler time.
//! Run: `cargo bench -p taipei-scenarios --bench login_load` (`-- --quick` for a short run).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use taipei_core::Client;
use taipei_scenarios::{LoginBrowser, offer_binding, profile_config, software_platform, start_server_with};

async fn one_login(server_url: &str, phone: &Client) -> Duration {
    let mut browser = LoginBrowser::start(server_url, "doc").await;
    let frame = browser.frame().await;
    let started = Instant::now();
    let prompt = phone.login().scan(&frame).await.expect("scan");
    let number = browser.status().await.number.expect("number after scan");
    phone.login().approve(&prompt, &number).await.expect("approve");
    let (status, _) = browser.redeem().await;
    assert_eq!(status, 200, "redeem");
    started.elapsed()
}

/// CPU time of the whole process, exited threads included (`/proc/self/stat`'s utime
/// and stime, in Linux's fixed USER_HZ of 100 ticks a second).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat") + 2..].split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

/// CPU time of the live threads whose name starts with `prefix` (`/proc/self/task/*/schedstat`).
fn threads_cpu(prefix: &str) -> Duration {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task").flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    }
    Duration::from_nanos(total)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (logins, phones, seconds) = if quick { (20, 4, 3) } else { (100, 8, 10) };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("load").enable_all().build().expect("runtime");
    // Its blocking pool (SQLite) is named the same, so every server thread is counted.
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("server").enable_all().build().expect("server runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    // Throughput of the server itself: every browser here shares one address, which
    // the rate limits would otherwise (rightly) hold back.
    let server = server_rt.block_on(start_server_with(dir.path(), |c| c.rate_limits = taipei_server::limits::RateLimits::off()));
    rt.block_on(async {
        let url = server.base_url();
        let mut clients = Vec::new();
        for i in 0..phones {
            let pdir = dir.path().join(format!("phone{i}"));
            let client = Client::open(profile_config(&pdir, &url), software_platform(&pdir)).await.expect("open");
            client.bind_device(&offer_binding(&server, &format!("bench-{i}")).await).await.expect("bind");
            client.sign_in().await.expect("sign in");
            clients.push(Arc::new(client));
        }

        one_login(&url, &clients[0]).await; // warm-up
        let mut times = Vec::with_capacity(logins);
        for _ in 0..logins {
            times.push(one_login(&url, &clients[0]).await);
        }
        times.sort();
        println!(
            "scan → signed-in browser, {logins} logins one at a time: median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.95).as_secs_f64() * 1e3,
            times.last().expect("some").as_secs_f64() * 1e3
        );

        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let (cpu_before, server_cpu_before) = (process_cpu(), threads_cpu("server"));
        let started = Instant::now();
        let tasks: Vec<_> = clients
            .iter()
            .map(|client| {
                let (client, done, url) = (Arc::clone(client), Arc::clone(&done), url.clone());
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        one_login(&url, &client).await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("load task");
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = (process_cpu() - cpu_before).as_secs_f64();
        let server_cpu = (threads_cpu("server") - server_cpu_before).as_secs_f64();
        let n = done.load(Ordering::Relaxed) as f64;
        println!(
            "{phones} phones at once for {seconds} s: {:.0} logins/s (scan+approve pairs), {:.0} HTTP requests/s (5 per login)",
            n / elapsed,
            n * 5.0 / elapsed
        );
        println!(
            "CPU per login: {:.2} ms in all = server {:.2} ms + phones and browsers {:.2} ms ({:.2} cores busy)",
            cpu * 1e3 / n,
            server_cpu * 1e3 / n,
            (cpu - server_cpu) * 1e3 / n,
            cpu / elapsed
        );
        for c in clients {
            c.close().await.expect("close");
        }
    });
    server_rt.block_on(server.shutdown());
}
