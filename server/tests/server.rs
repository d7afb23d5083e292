//! The reference server over real HTTP on loopback, with its SQLite file in a temp dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Phone, TestServer, error_of, random_id, report};
use reqwest::{Method, StatusCode};
use taipei_protocol::api::{
    AccessToken, DeviceRegistered, DeviceStatus, Me, NewReport, Receipt, ReportList, ServerTime,
    codes, headers,
};

// ---- binding -------------------------------------------------------------------

#[tokio::test]
async fn binding_happy_path_registers_the_device_once() {
    let t = TestServer::start().await;
    let phone = Phone::new();
    let offer = t.offer_for("u-alice").await;
    assert!(offer.qr.starts_with("TPB1:"));
    let response = t.register(&phone.registration(&offer)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let registered: DeviceRegistered = response.json().await.unwrap();
    assert_eq!(registered.user_id, "u-alice");
    assert_eq!(registered.display_name, "Name of u-alice");
    let jkt: String = t
        .db()
        .query_row(
            "SELECT jkt FROM devices WHERE device_id = ?1",
            [&registered.device_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(jkt, phone.public.jwk_thumbprint());
    assert_eq!(t.count("SELECT COUNT(*) FROM bindings WHERE used = 1"), 1);
    assert_eq!(
        t.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'device.register' AND outcome = 'ok'"
        ),
        1
    );
}

#[tokio::test]
async fn expired_binding_is_refused() {
    let t = TestServer::start_with(|c| c.binding_ttl = Duration::ZERO).await;
    let phone = Phone::new();
    let offer = t.offer_for("u-bob").await;
    let (status, code) = error_of(t.register(&phone.registration(&offer)).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::GONE, codes::BINDING_EXPIRED)
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM devices"), 0);
}

#[tokio::test]
async fn used_binding_is_refused_for_a_second_phone() {
    let t = TestServer::start().await;
    let offer = t.offer_for("u-carol").await;
    assert_eq!(
        t.register(&Phone::new().registration(&offer))
            .await
            .status(),
        StatusCode::CREATED
    );
    let (status, code) = error_of(t.register(&Phone::new().registration(&offer)).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, codes::BINDING_USED)
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM devices"), 1);
}

#[tokio::test]
async fn unknown_binding_and_bad_signature_are_refused() {
    let t = TestServer::start().await;
    let phone = Phone::new();
    let offer = t.offer_for("u-dan").await;

    let mut unknown = phone.registration(&offer);
    unknown.bid = random_id();
    let (status, code) = error_of(t.register(&unknown).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, codes::BINDING_UNKNOWN)
    );

    // Signed by another key than the one registered.
    let mut forged = phone.registration(&offer);
    forged.signature = Phone::new().registration(&offer).signature;
    let (status, code) = error_of(t.register(&forged).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, codes::SIGNATURE_INVALID)
    );

    let mut bad_key = phone.registration(&offer);
    bad_key.public_key = "AAAA".into();
    let (status, code) = error_of(t.register(&bad_key).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, codes::BAD_REQUEST)
    );

    assert_eq!(t.count("SELECT COUNT(*) FROM devices"), 0);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM bindings WHERE used = 0"),
        1,
        "failed attempts leave the offer usable"
    );
    assert_eq!(
        t.audit_count("device.register", "!= 'ok'"),
        3
    );
}

// ---- tokens and authentication -------------------------------------------------------

#[tokio::test]
async fn token_happy_path_and_me() {
    let t = TestServer::start().await;
    let session = t.session("u-erin").await;
    let stored: Vec<u8> = t
        .db()
        .query_row("SELECT token_hash FROM access_tokens", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored.len(), 32, "only the SHA-256 of the token is stored");
    assert_ne!(stored, session.token.as_bytes());

    let response = t
        .authed(&session, Method::GET, "/v1/me")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: Me = response.json().await.unwrap();
    assert_eq!(
        (me.user_id.as_str(), me.device_id.as_str()),
        ("u-erin", session.device_id.as_str())
    );
}

#[tokio::test]
async fn proof_outside_the_clock_window_gets_clock_skew() {
    let t = TestServer::start().await;
    let (phone, device_id) = t.enroll("u-frank").await;
    let mut claims = phone.claims("POST", &t.url("/v1/token"), None);
    claims.iat -= 2 * taipei_protocol::dpop::MAX_CLOCK_SKEW_S;
    let response = t
        .token_with_proof(&device_id, &phone.proof_for(&claims))
        .await;
    let server_ms: i64 = response.headers()[headers::SERVER_TIME_MS]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(server_ms > 0);
    let (status, code) = error_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, codes::CLOCK_SKEW)
    );

    // Retrying with the server's clock works.
    claims.iat = server_ms / 1000;
    claims.jti = random_id();
    assert_eq!(
        t.token_with_proof(&device_id, &phone.proof_for(&claims))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_proof_is_accepted_once() {
    let t = TestServer::start().await;
    let (phone, device_id) = t.enroll("u-gina").await;
    let proof = phone.proof("POST", &t.url("/v1/token"), None);
    assert_eq!(
        t.token_with_proof(&device_id, &proof).await.status(),
        StatusCode::OK
    );
    let (status, code) = error_of(t.token_with_proof(&device_id, &proof).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, codes::REPLAYED_PROOF)
    );
}

#[tokio::test]
async fn proof_must_name_this_method_and_path_and_the_device_key() {
    let t = TestServer::start().await;
    let (phone, device_id) = t.enroll("u-hana").await;

    let wrong_key = Phone::new().proof("POST", &t.url("/v1/token"), None);
    let (status, code) = error_of(t.token_with_proof(&device_id, &wrong_key).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, codes::INVALID_DPOP_PROOF)
    );

    let wrong_method = phone.proof("GET", &t.url("/v1/token"), None);
    assert_eq!(
        error_of(t.token_with_proof(&device_id, &wrong_method).await)
            .await
            .1,
        codes::INVALID_DPOP_PROOF
    );

    let wrong_path = phone.proof("POST", &t.url("/v1/me"), None);
    assert_eq!(
        error_of(t.token_with_proof(&device_id, &wrong_path).await)
            .await
            .1,
        codes::INVALID_DPOP_PROOF
    );

    // Behind a proxy the host differs: only the path is compared.
    let other_host = phone.proof("POST", "https://api.city.example/v1/token", None);
    assert_eq!(
        t.token_with_proof(&device_id, &other_host).await.status(),
        StatusCode::OK
    );

    let proof = phone.proof("POST", &t.url("/v1/token"), None);
    let (status, code) = error_of(t.token_with_proof("no-such-device", &proof).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, codes::UNKNOWN_DEVICE)
    );
    assert_eq!(
        t.audit_count("token.issue", "!= 'ok'"),
        4
    );
}

#[tokio::test]
async fn revoked_device_loses_its_token_and_cannot_get_another() {
    let t = TestServer::start().await;
    let session = t.session("u-ivan").await;
    let path = format!("/v1/admin/devices/{}/revoke", session.device_id);
    let response = t
        .http
        .post(t.url(&path))
        .bearer_auth(t.server.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let status: DeviceStatus = response.json().await.unwrap();
    assert_eq!(status.status, "revoked");
    assert_eq!(t.count("SELECT COUNT(*) FROM access_tokens"), 0);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_log WHERE action = 'device.revoke'"),
        1
    );

    let (status, code) = error_of(
        t.authed(&session, Method::GET, "/v1/me")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, codes::DEVICE_REVOKED)
    );
    let (status, code) = error_of(t.token(&session.phone, &session.device_id).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, codes::DEVICE_REVOKED)
    );

    let unknown = t
        .http
        .post(t.url("/v1/admin/devices/nope/revoke"))
        .bearer_auth(t.server.admin_token())
        .send();
    let (status, code) = error_of(unknown.await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, codes::UNKNOWN_DEVICE)
    );
}

#[tokio::test]
async fn missing_unknown_and_expired_tokens_are_invalid_token() {
    let t = TestServer::start().await;
    let session = t.session("u-jin").await;

    let url = t.url("/v1/me");
    let proof = session.phone.proof("GET", &url, Some(&session.token));
    let response = t
        .http
        .get(&url)
        .header(headers::DPOP, proof)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response).await,
        (StatusCode::UNAUTHORIZED, codes::INVALID_TOKEN.to_owned())
    );

    let fake = random_id();
    let proof = session.phone.proof("GET", &url, Some(&fake));
    let response = t
        .with_auth(t.http.get(&url), &fake, &proof)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.1, codes::INVALID_TOKEN);

    let short = TestServer::start_with(|c| c.token_ttl = Duration::ZERO).await;
    let session = short.session("u-jin").await;
    let response = short
        .authed(&session, Method::GET, "/v1/me")
        .send()
        .await
        .unwrap();
    let body: taipei_protocol::api::ErrorBody = response.json().await.unwrap();
    assert_eq!(body.code, codes::INVALID_TOKEN);
    assert!(body.message.contains("expired"), "{}", body.message);
    assert_eq!(
        short.audit_count("auth", "= 'invalid_token'"),
        1
    );
}

#[tokio::test]
async fn proof_must_carry_the_hash_of_the_presented_token() {
    let t = TestServer::start().await;
    let session = t.session("u-kim").await;
    let url = t.url("/v1/me");
    let proof = session.phone.proof("GET", &url, Some("some other token"));
    let response = t
        .with_auth(t.http.get(&url), &session.token, &proof)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response).await,
        (
            StatusCode::UNAUTHORIZED,
            codes::INVALID_DPOP_PROOF.to_owned()
        )
    );

    // A stolen token with the thief's own key is refused too.
    let thief = Phone::new();
    let proof = thief.proof("GET", &url, Some(&session.token));
    let response = t
        .with_auth(t.http.get(&url), &session.token, &proof)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.1, codes::INVALID_DPOP_PROOF);
}

// ---- reports and idempotency ------------------------------------------------------

#[tokio::test]
async fn idempotent_retry_returns_the_same_receipt_and_stores_one_report() {
    let t = TestServer::start().await;
    let session = t.session("u-lee").await;
    let body = report(&session, "I did not try to log in");
    let key = random_id();
    let send = || {
        t.authed(&session, Method::POST, "/v1/reports")
            .header(headers::IDEMPOTENCY_KEY, &key)
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Receipt = first.json().await.unwrap();
    assert_eq!(first.status, "accepted");
    let again = send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Receipt>().await.unwrap(), first);
    assert_eq!(t.count("SELECT COUNT(*) FROM reports"), 1);

    let list: ReportList = t
        .authed(&session, Method::GET, "/v1/reports")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.reports.len(), 1);
    assert_eq!(
        (list.reports[0].id.as_str(), list.reports[0].text.as_str()),
        (first.id.as_str(), "I did not try to log in")
    );

    let other = report(&session, "something else");
    let response = t
        .authed(&session, Method::POST, "/v1/reports")
        .header(headers::IDEMPOTENCY_KEY, &key)
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::IDEMPOTENCY_KEY_REUSED.to_owned()
        )
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM reports"), 1);
}

#[tokio::test]
async fn reports_need_a_key_a_valid_signature_and_sane_fields() {
    let t = TestServer::start().await;
    let session = t.session("u-mei").await;
    let post = |body: &NewReport, key: Option<String>| {
        let mut request = t.authed(&session, Method::POST, "/v1/reports").json(body);
        if let Some(key) = key {
            request = request.header(headers::IDEMPOTENCY_KEY, key);
        }
        request.send()
    };
    let good = report(&session, "hello");
    let (status, code) = error_of(post(&good, None).await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, codes::IDEMPOTENCY_KEY_REQUIRED)
    );

    let mut forged = good.clone();
    forged.text = "changed after signing".into();
    let (status, code) = error_of(post(&forged, Some(random_id())).await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, codes::SIGNATURE_INVALID)
    );

    let mut bad_kind = report(&session, "x");
    bad_kind.kind = "Not A Kind!".into();
    assert_eq!(
        error_of(post(&bad_kind, Some(random_id())).await.unwrap())
            .await
            .1,
        codes::BAD_REQUEST
    );
    let long = report(&session, &"x".repeat(4001));
    assert_eq!(
        error_of(post(&long, Some(random_id())).await.unwrap())
            .await
            .1,
        codes::BAD_REQUEST
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM reports"), 0);
}

// ---- HTTP edges -------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_oversized_bodies_and_unknown_routes_get_json_errors() {
    let t = TestServer::start().await;
    let response = t
        .http
        .post(t.url("/v1/devices"))
        .header(headers::IDEMPOTENCY_KEY, "k1")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response).await,
        (StatusCode::BAD_REQUEST, codes::BAD_REQUEST.to_owned())
    );

    let missing_field = t
        .post_json("/v1/devices", &serde_json::json!({"bid": "x"}), Some("k2"))
        .await;
    let body: taipei_protocol::api::ErrorBody = missing_field.json().await.unwrap();
    assert!(body.message.contains("missing field"), "{}", body.message);

    let huge = serde_json::json!({"device_id": "x".repeat(100 * 1024)});
    let response = t.post_json("/v1/token", &huge, None).await;
    assert_eq!(
        error_of(response).await,
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE.to_owned()
        )
    );

    let response = t.http.get(t.url("/v2/nothing")).send().await.unwrap();
    assert_eq!(
        error_of(response).await,
        (StatusCode::NOT_FOUND, codes::NOT_FOUND.to_owned())
    );

    let response = t.http.delete(t.url("/v1/time")).send().await.unwrap();
    assert_eq!(error_of(response).await.0, StatusCode::METHOD_NOT_ALLOWED);

    let response = t.http.get(t.url("/v1/time")).send().await.unwrap();
    let header: i64 = response.headers()[headers::SERVER_TIME_MS]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let time: ServerTime = response.json().await.unwrap();
    assert!((time.now_ms - header).abs() < 60_000);
}

#[tokio::test]
async fn item10_errors_are_json_for_every_http_layer_failure() {
    let t = TestServer::start().await;
    let session = t.session("u-json").await;
    // A path segment that is not valid percent-encoded UTF-8: axum's own rejection.
    for path in ["/v1/login/%FF%FE", "/v1/meetings/%C0/display"] {
        let response = t.http.get(t.url(path)).send().await.unwrap();
        let status = response.status();
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "{path}");
        let body: taipei_protocol::api::ErrorBody = response.json().await.unwrap();
        assert!(status.is_client_error(), "{path}: {status}");
        assert!(!body.code.is_empty() && !body.message.is_empty(), "{path}: {body:?}");
    }
    let response = t.http.delete(t.url("/v1/time")).send().await.unwrap();
    assert_eq!(error_of(response).await, (StatusCode::METHOD_NOT_ALLOWED, codes::METHOD_NOT_ALLOWED.to_owned()));
    // JSON bodies only with a JSON content type: a form or text/plain post is 415.
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let response = t
            .http
            .post(t.url("/v1/login/start"))
            .header("content-type", content_type)
            .body(r#"{"system_id":"doc"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(response).await,
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, codes::UNSUPPORTED_MEDIA_TYPE.to_owned()),
            "{content_type}"
        );
    }
    let response = t.http.post(t.url("/v1/login/start")).body(r#"{"system_id":"doc"}"#).send().await.unwrap();
    assert_eq!(error_of(response).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE, "no content type");
    let response = t
        .http
        .post(t.url("/v1/login/start"))
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"system_id":"doc"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    // A device endpoint too, after authentication.
    let response = t
        .authed(&session, Method::POST, "/v1/reports")
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn item10_debug_of_the_running_server_and_config_never_shows_the_admin_token() {
    let t = TestServer::start().await;
    let token = t.server.admin_token().to_owned();
    assert!(!format!("{:?}", t.server).contains(&token));
    let config = taipei_server::ServerConfig::embedded(common::db_path(&t.dir));
    assert!(!format!("{config:?}").contains(&config.admin_token));
}

#[tokio::test]
async fn openapi_document_covers_exactly_the_served_routes() {
    let t = TestServer::start().await;
    let doc: serde_json::Value = t
        .http
        .get(t.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = taipei_server::served_routes()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(documented, served);

    // Each documented route is really routed (answers something other than the
    // unknown-route reply), and every error code the server can send is documented.
    for (method, path) in &served {
        let url = t.url(&path.replace("{device_id}", "x"));
        let response = t
            .http
            .request(method.parse().unwrap(), url)
            .send()
            .await
            .unwrap();
        let status = response.status();
        if !status.is_success() {
            let (_, code) = error_of(response).await;
            assert_ne!(code, codes::NOT_FOUND, "{method} {path} is not routed");
        }
        assert!(
            !matches!(status, StatusCode::METHOD_NOT_ALLOWED),
            "{method} {path}"
        );
    }
    let text = doc.to_string();
    for code in [
        codes::BAD_REQUEST,
        codes::NOT_FOUND,
        codes::UNAUTHORIZED,
        codes::INVALID_TOKEN,
        codes::INVALID_DPOP_PROOF,
        codes::REPLAYED_PROOF,
        codes::CLOCK_SKEW,
        codes::UNKNOWN_DEVICE,
        codes::DEVICE_REVOKED,
        codes::BINDING_UNKNOWN,
        codes::BINDING_EXPIRED,
        codes::BINDING_USED,
        codes::SIGNATURE_INVALID,
        codes::IDEMPOTENCY_KEY_REQUIRED,
        codes::IDEMPOTENCY_KEY_REUSED,
        codes::PAYLOAD_TOO_LARGE,
        codes::INTERNAL,
        codes::NOT_READY,
    ] {
        assert!(
            text.contains(&format!("`{code}`")),
            "{code} not documented"
        );
    }
    assert!(text.contains(headers::SERVER_TIME_MS) && text.contains(headers::IDEMPOTENCY_KEY));
}

// ---- storage ----------------------------------------------------------------------

#[tokio::test]
async fn reopening_the_database_keeps_devices_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let config = taipei_server::ServerConfig::embedded(common::db_path(&dir));
    let first = TestServer {
        server: taipei_server::start(config.clone()).await.unwrap(),
        http: common::http_client(),
        dir,
    };
    let session = first.session("u-nina").await;
    let body = report(&session, "kept");
    let response = first
        .authed(&session, Method::POST, "/v1/reports")
        .header(headers::IDEMPOTENCY_KEY, "r1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let TestServer { server, http, dir } = first;
    server.shutdown().await;

    let second = TestServer {
        server: taipei_server::start(config).await.unwrap(),
        http,
        dir,
    };
    let token: AccessToken = second
        .token(&session.phone, &session.device_id)
        .await
        .json()
        .await
        .unwrap();
    let session = common::Session {
        token: token.access_token,
        ..session
    };
    let list: ReportList = second
        .authed(&session, Method::GET, "/v1/reports")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.reports.len(), 1);
    assert_eq!(list.reports[0].text, "kept");
    second.server.shutdown().await;
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_untouched() {
    if common::sqlite_only("a SQLite file's bytes left untouched") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = common::db_path(&dir);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE future (x INTEGER); INSERT INTO future VALUES (42); PRAGMA user_version = 999;")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let error = taipei_server::start(taipei_server::ServerConfig::embedded(path.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            taipei_server::ServerError::SchemaTooNew { found: 999, .. }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("newer"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn the_audit_log_refuses_changes() {
    let t = TestServer::start().await;
    t.session("u-olga").await;
    let conn = t.db();
    assert!(
        conn.execute("UPDATE audit_log SET outcome = 'ok'", [])
            .is_err()
    );
    assert!(conn.execute("DELETE FROM audit_log", []).is_err());
    assert!(t.count("SELECT COUNT(*) FROM audit_log") >= 3);
}

#[tokio::test]
async fn concurrent_duplicates_do_the_work_once() {
    let t = TestServer::start().await;
    common::duplicates_do_the_work_once(&t, &[t.server.base_url()], "u-pia").await;
}

/// Two server processes on one database, each copy of a request landing on either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_spread_over_two_servers_do_the_work_once() {
    let t = TestServer::start().await;
    let twin = t.twin().await;
    common::duplicates_do_the_work_once(&t, &[t.server.base_url(), twin.server.base_url()], "u-quinn").await;
    twin.server.shutdown().await;
}

/// One DPoP proof sent to two server processes at once: the replay cache is the shared
/// database, so exactly one of them accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_proof_replayed_across_two_servers_is_accepted_once() {
    let t = TestServer::start().await;
    let twin = t.twin().await;
    common::a_proof_is_accepted_once_across(&t, &[t.server.base_url(), twin.server.base_url()], "u-rita").await;
    twin.server.shutdown().await;
}
