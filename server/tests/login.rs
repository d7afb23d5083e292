//! QR-key login and meeting sign-in against the reference server over real HTTP:
//! the happy paths, and each security check of the login issue with its own error
//! code and its audit row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Session, TestServer, error_of, random_id};
use reqwest::header::{COOKIE, SET_COOKIE, USER_AGENT};
use reqwest::{Method, StatusCode};
use taipei_protocol::api::{Receipt, codes as api_codes, headers};
use taipei_protocol::b64;
use taipei_protocol::login::{
    self, Decision, LoginContext, LoginDecided, LoginDecisionRequest, LoginFrame, LoginHistory,
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
            .json(&serde_json::json!({ "system": "公文系統 Document System" }))
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

    async fn redeem(&mut self, t: &TestServer, rid: &str) -> reqwest::Response {
        let response = t
            .http
            .post(t.url(&format!("/v1/login/{rid}/redeem")))
            .header(COOKIE, self.cookie_header())
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

fn wrong_number(ctx: &LoginContext, right: &str) -> String {
    ctx.candidates.iter().find(|c| *c != right).unwrap().clone()
}

/// The audit rows of an action with a given outcome.
fn audited(t: &TestServer, action: &str, outcome: &str) -> i64 {
    t.db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE action = ?1 AND outcome = ?2",
            [action, outcome],
            |r| r.get(0),
        )
        .unwrap()
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
    assert_eq!(ctx.system, "公文系統 Document System");
    assert_eq!((ctx.browser.as_str(), ctx.os.as_str()), ("Chrome 131", "Windows"));
    assert_eq!(ctx.place, "this computer (loopback)");
    assert!(ctx.risk_flags.is_empty(), "{:?}", ctx.risk_flags);
    let shown = b.status(&t, &started.rid).await;
    assert_eq!(shown.state, "scanned");
    let number = shown.number.unwrap();
    assert!(ctx.candidates.contains(&number));
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
    let revoke = t
        .http
        .post(t.url(&format!("/v1/admin/devices/{}/revoke", s.device_id)))
        .bearer_auth(t.server.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    let body = decision(&s, &ctx, Decision::Approve, &number, 1);
    assert_eq!(error_of(decide(&t, &s, &body).await).await, (StatusCode::FORBIDDEN, api_codes::DEVICE_REVOKED.into()));
    let mut b2 = Browser::new();
    let started = b2.start(&t).await;
    let frame = b2.status(&t, &started.rid).await.frame.unwrap();
    assert_eq!(error_of(scan(&t, &s, &frame).await).await, (StatusCode::FORBIDDEN, api_codes::DEVICE_REVOKED.into()));
    assert!(audited(&t, "auth", api_codes::DEVICE_REVOKED) >= 2);
}

#[tokio::test]
async fn three_wrong_numbers_cancel_the_request() {
    let t = TestServer::start().await;
    let s = t.session("u-wrong").await;
    let mut b = Browser::new();
    let (started, ctx, number) = scanned(&t, &mut b, &s).await;
    let wrong = wrong_number(&ctx, &number);
    for (counter, expected) in [(1, codes::WRONG_NUMBER), (2, codes::WRONG_NUMBER), (3, codes::CANCELLED)] {
        let body = decision(&s, &ctx, Decision::Approve, &wrong, counter);
        assert_eq!(error_of(decide(&t, &s, &body).await).await, (StatusCode::CONFLICT, expected.into()));
    }
    // Even the right number is too late now, and the browser says so.
    let body = decision(&s, &ctx, Decision::Approve, &number, 4);
    assert_eq!(error_of(decide(&t, &s, &body).await).await, (StatusCode::CONFLICT, codes::CANCELLED.into()));
    assert_eq!(b.status(&t, &started.rid).await.state, "cancelled");
    assert_eq!(audited(&t, "login.approve", codes::WRONG_NUMBER), 2);
    assert_eq!(audited(&t, "login.approve", codes::CANCELLED), 2);
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
    let (_, ctx, number) = scanned(&t, &mut b, &s).await;
    // A first (wrong) answer spends counter 5.
    let wrong = wrong_number(&ctx, &number);
    assert_eq!(decide(&t, &s, &decision(&s, &ctx, Decision::Approve, &wrong, 5)).await.status(), StatusCode::CONFLICT);
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
    let now = now_ms();
    let response = t
        .http
        .post(t.url("/v1/admin/meetings"))
        .bearer_auth(t.server.admin_token())
        .json(&NewMeeting {
            title: "市政會議 City council".into(),
            room: "市府 8F 801".into(),
            organizer: "秘書處".into(),
            starts_at_ms: now + starts_in_ms,
            ends_at_ms: now + starts_in_ms + 3_600_000,
            invitees: invitees.iter().map(|s| (*s).to_owned()).collect(),
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
