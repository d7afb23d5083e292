//! QR-key login on loopback, measured (closing-note figures of the login issue and of
//! the server-throughput issue):
//!
//! 1. latency — from the phone's scan call to the browser holding its session (scan,
//!    the browser reads its number, approve, redeem), median and p95 of 100 logins;
//! 2. throughput — several phones logging in at once (closed loop: each starts its next
//!    login when the last one ends) for a few seconds: logins per second, the HTTP
//!    requests per second that took (start, three status polls, scan, decide, redeem:
//!    7 per login; tokens are reused), and each login's latency;
//! 3. latency under load — an open loop at 80 % of the rate step 2 measured: a login
//!    starts every 1/rate seconds whether or not earlier ones finished, and its latency
//!    counts from when it was due (a login waiting for a free phone waits on the clock).
//!
//! Phones, browsers and server share this machine's cores, so the throughput is a
//! floor for a server with cores of its own. The CPU a login costs is split between the
//! server, the database server (PostgreSQL) and the load generator (phones and
//! browsers, each browser keeping its connection alive as a real one does).
//!
//! Where the server runs, from the environment:
//! - default: in this process, on a runtime of its own (threads named `server…`, whose
//!   scheduler time is the server's share), on a SQLite file in a temp dir;
//! - `TAIPEI_BENCH_DATABASE=postgres://user@host:port/db`: on PostgreSQL, in a fresh
//!   database created through that one (and dropped at the end); the share of the
//!   cluster's processes (the postmaster and its children) is counted apart;
//! - `TAIPEI_BENCH_PROCESSES=N`: N server processes (this binary re-executed with
//!   `--serve`: `taipei_server::start` with the embedded configuration, as
//!   `reference-server` runs it, logging a line per request, rate limits off) on one
//!   database; phones and browsers are spread over them, a phone's browser on another
//!   process than the phone where there are two;
//! - `TAIPEI_BENCH_PHONES=N`: phones logging in at once in step 2 (default 8; step 3
//!   has twice as many to draw from).
//!
//! Run: `cargo bench -p taipei-scenarios --bench login_load` (`-- --quick` for a short run).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use taipei_core::Client;
use taipei_scenarios::{LoginBrowser, http, offer_binding_at, profile_config, software_platform, start_server_with};
use taipei_server::RunningServer;
use taipei_server::limits::RateLimits;

/// One phone and the browser it signs in, with the browser's kept-alive HTTP client.
struct Seat {
    phone: Client,
    browser_http: reqwest::Client,
    browser_url: String,
}

/// (whole login from `start`, scan → signed-in browser)
async fn one_login(seat: &Seat) -> (Duration, Duration) {
    let begun = Instant::now();
    let mut browser = LoginBrowser::start_with(&seat.browser_http, &seat.browser_url, "doc").await;
    let frame = browser.frame().await;
    let started = Instant::now();
    let prompt = seat.phone.login().scan(&frame).await.expect("scan");
    let number = browser.status().await.number.expect("number after scan");
    seat.phone.login().approve(&prompt, &number).await.expect("approve");
    let (status, _) = browser.redeem().await;
    assert_eq!(status, 200, "redeem");
    (begun.elapsed(), started.elapsed())
}

/// HTTP requests one login makes: start, status (the frame), scan, status (the number),
/// decide, status (the masked name and confirmation), redeem.
const REQUESTS_PER_LOGIN: f64 = 7.0;

/// utime + stime of `/proc/{pid}/stat` (the whole process, exited threads included), in
/// Linux's fixed USER_HZ of 100 ticks a second; its parent's pid beside.
fn pid_stat(pid: &str) -> Option<(Duration, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((Duration::from_millis(ticks * 10), fields.get(1)?.parse().ok()?))
}

fn process_cpu() -> Duration {
    pid_stat("self").expect("/proc/self/stat").0
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

/// CPU time of a PostgreSQL cluster: its postmaster and every process it forked (the
/// server's pooled connections live as long as the server, so none is missed).
fn cluster_cpu(postmaster: u32) -> Duration {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        if let Some((cpu, parent)) = pid_stat(pid)
            && (parent == postmaster || pid == postmaster.to_string())
        {
            total += cpu;
        }
    }
    total
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A fresh database on the PostgreSQL server `url` names, and that server's postmaster.
struct PgBench {
    admin: postgres::Client,
    name: String,
    url: String,
    postmaster: u32,
}

impl PgBench {
    fn create(url: &str) -> Self {
        let mut admin = postgres::Client::connect(url, postgres::NoTls).expect("connect to TAIPEI_BENCH_DATABASE");
        let name = format!("login_load_{}", std::process::id());
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).expect("drop database");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
        let backend: i32 = admin.query_one("SELECT pg_backend_pid()", &[]).expect("backend pid").get(0);
        let postmaster = pid_stat(&backend.to_string()).expect("the PostgreSQL server runs on this machine").1;
        // postgres://user@host:port/db?params → the same with the new database name.
        let scheme_end = url.find("://").expect("a URL") + 3;
        let path_start = url[scheme_end..].find('/').map_or(url.len(), |i| scheme_end + i);
        let query = url[path_start..].find('?').map_or("", |i| &url[path_start + i..]);
        let url = format!("{}/{name}{query}", &url[..path_start]);
        Self { admin, name, url, postmaster }
    }

    fn drop_database(mut self) {
        if let Err(e) = self.admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("could not drop {}: {e}", self.name);
        }
    }
}

/// The servers under test.
enum Servers {
    InProcess { runtime: tokio::runtime::Runtime, server: RunningServer },
    Processes { children: Vec<Child>, urls: Vec<String>, admin_token: String },
}

impl Servers {
    fn urls(&self) -> Vec<String> {
        match self {
            Self::InProcess { server, .. } => vec![server.base_url()],
            Self::Processes { urls, .. } => urls.clone(),
        }
    }

    fn admin_token(&self) -> &str {
        match self {
            Self::InProcess { server, .. } => server.admin_token(),
            Self::Processes { admin_token, .. } => admin_token,
        }
    }

    fn cpu(&self) -> Duration {
        match self {
            Self::InProcess { .. } => threads_cpu("server"),
            Self::Processes { children, .. } => children.iter().filter_map(|c| pid_stat(&c.id().to_string())).map(|(cpu, _)| cpu).sum(),
        }
    }

    fn stop(self) {
        match self {
            Self::InProcess { runtime, server } => runtime.block_on(server.shutdown()),
            Self::Processes { children, .. } => {
                for mut child in children {
                    // Closing its stdin is the child's signal to shut down gracefully.
                    drop(child.stdin.take());
                    let status = child.wait().expect("server process");
                    assert!(status.success(), "server process ended with {status}");
                }
            }
        }
    }
}

fn start_processes(location: &str, count: usize) -> Servers {
    let admin_token = taipei_protocol::b64::encode(rand_bytes());
    let kek = taipei_server::sealing::LocalKek::new_base64().expect("system randomness");
    let exe = std::env::current_exe().expect("this bench's path");
    let mut children = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..count {
        let mut child = Command::new(&exe)
            .arg("--serve")
            .env("TAIPEI_DATABASE", location)
            .env("TAIPEI_ADMIN_TOKEN", &admin_token)
            .env("TAIPEI_SERVER_KEK", &kek)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a server process");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = loop {
            let line = lines.next().expect("the server process said where it listens").expect("stdout");
            if let Some(url) = line.strip_prefix("listening ") {
                break url.to_owned();
            }
        };
        // Its log lines (one a request) are read and dropped, as a log shipper would.
        std::thread::spawn(move || lines.for_each(drop));
        children.push(child);
        urls.push(url);
    }
    Servers::Processes { children, urls, admin_token }
}

fn rand_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut out).expect("system randomness");
    out
}

/// `--serve`: one server process for [`start_processes`]; stops when stdin closes.
fn serve() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name}"));
        let mut config = taipei_server::ServerConfig::embedded(var("TAIPEI_DATABASE").into());
        config.admin_token = var("TAIPEI_ADMIN_TOKEN");
        config.kek = Arc::new(taipei_server::sealing::LocalKek::from_base64(&var("TAIPEI_SERVER_KEK")).expect("KEK"));
        config.rate_limits = RateLimits::off();
        taipei_server::ops::logs::init(taipei_server::ops::logs::LogFormat::Text);
        let server = taipei_server::start(config).await.expect("server starts");
        println!("listening {}", server.base_url());
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
        server.shutdown().await;
    });
}

/// CPU of each party since [`Cpu::now`].
#[derive(Clone, Copy)]
struct Cpu {
    all: Duration,
    server: Duration,
    database: Duration,
}

impl Cpu {
    fn now(servers: &Servers, postmaster: Option<u32>) -> Self {
        let server = servers.cpu();
        let in_process = matches!(servers, Servers::InProcess { .. });
        Self {
            all: process_cpu() + if in_process { Duration::ZERO } else { server },
            server,
            database: postmaster.map_or(Duration::ZERO, cluster_cpu),
        }
    }

    fn report(self, later: Self, logins: f64, elapsed: f64) {
        let per = |d: Duration| d.as_secs_f64() * 1e3 / logins;
        let (server, database) = (later.server - self.server, later.database - self.database);
        let load = (later.all - self.all) - server;
        println!(
            "CPU per login: {:.2} ms in all = server {:.2} ms + database {:.2} ms + phones and browsers {:.2} ms ({:.2} cores busy)",
            per(server + database + load),
            per(server),
            per(database),
            per(load),
            (server + database + load).as_secs_f64() / elapsed
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--serve") {
        return serve();
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (logins, seconds) = if quick { (20, 3) } else { (100, 10) };
    let phones: usize = std::env::var("TAIPEI_BENCH_PHONES").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let processes: usize = std::env::var("TAIPEI_BENCH_PROCESSES").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let pg = std::env::var("TAIPEI_BENCH_DATABASE").ok().filter(|v| !v.is_empty()).map(|url| PgBench::create(&url));
    let dir = tempfile::tempdir().expect("temp dir");
    let location = pg.as_ref().map_or_else(|| dir.path().join("server.db").to_string_lossy().into_owned(), |p| p.url.clone());
    let postmaster = pg.as_ref().map(|p| p.postmaster);
    let servers = if processes == 0 {
        // Its blocking pool (the database calls) is named the same, so every server thread is counted.
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("server").enable_all().build().expect("server runtime");
        // Throughput of the server itself: every browser here shares one address, which
        // the rate limits would otherwise (rightly) hold back.
        let server = runtime.block_on(start_server_with(dir.path(), |c| {
            c.db_path = location.clone().into();
            c.rate_limits = RateLimits::off();
        }));
        Servers::InProcess { runtime, server }
    } else {
        start_processes(&location, processes)
    };
    println!(
        "server: {} on {}",
        if processes == 0 { "in this process".to_owned() } else { format!("{processes} processes") },
        if pg.is_some() { "PostgreSQL" } else { "SQLite" }
    );
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("load").enable_all().build().expect("runtime");
    rt.block_on(async {
        let urls = servers.urls();
        let mut seats = Vec::new();
        for i in 0..phones * 2 {
            let pdir = dir.path().join(format!("phone{i}"));
            let url = &urls[i % urls.len()];
            let phone = Client::open(profile_config(&pdir, url), software_platform(&pdir)).await.expect("open");
            phone.bind_device(&offer_binding_at(url, servers.admin_token(), &format!("bench-{i}")).await).await.expect("bind");
            phone.sign_in().await.expect("sign in");
            seats.push(Arc::new(Seat { phone, browser_http: http(), browser_url: urls[(i + 1) % urls.len()].clone() }));
        }

        one_login(&seats[0]).await; // warm-up
        let mut times = Vec::with_capacity(logins);
        for _ in 0..logins {
            times.push(one_login(&seats[0]).await.1);
        }
        times.sort();
        println!(
            "scan → signed-in browser, {logins} logins one at a time: median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(*times.last().expect("some"))
        );

        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let before = Cpu::now(&servers, postmaster);
        let started = Instant::now();
        let tasks: Vec<_> = seats[..phones]
            .iter()
            .map(|seat| {
                let (seat, done) = (Arc::clone(seat), Arc::clone(&done));
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    while Instant::now() < deadline {
                        times.push(one_login(&seat).await.0);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    times
                })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.extend(t.await.expect("load task"));
        }
        let elapsed = started.elapsed().as_secs_f64();
        let after = Cpu::now(&servers, postmaster);
        times.sort();
        let n = done.load(Ordering::Relaxed) as f64;
        let max_rate = n / elapsed;
        println!(
            "{phones} phones at once for {seconds} s (closed loop): {max_rate:.0} logins/s, {:.0} HTTP requests/s ({REQUESTS_PER_LOGIN} per login); a whole login p50 {:.1} ms, p99 {:.1} ms",
            n * REQUESTS_PER_LOGIN / elapsed,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
        );
        before.report(after, n, elapsed);

        // Open loop at 80 % of that rate, drawing on every phone.
        let rate = 0.8 * max_rate;
        let period = Duration::from_secs_f64(1.0 / rate);
        let total = (rate * seconds as f64).round() as u32;
        let (free_tx, free_rx) = tokio::sync::mpsc::unbounded_channel();
        for seat in &seats {
            free_tx.send(Arc::clone(seat)).expect("pool");
        }
        let free_rx = Arc::new(tokio::sync::Mutex::new(free_rx));
        let before = Cpu::now(&servers, postmaster);
        let started = tokio::time::Instant::now();
        let mut tasks = Vec::with_capacity(total as usize);
        for k in 0..total {
            let due = started + period * k;
            tokio::time::sleep_until(due).await;
            let (free_tx, free_rx) = (free_tx.clone(), Arc::clone(&free_rx));
            tasks.push(tokio::spawn(async move {
                let seat = free_rx.lock().await.recv().await.expect("a seat");
                one_login(&seat).await;
                free_tx.send(seat).expect("pool");
                due.elapsed()
            }));
        }
        let mut times = Vec::with_capacity(tasks.len());
        for t in tasks {
            times.push(t.await.expect("open-loop login"));
        }
        let elapsed = started.elapsed().as_secs_f64();
        let after = Cpu::now(&servers, postmaster);
        times.sort();
        println!(
            "open loop at 80 % of that ({rate:.0} logins/s due, {} phones to draw on, {total} logins): {:.0} logins/s done; a whole login from when it was due p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            seats.len(),
            f64::from(total) / elapsed,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().expect("some")),
        );
        before.report(after, f64::from(total), elapsed);
        for seat in &seats {
            seat.phone.close().await.expect("close");
        }
    });
    servers.stop();
    if let Some(pg) = pg {
        pg.drop_database();
    }
}
