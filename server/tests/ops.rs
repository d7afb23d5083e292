//! Operations: the probes, the metrics, graceful shutdown with a request in flight, and
//! an online backup restored into a fresh server — each over real HTTP on loopback
//! against a real SQLite file, or PostgreSQL (`pg_dump` / `pg_restore` for the backup).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{TestServer, error_of, random_id, report};
use reqwest::{Method, StatusCode};
use taipei_protocol::api::{Health, Receipt, ReportList, codes, headers};
use taipei_server::db::migrations;
use taipei_server::ops::backup;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn healthz_is_the_process_and_readyz_the_database_and_its_schema() {
    let t = TestServer::start().await;
    let health: Health = t.http.get(t.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health.status, "ok");
    let ready = t.http.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: Health = ready.json().await.unwrap();
    assert_eq!((ready.status.as_str(), ready.schema_version), ("ready", Some(migrations::latest())));

    // A newer release migrated the shared file: this process leaves the rotation, and
    // stays alive (a restart would not help it).
    t.db().set_schema_version(migrations::latest() + 1);
    let (status, code) = error_of(t.http.get(t.url("/readyz")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::SERVICE_UNAVAILABLE, codes::NOT_READY));
    assert_eq!(t.http.get(t.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    t.db().set_schema_version(migrations::latest());
    assert_eq!(t.http.get(t.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);
}

/// The value of the series `name{labels}` in an OpenMetrics text, if present.
fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_latencies_intake_and_rejections() {
    let t = TestServer::start().await;
    let session = t.session("u-metrics").await;
    let body = report(&session, "metrics");
    let key = random_id();
    for _ in 0..2 {
        let response =
            t.authed(&session, Method::POST, "/v1/reports").header(headers::IDEMPOTENCY_KEY, &key).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    // Refusals: an unknown access token, twice, and a path no route serves.
    for _ in 0..2 {
        let response = t.with_auth(t.http.get(t.url("/v1/me")), "not-a-token", "x").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(t.http.get(t.url("/v1/nothing/secret-looking-1234")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    let response = t.http.get(t.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    let reports = r#"{method="POST",route="/v1/reports",status="201"}"#;
    assert_eq!(series(&text, &format!("taipei_http_requests_total{reports}")), Some(2.0), "{text}");
    assert_eq!(series(&text, &format!("taipei_http_request_duration_seconds_count{reports}")), Some(2.0));
    assert!(series(&text, &format!("taipei_http_request_duration_seconds_sum{reports}")).unwrap() > 0.0);
    assert_eq!(series(&text, r#"taipei_outbox_intake_total{route="/v1/reports",outcome="accepted"}"#), Some(1.0));
    assert_eq!(series(&text, r#"taipei_outbox_intake_total{route="/v1/reports",outcome="replayed"}"#), Some(1.0));
    assert_eq!(series(&text, r#"taipei_rejections_total{code="invalid_dpop_proof"}"#), Some(2.0), "{text}");
    assert_eq!(series(&text, r#"taipei_rejections_total{code="not_found"}"#), Some(1.0));
    assert_eq!(series(&text, r#"taipei_http_requests_total{method="GET",route="(no route)",status="404"}"#), Some(1.0));
    // Labels are route templates: no path's values, no token.
    assert!(!text.contains("secret-looking-1234") && !text.contains(&session.token) && !text.contains(&session.device_id));
}

/// Reads one HTTP/1.1 reply head (and whatever body came with it) from `stream`.
async fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.expect("reply in time").unwrap();
        assert!(n > 0, "connection closed before {needle:?}: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(seen).unwrap()
}

/// Sends a login start whose body is held back until `Expect: 100-continue` is
/// answered, which the server does only once the handler reads the body: from then on
/// the request is in flight.
async fn request_in_flight(addr: std::net::SocketAddr, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/login/start HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    read_until(&mut stream, "100 Continue\r\n\r\n").await;
    stream
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_and_refuses_new_ones() {
    let t = TestServer::start().await;
    let addr = t.server.addr();
    let body = r#"{"system_id":"doc"}"#;
    let mut slow = request_in_flight(addr, body).await;

    let TestServer { server, dir, .. } = t;
    let stopping = tokio::spawn(server.shutdown());
    // The listener closes at once; the process keeps running for the request in flight.
    let refused = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), refused).await.expect("new connections refused");
    assert!(!stopping.is_finished(), "shutdown waits for the request in flight");

    slow.write_all(body.as_bytes()).await.unwrap();
    let reply = read_until(&mut slow, "\"rid\"").await;
    assert!(reply.contains("HTTP/1.1 201 Created"), "{reply}");
    tokio::time::timeout(Duration::from_secs(5), stopping).await.expect("shutdown ends once the reply is out").unwrap();
    let rows: i64 = common::test_db(&dir).query_row("SELECT COUNT(*) FROM login_requests", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 1, "the request's work was committed before the server stopped");
}

#[tokio::test]
async fn shutdown_gives_up_on_a_request_that_never_finishes_after_the_grace_period() {
    let t = TestServer::start_with(|c| c.shutdown_grace = Duration::from_millis(300)).await;
    let _stuck = request_in_flight(t.server.addr(), r#"{"system_id":"doc"}"#).await;
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), t.server.shutdown()).await.expect("shutdown ends after the grace period");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_restores_into_a_fresh_server_with_the_same_state() {
    let t = TestServer::start().await;
    let session = t.session("u-backup").await;
    let filed: Receipt = t
        .authed(&session, Method::POST, "/v1/reports")
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .json(&report(&session, "before the backup"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let root_key: serde_json::Value = t.http.get(t.url("/v1/wallet/root-key")).send().await.unwrap().json().await.unwrap();

    // Writers keep going while the backup runs: the copy is a consistent snapshot.
    let writer = {
        let (http, url) = (t.http.clone(), t.url("/v1/login/start"));
        tokio::spawn(async move {
            for _ in 0..50 {
                let response = http.post(&url).json(&serde_json::json!({"system_id": "doc"})).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
            }
        })
    };
    let live = common::db_path(&t.dir);
    let fresh = tempfile::tempdir().unwrap();
    let restored = if common::postgres_url().is_some() {
        pg_dump_and_restore(&live, &fresh).await
    } else {
        let copy = t.dir.path().join("backup.sqlite");
        let copied = tokio::task::spawn_blocking({
            let (live, copy) = (live.clone(), copy.clone());
            move || backup::backup(&live, &copy)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(copied.schema_version, migrations::latest());
        assert!(copied.pages > 0);
        #[cfg(unix)]
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&copy).unwrap().permissions()) & 0o777, 0o600);
        // Never over an existing file.
        assert!(backup::backup(&live, &copy).unwrap_err().to_string().contains("exists already"));
        let restored = fresh.path().join("restored.sqlite");
        backup::restore(&copy, &restored).unwrap();
        assert!(backup::restore(&copy, &restored).is_err(), "a restore never overwrites a database");
        restored
    };
    writer.await.unwrap();
    let mut config = taipei_server::ServerConfig::embedded(restored.clone());
    config.kek = common::kek();
    let second = taipei_server::start(config).await.unwrap();
    let url = |path: &str| format!("{}{path}", second.base_url());

    // The same device gets a token from the restored server, and reads its report.
    let proof = session.phone.proof("POST", &url("/v1/token"), None);
    let response = t
        .http
        .post(url("/v1/token"))
        .header(headers::DPOP, proof)
        .json(&taipei_protocol::api::TokenRequest { device_id: session.device_id.clone() })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token: taipei_protocol::api::AccessToken = response.json().await.unwrap();
    let proof = session.phone.proof("GET", &url("/v1/reports"), Some(&token.access_token));
    let list: ReportList = t.with_auth(t.http.get(url("/v1/reports")), &token.access_token, &proof).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.reports.len(), 1);
    assert_eq!((list.reports[0].id.as_str(), list.reports[0].text.as_str()), (filed.id.as_str(), "before the backup"));
    // Keys sealed under the KEK open: the same root key is served.
    let restored_root: serde_json::Value = t.http.get(url("/v1/wallet/root-key")).send().await.unwrap().json().await.unwrap();
    assert_eq!(restored_root, root_key);
    second.shutdown().await;
}

/// A PostgreSQL client tool of the server's major version: on PATH, else Debian's
/// versioned directory (which Debian keeps off PATH).
fn pg_tool(name: &str) -> std::path::PathBuf {
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql").map(|d| d.flatten().map(|e| e.path().join("bin")).collect()).unwrap_or_default();
    dirs.sort();
    dirs.into_iter().rev().map(|d| d.join(name)).find(|p| p.exists()).unwrap_or_else(|| name.into())
}

/// PostgreSQL's own backup while the server runs: `pg_dump` (one consistent snapshot,
/// writers not stopped) restored with `pg_restore` into the empty database of `fresh`.
async fn pg_dump_and_restore(live: &std::path::Path, fresh: &tempfile::TempDir) -> std::path::PathBuf {
    let dump = fresh.path().join("backup.dump");
    let run = |tool: &str, args: Vec<std::ffi::OsString>| {
        let out = std::process::Command::new(pg_tool(tool)).args(args).output().unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let live_url = live.as_os_str().to_owned();
    let dump_arg = dump.as_os_str().to_owned();
    tokio::task::spawn_blocking(move || run("pg_dump", vec!["--format=custom".into(), "--file".into(), dump_arg, live_url])).await.unwrap();
    let restored = common::db_path(fresh);
    let (target, dump_arg) = (restored.as_os_str().to_owned(), dump.as_os_str().to_owned());
    tokio::task::spawn_blocking(move || run("pg_restore", vec!["--no-owner".into(), "--exit-on-error".into(), "--dbname".into(), target, dump_arg])).await.unwrap();
    restored
}

#[test]
fn restore_refuses_what_is_not_a_whole_database_of_a_known_schema() {
    if common::sqlite_only("restoring a SQLite backup") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.sqlite");
    std::fs::write(&junk, b"not a database at all, just some bytes that are long enough to matter").unwrap();
    let err = backup::restore(&junk, &dir.path().join("a.sqlite")).unwrap_err().to_string();
    assert!(err.contains("not a readable SQLite database"), "{err}");
    assert!(!dir.path().join("a.sqlite").exists());

    let newer = dir.path().join("newer.sqlite");
    let conn = rusqlite::Connection::open(&newer).unwrap();
    conn.pragma_update(None, "user_version", migrations::latest() + 1).unwrap();
    drop(conn);
    let err = backup::restore(&newer, &dir.path().join("b.sqlite")).unwrap_err().to_string();
    assert!(err.contains("newer than this server knows"), "{err}");
    assert!(backup::restore(&dir.path().join("missing.sqlite"), &dir.path().join("c.sqlite")).unwrap_err().to_string().contains("no database file"));
}
