//! Crash safety of approval actions: a real child process on a real profile is
//! SIGKILLed at random moments while reading items, queueing signed approvals and
//! syncing, 50 times; afterwards one sync delivers the rest, and every action the
//! child reported was applied on the server exactly once — none lost, none twice.

use std::collections::HashSet;

use taipei_core::approval::{ActionState, InboxFilter};
use taipei_scenarios::{approval_item, approval_person, kill_children, offer_binding, open_profile, start_server};

const RUNS: u32 = 50;
const PER_RUN: u32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_action_fifty_times_every_action_applies_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let url = server.base_url();
    approval_person(&server, "clerk", 5).await;
    approval_person(&server, "director", 2).await;
    let total = (RUNS + 1) * PER_RUN;
    let mut items = Vec::new();
    for n in 0..total {
        items.push(approval_item(&server, &format!("公文 {n}"), &["clerk", "director"], "document").await);
    }
    {
        let client = open_profile(dir.path(), &url).await;
        client.bind_device(&offer_binding(&server, "director").await).await.unwrap();
        client.close().await.unwrap();
    }

    let (data_dir, child_url) = (dir.path().to_owned(), url.clone());
    let kills = tokio::task::spawn_blocking(move || kill_children(env!("CARGO_BIN_EXE_approval-child"), &data_dir, &child_url, RUNS, PER_RUN))
        .await
        .unwrap();
    let queued = &kills.queued;
    assert!(kills.mid_way() >= RUNS / 2, "only {} of {RUNS} kills landed mid-way: {kills:?}", kills.mid_way());
    assert!(kills.while_queueing >= 1 && kills.while_syncing >= 1, "kills never landed in one phase: {kills:?}");
    assert!(!queued.is_empty(), "no child queued anything before it was killed");

    let client = open_profile(dir.path(), &url).await;
    let report = client.sync().await.unwrap();
    assert_eq!((report.pending, report.dead), (0, 0));
    let approvals = client.approvals();
    let actions = approvals.actions(None, 1000).await.unwrap();
    let ids: HashSet<String> = actions.iter().map(|a| a.action_id.clone()).collect();
    assert!(queued.is_subset(&ids), "lost: {:?}", queued.difference(&ids).collect::<Vec<_>>());
    // Each settled as done: a resend with a new key would have come back as a conflict.
    assert!(actions.iter().all(|a| a.state == ActionState::Done), "{:?}", actions.iter().filter(|a| a.state != ActionState::Done).collect::<Vec<_>>());
    let acted: HashSet<&str> = actions.iter().map(|a| a.item_id.as_str()).collect();
    assert_eq!(acted.len(), actions.len(), "two actions for one item");
    // On the server: every item acted on holds exactly one approval; the others none.
    approvals.sync_inbox().await.unwrap();
    let mut approved = 0;
    for id in &items {
        let history = approvals.open(id).await.unwrap().detail.history;
        let approvals_of = history.iter().filter(|h| h.action == "approve").count();
        assert_eq!(approvals_of, usize::from(acted.contains(id.as_str())), "item {id}: {history:?}");
        approved += approvals_of;
    }
    assert_eq!(approved, actions.len());
    let left = approvals.inbox(InboxFilter::default()).await.unwrap().counts.document;
    assert_eq!(left as usize + approved, items.len(), "the phone's counts agree with the server");
    eprintln!(
        "{} of {RUNS} children killed mid-way ({} queueing, {} syncing); {} actions reported, {} applied once each",
        kills.mid_way(),
        kills.while_queueing,
        kills.while_syncing,
        queued.len(),
        approved
    );
    client.close().await.unwrap();
    server.shutdown().await;
}
