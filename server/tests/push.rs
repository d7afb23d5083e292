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
use taipei_server::db::Db;
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
    let path = dir.path().join("server.db");
    let db = Db::open(&path).unwrap();
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

    let db = Db::open(&path).unwrap();
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

/// Queues a notice for `user` the way a trigger does, through a second connection to
/// the server's file (the sender finds it on its next look).
async fn notify(t: &TestServer, user: &str, n: usize, collapse: Option<&str>, text_len: usize) -> SignedPush {
    let db = Db::open(&common::db_path(&t.dir)).unwrap();
    let mut notice = notice(user, n);
    notice.collapse_key = collapse.map(str::to_owned);
    if text_len > 0 {
        // Escaped control characters grow the JSON six-fold: past one 4 KB record.
        notice.content = PushContent::Body { title: format!("item {n}"), text: "\u{1}".repeat(text_len), route: format!("approval/{n}") };
    }
    let kek = common::kek();
    db.write(move |c| push::notify(c, &kek, notice, common::now_s() * 1000)).await.unwrap()
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
    let t = fast_server().await;
    let service = PushService::start().await.unwrap();
    let session = t.session("alice").await;
    let phone = TestPhone::new();
    let endpoint = service.subscribe(None);
    let sub = subscribe(&t, &session, &phone, &endpoint).await;
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
