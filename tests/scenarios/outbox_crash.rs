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
    let kills = tokio::task::spawn_blocking(move || {
        kill_children(env!("CARGO_BIN_EXE_outbox-child"), &data_dir, &child_url, RUNS, PER_RUN)
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
    let texts: Vec<String> = client.reports().await.unwrap().into_iter().map(|r| r.text).collect();
    let unique: HashSet<String> = texts.iter().cloned().collect();
    assert_eq!(unique.len(), texts.len(), "a report arrived twice: {texts:?}");
    assert!(queued.is_subset(&unique), "lost: {:?}", queued.difference(&unique).collect::<Vec<_>>());
    assert!(texts.iter().all(|t| t.starts_with("run ")));
    eprintln!("{} of {RUNS} children killed mid-way ({} queueing, {} syncing); {} reports queued, {} delivered", kills.mid_way(), kills.while_queueing, kills.while_syncing, queued.len(), texts.len());
    client.close().await.unwrap();
    server.shutdown().await;
}
