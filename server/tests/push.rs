//! Push on the reference server: the message log on a real SQLite file (gap-free
//! per-user sequence numbers under concurrent writers, signed entries, paged sync, read
//! state, a log and key that survive a restart), and the phone's routes and the RFC 8030
//! sender over real HTTP against the loopback push service of the scenarios crate (the
//! same source file), with a test phone that decrypts with `p256` as a phone would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../tests/scenarios/push_service.rs"]
#[allow(dead_code)]
mod push_service;

use std::sync::Arc;
use std::time::Duration;

use common::{Session, TestServer, error_of, random_id};
use push_service::{PushService, TestPhone};
use reqwest::{Method, StatusCode};
use taipei_protocol::api::headers;
use taipei_protocol::b64;
use taipei_protocol::push::message::{PushContent, PushKind, ReadResponse, SignedPush, SubscriptionResponse, SyncPage, Urgency};
use taipei_server::push::{self, Notice};
use taipei_server::sealing::{Kek, LocalKek};

fn notice(user: &str, n: usize) -> Notice {
    Notice {
        user_id: user.into(),
        kind: PushKind::ApprovalItem,
        collapse_key: None,
        ttl_ms: 3_600_000,
        urgency: Urgency::Normal,
        content: PushContent::Body { title: format!("item {n}"), text: "waiting for you".into(), route: format!("approval/{n}") },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_is_gap_free_signed_paged_read_synced_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::open_db(&dir).await;
    let kek: Kek = Arc::new(LocalKek::generate().unwrap());
    push::init(&db, &kek).await.unwrap();
    db.write(|c| {
        for u in ["alice", "bob"] {
            c.execute("INSERT INTO users (user_id, display_name, created_at_ms) VALUES (?1, ?1, 0)", [u])?;
        }
        Ok(())
    })
    .await
    .unwrap();

    let mut tasks = Vec::new();
    for n in 0..60 {
        let db = db.clone();
        let (user, kek) = (if n % 3 == 0 { "bob" } else { "alice" }, kek.clone());
        tasks.push(tokio::spawn(async move { db.write(move |c| push::record(c, &kek, notice(user, n), 1_000)).await.unwrap() }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let k = kek.clone();
    let key = db.read(move |c| push::public_key(c, &k)).await.unwrap();
    // The key is sealed at rest, like every server key: the column is no PKCS #8.
    let stored: Vec<u8> = db.read(|c| Ok(c.query_row("SELECT pkcs8 FROM push_keys", [], |r| r.get(0))?)).await.unwrap();
    assert!(ring::signature::EcdsaKeyPair::from_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &stored, &ring::rand::SystemRandom::new()).is_err());
    let key_bytes = b64::decode(&key).unwrap();

    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page = db.read(move |c| push::sync_page(c, "alice", after, 15)).await.unwrap();
        assert_eq!(page.latest_seq, 40);
        for m in &page.messages {
            assert_eq!(m.verify(&key_bytes).unwrap().user_id, "alice");
            seqs.push(m.message.seq);
        }
        match page.next_after {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(seqs, (1..=40).collect::<Vec<u64>>(), "alice's numbers are gap-free and ordered");
    let bob = db.read(|c| push::sync_page(c, "bob", 0, 100)).await.unwrap();
    assert_eq!(bob.messages.iter().map(|m| m.message.seq).collect::<Vec<_>>(), (1..=20).collect::<Vec<u64>>());

    // Read on one device shows on every device; bob's ids do not count for alice.
    let first = db.read(|c| push::sync_page(c, "alice", 0, 2)).await.unwrap();
    let mut ids: Vec<String> = first.messages.iter().map(|m| m.message.id.clone()).collect();
    ids.push(bob.messages[0].message.id.clone());
    let (marked, unread) = db.write(move |c| push::mark_read(c, "alice", &ids, 2_000)).await.unwrap();
    assert_eq!((marked, unread), (2, 38));
    drop(db);

    let db = common::open_db(&dir).await;
    let k = kek.clone();
    assert_eq!(db.read(move |c| push::public_key(c, &k)).await.unwrap(), key, "the push key survives a restart");
    let again = db.read(|c| push::sync_page(c, "alice", 0, 2)).await.unwrap();
    assert_eq!(again.read.len(), 2);
    assert_eq!(again.messages, first.messages, "sync returns the same signed bytes");
    let next = db.write(move |c| push::record(c, &kek, notice("alice", 99), 3_000)).await.unwrap();
    assert_eq!(next.message.seq, 41);
}

/// A server whose sender looks at its queue often and retries fast, so a test waits
/// milliseconds, not the deployment's seconds.
async fn fast_server() -> TestServer {
    TestServer::start_with(|c| {
        c.push.tick = Duration::from_millis(50);
        c.push.retry_base = Duration::from_millis(20);
        c.push.retry_max = Duration::from_millis(200);
        c.push.max_attempts = 4;
        c.push.max_failures = 3;
    })
    .await
}

async fn subscribe(t: &TestServer, session: &Session, phone: &TestPhone, endpoint: &str) -> SubscriptionResponse {
    let response = t.authed(session, Method::PUT, "/v1/push/subscription").json(&phone.subscription(endpoint)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A fast server, a loopback push service, and `user`'s phone subscribed to it.
struct Rig {
    t: TestServer,
    service: PushService,
    session: Session,
    phone: TestPhone,
    endpoint: String,
    sub: SubscriptionResponse,
}

async fn rig(user: &str) -> Rig {
    let t = fast_server().await;
    let service = PushService::start().await.unwrap();
    let session = t.session(user).await;
    let phone = TestPhone::new();
    let endpoint = service.subscribe(None);
    let sub = subscribe(&t, &session, &phone, &endpoint).await;
    Rig { t, service, session, phone, endpoint, sub }
}

/// Queues a notice for `user` the way a trigger does, through a second connection to
/// the server's file (the sender finds it on its next look).
async fn notify(t: &TestServer, user: &str, n: usize, collapse: Option<&str>, text_len: usize) -> SignedPush {
    let db = common::open_db(&t.dir).await;
    let mut notice = notice(user, n);
    notice.collapse_key = collapse.map(str::to_owned);
    if text_len > 0 {
        // Escaped control characters grow the JSON six-fold: past one 4 KB record.
        notice.content = PushContent::Body { title: format!("item {n}"), text: "\u{1}".repeat(text_len), route: format!("approval/{n}") };
    }
    let kek = common::kek();
    db.write(move |c| push::notify(c, &kek, notice, common::now_s() * 1000)).await.unwrap().expect("a known user")
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn queued(t: &TestServer) -> i64 {
    t.count("SELECT COUNT(*) FROM push_outgoing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_sealed_to_the_subscription_vapid_signed_and_synced() {
    let Rig { t, service, session, phone, endpoint, sub } = rig("alice").await;
    assert!(sub.reverify_after_ms > common::now_s() * 1000);
    let server_key = b64::decode(&sub.server_public_key).unwrap();

    let sent = notify(&t, "alice", 1, Some("approvals"), 0).await;
    wait_for("the push service to accept", || !service.accepted().is_empty()).await;
    let accepted = &service.accepted()[0];
    assert_eq!(accepted.topic.as_deref(), Some("approvals"));
    assert_eq!(accepted.urgency.as_deref(), Some("normal"));
    assert!((3_590..=3_600).contains(&accepted.ttl_secs), "TTL is the time left: {}", accepted.ttl_secs);
    let vapid_key = accepted.vapid_key.clone();
    assert_ne!(vapid_key, sub.server_public_key, "VAPID and message signing use different keys");

    let delivery = service.fetch(&endpoint);
    assert_eq!(delivery.bodies.len(), 1);
    let plain = phone.open(&delivery.bodies[0]).unwrap();
    let got = SignedPush::from_json(&plain).unwrap();
    assert_eq!(got.verify(&server_key).unwrap(), &sent.message);
    // Another phone's keys cannot open it.
    assert!(TestPhone::new().open(&delivery.bodies[0]).is_err());
    wait_for("the queue to empty", || queued(&t) == 0).await;

    // Sync returns the same signed message; reading it on one device is shared.
    let page: SyncPage = t.authed(&session, Method::GET, "/v1/push/messages?after=0&limit=10").send().await.unwrap().json().await.unwrap();
    assert_eq!(page.messages, vec![got.clone()]);
    assert_eq!((page.latest_seq, page.next_after), (1, None));
    let read = t
        .authed(&session, Method::POST, "/v1/push/read")
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .json(&serde_json::json!({"ids": [got.message.id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.json::<ReadResponse>().await.unwrap(), ReadResponse { marked: 1, unread: 0 });
    let page: SyncPage = t.authed(&session, Method::GET, "/v1/push/messages?after=0").send().await.unwrap().json().await.unwrap();
    assert_eq!(page.read, vec![got.message.id.clone()]);

    // A subscription made for another application server's key refuses ours (403), and
    // the delivery is given up; nothing of it reaches that phone.
    let other = TestPhone::new();
    let bob = t.session("bob").await;
    let pinned = service.subscribe(Some(&b64::encode([4u8; 65])));
    subscribe(&t, &bob, &other, &pinned).await;
    notify(&t, "bob", 1, None, 0).await;
    wait_for("the refusal", || service.refused().iter().any(|(s, _)| *s == 403)).await;
    wait_for("the delivery to be given up", || queued(&t) == 0).await;
    assert_eq!(service.fetch(&pinned).bodies.len(), 0);
    assert_eq!(t.count("SELECT failures FROM push_subscriptions WHERE user_id = 'bob'"), 1);

    // DELETE forgets the subscription: later messages are only in the log.
    let gone = t.authed(&session, Method::DELETE, "/v1/push/subscription").send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let again = t.authed(&session, Method::DELETE, "/v1/push/subscription").send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    notify(&t, "alice", 2, None, 0).await;
    assert_eq!(queued(&t), 0);
    assert_eq!(t.audit_count("push.subscribe", "= 'ok'"), 2);
    assert_eq!(t.audit_count("push.unsubscribe", "= 'ok'"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_checked_and_replaced_per_device() {
    let t = fast_server().await;
    let service = PushService::start().await.unwrap();
    let session = t.session("carol").await;
    let phone = TestPhone::new();
    let put = |body: serde_json::Value| t.authed(&session, Method::PUT, "/v1/push/subscription").json(&body).send();
    let good = serde_json::to_value(phone.subscription(&service.subscribe(None))).unwrap();
    for (field, value) in [
        ("endpoint", "http://10.0.0.1/push/x"),
        ("endpoint", "ftp://127.0.0.1/x"),
        ("endpoint", "https://"),
        ("p256dh", "BAAA"),
        ("auth", "AAAA"),
        ("platform", "pager"),
    ] {
        let mut bad = good.clone();
        bad[field] = value.into();
        let (status, code) = error_of(put(bad).await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field} = {value}");
        assert_eq!(code, "bad_request", "{field} = {value}");
    }
    let mut long = good.clone();
    long["endpoint"] = format!("https://push.example/{}", "a".repeat(3_000)).into();
    assert_eq!(put(long).await.unwrap().status(), StatusCode::BAD_REQUEST);
    // Without a token, or with another method's proof, nothing is stored.
    let anon = t.http.put(t.url("/v1/push/subscription")).json(&good).send().await.unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(t.count("SELECT COUNT(*) FROM push_subscriptions"), 0);

    // The first endpoint, then a new one for the same device: one row, the newest.
    let first = service.subscribe(None);
    subscribe(&t, &session, &phone, &first).await;
    let second = service.subscribe(None);
    let new_keys = TestPhone::new();
    subscribe(&t, &session, &new_keys, &second).await;
    assert_eq!(t.count("SELECT COUNT(*) FROM push_subscriptions"), 1);
    notify(&t, "carol", 1, None, 0).await;
    wait_for("delivery to the new endpoint", || service.pending(&second) == 1).await;
    assert_eq!(service.pending(&first), 0);
    let body = &service.fetch(&second).bodies[0];
    assert!(new_keys.open(body).is_ok());
    assert!(phone.open(body).is_err(), "the replaced keys no longer open anything");
    // The auth secret is sealed at rest.
    let stored: Vec<u8> = t.db().query_row("SELECT auth_sealed FROM push_subscriptions", [], |r| r.get(0)).unwrap();
    assert!(stored.len() > 16 && !stored.windows(16).any(|w| new_keys.subscription("").auth == b64::encode(w)));

    // Paging bounds on the sync route.
    for bad in ["/v1/push/messages?limit=0", "/v1/push/messages?limit=101", "/v1/push/messages?after=-1"] {
        let (status, _) = error_of(t.authed(&session, Method::GET, bad).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let read = t.authed(&session, Method::POST, "/v1/push/read").json(&serde_json::json!({"ids": []})).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::BAD_REQUEST, "no Idempotency-Key, and no ids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_service_answers_steer_the_sender() {
    let Rig { t, service, session, phone, endpoint, sub } = rig("dave").await;
    let key = b64::decode(&sub.server_public_key).unwrap();

    // 429 then 503: retried with backoff, then delivered once.
    service.respond(&endpoint, &[429, 503]);
    let first = notify(&t, "dave", 1, None, 0).await;
    wait_for("delivery after retries", || service.pending(&endpoint) == 1).await;
    assert_eq!(service.refused().iter().map(|r| r.0).collect::<Vec<_>>(), vec![429, 503]);
    let got = SignedPush::from_json(&phone.open(&service.fetch(&endpoint).bodies[0]).unwrap()).unwrap();
    assert_eq!(got.verify(&key).unwrap().id, first.message.id);

    // Too big for one 4 KB record: the sender signs and sends the tickle instead.
    let big = notify(&t, "dave", 2, None, 900).await;
    wait_for("the tickle", || service.pending(&endpoint) == 1).await;
    let tickle = SignedPush::from_json(&phone.open(&service.fetch(&endpoint).bodies[0]).unwrap()).unwrap();
    assert_eq!(tickle.verify(&key).unwrap().content, PushContent::Tickle);
    assert_eq!((tickle.message.id.clone(), tickle.message.seq), (big.message.id.clone(), 2));

    // A 413 for a message that fits our limit (a service with a smaller one): the tickle.
    service.respond(&endpoint, &[413]);
    let third = notify(&t, "dave", 3, None, 0).await;
    wait_for("the tickle after 413", || service.pending(&endpoint) == 1).await;
    let tickle = SignedPush::from_json(&phone.open(&service.fetch(&endpoint).bodies[0]).unwrap()).unwrap();
    assert_eq!(tickle.verify(&key).unwrap().content, PushContent::Tickle);
    assert_eq!(tickle.message.id, third.message.id);
    wait_for("an empty queue", || queued(&t) == 0).await;

    // 500s until the attempts run out: given up, counted; the message stays in the log.
    service.respond(&endpoint, &[500; 4]);
    let lost = notify(&t, "dave", 4, None, 0).await;
    wait_for("the delivery to be given up", || queued(&t) == 0).await;
    assert_eq!(service.pending(&endpoint), 0);
    assert_eq!(t.count("SELECT failures FROM push_subscriptions"), 1);
    let page: SyncPage = t.authed(&session, Method::GET, "/v1/push/messages?after=3").send().await.unwrap().json().await.unwrap();
    assert_eq!(page.messages.iter().map(|m| m.message.id.clone()).collect::<Vec<_>>(), vec![lost.message.id.clone()], "sync returns what push lost");

    // 410: the subscription is gone at once, and with it what was queued.
    service.gone(&endpoint);
    notify(&t, "dave", 5, None, 0).await;
    wait_for("the subscription to go", || t.count("SELECT COUNT(*) FROM push_subscriptions") == 0).await;
    assert_eq!(queued(&t), 0);
    notify(&t, "dave", 6, None, 0).await;
    assert_eq!(queued(&t), 0, "nothing is queued for a removed subscription");
}

/// A server's configuration, database and subscribed phone, the server stopped: for a
/// test that fills the queue while no sender runs.
struct Stopped {
    config: taipei_server::ServerConfig,
    service: PushService,
    phone: TestPhone,
    endpoint: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

/// Starts a server on a fresh database (configured by `adjust`), subscribes `user`'s
/// phone to a loopback push service, and stops the server.
async fn subscribed_then_stopped(user: &str, adjust: impl FnOnce(&mut taipei_server::ServerConfig)) -> Stopped {
    let dir = tempfile::tempdir().unwrap();
    let mut config = taipei_server::ServerConfig::embedded(common::db_path(&dir));
    config.kek = common::kek();
    adjust(&mut config);
    let service = PushService::start().await.unwrap();
    let t = TestServer { server: taipei_server::start(config.clone()).await.unwrap(), http: common::http_client(), dir };
    let session = t.session(user).await;
    let phone = TestPhone::new();
    let endpoint = service.subscribe(None);
    subscribe(&t, &session, &phone, &endpoint).await;
    let TestServer { server, http, dir } = t;
    server.shutdown().await;
    Stopped { config, service, phone, endpoint, http, dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_survives_a_restart_and_numbers_stay_gap_free_under_concurrent_sends() {
    let Stopped { config, service, phone, endpoint, http, dir } = subscribed_then_stopped("erin", |c| {
        c.push.tick = Duration::from_millis(50);
        c.push.retry_base = Duration::from_millis(20);
    })
    .await;

    // While the server is down, 40 messages are queued by concurrent writers.
    let db = common::open_db(&dir).await;
    let mut tasks = Vec::new();
    for n in 0..40 {
        let (db, kek) = (db.clone(), common::kek());
        tasks.push(tokio::spawn(async move { db.write(move |c| push::notify(c, &kek, notice("erin", n), common::now_s() * 1000)).await.unwrap() }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    drop(db);
    assert_eq!(common::test_db(&dir).query_row("SELECT COUNT(*) FROM push_outgoing", [], |r| r.get::<_, i64>(0)).unwrap(), 40);
    assert!(service.accepted().is_empty());

    let server = taipei_server::start(config).await.unwrap();
    let t = TestServer { server, http, dir };
    wait_for("every queued message", || service.pending(&endpoint) == 40).await;
    let mut seqs: Vec<u64> = service.fetch(&endpoint).bodies.iter().map(|b| SignedPush::from_json(&phone.open(b).unwrap()).unwrap().message.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=40).collect::<Vec<u64>>());
    wait_for("an empty queue", || queued(&t) == 0).await;
    t.server.shutdown().await;
}

/// Two servers on one database (as two processes behind a load balancer), started
/// together on a queue of 60 messages: each sender claims its batches under a lease, so
/// every message reaches the push service exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_draining_one_queue_deliver_each_message_once() {
    let Stopped { config, service, phone, endpoint, http, dir } = subscribed_then_stopped("gina", |c| {
        c.push.tick = Duration::from_millis(20);
        // Several claims per sender, so the two interleave rather than one taking all.
        c.push.parallel = 2;
    })
    .await;

    let db = common::open_db(&dir).await;
    let kek = common::kek();
    db.write(move |c| (0..60).try_for_each(|n| push::notify(c, &kek, notice("gina", n), common::now_s() * 1000).map(|_| ()))).await.unwrap();
    drop(db);
    let (a, b) = tokio::join!(taipei_server::start(config.clone()), taipei_server::start(config));
    let t = TestServer { server: a.unwrap(), http, dir };
    let twin = b.unwrap();
    wait_for("an empty queue", || queued(&t) == 0).await;
    // A stopped sender has settled every request it made.
    twin.shutdown().await;
    let TestServer { server, dir, .. } = t;
    server.shutdown().await;
    let mut seqs: Vec<u64> = service.fetch(&endpoint).bodies.iter().map(|b| SignedPush::from_json(&phone.open(b).unwrap()).unwrap().message.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=60).collect::<Vec<u64>>(), "each message once");
    assert_eq!(service.accepted().len(), 60);
    drop(dir);
}

/// Two `reference-server` processes and this test's server on one database (SQLite
/// file or PostgreSQL), approval notices queued through both processes at once so that
/// each wakes its own sender: three senders race over one queue, and the push service
/// is asked once per message — counted by the service and by the processes' own
/// `taipei_push_requests_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_in_separate_processes_deliver_each_message_once() {
    const ITEMS: usize = 30;
    let (t, a, b) = common::process::three_servers().await;
    let service = PushService::start().await.unwrap();
    let admin = |base: &str, path: &str, body: serde_json::Value| {
        t.http.post(format!("{base}{path}")).bearer_auth(t.server.admin_token()).json(&body).send()
    };
    for (id, level) in [("clerk", 5), ("chief", 4), ("director", 2)] {
        let body = serde_json::json!({"user_id": id, "display_name": id, "title": "", "agency": "資訊局", "level": level});
        assert_eq!(admin(&a.base, "/v1/admin/approval/people", body).await.unwrap().status(), StatusCode::CREATED);
    }
    // The second of the chain holds a new item and is told of it.
    let chief = t.session("chief").await;
    let phone = TestPhone::new();
    let endpoint = service.subscribe(None);
    subscribe(&t, &chief, &phone, &endpoint).await;
    let created = futures::future::join_all((0..ITEMS).map(|n| {
        let item = serde_json::json!({
            "kind": "document", "subject": format!("案 {n}"), "body": b64::encode(b"<p>x</p>"), "urgency": "normal",
            "agency": "資訊局", "decision_level": 2, "chain": ["clerk", "chief", "director"],
        });
        admin(if n % 2 == 0 { &a.base } else { &b.base }, "/v1/admin/approval/items", item)
    }))
    .await;
    assert!(created.into_iter().all(|r| r.unwrap().status() == StatusCode::CREATED));
    wait_for("an empty queue", || queued(&t) == 0).await;

    // Queued notices of one kind share a topic, so the service keeps only the newest
    // for the phone; what it accepted is every request.
    assert_eq!(service.accepted().len(), ITEMS, "each message once");
    let newest = SignedPush::from_json(&phone.open(&service.fetch(&endpoint).bodies[0]).unwrap()).unwrap();
    assert_eq!(newest.message.kind, PushKind::ApprovalItem);
    let mut delivered = Vec::new();
    for base in [t.url(""), a.base.clone(), b.base.clone()] {
        let text = t.http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let count = |outcome: &str| -> u64 {
            let series = format!("taipei_push_requests_total{{outcome=\"{outcome}\"}} ");
            text.lines().find_map(|l| l.strip_prefix(series.as_str())).map_or(0, |n| n.parse().unwrap())
        };
        assert_eq!(count("retry") + count("refused") + count("gone"), 0, "{base}: only deliveries");
        delivered.push(count("delivered"));
    }
    assert_eq!(delivered.iter().sum::<u64>(), ITEMS as u64, "requests made by the three senders: {delivered:?}");
    assert!(delivered[1] + delivered[2] > 0, "the processes' senders took part: {delivered:?}");
}

/// Rows claimed by a sender that died: untouched while its lease lives, delivered once
/// by a live sender after it lapsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_senders_claim_is_left_until_its_lease_lapses_then_delivered_once() {
    let Stopped { config, service, phone, endpoint, http, dir } = subscribed_then_stopped("hana", |c| c.push.tick = Duration::from_millis(20)).await;
    let db = common::open_db(&dir).await;
    let kek = common::kek();
    let [held, lapsed] = db
        .write(move |c| {
            let mut ids = Vec::new();
            for n in 0..2 {
                ids.push(push::notify(c, &kek, notice("hana", n), common::now_s() * 1000)?.expect("a known user").message.id);
            }
            Ok([ids[0].clone(), ids[1].clone()])
        })
        .await
        .unwrap();
    drop(db);
    let claim = |id: &str, until: i64| {
        common::test_db(&dir).execute("UPDATE push_outgoing SET claimed_by = 'dead', lease_until_ms = ?2 WHERE message_id = ?1", taipei_server::params![id, until]).unwrap()
    };
    let now = common::now_s() * 1000;
    assert_eq!(claim(&held, now + 3_600_000), 1);
    assert_eq!(claim(&lapsed, now - 1), 1);
    let t = TestServer { server: taipei_server::start(config).await.unwrap(), http, dir };
    let ids = |service: &PushService| -> Vec<String> {
        service.fetch(&endpoint).bodies.iter().map(|b| SignedPush::from_json(&phone.open(b).unwrap()).unwrap().message.id).collect()
    };
    wait_for("the lapsed claim's delivery", || service.pending(&endpoint) == 1).await;
    assert_eq!(ids(&service), vec![lapsed.clone()]);
    assert_eq!(t.count("SELECT COUNT(*) FROM push_outgoing WHERE claimed_by = 'dead'"), 1, "the live claim is left alone");

    // The dead process's lease runs out.
    t.db().execute("UPDATE push_outgoing SET lease_until_ms = 0 WHERE claimed_by = 'dead'", []).unwrap();
    wait_for("the second delivery", || service.pending(&endpoint) == 1).await;
    assert_eq!(ids(&service), vec![held]);
    wait_for("an empty queue", || queued(&t) == 0).await;
    t.server.shutdown().await;
    assert_eq!(service.pending(&endpoint), 0, "nothing was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_trigger_tells_the_right_person() {
    let t = fast_server().await;
    let service = PushService::start().await.unwrap();
    let admin = |path: &str, body: serde_json::Value| t.http.post(t.url(path)).bearer_auth(t.server.admin_token()).json(&body).send();
    for (id, level) in [("clerk", 5), ("chief", 4), ("director", 2)] {
        let body = serde_json::json!({"user_id": id, "display_name": id, "title": "", "agency": "資訊局", "level": level});
        assert_eq!(admin("/v1/admin/approval/people", body).await.unwrap().status(), StatusCode::CREATED);
    }
    let clerk = t.session("clerk").await;
    let chief = t.session("chief").await;
    let director = t.session("director").await;
    let kinds = |user: &str| -> Vec<String> {
        let db = t.db();
        let mut stmt = db.prepare("SELECT signed FROM push_messages WHERE user_id = ?1 ORDER BY seq").unwrap();
        stmt.query_map([user], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|j| serde_json::from_str::<SignedPush>(&j.unwrap()).unwrap().message.kind.as_str().to_owned())
            .collect()
    };

    // A new item waits for its holder: only they are told, through their subscription.
    let item = serde_json::json!({
        "kind": "document", "subject": "採購案", "body": b64::encode(b"<p>x</p>"), "urgency": "urgent",
        "agency": "資訊局", "decision_level": 2, "chain": ["clerk", "chief", "director"],
    });
    let created: serde_json::Value = admin("/v1/admin/approval/items", item).await.unwrap().json().await.unwrap();
    let holder = created["holder"].as_str().unwrap().to_owned();
    let session = [("clerk", &clerk), ("chief", &chief), ("director", &director)].into_iter().find(|(u, _)| *u == holder).unwrap().1;
    for user in ["clerk", "chief", "director"] {
        assert_eq!(kinds(user), if user == holder { vec!["approval_item".to_owned()] } else { Vec::<String>::new() }, "{user}");
    }
    let phone = TestPhone::new();
    let endpoint = service.subscribe(None);
    subscribe(&t, session, &phone, &endpoint).await;
    let page: SyncPage = t.authed(session, Method::GET, "/v1/push/messages").send().await.unwrap().json().await.unwrap();
    assert!(matches!(page.messages[0].message.content, PushContent::Body { ref text, ref route, .. } if text == "採購案" && route.starts_with("approval/")));
    assert_eq!(page.messages[0].message.urgency, Urgency::High);

    // A meeting starting within 10 minutes: each invitee who is a user, once.
    let now = common::now_s() * 1000;
    let meeting = serde_json::json!({"title": "週會", "room": "801", "organizer": "秘書處", "starts_at_ms": now + 300_000,
        "ends_at_ms": now + 3_600_000, "invitees": ["clerk", "chief", "nobody"]});
    let created = t.http.post(t.url("/v1/admin/meetings")).bearer_auth(t.mint("organizer", None).await).json(&meeting).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let later = serde_json::json!({"title": "月會", "room": "802", "organizer": "秘書處", "starts_at_ms": now + 3_600_000,
        "ends_at_ms": now + 7_200_000, "invitees": ["clerk"]});
    t.http.post(t.url("/v1/admin/meetings")).bearer_auth(t.mint("organizer", None).await).json(&later).send().await.unwrap();
    wait_for("the reminders", || t.count("SELECT COUNT(*) FROM push_meeting_reminders") == 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(kinds("clerk").ends_with(&["meeting_reminder".to_owned()]), "once, and not for the meeting an hour away");
    assert_eq!(kinds("clerk").iter().filter(|k| *k == "meeting_reminder").count(), 1);
    assert_eq!(kinds("chief").iter().filter(|k| *k == "meeting_reminder").count(), 1);
    assert!(kinds("director").iter().all(|k| k != "meeting_reminder"));
    if holder == "chief" {
        wait_for("the reminder through the push service", || service.pending(&endpoint) >= 1).await;
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM push_messages WHERE user_id = 'nobody'"), 0);

    // A certificate issued to a person with a phone; none for one who never bound one.
    let token = {
        let body = serde_json::json!({"kind": "issuer", "name": "edu", "scope": "TPE-EDU"});
        let r = admin("/v1/admin/credentials", body).await.unwrap();
        r.json::<taipei_protocol::api::MintedCredential>().await.unwrap().token
    };
    for user in ["clerk", "stranger"] {
        let cert = serde_json::json!({"user_id": user, "issuer": "TPE-EDU", "cert_type": "diploma", "holder_name": "李小明",
            "title": {"zh": "畢業證書", "en": "Diploma"}, "fields": []});
        let r = t.http.post(t.url("/v1/admin/wallet/certificates")).bearer_auth(&token).header(headers::IDEMPOTENCY_KEY, random_id()).json(&cert).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    }
    assert_eq!(kinds("clerk").last().map(String::as_str), Some("certificate_issued"));
    assert_eq!(t.count("SELECT COUNT(*) FROM push_messages WHERE user_id = 'stranger'"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loopback_service_imitates_fcm_limits_and_faults() {
    let Rig { t, service, session, phone, endpoint, .. } = rig("frank").await;
    let seq_of = |body: &Vec<u8>| SignedPush::from_json(&phone.open(body).unwrap()).unwrap().message.seq;

    // Collapse by Topic keeps the newest; at most 4 topics, the oldest topic goes.
    for (n, topic) in ["a", "a", "b", "c", "d", "e"].into_iter().enumerate() {
        notify(&t, "frank", n, Some(topic), 0).await;
        wait_for("acceptance", || service.accepted().len() == n + 1).await;
    }
    let mut seqs: Vec<u64> = service.fetch(&endpoint).bodies.iter().map(seq_of).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, vec![3, 4, 5, 6], "a collapsed into 2, then topic a (the oldest) dropped for e");

    // TTL: what expired before the phone came online is not delivered.
    notify(&t, "frank", 7, None, 0).await;
    wait_for("acceptance", || service.accepted().len() == 7).await;
    assert_eq!(service.fetch_at(&endpoint, common::now_s() * 1000 + 3_601_000).bodies.len(), 0);

    // Past 100 pending without a topic: all dropped, and the phone is told.
    for n in 0..101 {
        notify(&t, "frank", 100 + n, None, 0).await;
    }
    wait_for("the overflow", || service.accepted().len() == 108).await;
    let delivery = service.fetch(&endpoint);
    assert!(delivery.deleted_messages);
    assert!(delivery.bodies.is_empty());

    // Faults with a seed: drops, duplicates and shuffles, the same every run.
    service.set_faults(push_service::Faults { drop_percent: 10, duplicate_percent: 10, reorder: true, seed: 7 });
    for n in 0..60 {
        notify(&t, "frank", 300 + n, None, 0).await;
    }
    wait_for("the batch", || service.accepted().len() == 168).await;
    let seqs: Vec<u64> = service.fetch(&endpoint).bodies.iter().map(seq_of).collect();
    let mut unique = seqs.clone();
    unique.sort_unstable();
    unique.dedup();
    assert!(unique.len() < 60, "some were dropped");
    assert!(seqs.len() > unique.len(), "some came twice");
    assert!(seqs.windows(2).any(|w| w[0] > w[1]), "out of order");
    // Sync fills in what the service lost.
    let page: SyncPage = t.authed(&session, Method::GET, "/v1/push/messages?after=108").send().await.unwrap().json().await.unwrap();
    assert_eq!(page.messages.len(), 60);
    assert!(unique.iter().all(|s| page.messages.iter().any(|m| m.message.seq == *s)));
}
