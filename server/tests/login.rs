//! QR-key login and meeting sign-in against the reference server over real HTTP:
//! the happy paths, and each security check of the login issue with its own error
//! code and its audit row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Session, TestServer, error_of, random_id};
use reqwest::header::{COOKIE, SET_COOKIE, USER_AGENT};
use reqwest::{Method, StatusCode};
use taipei_protocol::api::{ErrorBody, Receipt, codes as api_codes, headers};
use taipei_protocol::b64;
use taipei_protocol::login::{
    self, Decision, LoginConfirm, LoginContext, LoginDecided, LoginDecisionRequest, LoginFrame, LoginHistory,
    LoginRedeemed, LoginScan, LoginStarted, LoginStatus, codes,
};
use taipei_protocol::meeting::{
    self, DisplayFrame, MeetingCreated, MeetingFrame, MeetingInfo, MeetingSignIn, NewMeeting,
};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn now_ms() -> i64 {
    common::now_s() * 1000
}

/// A browser: remembers the cookies the server set.
#[derive(Clone)]
struct Browser {
    cookies: Vec<String>,
}

impl Browser {
    fn new() -> Self {
        Self { cookies: Vec::new() }
    }

    fn take_cookies(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookies.push(pair);
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.join("; ")
    }

    async fn start(&mut self, t: &TestServer) -> LoginStarted {
        let response = t
            .http
            .post(t.url("/v1/login/start"))
            .header(USER_AGENT, CHROME)
            .json(&serde_json::json!({ "system_id": "doc" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        self.take_cookies(&response);
        response.json().await.unwrap()
    }

    async fn status_response(&self, t: &TestServer, rid: &str) -> reqwest::Response {
        t.http
            .get(t.url(&format!("/v1/login/{rid}")))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap()
    }

    async fn status(&self, t: &TestServer, rid: &str) -> LoginStatus {
        let response = self.status_response(t, rid).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The "Continue" click: redeems with the confirmation the page was given (empty if
    /// it was given none).
    async fn redeem(&mut self, t: &TestServer, rid: &str) -> reqwest::Response {
        let status = self.status_response(t, rid).await;
        let confirm = if status.status() == StatusCode::OK {
            status.json::<LoginStatus>().await.unwrap().confirm.unwrap_or_default()
        } else {
            String::new()
        };
        self.redeem_with(t, rid, &confirm).await
    }

    async fn redeem_with(&mut self, t: &TestServer, rid: &str, confirm: &str) -> reqwest::Response {
        self.redeem_at(&t.http, &t.server.base_url(), rid, confirm).await
    }

    /// [`Self::redeem_with`] at the server (or process) at `base`.
    async fn redeem_at(&mut self, http: &reqwest::Client, base: &str, rid: &str, confirm: &str) -> reqwest::Response {
        let response = http
            .post(format!("{base}/v1/login/{rid}/redeem"))
            .header(COOKIE, self.cookie_header())
            .json(&LoginConfirm { confirm: confirm.into() })
            .send()
            .await
            .unwrap();
        self.take_cookies(&response);
        response
    }
}

async fn scan(t: &TestServer, s: &Session, frame: &str) -> reqwest::Response {
    t.authed(s, Method::POST, "/v1/login/scan")
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .json(&LoginScan { frame: frame.into() })
        .send()
        .await
        .unwrap()
}

fn decision(s: &Session, ctx: &LoginContext, decision: Decision, number: &str, counter: u64) -> LoginDecisionRequest {
    let rid = b64::decode(&ctx.rid).unwrap();
    let fnonce = b64::decode(&ctx.fnonce).unwrap();
    let hash = ctx.hash();
    let time_ms = now_ms();
    let message = login::decision_message(&rid, &fnonce, &s.device_id, counter, decision, number, &hash, time_ms);
    LoginDecisionRequest {
        rid: ctx.rid.clone(),
        fnonce: ctx.fnonce.clone(),
        decision,
        number: number.into(),
        counter,
        context_hash: b64::encode(hash),
        time_ms,
        signature: s.phone.sign(&message),
    }
}

async fn decide(t: &TestServer, s: &Session, body: &LoginDecisionRequest) -> reqwest::Response {
    t.authed(s, Method::POST, "/v1/login/decide")
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Browser started, phone scanned: the context and the number the browser shows.
async fn scanned(t: &TestServer, b: &mut Browser, s: &Session) -> (LoginStarted, LoginContext, String) {
    let started = b.start(t).await;
    let status = b.status(t, &started.rid).await;
    let response = scan(t, s, status.frame.as_deref().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let ctx: LoginContext = response.json().await.unwrap();
    let number = b.status(t, &started.rid).await.number.unwrap();
    (started, ctx, number)
}

/// Browser started, phone scanned and approved with the right number.
async fn approved(t: &TestServer, b: &mut Browser, s: &Session, counter: u64) -> LoginStarted {
    let (started, ctx, number) = scanned(t, b, s).await;
    assert_eq!(decide(t, s, &decision(s, &ctx, Decision::Approve, &number, counter)).await.status(), StatusCode::OK);
    started
}

fn wrong_number(right: &str) -> String {
    let n: u8 = right.parse().unwrap();
    (10 + (n - 10 + 1) % 90).to_string()
}

/// The audit entries of an action with a given outcome (anonymous ones are counted
/// per minute, the others are rows).
fn audited(t: &TestServer, action: &str, outcome: &str) -> i64 {
    t.audit_count(action, &format!("= '{outcome}'"))
}

#[tokio::test]
async fn a_scanned_and_approved_login_signs_the_browser_in_once() {
    let t = TestServer::start().await;
    let s = t.session("u-chen").await;
    let mut b = Browser::new();
    let started = b.start(&t).await;
    let status = b.status(&t, &started.rid).await;
    assert_eq!(status.state, "pending");
    assert!(status.frame_svg.as_deref().unwrap().contains("<svg"));
    assert_eq!(status.number, None, "no number before the scan");

    let response = scan(&t, &s, status.frame.as_deref().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let ctx: LoginContext = response.json().await.unwrap();
    assert_eq!(ctx.system, "公文系統", "the registered name, not what the browser sent");
    assert_eq!((ctx.browser.as_str(), ctx.os.as_str()), ("Chrome 131", "Windows"));
    assert_eq!(ctx.place, "this computer (loopback)");
    assert!(ctx.risk_flags.is_empty(), "{:?}", ctx.risk_flags);
    let shown = b.status(&t, &started.rid).await;
    assert_eq!(shown.state, "scanned");
    let number = shown.number.unwrap();
    assert_eq!((ctx.number_digits, number.len()), (2, 2));
    assert_eq!(shown.frame, None, "the QR disappears once scanned");

    let response = decide(&t, &s, &decision(&s, &ctx, Decision::Approve, &number, 1)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let decided: LoginDecided = response.json().await.unwrap();
    assert_eq!(decided.state, "approved");
    assert_eq!(b.status(&t, &started.rid).await.state, "approved");

    let response = b.redeem(&t, &started.rid).await;
    assert_eq!(response.status(), StatusCode::OK);
    let who: LoginRedeemed = response.json().await.unwrap();
    assert_eq!((who.user_id.as_str(), who.display_name.as_str()), ("u-chen", "Name of u-chen"));
    // The browser now holds the web system's session.
    let me = t
        .http
        .get(t.url("/v1/web/session"))
        .header(COOKIE, b.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<LoginRedeemed>().await.unwrap().user_id, "u-chen");

    // History on the phone, and every step in the audit log.
    let history: LoginHistory = t.authed(&s, Method::GET, "/v1/login/history").send().await.unwrap().json().await.unwrap();
    assert_eq!(history.entries.len(), 1);
    assert_eq!(history.entries[0].state, "redeemed");
    assert_eq!(history.entries[0].device_id, s.device_id);
    for action in ["login.start", "login.scan", "login.approve", "login.redeem"] {
        assert_eq!(audited(&t, action, "ok"), 1, "{action}");
    }
}

#[tokio::test]
async fn an_expired_frame_is_refused() {
    let t = TestServer::start().await;
    let s = t.session("u-exp").await;
    let mut b = Browser::new();
    let started = b.start(&t).await;
    let frame = b.status(&t, &started.rid).await.frame.unwrap();
    // Age the frame as 31 s would.
    t.db()
        .execute("UPDATE login_requests SET frame_expires_ms = ?1", [now_ms() - 1_000])
        .unwrap();
    assert_eq!(error_of(scan(&t, &s, &frame).await).await, (StatusCode::GONE, codes::FRAME_EXPIRED.into()));
    assert_eq!(audited(&t, "login.scan", codes::FRAME_EXPIRED), 1);
}

#[tokio::test]
async fn frames_rotate_and_a_replaced_frame_ages_out() {
    let t = TestServer::start().await;
    let s = t.session("u-rot").await;
    let mut b = Browser::new();
    let started = b.start(&t).await;
    let first = b.status(&t, &started.rid).await.frame.unwrap();
    // 26 s later the page asks again: a new frame.
    t.db()
        .execute("UPDATE login_requests SET frame_issued_ms = frame_issued_ms - 26000", [])
        .unwrap();
    let second = b.status(&t, &started.rid).await.frame.unwrap();
    assert_ne!(first, second);
    let (a, c) = (LoginFrame::decode(&first).unwrap(), LoginFrame::decode(&second).unwrap());
    assert_eq!(a.rid, c.rid);
    assert_ne!(a.fnonce, c.fnonce);
    // A frame two rotations old names nothing the server knows.
    t.db()
        .execute("UPDATE login_requests SET frame_issued_ms = frame_issued_ms - 26000", [])
        .unwrap();
    b.status(&t, &started.rid).await;
    assert_eq!(error_of(scan(&t, &s, &first).await).await, (StatusCode::GONE, codes::FRAME_UNKNOWN.into()));
}

#[tokio::test]
async fn a_frame_replayed_after_its_request_was_used_is_refused() {
    let t = TestServer::start().await;
    let s = t.session("u-rep").await;
    let other = t.session("u-attacker").await;
    let mut b = Browser::new();
    let started = b.start(&t).await;
    let frame = b.status(&t, &started.rid).await.frame.unwrap();
    assert_eq!(scan(&t, &s, &frame).await.status(), StatusCode::OK);
    // Another phone relaying the same frame after the real one used it.
    assert_eq!(error_of(scan(&t, &other, &frame).await).await, (StatusCode::CONFLICT, codes::REQUEST_USED.into()));
    assert_eq!(audited(&t, "login.scan", codes::REQUEST_USED), 1);
}

#[tokio::test]
async fn only_the_device_that_scanned_can_decide() {
    let t = TestServer::start().await;
    let s = t.session("u-own").await;
    let other = t.session("u-other").await;
    let mut b = Browser::new();
    let (_, ctx, number) = scanned(&t, &mut b, &s).await;
    let body = decision(&other, &ctx, Decision::Approve, &number, 1);
    assert_eq!(error_of(decide(&t, &other, &body).await).await, (StatusCode::FORBIDDEN, codes::WRONG_DEVICE.into()));
    assert_eq!(audited(&t, "login.approve", codes::WRONG_DEVICE), 1);
}

#[tokio::test]
async fn a_revoked_device_cannot_scan_or_decide() {
    let t = TestServer::start().await;
    let s = t.session("u-lost").await;
    let mut b = Browser::new();
    let (_, ctx, number) = scanned(&t, &mut b, &s).await;
    revoke_device(&t, &s).await;
    let body = decision(&s, &ctx, Decision::Approve, &number, 1);
    assert_eq!(error_of(decide(&t, &s, &body).await).await, (StatusCode::FORBIDDEN, api_codes::DEVICE_REVOKED.into()));
    let mut b2 = Browser::new();
    let started = b2.start(&t).await;
    let frame = b2.status(&t, &started.rid).await.frame.unwrap();
    assert_eq!(error_of(scan(&t, &s, &frame).await).await, (StatusCode::FORBIDDEN, api_codes::DEVICE_REVOKED.into()));
    assert!(audited(&t, "auth", api_codes::DEVICE_REVOKED) >= 2);
}

async fn revoke_device(t: &TestServer, s: &Session) {
    let revoke = t
        .http
        .post(t.url(&format!("/v1/admin/devices/{}/revoke", s.device_id)))
        .bearer_auth(t.server.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
}

async fn web_session_status(t: &TestServer, b: &Browser) -> StatusCode {
    t.http.get(t.url("/v1/web/session")).header(COOKIE, b.cookie_header()).send().await.unwrap().status()
}

#[tokio::test]
async fn revoking_a_device_ends_its_pending_approval() {
    let t = TestServer::start().await;
    let s = t.session("u-stolen").await;
    let mut b = Browser::new();
    let started = approved(&t, &mut b, &s, 1).await;
    revoke_device(&t, &s).await;
    // Approve, revoke, redeem: refused, and no session exists.
    assert_eq!(error_of(b.redeem(&t, &started.rid).await).await, (StatusCode::CONFLICT, codes::NOT_APPROVED.into()));
    assert_eq!(b.status(&t, &started.rid).await.state, "cancelled");
    assert_eq!(web_session_status(&t, &b).await, StatusCode::UNAUTHORIZED);
    assert_eq!(t.count("SELECT COUNT(*) FROM web_sessions"), 0);
}

#[tokio::test]
async fn item3_revoking_a_device_ends_the_web_sessions_it_approved() {
    let t = TestServer::start().await;
    let s = t.session("u-lost2").await;
    let other = t.session("u-other").await;
    let (mut b, mut kept) = (Browser::new(), Browser::new());
    for (browser, session) in [(&mut b, &s), (&mut kept, &other)] {
        let started = approved(&t, browser, session, 1).await;
        assert_eq!(browser.redeem(&t, &started.rid).await.status(), StatusCode::OK);
        assert_eq!(web_session_status(&t, browser).await, StatusCode::OK);
    }
    // Approve, redeem, revoke: the session is over at once; another device's is not.
    revoke_device(&t, &s).await;
    assert_eq!(web_session_status(&t, &b).await, StatusCode::UNAUTHORIZED);
    assert_eq!(web_session_status(&t, &kept).await, StatusCode::OK);
    let outcome: String = t
        .db()
        .query_row("SELECT outcome FROM audit_log WHERE action = 'device.revoke'", [], |r| r.get(0))
        .unwrap();
    assert!(outcome.contains("web_sessions=1"), "{outcome}");
}

#[tokio::test]
async fn item2_cross_device_login_needs_the_browsers_confirmation() {
    let t = TestServer::start().await;
    // Someone else saw this browser's QR and approved it with their own phone.
    let stranger = t.session("u-stranger").await;
    let mut b = Browser::new();
    let started = approved(&t, &mut b, &stranger, 1).await;
    // The page learns whose account it would enter, masked, before anything else.
    let shown = b.status(&t, &started.rid).await;
    assert_eq!(shown.state, "approved");
    // "Name of u-stranger": first and last character, the rest starred.
    assert_eq!(shown.account.as_deref(), Some(format!("N{}r", "*".repeat(16)).as_str()));
    let confirm = shown.confirm.clone().unwrap();
    // Redeem without the confirmation (a script, or a page that never showed the name).
    for wrong in ["", "AAAAAAAAAAAAAAAAAAAAAA"] {
        assert_eq!(
            error_of(b.redeem_with(&t, &started.rid, wrong).await).await,
            (StatusCode::FORBIDDEN, codes::NOT_CONFIRMED.into())
        );
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM web_sessions"), 0);
    // Debug output of the status never shows the confirmation.
    assert!(!format!("{shown:?}").contains(&confirm));
    // The person recognised the account and clicked Continue.
    assert_eq!(b.redeem_with(&t, &started.rid, &confirm).await.status(), StatusCode::OK);
    assert_eq!(audited(&t, "login.redeem", codes::NOT_CONFIRMED), 2);
}

#[tokio::test]
async fn item1_number_matching_wrong_pick_cancels_at_once() {
    let t = TestServer::start().await;
    let s = t.session("u-wrong").await;
    let mut b = Browser::new();
    let (started, ctx, number) = scanned(&t, &mut b, &s).await;
    // The phone types the number: nothing on the phone narrows the guess.
    assert_eq!(ctx.number_digits, 2);
    assert_eq!(number.len(), 2);
    let wrong = wrong_number(&number);
    let body = decision(&s, &ctx, Decision::Approve, &wrong, 1);
    // Said as a wrong number with no try left: the phone shows both facts from fields.
    let reply = decide(&t, &s, &body).await;
    assert_eq!(reply.status(), StatusCode::CONFLICT);
    let refusal: ErrorBody = reply.json().await.unwrap();
    assert_eq!((refusal.code.as_str(), refusal.tries_left), (codes::WRONG_NUMBER, Some(0)));
    // Even the right number is too late now, and the browser says so.
    let body = decision(&s, &ctx, Decision::Approve, &number, 2);
    assert_eq!(error_of(decide(&t, &s, &body).await).await, (StatusCode::CONFLICT, codes::CANCELLED.into()));
    assert_eq!(b.status(&t, &started.rid).await.state, "cancelled");
    assert_eq!(error_of(b.redeem(&t, &started.rid).await).await.0, StatusCode::CONFLICT);
    assert_eq!(audited(&t, "login.approve", codes::WRONG_NUMBER), 1);
    assert_eq!(audited(&t, "login.approve", codes::CANCELLED), 1);
    // The page starts a fresh request, which works with its own number.
    let (_, ctx, number) = scanned(&t, &mut b, &s).await;
    assert_eq!(decide(&t, &s, &decision(&s, &ctx, Decision::Approve, &number, 3)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_signature_for_another_purpose_does_not_approve() {
    let t = TestServer::start().await;
    let s = t.session("u-tag").await;
    let mut b = Browser::new();
    let (_, ctx, number) = scanned(&t, &mut b, &s).await;
    let mut body = decision(&s, &ctx, Decision::Approve, &number, 1);
    // The same fields signed under the meeting tag (or as a report) are not a login approval.
    let rid = b64::decode(&ctx.rid).unwrap();
    let fnonce = b64::decode(&ctx.fnonce).unwrap();
    body.signature = s.phone.sign(&meeting::sign_in_message(&rid, 1, &fnonce, &s.device_id, body.time_ms));
    assert_eq!(error_of(decide(&t, &s, &body).await).await, (StatusCode::UNAUTHORIZED, api_codes::SIGNATURE_INVALID.into()));
    let report_sig = s.phone.sign(&taipei_protocol::signed::report_message(&s.device_id, "k", "t", body.time_ms));
    body.signature = report_sig;
    assert_eq!(error_of(decide(&t, &s, &body).await).await, (StatusCode::UNAUTHORIZED, api_codes::SIGNATURE_INVALID.into()));
    assert_eq!(audited(&t, "login.approve", api_codes::SIGNATURE_INVALID), 2);
}

#[tokio::test]
async fn an_approval_for_a_different_context_is_refused() {
    let t = TestServer::start().await;
    let s = t.session("u-ctx").await;
    let mut b = Browser::new();
    let (_, mut ctx, number) = scanned(&t, &mut b, &s).await;
    ctx.place = "somewhere else".into();
    let body = decision(&s, &ctx, Decision::Approve, &number, 1);
    assert_eq!(error_of(decide(&t, &s, &body).await).await, (StatusCode::CONFLICT, codes::CONTEXT_MISMATCH.into()));
}

#[tokio::test]
async fn redeem_needs_the_browsers_secret_and_works_once() {
    let t = TestServer::start().await;
    let s = t.session("u-red").await;
    let mut b = Browser::new();
    let (started, ctx, number) = scanned(&t, &mut b, &s).await;
    // Before approval: not approved.
    assert_eq!(error_of(b.redeem(&t, &started.rid).await).await, (StatusCode::CONFLICT, codes::NOT_APPROVED.into()));
    assert_eq!(decide(&t, &s, &decision(&s, &ctx, Decision::Approve, &number, 1)).await.status(), StatusCode::OK);
    // Another browser (no secret, or a guessed one) cannot take the approval.
    let mut thief = Browser::new();
    assert_eq!(error_of(thief.redeem(&t, &started.rid).await).await, (StatusCode::UNAUTHORIZED, codes::SECRET_INVALID.into()));
    thief.cookies.push(format!("tpl_{}={}", started.rid, random_id()));
    assert_eq!(error_of(thief.redeem(&t, &started.rid).await).await, (StatusCode::UNAUTHORIZED, codes::SECRET_INVALID.into()));
    assert_eq!(audited(&t, "login.redeem", codes::SECRET_INVALID), 2);
    // The real browser, once.
    assert_eq!(b.redeem(&t, &started.rid).await.status(), StatusCode::OK);
    assert_eq!(error_of(b.redeem(&t, &started.rid).await).await, (StatusCode::CONFLICT, codes::ALREADY_REDEEMED.into()));
    assert_eq!(audited(&t, "login.redeem", codes::ALREADY_REDEEMED), 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM web_sessions"), 1);
}

#[tokio::test]
async fn a_counter_going_backwards_is_refused() {
    let t = TestServer::start().await;
    let s = t.session("u-ctr").await;
    let mut b = Browser::new();
    // A first approval spends counter 5.
    let (_, ctx, number) = scanned(&t, &mut b, &s).await;
    assert_eq!(decide(&t, &s, &decision(&s, &ctx, Decision::Approve, &number, 5)).await.status(), StatusCode::OK);
    let (_, ctx, number) = scanned(&t, &mut b, &s).await;
    for stale in [5, 4] {
        let body = decision(&s, &ctx, Decision::Approve, &number, stale);
        assert_eq!(error_of(decide(&t, &s, &body).await).await, (StatusCode::CONFLICT, codes::COUNTER_REPLAYED.into()));
    }
    assert_eq!(audited(&t, "login.approve", codes::COUNTER_REPLAYED), 2);
    assert_eq!(decide(&t, &s, &decision(&s, &ctx, Decision::Approve, &number, 6)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_retried_approval_gets_the_same_reply_and_deny_ends_the_request() {
    let t = TestServer::start().await;
    let s = t.session("u-retry").await;
    let mut b = Browser::new();
    let (_, ctx, number) = scanned(&t, &mut b, &s).await;
    let body = decision(&s, &ctx, Decision::Approve, &number, 1);
    let key = random_id();
    let send = || {
        t.authed(&s, Method::POST, "/v1/login/decide")
            .header(headers::IDEMPOTENCY_KEY, &key)
            .json(&body)
            .send()
    };
    let first: LoginDecided = send().await.unwrap().json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<LoginDecided>().await.unwrap(), first);

    let mut b2 = Browser::new();
    let (started, ctx, _) = scanned(&t, &mut b2, &s).await;
    let response = decide(&t, &s, &decision(&s, &ctx, Decision::Report, "", 2)).await;
    assert_eq!(response.json::<LoginDecided>().await.unwrap().state, "denied");
    assert_eq!(b2.status(&t, &started.rid).await.state, "denied");
    assert_eq!(audited(&t, "login.report", "ok"), 1);
}

#[tokio::test]
async fn garbage_frames_and_unknown_requests_get_typed_errors() {
    let t = TestServer::start().await;
    let s = t.session("u-junk").await;
    for junk in ["", "https://evil.example/login", "TPL1:12x", "TPM1:1234"] {
        assert_eq!(error_of(scan(&t, &s, junk).await).await.1, api_codes::BAD_REQUEST, "{junk}");
    }
    let unknown = LoginFrame { rid: [1; 16], fnonce: [2; 16], expires_at_ms: now_ms() + 10_000 }.encode();
    assert_eq!(error_of(scan(&t, &s, &unknown).await).await, (StatusCode::NOT_FOUND, codes::REQUEST_UNKNOWN.into()));
    let b = Browser::new();
    assert_eq!(error_of(b.status_response(&t, "nope").await).await.1, codes::REQUEST_UNKNOWN);
}

// ---- meetings ----------------------------------------------------------------------

async fn create_meeting(t: &TestServer, invitees: &[&str], starts_in_ms: i64) -> MeetingCreated {
    create_meeting_with(t, invitees, starts_in_ms, None).await
}

async fn create_meeting_with(t: &TestServer, invitees: &[&str], starts_in_ms: i64, late_window_ms: Option<i64>) -> MeetingCreated {
    let now = now_ms();
    let response = t
        .http
        .post(t.url("/v1/admin/meetings"))
        .bearer_auth(t.mint("organizer", None).await)
        .json(&NewMeeting {
            title: "市政會議 City council".into(),
            room: "市府 8F 801".into(),
            organizer: "秘書處".into(),
            starts_at_ms: now + starts_in_ms,
            ends_at_ms: now + starts_in_ms + 3_600_000,
            invitees: invitees.iter().map(|s| (*s).to_owned()).collect(),
            late_window_ms,
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn display(t: &TestServer, m: &MeetingCreated) -> DisplayFrame {
    let response = t
        .http
        .get(t.url(&format!("/v1/meetings/{}/display", m.mid)))
        .bearer_auth(&m.display_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn sign_in_body(s: &Session, frame: &MeetingFrame, time_ms: i64) -> MeetingSignIn {
    let message = meeting::sign_in_message(&frame.mid, frame.slot, &frame.tag, &s.device_id, time_ms);
    MeetingSignIn { slot: frame.slot, tag: b64::encode(frame.tag), time_ms, signature: s.phone.sign(&message) }
}

async fn sign_in(t: &TestServer, s: &Session, mid: &str, body: &MeetingSignIn) -> reqwest::Response {
    t.authed(s, Method::POST, &format!("/v1/meetings/{mid}/sign-ins"))
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The meeting's HMAC key, opened with the server's KEK.
fn meeting_key(t: &TestServer, mid: &str) -> Vec<u8> {
    let sealed: Vec<u8> = t.db().query_row("SELECT meeting_key FROM meetings WHERE mid = ?1", [mid], |r| r.get(0)).unwrap();
    common::kek().open(&format!("meetings/{mid}"), &sealed).unwrap()
}

#[tokio::test]
async fn a_meeting_sign_in_shows_on_the_roster_once_per_person() {
    let t = TestServer::start().await;
    let s = t.session("u-lin").await;
    let m = create_meeting(&t, &["u-lin"], 0).await;
    let shown = display(&t, &m).await;
    assert!(shown.frame_svg.contains("<svg") && shown.roster.is_empty());
    let frame = MeetingFrame::decode(&shown.frame).unwrap();

    let info: MeetingInfo = t.authed(&s, Method::GET, &format!("/v1/meetings/{}", m.mid)).send().await.unwrap().json().await.unwrap();
    assert_eq!((info.title.as_str(), info.room.as_str(), info.signed_in_at_ms), ("市政會議 City council", "市府 8F 801", None));

    let response = sign_in(&t, &s, &m.mid, &sign_in_body(&s, &frame, now_ms())).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let receipt: Receipt = response.json().await.unwrap();
    assert_eq!((receipt.status.as_str(), receipt.reason), ("accepted", None));
    let roster = display(&t, &m).await.roster;
    assert_eq!(roster.len(), 1);
    assert_eq!((roster[0].display_name.as_str(), roster[0].late), ("Name of u-lin", false));

    // Again (a second scan, a second phone of the same person): already signed in.
    let again = sign_in(&t, &s, &m.mid, &sign_in_body(&s, &frame, now_ms())).await;
    assert_eq!(error_of(again).await, (StatusCode::CONFLICT, meeting::codes::ALREADY_SIGNED_IN.into()));
    assert_eq!(audited(&t, "meeting.sign_in", "ok"), 1);
    assert_eq!(audited(&t, "meeting.sign_in", meeting::codes::ALREADY_SIGNED_IN), 1);
}

#[tokio::test]
async fn a_forged_slot_and_a_thirty_second_old_code_are_refused() {
    let t = TestServer::start().await;
    let s = t.session("u-wu").await;
    let m = create_meeting(&t, &[], 0).await;
    let mid: [u8; 16] = b64::decode(&m.mid).unwrap().try_into().unwrap();
    let now = now_ms();
    // A made-up tag for the current slot (no meeting key).
    let forged = MeetingFrame::new(&[0u8; 32], mid, meeting::slot_of(now));
    let response = sign_in(&t, &s, &m.mid, &sign_in_body(&s, &forged, now)).await;
    assert_eq!(error_of(response).await, (StatusCode::FORBIDDEN, meeting::codes::FORGED_FRAME.into()));
    // A genuine frame from 30 s ago, sent now.
    let old = MeetingFrame::new(&meeting_key(&t, &m.mid), mid, meeting::slot_of(now - 30_000));
    let response = sign_in(&t, &s, &m.mid, &sign_in_body(&s, &old, now)).await;
    assert_eq!(error_of(response).await, (StatusCode::GONE, meeting::codes::FRAME_EXPIRED.into()));
    // The previous slot is still fine (the code changed while the phone was reading it).
    let previous = MeetingFrame::new(&meeting_key(&t, &m.mid), mid, meeting::slot_of(now) - 1);
    assert_eq!(sign_in(&t, &s, &m.mid, &sign_in_body(&s, &previous, now)).await.status(), StatusCode::CREATED);
    assert_eq!(audited(&t, "meeting.sign_in", meeting::codes::FORGED_FRAME), 1);
    assert_eq!(audited(&t, "meeting.sign_in", meeting::codes::FRAME_EXPIRED), 1);
}

#[tokio::test]
async fn an_offline_sign_in_is_judged_by_its_signed_time_and_marked_late() {
    let t = TestServer::start().await;
    let s = t.session("u-off").await;
    let m = create_meeting(&t, &[], -600_000).await;
    let mid: [u8; 16] = b64::decode(&m.mid).unwrap().try_into().unwrap();
    let tapped = now_ms() - 300_000;
    let frame = MeetingFrame::new(&meeting_key(&t, &m.mid), mid, meeting::slot_of(tapped));
    let response = sign_in(&t, &s, &m.mid, &sign_in_body(&s, &frame, tapped)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.json::<Receipt>().await.unwrap().reason.unwrap().contains("late"));
    assert!(display(&t, &m).await.roster[0].late);
}

#[tokio::test]
async fn item7_meeting_late_sign_in_only_within_the_meetings_window() {
    let t = TestServer::start().await;
    let s = t.session("u-door").await;
    // Started 40 min ago; the default window is 15 min.
    let m = create_meeting(&t, &[], -2_400_000).await;
    let mid: [u8; 16] = b64::decode(&m.mid).unwrap().try_into().unwrap();
    let key = meeting_key(&t, &m.mid);
    // A frame photographed at the door 20 min ago, signed with that time: too late.
    let door = now_ms() - 1_200_000;
    let photo = MeetingFrame::new(&key, mid, meeting::slot_of(door));
    let response = sign_in(&t, &s, &m.mid, &sign_in_body(&s, &photo, door)).await;
    assert_eq!(error_of(response).await, (StatusCode::GONE, meeting::codes::TOO_LATE.into()));
    // An offline sign-in's frame must be the one shown at its claimed time.
    let tapped = now_ms() - 300_000;
    let response = sign_in(&t, &s, &m.mid, &sign_in_body(&s, &photo, tapped)).await;
    assert_eq!(error_of(response).await, (StatusCode::GONE, meeting::codes::FRAME_EXPIRED.into()));
    assert_eq!(audited(&t, "meeting.sign_in", meeting::codes::TOO_LATE), 1);
    // A meeting that allows 30 min takes the same 20-min-old sign-in, marked late.
    let generous = create_meeting_with(&t, &[], -2_400_000, Some(1_800_000)).await;
    let mid: [u8; 16] = b64::decode(&generous.mid).unwrap().try_into().unwrap();
    let photo = MeetingFrame::new(&meeting_key(&t, &generous.mid), mid, meeting::slot_of(door));
    let response = sign_in(&t, &s, &generous.mid, &sign_in_body(&s, &photo, door)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(display(&t, &generous).await.roster[0].late);
    // A window out of range is refused at creation.
    let response = t
        .http
        .post(t.url("/v1/admin/meetings"))
        .bearer_auth(t.mint("organizer", None).await)
        .json(&serde_json::json!({"title": "t", "room": "r", "organizer": "o", "starts_at_ms": 1, "ends_at_ms": 2, "late_window_ms": -1}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.1, api_codes::BAD_REQUEST);
}

#[tokio::test]
async fn meetings_refuse_outsiders_closed_windows_and_bad_display_tokens() {
    let t = TestServer::start().await;
    let s = t.session("u-out").await;
    let invited_only = create_meeting(&t, &["u-someone-else"], 0).await;
    let frame = MeetingFrame::decode(&display(&t, &invited_only).await.frame).unwrap();
    let response = sign_in(&t, &s, &invited_only.mid, &sign_in_body(&s, &frame, now_ms())).await;
    assert_eq!(error_of(response).await, (StatusCode::FORBIDDEN, meeting::codes::NOT_INVITED.into()));

    let tomorrow = create_meeting(&t, &[], 86_400_000).await;
    let frame = MeetingFrame::decode(&display(&t, &tomorrow).await.frame).unwrap();
    let response = sign_in(&t, &s, &tomorrow.mid, &sign_in_body(&s, &frame, now_ms())).await;
    assert_eq!(error_of(response).await, (StatusCode::CONFLICT, meeting::codes::CLOSED.into()));

    let response = t
        .http
        .get(t.url(&format!("/v1/meetings/{}/display", tomorrow.mid)))
        .bearer_auth(random_id())
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await, (StatusCode::UNAUTHORIZED, meeting::codes::DISPLAY_TOKEN_INVALID.into()));
}

#[tokio::test]
async fn the_pages_are_served_as_html() {
    let t = TestServer::start().await;
    for path in ["/login", "/meetings/abc/display"] {
        let response = t.http.get(t.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        assert!(response.text().await.unwrap().contains("<script>"));
    }
}

#[tokio::test]
async fn every_login_and_meeting_error_code_is_documented() {
    let t = TestServer::start().await;
    let doc = t.http.get(t.url("/v1/openapi.json")).send().await.unwrap().text().await.unwrap();
    for code in [
        codes::FRAME_EXPIRED, codes::FRAME_UNKNOWN, codes::REQUEST_USED, codes::REQUEST_UNKNOWN,
        codes::WRONG_DEVICE, codes::WRONG_NUMBER, codes::CANCELLED, codes::CONTEXT_MISMATCH,
        codes::COUNTER_REPLAYED, codes::SECRET_INVALID, codes::ALREADY_REDEEMED, codes::NOT_APPROVED,
        meeting::codes::UNKNOWN, meeting::codes::FORGED_FRAME, meeting::codes::FRAME_EXPIRED,
        meeting::codes::CLOSED, meeting::codes::ALREADY_SIGNED_IN, meeting::codes::NOT_INVITED,
        meeting::codes::DISPLAY_TOKEN_INVALID,
    ] {
        assert!(doc.contains(&format!("`{code}`")), "{code} not documented");
    }
}

// ---- bounded storage ---------------------------------------------------------------

#[tokio::test]
async fn item4_anonymous_storage_is_bounded_a_huge_user_agent_is_stored_short() {
    let t = TestServer::start().await;
    let huge = format!("Mozilla/5.0 Chrome/{} {}", "1".repeat(100_000), "x".repeat(200_000));
    let response = t
        .http
        .post(t.url("/v1/login/start"))
        .header(USER_AGENT, huge)
        .json(&serde_json::json!({ "system_id": "doc" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let longest = t.count("SELECT MAX(LENGTH(browser) + LENGTH(os) + LENGTH(system) + LENGTH(ip) + LENGTH(place)) FROM login_requests");
    assert!(longest < 100, "stored {longest} characters from the request");
}

#[tokio::test]
async fn item4_anonymous_storage_is_bounded_refusals_are_counted_per_minute() {
    let t = TestServer::start().await;
    let b = Browser::new();
    let started = Browser::new().start(&t).await;
    let rows_before = t.count("SELECT COUNT(*) FROM audit_log");
    for _ in 0..40 {
        assert_eq!(error_of(b.status_response(&t, &started.rid).await).await.1, codes::SECRET_INVALID);
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log"), rows_before, "no row per anonymous refusal");
    assert!(t.count("SELECT COUNT(*) FROM audit_refusals") <= 2, "one row per kind per minute");
    assert_eq!(audited(&t, "login.status", codes::SECRET_INVALID), 40);
}

#[tokio::test]
async fn item4_anonymous_storage_is_bounded_lapsed_rows_are_purged() {
    let t = TestServer::start().await;
    let s = t.session("u-purge").await;
    // Abandoned requests (never scanned), one redeemed login with its session, and an
    // idempotent reply.
    for _ in 0..5 {
        Browser::new().start(&t).await;
    }
    let mut b = Browser::new();
    let started = approved(&t, &mut b, &s, 1).await;
    assert_eq!(b.redeem(&t, &started.rid).await.status(), StatusCode::OK);
    assert!(t.count("SELECT COUNT(*) FROM idempotency") >= 1);

    let db = common::open_db(&t.dir).await;
    let now = now_ms();
    // Nothing has lapsed yet.
    let purged = taipei_server::purge::run(&db, now).await.unwrap();
    assert_eq!(purged, taipei_server::purge::Purged::default());
    // Ten minutes on: the abandoned requests go; the redeemed one stays (history, and
    // its session is live).
    let purged = taipei_server::purge::run(&db, now + 600_000).await.unwrap();
    assert_eq!((purged.login.login_requests, purged.login.web_sessions), (5, 0));
    assert_eq!(t.count("SELECT COUNT(*) FROM login_requests"), 1);
    // A day on: the session has expired, the idempotent replies are gone; the request
    // stays in the person's history for 30 days.
    let purged = taipei_server::purge::run(&db, now + 25 * 3_600_000).await.unwrap();
    assert_eq!(purged.login.web_sessions, 1);
    assert!(purged.idempotency >= 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM idempotency"), 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM login_requests"), 1);
    let purged = taipei_server::purge::run(&db, now + 31 * 24 * 3_600_000).await.unwrap();
    assert_eq!(purged.login.login_requests, 1);
    // The audit log is untouched by the purge.
    assert!(t.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login.redeem'") == 1);
}

#[tokio::test]
async fn the_purge_runs_on_its_own_schedule() {
    let t = TestServer::start_with(|c| c.purge_interval = std::time::Duration::from_millis(100)).await;
    Browser::new().start(&t).await;
    // Lapse the request as if two minutes passed.
    t.db().execute("UPDATE login_requests SET expires_at_ms = expires_at_ms - 600000", []).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while t.count("SELECT COUNT(*) FROM login_requests") > 0 {
        assert!(std::time::Instant::now() < deadline, "the background purge did not run");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

// ---- rate limits -------------------------------------------------------------------

async fn assert_rate_limited(response: reqwest::Response) {
    let retry_after: u64 = response.headers()[reqwest::header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(error_of(response).await, (StatusCode::TOO_MANY_REQUESTS, taipei_server::limits::RATE_LIMITED.into()));
}

#[tokio::test]
async fn item8_rate_limits_answer_429_with_retry_after_on_anonymous_endpoints() {
    use taipei_server::limits::{Limit, RateLimits};
    let tight = Limit { per_minute: 6, burst: 3 };
    let t = TestServer::start_with(|c| {
        c.rate_limits = RateLimits { anonymous: Some(tight), device: Some(tight), admin: Some(tight) }
    })
    .await;
    // Login start: three pass, the fourth is over the budget and nothing is stored.
    for _ in 0..3 {
        Browser::new().start(&t).await;
    }
    let over = t.http.post(t.url("/v1/login/start")).json(&serde_json::json!({"system_id": "doc"})).send().await.unwrap();
    assert_rate_limited(over).await;
    assert_eq!(t.count("SELECT COUNT(*) FROM login_requests"), 3);
    // The same address is over on every anonymous endpoint (one budget per address).
    for (method, path) in [
        (Method::GET, "/v1/login/x"),
        (Method::POST, "/v1/login/x/redeem"),
        (Method::POST, "/v1/kiosk/pickup"),
        (Method::GET, "/v1/meetings/x/display"),
        (Method::POST, "/v1/wallet/verify"),
    ] {
        assert_rate_limited(t.http.request(method, t.url(path)).send().await.unwrap()).await;
    }
    // Admin-token checks draw on their own budget.
    for _ in 0..3 {
        let r = t.http.post(t.url("/v1/admin/meetings")).bearer_auth("guess").json(&serde_json::json!({})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = t.http.post(t.url("/v1/admin/meetings")).bearer_auth("guess").json(&serde_json::json!({})).send().await.unwrap();
    assert_rate_limited(r).await;
}

#[tokio::test]
async fn item8_rate_limits_on_guessable_device_endpoints_are_per_device() {
    use taipei_server::limits::{Limit, RateLimits};
    let t = TestServer::start_with(|c| {
        c.rate_limits = RateLimits { device: Some(Limit { per_minute: 6, burst: 3 }), ..RateLimits::off() }
    })
    .await;
    let (a, b) = (t.session("u-rl-a").await, t.session("u-rl-b").await);
    for _ in 0..3 {
        assert_eq!(scan(&t, &a, "TPL1:1").await.status(), StatusCode::BAD_REQUEST);
    }
    assert_rate_limited(scan(&t, &a, "TPL1:1").await).await;
    // Another device from the same address has its own budget.
    assert_eq!(scan(&t, &b, "TPL1:1").await.status(), StatusCode::BAD_REQUEST);
}

// ---- client addresses and city networks ----------------------------------------------

async fn start_from(t: &TestServer, b: &mut Browser, forwarded_for: &str) -> LoginStarted {
    let response = t
        .http
        .post(t.url("/v1/login/start"))
        .header(USER_AGENT, CHROME)
        .header("X-Forwarded-For", forwarded_for)
        .json(&serde_json::json!({ "system_id": "doc" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    b.take_cookies(&response);
    response.json().await.unwrap()
}

#[tokio::test]
async fn item9_client_ips_come_from_a_trusted_proxy_only_and_city_networks_are_configured_cidrs() {
    // Behind a trusted proxy (loopback here), with the city's network 10.20.0.0/16.
    let t = TestServer::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.city_networks = vec!["10.20.0.0/16".parse().unwrap()];
    })
    .await;
    let s = t.session("u-proxy").await;
    let mut b = Browser::new();
    // The client's own claim (1.1.1.1) is ignored: the right-most untrusted hop counts.
    let started = start_from(&t, &mut b, "1.1.1.1, 192.168.7.7").await;
    let frame = b.status(&t, &started.rid).await.frame.unwrap();
    let response = t
        .authed(&s, Method::POST, "/v1/login/scan")
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .header("X-Forwarded-For", "10.20.1.1")
        .json(&LoginScan { frame })
        .send()
        .await
        .unwrap();
    let ctx: LoginContext = response.json().await.unwrap();
    assert_eq!(ctx.ip, "192.168.7.7");
    // A private address is not the city's network unless configured.
    assert_eq!(ctx.place, "outside the city network");
    assert_eq!(ctx.risk_flags, vec!["network_differs".to_owned(), "outside_city_network".to_owned()]);
    let mut b2 = Browser::new();
    let started = start_from(&t, &mut b2, "10.20.5.5").await;
    let frame = b2.status(&t, &started.rid).await.frame.unwrap();
    let ctx: LoginContext = scan(&t, &s, &frame).await.json().await.unwrap();
    assert_eq!((ctx.ip.as_str(), ctx.place.as_str()), ("10.20.5.5", "Taipei City Government network"));

    // Without a trusted proxy the header is anyone's to write, and ignored.
    let direct = TestServer::start().await;
    let s = direct.session("u-direct").await;
    let mut b = Browser::new();
    let started = start_from(&direct, &mut b, "10.20.5.5").await;
    let frame = b.status(&direct, &started.rid).await.frame.unwrap();
    let ctx: LoginContext = scan(&direct, &s, &frame).await.json().await.unwrap();
    assert_eq!(ctx.ip, "127.0.0.1");
}

// ---- web systems registered by id ----------------------------------------------------

async fn start_for(t: &TestServer, body: serde_json::Value, origin: Option<&str>) -> reqwest::Response {
    let mut request = t.http.post(t.url("/v1/login/start")).header(USER_AGENT, CHROME).json(&body);
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn item9_web_systems_are_registered_by_id_with_their_origins() {
    let t = TestServer::start().await;
    // Free text is no longer a system: an unknown id, or the old `system` field, is refused.
    let unknown = start_for(&t, serde_json::json!({"system_id": "phish"}), None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(unknown.json::<serde_json::Value>().await.unwrap()["code"], codes::UNKNOWN_SYSTEM);
    let free_text = start_for(&t, serde_json::json!({"system": "公文系統"}), None).await;
    assert_eq!(free_text.status(), StatusCode::BAD_REQUEST);
    assert_eq!(t.audit_count("login.start", &format!("= '{}'", codes::UNKNOWN_SYSTEM)), 1);

    // Only the operator registers a system; a credential of another kind cannot.
    let system = serde_json::json!({"id": "pay", "name": "薪資系統 Payroll", "origins": ["https://pay.gov.taipei"]});
    let portal = t.portal_token().await;
    let refused = t.http.post(t.url("/v1/admin/web-systems")).bearer_auth(&portal).json(&system).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let bad = serde_json::json!({"id": "pay", "name": "x", "origins": ["https://pay.gov.taipei/login"]});
    let bad = t.http.post(t.url("/v1/admin/web-systems")).bearer_auth(t.server.admin_token()).json(&bad).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "an origin has no path");
    let made = t.http.post(t.url("/v1/admin/web-systems")).bearer_auth(t.server.admin_token()).json(&system).send().await.unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);

    // Its own pages and the server's own sign-in page may start a login; another site may not.
    let ok = start_for(&t, serde_json::json!({"system_id": "pay"}), Some("https://pay.gov.taipei")).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let started: LoginStarted = ok.json().await.unwrap();
    assert_eq!(started.system, "薪資系統 Payroll");
    let own = start_for(&t, serde_json::json!({"system_id": "pay"}), Some(&t.server.base_url())).await;
    assert_eq!(own.status(), StatusCode::CREATED);
    let evil = start_for(&t, serde_json::json!({"system_id": "pay"}), Some("https://pay.gov.taipei.evil.example")).await;
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    assert_eq!(evil.json::<serde_json::Value>().await.unwrap()["code"], codes::ORIGIN_NOT_ALLOWED);
    let elsewhere = start_for(&t, serde_json::json!({"system_id": "doc"}), Some("https://pay.gov.taipei")).await;
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN, "pay's origin is not doc's");

    // The phone reads the registered name.
    let s = t.session("u-chen").await;
    let mut b = Browser::new();
    let started = b.start(&t).await;
    let status = b.status(&t, &started.rid).await;
    let ctx: LoginContext = scan(&t, &s, status.frame.as_deref().unwrap()).await.json().await.unwrap();
    assert_eq!(ctx.system, "公文系統");
}

/// Two server processes behind one address: the browser's "Continue", sent twice at once
/// and landing on both, still opens one session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_redeemed_on_two_servers_at_once_opens_one_session() {
    let t = TestServer::start().await;
    let twin = t.twin().await;
    redeemed_once_across(&t, [&t.server.base_url(), &twin.server.base_url()], "u-twins").await;
    twin.server.shutdown().await;
}

/// The same race across two `reference-server` OS processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_redeemed_on_two_processes_at_once_opens_one_session() {
    let (t, a, b) = common::process::three_servers().await;
    redeemed_once_across(&t, [&a.base, &b.base], "u-procs").await;
}

/// Three logins approved on `t`, each redeemed twice at once, once at each of `bases`:
/// one session each.
async fn redeemed_once_across(t: &TestServer, bases: [&str; 2], user: &str) {
    let s = t.session(user).await;
    for round in 1..=3u64 {
        let mut b = Browser::new();
        let started = approved(t, &mut b, &s, round).await;
        let confirm = b.status(t, &started.rid).await.confirm.unwrap_or_default();
        let (mut first, mut second) = (b.clone(), b.clone());
        let (r1, r2) = tokio::join!(first.redeem_at(&t.http, bases[0], &started.rid, &confirm), second.redeem_at(&t.http, bases[1], &started.rid, &confirm));
        let statuses = [r1.status(), r2.status()];
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "round {round}: {statuses:?}");
        let sessions: i64 = t.db().query_row("SELECT COUNT(*) FROM web_sessions WHERE rid = ?1", [&started.rid], |r| r.get(0)).unwrap();
        assert_eq!(sessions, 1, "round {round}");
    }
}
