//! Crash safety of the outbox: a real child process on a real database file is
//! SIGKILLed at random moments while queueing and syncing; afterwards one sync from
//! the parent delivers everything, and the server holds every report exactly once.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use taipei_scenarios::{offer_binding, open_profile, start_server};
use std::io::Read as _;

const RUNS: u32 = 20;
const PER_RUN: u32 = 4;

/// A random delay from the OS's randomness (no rand crate in the workspace).
fn random_delay_ms(max: u64) -> u64 {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .expect("urandom");
    u64::from_le_bytes(b) % max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_sync_every_report_arrives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let url = server.base_url();
    {
        let client = open_profile(dir.path(), &url).await;
        client.bind_device(&offer_binding(&server, "carol").await).await.unwrap();
        client.close().await.unwrap();
    }

    // The children run on std processes in a blocking thread; the server keeps
    // serving on the runtime meanwhile.
    let (data_dir, child_url) = (dir.path().to_owned(), url.clone());
    let (queued, killed) = tokio::task::spawn_blocking(move || {
        let mut queued = HashSet::new();
        let mut killed = 0;
        for run in 0..RUNS {
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_outbox-child"))
                .args([data_dir.to_str().unwrap(), &child_url, &run.to_string(), &PER_RUN.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("child starts");
            let mut stdout = child.stdout.take().unwrap();
            std::thread::sleep(Duration::from_millis(random_delay_ms(70)));
            if child.try_wait().unwrap().is_none() {
                killed += 1;
            }
            child.kill().ok(); // SIGKILL
            child.wait().unwrap();
            let mut out = String::new();
            stdout.read_to_string(&mut out).unwrap();
            queued.extend(out.lines().filter_map(|l| l.strip_prefix("queued ")).map(str::to_owned));
        }
        (queued, killed)
    })
    .await
    .unwrap();

    let client = open_profile(dir.path(), &url).await;
    let report = client.sync().await.unwrap();
    assert_eq!((report.pending, report.dead), (0, 0));
    let texts: Vec<String> = client.reports().await.unwrap().into_iter().map(|r| r.text).collect();
    let unique: HashSet<String> = texts.iter().cloned().collect();
    assert_eq!(unique.len(), texts.len(), "a report arrived twice: {texts:?}");
    assert!(queued.is_subset(&unique), "lost: {:?}", queued.difference(&unique).collect::<Vec<_>>());
    assert!(texts.iter().all(|t| t.starts_with("run ")));
    eprintln!("{killed} of {RUNS} children killed mid-way; {} reports queued, {} delivered", queued.len(), texts.len());
    client.close().await.unwrap();
    server.shutdown().await;
}
