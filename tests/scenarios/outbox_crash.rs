//! Crash safety of the outbox: a real child process on a real database file is
//! SIGKILLed at random moments while queueing and syncing; afterwards one sync from
//! the parent delivers everything, and the server holds every report exactly once.

use std::collections::HashSet;

use taipei_scenarios::{kill_children, offer_binding, open_profile, start_server};

const RUNS: u32 = 20;
const PER_RUN: u32 = 4;

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
        kill_children(env!("CARGO_BIN_EXE_outbox-child"), &data_dir, &child_url, RUNS, PER_RUN, 70)
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
