//! Two server processes (the `reference-server` binary) on one database, with the
//! client's requests spread across them: the one-time guarantees are the database's,
//! so they hold whichever process a copy lands on. Runs on the suite's engine — a
//! SQLite file shared by both processes, or PostgreSQL with `TAIPEI_TEST_DATABASE_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use reqwest::StatusCode;
use taipei_server::sealing::LocalKek;

/// A server process, killed when dropped.
struct Process {
    child: Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on `t`'s database with its admin token and `kek`, and waits until
/// it is ready.
async fn spawn(t: &TestServer, kek: &str) -> Process {
    // A free port now; the process binds it a moment later (loopback, nothing else here
    // takes ports at random in between but other tests, and a clash fails loudly).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .env("TAIPEI_DATABASE", common::db_path(&t.dir))
        .env("TAIPEI_BIND", format!("127.0.0.1:{port}"))
        .env("TAIPEI_ADMIN_TOKEN", t.server.admin_token())
        .env("TAIPEI_SERVER_KEK", kek)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let process = Process { child, base: format!("http://127.0.0.1:{port}") };
    for _ in 0..300 {
        if t.http.get(format!("{}/readyz", process.base)).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            return process;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server process on port {port} did not become ready");
}

/// This test process's server (for enrolment) and two more processes, all under one KEK.
async fn three_servers() -> (TestServer, Process, Process) {
    let kek = LocalKek::new_base64().unwrap();
    let t = {
        let kek = kek.clone();
        TestServer::start_with(move |c| c.kek = Arc::new(LocalKek::from_base64(&kek).unwrap())).await
    };
    let a = spawn(&t, &kek).await;
    let b = spawn(&t, &kek).await;
    (t, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_idempotency_key_across_two_processes_does_the_work_once() {
    let (t, a, b) = three_servers().await;
    common::duplicates_do_the_work_once(&t, &[a.base.clone(), b.base.clone()], "u-proc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_proof_replayed_across_two_processes_is_accepted_once() {
    let (t, a, b) = three_servers().await;
    common::a_proof_is_accepted_once_across(&t, &[a.base.clone(), b.base.clone()], "u-proc2").await;
}
