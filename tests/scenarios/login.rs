//! QR-key login and meeting sign-in: the core against the reference server over real
//! HTTP, with a plain-HTTP browser on the sign-in page.

use taipei_core::meetings::SignInOutcome;
use taipei_core::LoginError;
use taipei_scenarios::{
    LoginBrowser, create_meeting, meeting_display, offer_binding, open_profile, revoke, start_server, start_server_at,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_pick_the_number_and_the_browser_is_signed_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let client = open_profile(dir.path(), &server.base_url()).await;
    client.bind_device(&offer_binding(&server, "chen").await).await.unwrap();

    let mut browser = LoginBrowser::start(&server.base_url(), "doc").await;
    let prompt = client.login().scan(&browser.frame().await).await.unwrap();
    assert_eq!(prompt.system, "公文系統");
    assert_eq!((prompt.browser.as_str(), prompt.os.as_str()), ("Chrome 131", "Linux"));
    assert_eq!(prompt.number_digits, 2);
    let number = browser.status().await.number.unwrap();

    // Something that is not a two-digit number never leaves the phone.
    for typo in ["7", "123", "4x", ""] {
        assert_eq!(client.login().approve(&prompt, typo).await.unwrap_err().code(), "invalid_input", "{typo:?}");
    }

    let outcome = client.login().approve(&prompt, &number).await.unwrap();
    assert_eq!(outcome.state, "approved");
    let (status, who) = browser.redeem().await;
    assert_eq!((status, who["user_id"].as_str()), (200, Some("chen")));
    // The same approval asked again (a caller that stopped waiting) gets the same
    // answer, replayed; any other decision on the used request is refused.
    assert_eq!(client.login().approve(&prompt, &number).await.unwrap(), outcome);
    assert_eq!(client.login().deny(&prompt, false).await.unwrap_err(), LoginError::AlreadyUsed);

    let history = client.login().history().await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].state, "redeemed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_matching_wrong_pick_cancels_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let client = open_profile(dir.path(), &server.base_url()).await;
    client.bind_device(&offer_binding(&server, "guess").await).await.unwrap();

    let browser = LoginBrowser::start(&server.base_url(), "doc").await;
    let prompt = client.login().scan(&browser.frame().await).await.unwrap();
    let number: u8 = browser.status().await.number.unwrap().parse().unwrap();
    let wrong = (10 + (number - 10 + 1) % 90).to_string();
    // The reference server takes one number: the refusal says it was wrong, with no
    // try left, as a field (and says so once in its words).
    let err = client.login().approve(&prompt, &wrong).await.unwrap_err();
    assert_eq!(err, LoginError::WrongNumber { tries_left: 0 });
    assert_eq!(err.code(), "wrong_number");
    assert_eq!(err.to_string().matches("not the number").count(), 1, "{err}");
    assert_eq!(browser.status().await.state, "cancelled");
    assert_eq!(
        client.login().approve(&prompt, &number.to_string()).await.unwrap_err(),
        LoginError::Cancelled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_foreign_codes_and_a_revoked_phone_get_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let client = open_profile(dir.path(), &server.base_url()).await;
    let binding = offer_binding(&server, "lee").await;
    let device = client.bind_device(&binding).await.unwrap();

    for foreign in ["https://evil.example/login", binding.as_str(), "TPL1:123", ""] {
        let err = client.login().scan(foreign).await.unwrap_err();
        assert!(matches!(err, LoginError::NotCityQr(_)), "{foreign}: {err:?}");
        let err = client.meetings().sign_in(foreign).await.unwrap_err();
        assert!(matches!(err, LoginError::NotCityQr(_)), "{foreign}: {err:?}");
    }

    let browser = LoginBrowser::start(&server.base_url(), "hr").await;
    let prompt = client.login().scan(&browser.frame().await).await.unwrap();
    assert_eq!(client.login().deny(&prompt, true).await.unwrap().state, "denied");
    assert_eq!(browser.status().await.state, "denied");

    let browser = LoginBrowser::start(&server.base_url(), "hr").await;
    revoke(&server, &device.device_id).await;
    assert_eq!(client.login().scan(&browser.frame().await).await.unwrap_err().code(), "device_revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meeting_sign_in_online_then_offline_queued_and_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let url = server.base_url();
    let client = open_profile(dir.path(), &url).await;
    client.bind_device(&offer_binding(&server, "lin").await).await.unwrap();

    let meeting = create_meeting(&server, "市政會議", &[]).await;
    let frame = meeting_display(&url, &meeting).await.frame;
    let info = client.meetings().scan(&frame).await.unwrap();
    assert_eq!((info.title.as_str(), info.signed_in_at_ms), ("市政會議", None));
    let outcome = client.meetings().sign_in(&frame).await.unwrap();
    assert!(matches!(outcome, SignInOutcome::SignedIn { late: false, .. }), "{outcome:?}");
    assert_eq!(client.meetings().sign_in(&frame).await.unwrap_err(), LoginError::AlreadySignedIn);
    let roster = meeting_display(&url, &meeting).await.roster;
    assert_eq!(roster.len(), 1);
    assert_eq!(roster[0].display_name, "lin name");

    // A second meeting, scanned just before the network drops.
    let second = create_meeting(&server, "專案會議", &[]).await;
    let frame = meeting_display(&url, &second).await.frame;
    let addr = server.addr();
    server.shutdown().await;
    let outcome = client.meetings().sign_in(&frame).await.unwrap();
    assert!(matches!(outcome, SignInOutcome::Queued { .. }), "{outcome:?}");
    assert_eq!(client.outbox().await.unwrap().pending, 1);

    let server = start_server_at(dir.path(), Some(addr)).await;
    let report = client.sync().await.unwrap();
    assert_eq!((report.sent, report.pending, report.dead), (1, 0, 0));
    let roster = meeting_display(&url, &second).await.roster;
    assert_eq!(roster.len(), 1, "the queued sign-in arrived once");
    server.shutdown().await;
}
