//! The dashboard end to end: approvals filed on the reference server, a meeting
//! scanned and signed in to, a manual punch and two certificates issued reach the
//! profile over real HTTP, the certificates' pushes through the loopback push service;
//! then the server goes away and the dashboard, read from the phone's SQLite file
//! alone, shows each of them.

use std::time::Duration;

use taipei_core::Client;
use taipei_core::push::{PushKind, PushPlatform, PushRoute};
use taipei_protocol::attendance::PunchKind;
use taipei_scenarios::push_service::PushService;
use taipei_scenarios::{
    admin_post, approval_item, approval_person, create_meeting, http, meeting_display, mint_credential, offer_binding, profile_config,
    software_platform, start_server,
};

const DAY_MS: i64 = 86_400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_each_capability_brought_in_with_the_server_gone() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let url = server.base_url();
    approval_person(&server, "clerk", 5).await;
    approval_person(&server, "director", 2).await;
    let ids = [
        approval_item(&server, "公文 一", &["clerk", "director"], "document").await,
        approval_item(&server, "表單 二", &["clerk", "director"], "form").await,
        approval_item(&server, "請假 三", &["clerk", "director"], "leave").await,
    ];
    let hr = mint_credential(&server, "hr", None).await;
    let office = serde_json::json!({"office_id": "hq", "name": "市府", "level": "eid", "min_interval_ms": 60000});
    assert_eq!(admin_post(&url, &hr, "/v1/admin/offices", office).await.0, 201);
    let root: serde_json::Value = http().get(format!("{url}/v1/wallet/root-key")).send().await.unwrap().json().await.unwrap();
    let meeting = create_meeting(&server, "局務會議", &["director"]).await;

    let mut config = profile_config(dir.path(), &url);
    config.wallet_root_key = root["public_key"].as_str().map(str::to_owned);
    let client = Client::open(config, software_platform(dir.path())).await.unwrap();
    client.bind_device(&offer_binding(&server, "director").await).await.unwrap();
    let service = PushService::start().await.unwrap();
    let endpoint = service.subscribe(None);
    client.push().register(PushPlatform::WebPush, &endpoint).await.unwrap();

    // Issued to a person with a phone: each certificate is pushed as it is issued.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for (title, expires) in [("畢業證書", None), ("參訪證明", Some(now + 10 * DAY_MS))] {
        let body = serde_json::json!({
            "user_id": "director", "issuer": "TPE-EDU", "cert_type": "diploma", "holder_name": "陳小明",
            "title": {"zh": title, "en": title}, "fields": [], "expires_at_ms": expires,
        });
        // A credential each: the helper's idempotency key is per path and caller.
        let issuer = mint_credential(&server, "issuer", Some("TPE-EDU")).await;
        let (status, json) = admin_post(&url, &issuer, "/v1/admin/wallet/certificates", body).await;
        assert_eq!(status, 201, "{json}");
    }
    for _ in 0..400 {
        if service.accepted().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let delivered = service.fetch(&endpoint).bodies;
    assert_eq!(delivered.len(), 2, "both certificates pushed: {:?}", service.refused());
    for body in delivered {
        client.push().receive(body).await.unwrap();
    }
    client.approvals().sync_inbox().await.unwrap();
    client.wallet().sync().await.unwrap();
    let frame = meeting_display(&url, &meeting).await.frame;
    client.meetings().scan(&frame).await.unwrap();
    client.meetings().sign_in(&frame).await.unwrap();
    client.attendance().load_office("hq").await.unwrap();
    client.attendance().manual_punch(PunchKind::In, "忘了帶手機").await.unwrap();
    client.sync().await.unwrap();
    server.shutdown().await;

    let view = client.dashboard().get(2).await.unwrap();
    let a = view.approvals.unwrap();
    assert_eq!((a.waiting, a.counts.document, a.counts.form, a.counts.leave), (3, 1, 1, 1));
    assert_eq!((a.urgent, a.counts.overdue), (3, 0), "filed as 速件, due in days");
    let newest: Vec<&str> = a.newest.iter().map(|l| l.summary.item_id.as_str()).collect();
    assert_eq!(newest, [ids[2].as_str(), ids[1].as_str()], "the last filed first, as many as asked");
    assert!(a.synced_at_ms.is_some());

    let p = view.punches.unwrap();
    assert_eq!((p.punches.len(), p.pending, p.rejected), (1, 0, 0), "{p:?}");
    assert!(p.punches[0].manual && p.day.first_in_ms.is_some() && p.day.flags.contains(&"manual".to_owned()));

    let m = view.meetings.unwrap();
    assert_eq!((m.count, m.sign_ins, m.pending), (1, 1, 0));
    let next = m.next.unwrap();
    assert_eq!((next.info.title.as_str(), next.sign_in.as_deref()), ("局務會議", Some("accepted")));

    let w = view.wallet.unwrap();
    assert_eq!((w.total, w.new_since_seen, w.expiring_soon), (2, 2, 1));
    assert_eq!(w.expiring[0].certificate.title.zh, "參訪證明");

    let i = view.inbox.unwrap();
    assert_eq!(i.badge, 2, "the two certificates' pushes, unread");
    assert_eq!(i.unread_by_kind.iter().map(|k| (k.kind.clone(), k.unread)).collect::<Vec<_>>(), [(PushKind::CertificateIssued, 2)]);
    assert_eq!(i.newest.len(), 2);
    let mut held: Vec<&str> = w.newest.iter().map(|l| l.id.as_str()).collect();
    let mut led_to: Vec<&str> = i
        .newest
        .iter()
        .map(|m| match &m.target {
            PushRoute::CertificateIssued { certificate_id } => certificate_id.as_str(),
            other => panic!("a certificate's push leads to {other:?}"),
        })
        .collect();
    held.sort_unstable();
    led_to.sort_unstable();
    assert_eq!(led_to, held, "each push leads to a certificate the wallet holds");
    assert!(i.newest[0].seq > i.newest[1].seq, "newest first");

    client.wallet().mark_seen().await.unwrap();
    client.push().mark_read(vec![i.newest[0].id.clone()]).await.unwrap();
    let after = client.dashboard().get(2).await.unwrap();
    assert_eq!(after.wallet.unwrap().new_since_seen, 0);
    let inbox = after.inbox.unwrap();
    assert_eq!((inbox.badge, inbox.newest.len(), inbox.newest[0].read), (1, 2, true), "read, still listed, no longer counted");
    client.close().await.unwrap();
}
