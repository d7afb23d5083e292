//! The push message log on a real SQLite file: gap-free per-user sequence numbers under
//! concurrent writers, signed entries that verify with the server's push key, paged
//! sync, read state, and a log and key that survive a restart.

use taipei_protocol::b64;
use taipei_protocol::push::message::{PushContent, PushKind, Urgency};
use taipei_server::db::Db;
use std::sync::Arc;

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
