//! Mobile approval end to end: the core's `Approvals` against the reference server over
//! loopback HTTP — inbox synced into the profile, read offline, acted on offline and
//! delivered later, a conflict kept for review, a batch with mixed results, a proxy.

use taipei_core::Client;
use taipei_core::approval::{ActRequest, ActionState, ApprovalError, InboxFilter};
use taipei_core::ctx::CommonError;
use taipei_core::{Error, NetError};
use taipei_protocol::approval::{Action, Kind, codes};
use taipei_protocol::b64;
use taipei_scenarios::{approval_item, approval_person, offer_binding, open_profile, profile_config, software_platform, start_server};

async fn bound(dir: &std::path::Path, server: &taipei_server::RunningServer, user: &str) -> Client {
    let client = open_profile(dir, &server.base_url()).await;
    client.bind_device(&offer_binding(server, user).await).await.unwrap();
    client
}

/// The same profile with the server out of reach (a port nothing listens on).
async fn offline(dir: &std::path::Path) -> Client {
    Client::open(profile_config(dir, "http://127.0.0.1:9"), software_platform(dir)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_offline_reading_acting_conflicts_and_batches() {
    let dir = tempfile::tempdir().unwrap();
    let phone_dir = dir.path().join("director");
    let server = start_server(dir.path()).await;
    for (id, level) in [("clerk", 5), ("chief", 4), ("director", 2)] {
        approval_person(&server, id, level).await;
    }
    // The director holds these (chain clerk → director); the last one is the chief's.
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(approval_item(&server, &format!("公文 {n}"), &["clerk", "director"], "document").await);
    }
    let leave = approval_item(&server, "特休假", &["clerk", "director"], "leave").await;
    let chiefs = approval_item(&server, "科內公文", &["clerk", "chief", "director"], "document").await;

    let client = bound(&phone_dir, &server, "director").await;
    let approvals = client.approvals();
    let r = approvals.sync_inbox().await.unwrap();
    // The chief's item too: the director is on its chain (readable, not actionable yet).
    assert_eq!(r.changed, 5);
    let page = approvals.inbox(InboxFilter::default()).await.unwrap();
    assert_eq!((page.counts.document, page.counts.leave), (3, 1));
    assert_eq!(page.entries.len(), 4);
    assert!(page.entries.iter().all(|e| e.summary.actionable && !e.readable_offline && e.summary.item_id != chiefs));
    let leaves = approvals.inbox(InboxFilter { kind: Some(Kind::Leave), ..InboxFilter::default() }).await.unwrap();
    assert_eq!(leaves.entries.len(), 1);
    assert_eq!(leaves.entries[0].summary.item_id, leave);
    // Paging: two at a time, the cursor continues where the page ended.
    let first = approvals.inbox(InboxFilter { limit: 2, ..InboxFilter::default() }).await.unwrap();
    let rest = approvals.inbox(InboxFilter { limit: 2, cursor: first.next_cursor.clone(), ..InboxFilter::default() }).await.unwrap();
    assert_eq!(first.entries.len() + rest.entries.len(), 4);
    assert!(rest.next_cursor.is_none());

    // Acting on something never read is refused before anything is signed.
    let not_read = approvals.act(ActRequest::new(&ids[0], Action::Approve, "准")).await.unwrap_err();
    assert_eq!(not_read.code(), "approval_not_read");
    let item = approvals.open(&ids[0]).await.unwrap();
    assert!(!item.offline);
    assert_eq!(String::from_utf8(item.body.clone()).unwrap(), "<p>公文 0</p>");
    assert!(item.detail.actions.contains(&Action::Approve));
    assert_eq!(approvals.act(ActRequest::new(&ids[0], Action::Approve, " ")).await.unwrap_err(), ApprovalError::OpinionRequired);
    assert_eq!(approvals.act(ActRequest::new(&ids[0], Action::Return, "")).await.unwrap_err(), ApprovalError::ReasonRequired);
    let done = approvals.act(ActRequest::new(&ids[0], Action::Approve, "如擬")).await.unwrap();
    assert_eq!(done.state, ActionState::Done, "{done:?}");
    assert!(!approvals.entry(&ids[0]).await.unwrap().summary.actionable);
    approvals.open(&ids[1]).await.unwrap();
    approvals.open(&leave).await.unwrap();
    client.close().await.unwrap();

    // Offline: the inbox and the items read are on the phone; an action waits in the outbox.
    let client = offline(&phone_dir).await;
    let approvals = client.approvals();
    let page = approvals.inbox(InboxFilter::default()).await.unwrap();
    assert_eq!(page.entries.len(), 3);
    let kept = approvals.open(&ids[1]).await.unwrap();
    assert!(kept.offline);
    assert_eq!(String::from_utf8(kept.body).unwrap(), "<p>公文 1</p>");
    let never_read = approvals.open(&ids[2]).await.unwrap_err();
    assert!(matches!(never_read, ApprovalError::Common(CommonError::Net(NetError::Unreachable(_)))), "{never_read:?}");
    // The top error flattens it back to the shared network variant.
    assert!(matches!(Error::from(never_read), Error::Net(NetError::Unreachable(_))));
    let mut back = ActRequest::new(&ids[1], Action::Return, "請補充預算來源");
    back.return_to = Some(taipei_protocol::approval::ReturnTo::Drafter);
    let queued = approvals.act(back).await.unwrap();
    assert_eq!(queued.state, ActionState::Queued);
    assert_eq!(approvals.entry(&ids[1]).await.unwrap().pending, Some(Action::Return));
    let twice = approvals.act(ActRequest::new(&ids[1], Action::Approve, "准")).await.unwrap_err();
    assert_eq!(twice.code(), "approval_action_pending");
    assert_eq!(client.outbox().await.unwrap().pending, 1);
    client.close().await.unwrap();

    // Online again: the queued return is delivered once, its receipt settles it.
    let client = open_profile(&phone_dir, &server.base_url()).await;
    let approvals = client.approvals();
    let report = client.sync().await.unwrap();
    assert_eq!((report.sent, report.pending), (1, 0));
    let settled = approvals.action(&queued.action_id).await.unwrap();
    assert_eq!(settled.state, ActionState::Done, "{settled:?}");

    // Conflict: the drafter edits the leave request after the director read it.
    let (status, _) = taipei_scenarios::admin_post_plain(&server, &format!("/v1/admin/approval/items/{leave}/edit"), serde_json::json!({"subject": "特休假 (改)"})).await;
    assert_eq!(status, 200);
    let conflict = approvals.act(ActRequest::new(&leave, Action::Approve, "准假")).await.unwrap();
    assert_eq!(conflict.state, ActionState::Conflict);
    assert_eq!(conflict.code.as_deref(), Some(codes::VERSION_CHANGED));
    assert_eq!(conflict.opinion, "准假", "the opinion is kept for review");
    // The phone now knows its copy is old: a second try is refused until it is read again.
    let again = approvals.act(ActRequest::new(&leave, Action::Approve, "准假")).await.unwrap_err();
    assert_eq!(Error::from(again), Error::Approval(ApprovalError::ChangedSinceRead(leave.clone())));
    let reread = approvals.open(&leave).await.unwrap();
    assert_eq!(reread.detail.summary.subject.as_deref(), Some("特休假 (改)"));
    assert_eq!(approvals.act(ActRequest::new(&leave, Action::Approve, "准假")).await.unwrap().state, ActionState::Done);

    // A batch: five read items approved together, one edited meanwhile (conflict), one
    // asking for an action its place in the chain does not offer (not queued).
    let mut batch_ids = Vec::new();
    for n in 0..5 {
        batch_ids.push(approval_item(&server, &format!("批次 {n}"), &["clerk", "director"], "form").await);
    }
    approvals.sync_inbox().await.unwrap();
    for id in &batch_ids {
        approvals.open(id).await.unwrap();
    }
    let edited = &batch_ids[2];
    let (status, _) = taipei_scenarios::admin_post_plain(&server, &format!("/v1/admin/approval/items/{edited}/edit"), serde_json::json!({"body": b64::encode(b"<p>changed</p>")})).await;
    assert_eq!(status, 200);
    let mut requests: Vec<ActRequest> = batch_ids.iter().map(|id| ActRequest::new(id, Action::Approve, "同意")).collect();
    requests[4].action = Action::Forward;
    let results = approvals.act_batch(requests).await.unwrap();
    assert_eq!(results.len(), 5);
    let states: Vec<_> = results.iter().map(|r| r.as_ref().map(|a| a.state).map_err(|e| e.code().to_owned())).collect();
    assert_eq!(
        states,
        vec![Ok(ActionState::Done), Ok(ActionState::Done), Ok(ActionState::Conflict), Ok(ActionState::Done), Err(codes::ACTION_NOT_ALLOWED.to_owned())]
    );
    // The history on the phone: newest first, every verdict kept.
    let history = approvals.actions(None, 100).await.unwrap();
    assert_eq!(history.len(), 4 + 4);
    assert_eq!(history.iter().filter(|a| a.state == ActionState::Conflict).count(), 2);
    assert_eq!(client.outbox().await.unwrap().pending, 0);
    client.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_approves_in_their_own_name_for_the_absent_manager() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    for (id, level) in [("clerk", 5), ("director", 2), ("deputy", 3)] {
        approval_person(&server, id, level).await;
    }
    let from = i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap() - 60_000;
    let proxy = serde_json::json!({"user_id": "director", "proxy_id": "deputy", "from_ms": from, "until_ms": from + 86_400_000});
    assert_eq!(taipei_scenarios::admin_post_plain(&server, "/v1/admin/approval/proxies", proxy).await.0, 201);
    let id = approval_item(&server, "代理決行", &["clerk", "director"], "document").await;
    let client = bound(&dir.path().join("deputy"), &server, "deputy").await;
    let approvals = client.approvals();
    approvals.sync_inbox().await.unwrap();
    let entry = approvals.entry(&id).await.unwrap();
    assert_eq!(entry.summary.acting_for.as_deref(), Some("director"));
    approvals.open(&id).await.unwrap();
    let done = approvals.act(ActRequest::new(&id, Action::Approve, "代為決行")).await.unwrap();
    assert_eq!(done.state, ActionState::Done, "{done:?}");
    let item = approvals.open(&id).await.unwrap();
    let last = item.detail.history.last().unwrap();
    assert_eq!((last.actor.as_str(), last.acting_for.as_deref()), ("deputy", Some("director")));
    client.close().await.unwrap();
    server.shutdown().await;
}

/// The manager names the proxy from their own phone (職務代理) before leaving: the
/// deputy's phone then holds the item as 代, a loop back is refused with its code,
/// and a period the server would refuse is refused at the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_names_a_proxy_from_the_phone() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    for (id, level) in [("clerk", 5), ("director", 2), ("deputy", 3)] {
        approval_person(&server, id, level).await;
    }
    let director = bound(&dir.path().join("director"), &server, "director").await;
    let now = director.server_now_ms();
    director.approvals().set_proxy("deputy", now - 60_000, now + 86_400_000).await.unwrap();
    let too_long = director.approvals().set_proxy("deputy", now, now + 400 * 86_400_000).await.unwrap_err();
    assert!(matches!(too_long, ApprovalError::Common(CommonError::InvalidInput(_))), "{too_long:?}");
    let nobody = director.approvals().set_proxy("nobody", now, now + 86_400_000).await.unwrap_err();
    assert_eq!(Error::from(nobody).code(), "bad_request");

    let id = approval_item(&server, "代理決行", &["clerk", "director"], "document").await;
    let deputy = bound(&dir.path().join("deputy"), &server, "deputy").await;
    deputy.approvals().sync_inbox().await.unwrap();
    assert_eq!(deputy.approvals().entry(&id).await.unwrap().summary.acting_for.as_deref(), Some("director"));
    // The deputy cannot name the director back: that would loop.
    let cycle = deputy.approvals().set_proxy("director", now, now + 86_400_000).await.unwrap_err();
    assert_eq!(Error::from(cycle).code(), codes::PROXY_CYCLE);
    director.close().await.unwrap();
    deputy.close().await.unwrap();
    server.shutdown().await;
}
