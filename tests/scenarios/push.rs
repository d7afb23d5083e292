//! Push end to end: the reference server's sender through the loopback push service
//! (imitating FCM) to the core, with 10 % of messages dropped, 10 % duplicated and
//! every delivery reordered. Every message reaches the phone's inbox exactly once:
//! by push where push delivered it, by the server's log (a gap noticed, or the
//! service's "messages dropped" signal) where it did not.

use std::time::Duration;

use taipei_core::push::{Outcome, PushPlatform};
use taipei_protocol::push::message::{PushContent, PushKind, Urgency};
use taipei_server::push::Notice;

use taipei_scenarios::push_service::{Faults, PushService};
use taipei_scenarios::{offer_binding, open_profile, server_kek, start_server_with};

const MESSAGES: u64 = 60;

fn notice(user: &str, n: u64) -> Notice {
    Notice {
        user_id: user.to_owned(),
        kind: PushKind::ApprovalItem,
        collapse_key: None,
        ttl_ms: 3_600_000,
        urgency: Urgency::Normal,
        content: PushContent::Body { title: format!("公文 {n}"), text: "待您核示".to_owned(), route: format!("approval/doc-{n}") },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_reaches_the_inbox_once_through_drops_duplicates_and_reordering() {
    let dir = tempfile::tempdir().unwrap();
    let service = PushService::start().await.unwrap();
    let server = start_server_with(dir.path(), |c| {
        c.push.tick = Duration::from_millis(50);
        c.push.retry_base = Duration::from_millis(20);
        c.push.retry_max = Duration::from_millis(200);
    })
    .await;
    let client = open_profile(&dir.path().join("phone"), &server.base_url()).await;
    client.bind_device(&offer_binding(&server, "push-user").await).await.unwrap();
    let push = client.push();
    let endpoint = service.subscribe(None);
    let reg = push.register(PushPlatform::WebPush, &endpoint).await.unwrap();
    assert!(reg.sent);
    // The same token again within a day is not sent.
    assert!(!push.register(PushPlatform::WebPush, &endpoint).await.unwrap().sent);
    service.set_faults(Faults { drop_percent: 10, duplicate_percent: 10, reorder: true, seed: 8291 });

    let db = taipei_server::db::Db::open(&dir.path().join("server.db")).unwrap();
    for n in 1..=MESSAGES {
        let kek = server_kek();
        let now = i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap();
        db.write(move |c| taipei_server::push::notify(c, &kek, notice("push-user", n), now)).await.unwrap().expect("a bound user");
    }
    for _ in 0..400 {
        if service.accepted().len() as u64 >= MESSAGES {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(service.accepted().len() as u64, MESSAGES, "the server sent every message once");

    let delivery = service.fetch(&endpoint);
    let (mut new, mut repeats, mut gaps) = (0u64, 0u64, 0u64);
    for body in delivery.bodies {
        let r = push.receive(body).await.unwrap();
        match r.outcome {
            Outcome::New => new += 1,
            Outcome::Duplicate => repeats += 1,
            other => panic!("unexpected {other:?}"),
        }
        gaps += u64::from(r.sync_needed);
    }
    if delivery.deleted_messages {
        push.on_deleted_messages().await.unwrap();
    }
    assert!(new < MESSAGES, "the faults dropped some ({new} of {MESSAGES} arrived)");
    assert!(repeats > 0, "the faults repeated some");
    assert!(gaps > 0, "the phone noticed what was missing");

    let report = push.sync().await.unwrap();
    assert_eq!(u64::from(report.new), MESSAGES - new, "the sync brought exactly what push lost");
    let inbox = push.inbox(None, false, 500).await.unwrap();
    let mut seqs: Vec<u64> = inbox.iter().map(|m| m.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=MESSAGES).collect::<Vec<_>>(), "each message once");
    assert_eq!(push.badge().await.unwrap(), u32::try_from(MESSAGES).unwrap());

    // Read on this device: the server has it, so another sync keeps the badge at 0
    // and a second device's sync would clear it.
    let ids: Vec<String> = inbox.iter().map(|m| m.id.clone()).collect();
    assert_eq!(push.mark_read(ids).await.unwrap(), 0);
    let report = push.sync().await.unwrap();
    assert_eq!((report.reads_sent, report.new, report.badge), (u32::try_from(MESSAGES).unwrap(), 0, 0));
    client.close().await.unwrap();
    server.shutdown().await;
}

/// A reinstall: the app's data is gone, so the new install has a new profile, new push
/// keys and a new token, while the old install's token still delivers (to the same
/// phone, as FCM does). What the old token delivers is sealed to keys that no longer
/// exist: refused as undecryptable and nothing stored. The new install takes the log
/// in by sync and what its own token delivers by push: each message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reinstall_the_old_token_s_deliveries_are_refused_and_each_message_arrives_once() {
    let dir = tempfile::tempdir().unwrap();
    let service = PushService::start().await.unwrap();
    let server = start_server_with(dir.path(), |c| c.push.tick = Duration::from_millis(50)).await;
    let db = taipei_server::db::Db::open(&dir.path().join("server.db")).unwrap();
    let send = |n: u64| {
        let db = db.clone();
        async move {
            let kek = server_kek();
            let now = taipei_server::time::now_ms();
            db.write(move |c| taipei_server::push::notify(c, &kek, notice("reinstall-user", n), now)).await.unwrap().expect("a bound user");
        }
    };
    let wait_accepted = |count: usize| {
        let service = &service;
        async move {
            for _ in 0..400 {
                if service.accepted().len() >= count {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            panic!("the server sent {} of {count}: {:?}", service.accepted().len(), service.refused());
        }
    };

    let first = open_profile(&dir.path().join("first"), &server.base_url()).await;
    first.bind_device(&offer_binding(&server, "reinstall-user").await).await.unwrap();
    let old_endpoint = service.subscribe(None);
    first.push().register(PushPlatform::WebPush, &old_endpoint).await.unwrap();
    send(1).await;
    wait_accepted(1).await;
    let old_first = service.fetch(&old_endpoint).bodies;
    assert_eq!(first.push().receive(old_first[0].clone()).await.unwrap().outcome, Outcome::New);
    // The app is deleted with its data; its device stays registered on the server.
    first.close().await.unwrap();
    std::fs::remove_dir_all(dir.path().join("first")).unwrap();

    let phone = open_profile(&dir.path().join("second"), &server.base_url()).await;
    phone.bind_device(&offer_binding(&server, "reinstall-user").await).await.unwrap();
    let endpoint = service.subscribe(None);
    phone.push().register(PushPlatform::WebPush, &endpoint).await.unwrap();
    send(2).await;
    wait_accepted(3).await; // 2 to the old install's endpoint and to the new one

    // The OS hands the new app everything addressed to this phone, the old token's too.
    let mut bodies = old_first;
    bodies.extend(service.fetch(&old_endpoint).bodies);
    let (mut refused, mut new) = (0, 0);
    for body in bodies.into_iter().chain(service.fetch(&endpoint).bodies) {
        match phone.push().receive(body).await {
            Err(e) => {
                assert_eq!(e.code(), "push_undecryptable", "{e}");
                refused += 1;
            }
            Ok(r) => {
                assert_eq!(r.outcome, Outcome::New);
                new += 1;
            }
        }
    }
    assert_eq!((refused, new), (2, 1), "the old install's two refused, the new one's taken");
    let report = phone.push().sync().await.unwrap();
    assert_eq!(report.new, 1, "message 1, sent before the reinstall, from the log");
    let mut seqs: Vec<u64> = phone.push().inbox(None, false, 10).await.unwrap().iter().map(|m| m.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2], "each message once");
    assert_eq!(phone.push().badge().await.unwrap(), 2);
    phone.close().await.unwrap();
    server.shutdown().await;
}
