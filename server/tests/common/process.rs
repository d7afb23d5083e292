//! Server processes (the `reference-server` binary) on a test server's database, as a
//! deployment runs several behind one load balancer.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use taipei_server::sealing::LocalKek;

use super::TestServer;

/// A server process, killed when dropped.
pub struct Process {
    child: Child,
    pub base: String,
}

impl Process {
    /// SIGKILL, as an out-of-memory killer or a pulled container would: no shutdown,
    /// no chance to finish or roll back anything itself.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on `t`'s database with its admin token and `kek`, and waits until
/// it is ready.
pub async fn spawn(t: &TestServer, kek: &str) -> Process {
    // A free port now; the process binds it a moment later (loopback, nothing else here
    // takes ports at random in between but other tests, and a clash fails loudly).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .env("TAIPEI_DATABASE", super::db_path(&t.dir))
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

/// This test process's server (for enrolment and set-up) and two more processes, all
/// under one KEK.
pub async fn three_servers() -> (TestServer, Process, Process) {
    let kek = LocalKek::new_base64().unwrap();
    let t = {
        let kek = kek.clone();
        TestServer::start_with(move |c| c.kek = Arc::new(LocalKek::from_base64(&kek).unwrap())).await
    };
    let a = spawn(&t, &kek).await;
    let b = spawn(&t, &kek).await;
    (t, a, b)
}

/// A lock held on a table of a PostgreSQL test database from the test's own connection,
/// in a transaction left open until [`TableLock::release`] (or drop): a server's write
/// transaction that reaches the table waits there, mid-work, for as long as the test
/// wants.
pub struct TableLock {
    location: std::path::PathBuf,
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TableLock {
    /// `LOCK TABLE table IN SHARE ROW EXCLUSIVE MODE` (which every insert waits for) on
    /// `t`'s database; returns once the lock is held.
    pub fn take(t: &TestServer, table: &'static str) -> Self {
        let location = super::db_path(&t.dir);
        let url = location.to_string_lossy().into_owned();
        let (locked, is_locked) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut tx = client.transaction().unwrap();
            tx.batch_execute(&format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")).unwrap();
            locked.send(()).unwrap();
            // A release, or the test gone (sender dropped): either way the lock ends.
            let _ = released.recv();
            tx.commit().unwrap();
        });
        is_locked.recv().unwrap();
        Self { location, release: Some(release), thread: Some(thread) }
    }

    /// Waits until a backend whose transaction has already written (it holds a
    /// transaction id) waits for a lock on `table`, and returns its pid.
    pub async fn blocked_writer(&self, table: &str) -> i64 {
        let sql = format!(
            "SELECT CAST(a.pid AS BIGINT) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid \
             WHERE a.datname = current_database() AND NOT l.granted AND l.relation = '{table}'::regclass \
             AND a.backend_xid IS NOT NULL AND a.state = 'active'"
        );
        let db = super::TestDb { location: self.location.clone() };
        for _ in 0..400 {
            let pids: Vec<i64> = db.prepare(&sql).unwrap().query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
            if let [pid] = pids[..] {
                return pid;
            }
            assert!(pids.len() < 2, "one writer expected, found {pids:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no server transaction came to wait on {table}");
    }

    /// Ends the lock's transaction.
    pub fn release(mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }

    /// Waits until the backend `pid` is gone (its client died and it ended the
    /// transaction it had open).
    pub async fn wait_gone(t: &TestServer, pid: i64) {
        for _ in 0..400 {
            if t.count(&format!("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {pid}")) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("backend {pid} outlived its killed client");
    }
}
