//! Credentials of their own kind for every system that calls on its own behalf: the
//! portal, meeting organizers, the contracts desk and whoever reads weekly reports.
//! The admin token and a credential of another kind are refused on each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, error_of, now_s};
use reqwest::{Method, StatusCode};
use taipei_protocol::api::codes;

/// One request of each scoped route, as the caller of `kind` would send it.
fn requests(t: &TestServer) -> Vec<(&'static str, reqwest::RequestBuilder)> {
    let now = now_s() * 1000;
    let meeting = serde_json::json!({"title": "t", "room": "r", "organizer": "o", "starts_at_ms": now, "ends_at_ms": now + 3_600_000, "invitees": []});
    let contract = serde_json::json!({"user_id": "u-c", "title": "t", "document_sha256": "0f".repeat(32), "parties": ["A"]});
    vec![
        ("portal", t.http.post(t.url("/v1/portal/bindings")).json(&serde_json::json!({"user_id": "u", "display_name": "U"}))),
        ("organizer", t.http.post(t.url("/v1/admin/meetings")).json(&meeting)),
        ("contracts", t.http.post(t.url("/v1/admin/wallet/contracts")).json(&contract)),
        ("reports", t.http.request(Method::GET, t.url("/v1/admin/attendance/u/week"))),
        ("reports", t.http.request(Method::GET, t.url("/v1/admin/attendance/u/week.html"))),
    ]
}

#[tokio::test]
async fn item9_portal_organizers_contracts_and_reports_each_need_their_own_credential() {
    let t = TestServer::start().await;
    let mut tokens = std::collections::HashMap::new();
    for kind in ["portal", "organizer", "contracts", "reports", "hr"] {
        tokens.insert(kind, t.mint(kind, None).await);
    }
    let refusals_before = t.audit_count("credential.auth", "IS NOT NULL");
    let mut refused = 0;
    for (i, (kind, _)) in requests(&t).into_iter().enumerate() {
        let wrong_kind = if kind == "portal" { "organizer" } else { "portal" };
        for (who, token) in [("admin token", t.server.admin_token().to_owned()), ("HR", tokens["hr"].clone()), (wrong_kind, tokens[wrong_kind].clone())] {
            let request = requests(&t).swap_remove(i).1.bearer_auth(token);
            let (status, code) = error_of(request.send().await.unwrap()).await;
            assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED), "{kind} route with the {who}");
            refused += 1;
        }
        let response = requests(&t).swap_remove(i).1.bearer_auth(&tokens[kind]).send().await.unwrap();
        assert!(response.status().is_success(), "{kind} route with its own credential: {}", response.status());
    }
    // Every refusal is counted in the audit log, under the credential check.
    assert_eq!(t.audit_count("credential.auth", "IS NOT NULL") - refusals_before, refused);
    // What the credential did is written under its kind and id, never "admin".
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log WHERE action = 'binding.offer' AND actor LIKE 'portal:%'"), 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log WHERE action = 'meeting.create' AND actor LIKE 'organizer:%'"), 1);
}

#[tokio::test]
async fn an_unknown_kind_or_a_stray_scope_is_refused_at_minting() {
    let t = TestServer::start().await;
    let body = serde_json::json!({"kind": "superuser", "name": "x"});
    let response = t.http.post(t.url("/v1/admin/credentials")).bearer_auth(t.server.admin_token()).json(&body).send().await.unwrap();
    assert_eq!(error_of(response).await.0, StatusCode::BAD_REQUEST);
    // Only an issuer takes a scope.
    let body = serde_json::json!({"kind": "portal", "name": "x", "scope": "TPE-EDU"});
    let response = t.http.post(t.url("/v1/admin/credentials")).bearer_auth(t.server.admin_token()).json(&body).send().await.unwrap();
    assert_eq!(error_of(response).await.0, StatusCode::BAD_REQUEST);
}
