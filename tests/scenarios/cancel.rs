//! Cancel-safety: every call that changes server state may be dropped by its caller at
//! any await point (an app leaving the screen, a foreign future cancelled). Each test
//! stops the call after N polls, for every N until the call finishes on its own, then
//! asks once more the way an app would, and counts on the real loopback server that the
//! change happened exactly once.

use std::future::Future;
use std::task::Poll;

use taipei_core::{Client, LoginError, PunchKind};
use taipei_scenarios::{
    LoginBrowser, admin_post, create_meeting, meeting_display, mint_credential, offer_binding, open_profile, start_server,
};
use taipei_server::RunningServer;

/// Polls `call` at most `polls` times, then drops it: the caller stopped waiting at
/// that await point. `Some` if it finished first.
async fn stop_after<F: Future>(call: F, polls: usize) -> Option<F::Output> {
    let mut call = std::pin::pin!(call);
    let mut left = polls;
    std::future::poll_fn(move |cx| {
        if left == 0 {
            return Poll::Ready(None);
        }
        left -= 1;
        call.as_mut().poll(cx).map(Some)
    })
    .await
}

/// No call here takes anywhere near this many polls; a loop past it is a bug.
const MAX_POLLS: usize = 2_000;

fn count(dir: &std::path::Path, sql: &str, user: &str) -> i64 {
    let db = rusqlite::Connection::open(dir.join("server.db")).unwrap();
    db.query_row(sql, [user], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_dropped_at_any_await_point_registers_one_device() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    for polls in 1..MAX_POLLS {
        let user = format!("u-bind-{polls}");
        let code = offer_binding(&server, &user).await;
        let profile = dir.path().join(format!("p{polls}"));
        let client = open_profile(&profile, &server.base_url()).await;
        let first = stop_after(client.bind_device(&code), polls).await;
        let finished = first.is_some();
        let info = match first {
            Some(done) => done.unwrap(),
            // The person scans the same code again.
            None => client.bind_device(&code).await.unwrap_or_else(|e| panic!("after {polls} polls: {e:?}")),
        };
        assert_eq!(info.user_id, user);
        assert_eq!(count(dir.path(), "SELECT count(*) FROM devices WHERE user_id = ?1", &user), 1, "after {polls} polls");
        client.close().await.unwrap();
        if finished {
            return server.shutdown().await;
        }
    }
    panic!("bind_device never finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_dropped_at_any_await_point_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let client = open_profile(dir.path(), &server.base_url()).await;
    client.bind_device(&offer_binding(&server, "u-approve").await).await.unwrap();
    for polls in 1..MAX_POLLS {
        let browser = LoginBrowser::start(&server.base_url(), "doc").await;
        let prompt = client.login().scan(&browser.frame().await).await.unwrap();
        let number = browser.status().await.number.unwrap();
        let first = stop_after(client.login().approve(&prompt, &number), polls).await;
        let finished = first.is_some();
        // Dropped mid-way, the person taps again: the kept decision is resent and the
        // server's first answer comes back (not "already used").
        let outcome = match first {
            Some(done) => done.unwrap(),
            None => client.login().approve(&prompt, &number).await.unwrap_or_else(|e| panic!("after {polls} polls: {e:?}")),
        };
        assert_eq!(outcome.state, "approved", "after {polls} polls");
        assert_eq!(browser.status().await.state, "approved");
        assert_eq!(client.login().approve(&prompt, &number).await.unwrap(), outcome, "asked again: the same answer");
        if finished {
            client.close().await.unwrap();
            return server.shutdown().await;
        }
    }
    panic!("approve never finished");
}

async fn signed_in_once(server: &RunningServer, dir: &std::path::Path, client: &Client, polls: usize) -> bool {
    let meeting = create_meeting(server, &format!("會議 {polls}"), &["u-meet"]).await;
    let frame = meeting_display(&server.base_url(), &meeting).await.frame;
    let first = stop_after(client.meetings().sign_in(&frame), polls).await;
    let finished = first.is_some();
    if let Some(done) = first {
        done.unwrap();
    } else {
        // Whatever the dropped call had queued goes first; the tap again is then either
        // the sign-in itself or told it was already done.
        match client.meetings().sign_in(&frame).await {
            Ok(_) | Err(LoginError::AlreadySignedIn) => {}
            Err(e) => panic!("after {polls} polls: {e:?}"),
        }
    }
    client.sync().await.unwrap();
    let sql = format!("SELECT count(*) FROM meeting_sign_ins WHERE user_id = ?1 AND mid = '{}'", meeting.mid);
    assert_eq!(count(dir, &sql, "u-meet"), 1, "after {polls} polls");
    finished
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_sign_in_dropped_at_any_await_point_arrives_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let client = open_profile(dir.path(), &server.base_url()).await;
    client.bind_device(&offer_binding(&server, "u-meet").await).await.unwrap();
    for polls in 1..MAX_POLLS {
        if signed_in_once(&server, dir.path(), &client, polls).await {
            client.close().await.unwrap();
            return server.shutdown().await;
        }
    }
    panic!("sign_in never finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_punch_dropped_at_any_await_point_is_on_the_server_as_often_as_on_the_phone() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let office = serde_json::json!({"office_id": "hq", "name": "市府", "level": "static", "min_interval_ms": 0});
    let hr = mint_credential(&server, "hr", None).await;
    assert_eq!(admin_post(&server.base_url(), &hr, "/v1/admin/offices", office).await.0, 201);
    let client = open_profile(dir.path(), &server.base_url()).await;
    client.bind_device(&offer_binding(&server, "u-punch").await).await.unwrap();
    client.attendance().load_office("hq").await.unwrap();
    for polls in 1..MAX_POLLS {
        let first = stop_after(client.attendance().manual_punch(PunchKind::In, "badge reader broken"), polls).await;
        client.sync().await.unwrap();
        let week = client.attendance().week(client.server_now_ms()).await.unwrap();
        let mine: Vec<_> = week.days.iter().flat_map(|d| &d.punches).collect();
        assert!(mine.iter().all(|p| p.state == "accepted"), "{mine:?}");
        let on_server = count(dir.path(), "SELECT count(*) FROM attendance_punches WHERE user_id = ?1", "u-punch");
        assert_eq!(on_server, mine.len() as i64, "after {polls} polls: each punch the phone kept arrived once, no other");
        if first.is_some() {
            client.close().await.unwrap();
            return server.shutdown().await;
        }
    }
    panic!("manual_punch never finished");
}
