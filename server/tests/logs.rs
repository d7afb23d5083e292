//! Every log line the server writes at trace level, in both of its formats (text and
//! JSON, through the server's own `ops::logs::layer`), over a run that creates every
//! kind of secret it handles — the admin token, access tokens and DPoP proofs, a login
//! request's browser secret, its confirmation and the web session, a room display's
//! token, a kiosk pickup code — holds none of them. Its own binary: the subscriber that
//! captures the lines is process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::{TestServer, random_id};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use taipei_protocol::api::headers;
use taipei_protocol::login::{LoginConfirm, LoginScan, LoginStarted, LoginStatus};
use taipei_protocol::meeting::{MeetingCreated, NewMeeting};
use taipei_protocol::wallet::{Field, IssuedCertificate, NewCertificate, NewPickupCode, PickupCode, RedeemPickup, Text};
use taipei_server::ops::logs::{LogFormat, layer};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends and reads the JSON reply.
trait Fetch {
    async fn fetch<T: serde::de::DeserializeOwned>(self) -> T;
}

impl Fetch for reqwest::RequestBuilder {
    async fn fetch<T: serde::de::DeserializeOwned>(self) -> T {
        self.send().await.unwrap().json().await.unwrap()
    }
}

fn cookie_pairs(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_of_a_full_run_hold_no_secret() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let (captured, json) = (Captured::default(), Captured::default());
    let (text_writer, json_writer) = (captured.clone(), json.clone());
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .with(layer(LogFormat::Text, move || text_writer.clone()))
        .with(layer(LogFormat::Json, move || json_writer.clone()))
        .init();

    let t = TestServer::start().await;
    let mut secrets: Vec<String> = vec![t.server.admin_token().to_owned()];
    let s = t.session("u-logs").await;
    secrets.push(s.token.clone());

    // Login: browser secret, number, confirmation, web session.
    let started = t.http.post(t.url("/v1/login/start")).json(&serde_json::json!({"system_id": "doc"})).send().await.unwrap();
    let mut cookies = cookie_pairs(&started);
    let started: LoginStarted = started.json().await.unwrap();
    let status = |cookies: String| {
        let url = t.url(&format!("/v1/login/{}", started.rid));
        let http = t.http.clone();
        async move { http.get(url).header(COOKIE, cookies).send().await.unwrap().json::<LoginStatus>().await.unwrap() }
    };
    let frame = status(cookies.join("; ")).await.frame.unwrap();
    let response = t
        .authed(&s, Method::POST, "/v1/login/scan")
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .json(&LoginScan { frame })
        .send()
        .await
        .unwrap();
    let ctx: taipei_protocol::login::LoginContext = response.json().await.unwrap();
    let number = status(cookies.join("; ")).await.number.unwrap();
    let rid = taipei_protocol::b64::decode(&ctx.rid).unwrap();
    let fnonce = taipei_protocol::b64::decode(&ctx.fnonce).unwrap();
    let time_ms = common::now_s() * 1000;
    let decision = taipei_protocol::login::Decision::Approve;
    let message =
        taipei_protocol::login::decision_message(&rid, &fnonce, &s.device_id, 1, decision, &number, &ctx.hash(), time_ms);
    let body = taipei_protocol::login::LoginDecisionRequest {
        rid: ctx.rid.clone(),
        fnonce: ctx.fnonce.clone(),
        decision,
        number,
        counter: 1,
        context_hash: taipei_protocol::b64::encode(ctx.hash()),
        time_ms,
        signature: s.phone.sign(&message),
    };
    let decided = t
        .authed(&s, Method::POST, "/v1/login/decide")
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), StatusCode::OK);
    let confirm = status(cookies.join("; ")).await.confirm.unwrap();
    let redeemed = t
        .http
        .post(t.url(&format!("/v1/login/{}/redeem", started.rid)))
        .header(COOKIE, cookies.join("; "))
        .json(&LoginConfirm { confirm: confirm.clone() })
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.status(), StatusCode::OK);
    cookies.extend(cookie_pairs(&redeemed));
    secrets.push(confirm);

    let mint = |kind: &'static str, scope: Option<&'static str>| {
        let request = t.http.post(t.url("/v1/admin/credentials")).bearer_auth(t.server.admin_token());
        let request = request.header(headers::IDEMPOTENCY_KEY, random_id());
        request.json(&serde_json::json!({"kind": kind, "name": format!("logs {kind}"), "scope": scope})).fetch()
    };
    // The portal's and the organizer's credentials are secrets of the run too.
    secrets.push(t.portal_token().await);
    let organizer: taipei_protocol::api::MintedCredential = mint("organizer", None).await;
    secrets.push(organizer.token.clone());

    // A meeting's display token.
    let now = common::now_s() * 1000;
    let meeting: MeetingCreated = t
        .http
        .post(t.url("/v1/admin/meetings"))
        .bearer_auth(&organizer.token)
        .json(&NewMeeting {
            title: "t".into(),
            room: "r".into(),
            organizer: "o".into(),
            starts_at_ms: now,
            ends_at_ms: now + 3_600_000,
            invitees: vec![],
            late_window_ms: None,
        })
        .fetch()
        .await;
    let shown = t
        .http
        .get(t.url(&format!("/v1/meetings/{}/display", meeting.mid)))
        .bearer_auth(&meeting.display_token)
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), StatusCode::OK);
    secrets.push(meeting.display_token.clone());

    // A pickup code, created, then revoked and a second one redeemed at a kiosk; the
    // issuer's and the kiosk's credentials are secrets of the run too.
    let issuer: taipei_protocol::api::MintedCredential = mint("issuer", Some("TPE-EDU")).await;
    let kiosk: taipei_protocol::api::MintedCredential = mint("kiosk", None).await;
    secrets.push(issuer.token.clone());
    secrets.push(kiosk.token.clone());
    let cert: IssuedCertificate = t
        .http
        .post(t.url("/v1/admin/wallet/certificates"))
        .bearer_auth(&issuer.token)
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .json(&NewCertificate {
            user_id: "u-logs".into(),
            issuer: "TPE-EDU".into(),
            cert_type: "diploma".into(),
            holder_name: "陳小明".into(),
            title: Text::new("畢業證書", "Diploma"),
            fields: vec![Field { label: Text::new("學校", "School"), value: "建國中學".into() }],
            expires_at_ms: None,
            document_sha256: None,
        })
        .fetch()
        .await;
    let mut codes = Vec::new();
    for _ in 0..2 {
        let code: PickupCode = t
            .authed(&s, Method::POST, "/v1/wallet/pickup-codes")
            .header(headers::IDEMPOTENCY_KEY, random_id())
            .json(&NewPickupCode { certificate_id: cert.id.clone(), ttl_secs: None })
            .fetch()
            .await;
        codes.push(code.code);
    }
    let revoked = t
        .authed(&s, Method::POST, "/v1/wallet/pickup-codes/revoke")
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .json(&serde_json::json!({"code": codes[0]}))
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    let picked = t.http.post(t.url("/v1/kiosk/pickup")).bearer_auth(&kiosk.token).json(&RedeemPickup { code: codes[1].clone() }).send().await.unwrap();
    assert_eq!(picked.status(), StatusCode::OK);
    secrets.extend(codes);

    // Cookie values: the browser secret and the web session.
    secrets.extend(cookies.iter().map(|pair| pair.split_once('=').unwrap().1.to_owned()));
    t.server.shutdown().await;

    let json = String::from_utf8(json.0.lock().unwrap().clone()).unwrap();
    // One flat JSON object per line; each request line names its route and status.
    let mut requests = 0;
    for line in json.lines() {
        let object: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(object["level"].is_string() && object["timestamp"].is_string() && object["message"].is_string(), "{line}");
        if object["message"] == "request" {
            assert!(object["route"].is_string() && object["status"].is_u64() && object["latency_ms"].is_f64(), "{line}");
            requests += 1;
        }
    }
    assert!(requests > 20, "the run's requests were logged as JSON: {json}");
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for logs in [text, json] {
        assert!(logs.lines().count() > 20, "the run was logged: {logs}");
        assert!(logs.contains("/v1/wallet/pickup-codes/revoke"), "the revoke route was logged");
        for secret in &secrets {
            assert!(secret.len() >= 10, "a real secret: {secret}");
            assert!(!logs.contains(secret.as_str()), "a secret reached the log: {secret}\n{logs}");
        }
    }
}
