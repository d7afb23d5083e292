//! The foundation end to end: bind, sign in, me, reports through the outbox,
//! revocation, a server that is down, and a server that answers garbage.

use taipei_core::identity::IdentityError;
use taipei_core::{Client, Error, NetError};
use taipei_scenarios::{offer_binding, open_profile, profile_config, revoke, software_platform, start_server, start_server_at};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_sign_in_report_sync_then_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let client = open_profile(dir.path(), &server.base_url()).await;

    let qr = offer_binding(&server, "alice").await;
    let device = client.bind_device(&qr).await.unwrap();
    assert_eq!(device.user_id, "alice");
    assert_eq!(client.device(), Some(device.clone()));
    // The same code cannot bind twice, and a bound profile refuses a second binding.
    assert_eq!(client.bind_device(&qr).await.unwrap_err().code(), "already_bound");

    let session = client.sign_in().await.unwrap();
    assert_eq!(session.device_id, device.device_id);
    assert!(session.expires_at_ms > client.server_now_ms());
    let me = client.me().await.unwrap();
    assert_eq!((me.user_id.as_str(), me.device_id.as_str()), ("alice", device.device_id.as_str()));

    for i in 0..3 {
        client.report("bug", &format!("report {i}")).await.unwrap();
    }
    assert_eq!(client.outbox().await.unwrap().pending, 3);
    let report = client.sync().await.unwrap();
    assert_eq!((report.sent, report.pending, report.dead), (3, 0, 0));
    let listed = client.reports().await.unwrap();
    let mut texts: Vec<_> = listed.iter().map(|r| r.text.clone()).collect();
    texts.sort();
    assert_eq!(texts, ["report 0", "report 1", "report 2"]);

    revoke(&server, &device.device_id).await;
    let err = client.me().await.unwrap_err();
    assert_eq!(err, Error::Identity(IdentityError::DeviceRevoked), "{err}");
    assert!(client.device().unwrap().revoked);
    client.close().await.unwrap();

    // The revocation is remembered across a restart.
    let reopened = open_profile(dir.path(), &server.base_url()).await;
    assert!(reopened.device().unwrap().revoked);
    assert_eq!(reopened.report("bug", "x").await.unwrap_err().code(), "device_revoked");
    reopened.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_keeps_the_item_and_a_later_sync_delivers_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let addr = server.addr();
    let client = open_profile(dir.path(), &server.base_url()).await;
    client.bind_device(&offer_binding(&server, "bob").await).await.unwrap();
    client.sign_in().await.unwrap();
    server.shutdown().await;

    let id = client.report("bug", "sent while the server was down").await.unwrap();
    let err = client.sync().await.unwrap_err();
    assert!(matches!(err, Error::Net(NetError::Unreachable(_))), "{err:?}");
    let status = client.outbox().await.unwrap();
    assert_eq!(status.pending, 1);
    assert_eq!(status.items[0].id, id);
    assert!(status.items[0].attempts >= 1);
    assert!(status.items[0].last_error.is_some());

    let server = start_server_at(dir.path(), Some(addr)).await;
    let report = client.sync().await.unwrap();
    assert_eq!((report.sent, report.pending), (1, 0));
    let listed = client.reports().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].text, "sent while the server was down");
    client.close().await.unwrap();
    server.shutdown().await;
}

/// A tiny TCP server answering every connection with `reply`.
async fn raw_server(reply: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(reply).await;
            let _ = socket.shutdown().await;
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_replies_are_typed_errors() {
    let qr = taipei_protocol::binding::BindingQr { bid: [1; 16], bnonce: [2; 16], expires_at_ms: i64::MAX }.encode();
    for reply in [
        &b"\x00\x01garbage that is not HTTP at all\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 20\r\nConnection: close\r\n\r\n<html>hello</html>\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    ] {
        let url = raw_server(reply).await;
        let dir = tempfile::tempdir().unwrap();
        let client = Client::open(profile_config(dir.path(), &url), software_platform(dir.path())).await.unwrap();
        let err = client.bind_device(&qr).await.unwrap_err();
        assert!(matches!(err, Error::Net(NetError::MalformedReply(_))), "{err:?}");
        assert_eq!(err.code(), "malformed_reply");
        client.close().await.unwrap();
    }
}
