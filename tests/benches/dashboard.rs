//! The dashboard's closing-note figure: one `client.dashboard().get(5)` over a profile
//! holding 5,000 approval items, 10,000 certificates (20 % of them expiring within 30
//! days), 1,000 push inbox messages (a third of them read), a meeting and a punch, on
//! the shipped build (`[profile.bench]` inherits `release`). Real parts: the reference
//! server files and serves the items and signs and serves the push log (the phone
//! syncs it, as after push lost everything), the profile is a SQLite file in a temp
//! dir, certificates are signed with ring.
//!
//! `cargo bench -p taipei-scenarios --bench dashboard`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use taipei_core::Client;
use taipei_protocol::attendance::PunchKind;
use taipei_protocol::cert::city::{CityCertificate, sample_diploma};
use taipei_protocol::push::message::{MAX_TTL_MS, PushContent, PushKind, PushPlatform, Urgency};
use taipei_server::push::Notice;
use taipei_scenarios::{
    admin_post, approval_item, approval_person, create_meeting, meeting_display, mint_credential, offer_binding, profile_config,
    server_kek, software_platform, start_server_with,
};

const ITEMS: usize = 5_000;
const CERTIFICATES: usize = 10_000;
const INBOX: u64 = 1_000;

fn notice(n: u64) -> Notice {
    let kind = [PushKind::ApprovalItem, PushKind::MeetingReminder, PushKind::CertificateIssued][(n % 3) as usize].clone();
    Notice {
        user_id: "director".into(),
        kind,
        collapse_key: None,
        ttl_ms: MAX_TTL_MS,
        urgency: Urgency::Normal,
        content: PushContent::Body { title: format!("通知 {n}"), text: "請查閱".into(), route: format!("inbox/{n}") },
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let client = rt.block_on(async {
        let server = start_server_with(dir.path(), |c| c.rate_limits = taipei_server::limits::RateLimits::off()).await;
        let url = server.base_url();
        approval_person(&server, "clerk", 5).await;
        approval_person(&server, "director", 2).await;
        let t = std::time::Instant::now();
        for n in 0..ITEMS {
            approval_item(&server, &format!("公文 {n}"), &["clerk", "director"], ["document", "form", "leave"][n % 3]).await;
        }
        eprintln!("filed {ITEMS} items in {:.1} s", t.elapsed().as_secs_f64());
        let hr = mint_credential(&server, "hr", None).await;
        let office = serde_json::json!({"office_id": "hq", "name": "市府", "level": "eid", "min_interval_ms": 60000});
        assert_eq!(admin_post(&url, &hr, "/v1/admin/offices", office).await.0, 201);
        let meeting = create_meeting(&server, "局務會議", &["director"]).await;

        let client = Client::open(profile_config(dir.path(), &url), software_platform(dir.path())).await.expect("open");
        client.bind_device(&offer_binding(&server, "director").await).await.expect("bind");
        assert_eq!(client.approvals().sync_inbox().await.expect("sync").changed as usize, ITEMS);
        let frame = meeting_display(&url, &meeting).await.frame;
        client.meetings().scan(&frame).await.expect("scan");
        client.meetings().sign_in(&frame).await.expect("sign in");
        client.attendance().load_office("hq").await.expect("office");
        client.attendance().manual_punch(PunchKind::In, "bench").await.expect("punch");
        client.sync().await.expect("sync");

        // The push log: recorded before the phone registers, so nothing is sent to its
        // (unreachable) endpoint; the phone's sync takes all of it in.
        let db = taipei_server::db::Db::open(&dir.path().join("server.db")).expect("server db");
        db.write(|tx| {
            let kek = server_kek();
            let now = taipei_server::time::now_ms();
            for n in 1..=INBOX {
                taipei_server::push::notify(tx, &kek, notice(n), now)?;
            }
            Ok(())
        })
        .await
        .expect("push log");
        let push = client.push();
        push.register(PushPlatform::WebPush, "http://127.0.0.1:9/push/bench").await.expect("register");
        // The log also holds the punch's verdict, which the server pushed to its person.
        assert_eq!(u64::from(push.sync().await.expect("push sync").new), INBOX + 1);
        // Every third of the newest 500 read here.
        let read: Vec<String> = push.inbox(None, false, 500).await.expect("inbox").into_iter().step_by(3).map(|m| m.id).collect();
        for ids in read.chunks(100) {
            push.mark_read(ids.to_vec()).await.expect("read");
        }

        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("key");
        let kid = taipei_protocol::cert::key_id(key.public_key().as_ref());
        let now_s = client.server_now_ms() / 1000;
        let t = std::time::Instant::now();
        for i in 0..CERTIFICATES {
            // One in five expires within the next 30 days; the rest in a year or never.
            let expires_at = match i % 5 {
                0 => Some(now_s + (i as i64 % 30) * 86_400 + 60),
                1 | 2 => Some(now_s + 365 * 86_400),
                _ => None,
            };
            let cert = CityCertificate { expires_at, ..sample_diploma("陳小明", i as u64, now_s - 86_400 * (i as i64 % 1000)) };
            client.wallet().add(&cert.sign(&key, &kid).expect("sign")).await.expect("add");
        }
        eprintln!("stored {CERTIFICATES} certificates in {:.1} s", t.elapsed().as_secs_f64());
        server.shutdown().await;
        client
    });

    let view = rt.block_on(client.dashboard().get(5)).expect("dashboard");
    let (a, w) = (view.approvals.as_ref().expect("approvals"), view.wallet.as_ref().expect("wallet"));
    assert_eq!((a.waiting as usize, a.newest.len()), (ITEMS, 5));
    assert_eq!((w.total as usize, w.expiring_soon as usize, w.newest.len()), (CERTIFICATES, CERTIFICATES / 5, 5));
    assert_eq!(view.meetings.as_ref().expect("meetings").count, 1);
    assert_eq!(view.punches.as_ref().expect("punches").punches.len(), 1);
    let inbox = view.inbox.as_ref().expect("inbox");
    assert_eq!((u64::from(inbox.badge), inbox.newest.len()), (INBOX + 1 - 167, 5), "500 / 3 rounded up read; the verdict unread");
    c.bench_function("dashboard (5,000 approvals, 10,000 certificates, 1,000 inbox messages, offline)", |b| {
        b.iter(|| rt.block_on(client.dashboard().get(black_box(5))).expect("dashboard"))
    });
    rt.block_on(client.close()).expect("close");
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
