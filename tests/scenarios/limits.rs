//! The server's shape rules (`protocol::limits`) are checked by the core at the call:
//! a value the server would refuse is refused before anything is signed, queued or
//! sent (the server is even stopped for those calls), and the value at the edge goes
//! through to the real server and is accepted. One check per capability.

use taipei_core::{Client, Error, PunchKind};
use taipei_protocol::limits;
use taipei_scenarios::{admin_post, mint_credential, offer_binding, open_profile, profile_config, software_platform, start_server, start_server_at};

fn refused_here<E: Into<Error>>(result: Result<impl std::fmt::Debug, E>, field: &str) {
    match result.map_err(Into::into) {
        Err(Error::InvalidInput(m)) => assert!(m.starts_with(field), "{field}: {m}"),
        other => panic!("{field}: expected a refusal at the call, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_the_server_would_refuse_never_reach_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let addr = server.addr();
    let client = open_profile(dir.path(), &server.base_url()).await;
    client.bind_device(&offer_binding(&server, "u-limits").await).await.unwrap();
    server.shutdown().await;

    let long_kind = "k".repeat(limits::REPORT_KIND.max + 1);
    let long_text = "字".repeat(limits::REPORT_TEXT.max + 1);
    for (kind, text, field) in [
        ("Bug", "x", "kind"),
        ("bug report", "x", "kind"),
        (long_kind.as_str(), "x", "kind"),
        ("", "x", "kind"),
        ("bug", "", "text"),
        ("bug", long_text.as_str(), "text"),
    ] {
        refused_here(client.report(kind, text).await, field);
    }
    assert_eq!(client.outbox().await.unwrap().pending, 0, "nothing queued");

    let server = start_server_at(dir.path(), Some(addr)).await;
    let edge_kind = "k".repeat(limits::REPORT_KIND.max);
    let edge_text = "字".repeat(limits::REPORT_TEXT.max);
    client.report(&edge_kind, &edge_text).await.unwrap();
    let report = client.sync().await.unwrap();
    assert_eq!((report.sent, report.dead), (1, 0), "the edge is the server's edge too");
    client.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_name_the_server_would_refuse_is_refused_before_the_binding_is_spent() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let code = offer_binding(&server, "u-name").await;
    let mut config = profile_config(dir.path(), &server.base_url());
    config.device_name = "名".repeat(limits::DEVICE_NAME.max + 1);
    let client = Client::open(config.clone(), software_platform(dir.path())).await.unwrap();
    refused_here(client.bind_device(&code).await, "device_name");
    assert_eq!(client.device(), None);
    client.close().await.unwrap();

    config.device_name = "名".repeat(limits::DEVICE_NAME.max);
    let client = Client::open(config, software_platform(dir.path())).await.unwrap();
    let bound = client.bind_device(&code).await.expect("the same binding code still works");
    assert_eq!(bound.user_id, "u-name");
    client.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_punch_reason_the_server_would_refuse_is_refused_at_the_tap() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let office = serde_json::json!({"office_id": "hq", "name": "市府", "level": "static", "min_interval_ms": 60000});
    let hr = mint_credential(&server, "hr", None).await;
    assert_eq!(admin_post(&server.base_url(), &hr, "/v1/admin/offices", office).await.0, 201);
    let client = open_profile(dir.path(), &server.base_url()).await;
    client.bind_device(&offer_binding(&server, "u-punch").await).await.unwrap();
    client.attendance().load_office("hq").await.unwrap();

    let long = "理".repeat(limits::MANUAL_REASON.max + 1);
    refused_here(client.attendance().manual_punch(PunchKind::In, &long).await, "manual_reason");
    assert_eq!(client.outbox().await.unwrap().pending, 0, "nothing queued");

    let edge = "理".repeat(limits::MANUAL_REASON.max);
    let punch = client.attendance().manual_punch(PunchKind::In, &edge).await.unwrap();
    client.sync().await.unwrap();
    let settled = client.attendance().punch(&punch.punch_id).await.unwrap().unwrap();
    assert_eq!(settled.state, "accepted", "{settled:?}");
    client.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pickup_lifetime_the_server_would_refuse_is_refused_without_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let addr = server.addr();
    let client = open_profile(dir.path(), &server.base_url()).await;
    client.bind_device(&offer_binding(&server, "u-pick").await).await.unwrap();
    server.shutdown().await;
    for ttl in [0, limits::PICKUP_TTL_SECS.end() + 1] {
        refused_here(client.wallet().pickup_code("any", Some(ttl)).await, "ttl_secs");
    }
    // At the edge the request goes out, and the server gets past the lifetime to the
    // certificate it does not know.
    let server = start_server_at(dir.path(), Some(addr)).await;
    let err = client.wallet().pickup_code("no-such-id", Some(*limits::PICKUP_TTL_SECS.end())).await.unwrap_err();
    assert_eq!(err.code(), "wallet_unknown_certificate");
    client.close().await.unwrap();
    server.shutdown().await;
}
