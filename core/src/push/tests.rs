//! The pipeline on a real SQLite file, with payloads sealed by `encryption::seal` to the
//! device's stored key and signed with a test server key, as the server sends them.

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use taipei_protocol::push::message::{PushMessage, push_plaintext};

use super::*;
use crate::secrets::FileSecretStore;

const USER: &str = "u-7";
const NOW: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;

struct Phone {
    _dir: tempfile::TempDir,
    data_dir: std::path::PathBuf,
    secrets: FileSecretStore,
    store: Option<Store>,
    server: EcdsaKeyPair,
    rng: SystemRandom,
}

fn server_key() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
}

impl Phone {
    /// A profile whose push keys are made and registered with `server`'s key, as
    /// `register` leaves it.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let secrets = FileSecretStore::new(dir.path().join("secrets")).unwrap();
        let (path, key_name) = crate::store::profile_location(&data_dir, "p").unwrap();
        let store = Store::open(&path, &secrets, &key_name).unwrap();
        let server = server_key();
        let k = keys::generate().unwrap();
        store.write(|tx| store::insert_keys(tx, store.key(), &k)).unwrap();
        let r = store::Registered {
            platform: PushPlatform::Fcm,
            endpoint: "fcm-token-1",
            server_key: server.public_key().as_ref(),
            user_id: USER,
            now_ms: NOW,
            reverify_after_ms: NOW + 86_400_000,
        };
        store.write(|tx| store::save_registration(tx, store.key(), &r)).unwrap();
        Self { _dir: dir, data_dir, secrets, store: Some(store), server, rng: SystemRandom::new() }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    fn sub(&self) -> store::Subscription {
        self.store().read(|c| store::subscription(c, self.store().key())).unwrap().unwrap()
    }

    fn seal_plain(&self, plain: &[u8]) -> Vec<u8> {
        let sub = self.sub();
        encryption::seal(plain, &sub.public, &sub.auth, 0, &self.rng).unwrap()
    }

    fn payload(&self, m: &PushMessage) -> Vec<u8> {
        self.seal_plain(&push_plaintext(m, &self.server, &self.rng).unwrap())
    }

    fn receive(&self, m: &PushMessage) -> Received {
        process(self.store(), &self.payload(m), NOW).unwrap()
    }

    fn receive_at(&self, m: &PushMessage, now: i64) -> Received {
        process(self.store(), &self.payload(m), now).unwrap()
    }

    fn inbox(&self) -> Vec<InboxMessage> {
        self.store().read(|c| store::newest(c, self.store().key(), None, false, 500, NOW)).unwrap()
    }

    fn state(&self) -> store::State {
        self.store().read(store::state).unwrap()
    }

    fn table_rows(&self) -> (i64, i64) {
        self.store()
            .read(|c| {
                let inbox: i64 = c.query_row("SELECT count(*) FROM push_inbox", [], |r| r.get(0))?;
                let seen: i64 = c.query_row("SELECT count(*) FROM push_seen", [], |r| r.get(0))?;
                Ok::<_, StoreError>((inbox, seen))
            })
            .unwrap()
    }
}

use crate::store::StoreError;

fn msg(seq: u64, kind: PushKind, route: &str) -> PushMessage {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seq.to_be_bytes());
    id[8] = kind.as_str().len() as u8;
    PushMessage {
        id: b64::encode(id),
        user_id: USER.into(),
        seq,
        kind,
        collapse_key: None,
        created_ms: NOW - 1_000,
        expires_ms: NOW + HOUR,
        urgency: Urgency::Normal,
        content: PushContent::Body { title: format!("Message {seq}"), text: "A document waits for you".into(), route: route.into() },
    }
}

#[test]
fn a_message_is_decrypted_verified_kept_routed_and_counted() {
    let phone = Phone::new();
    let r = phone.receive(&msg(1, PushKind::ApprovalItem, "approval/42"));
    assert_eq!(r.outcome, Outcome::New);
    assert_eq!(r.badge, 1);
    assert!(!r.sync_needed);
    let n = r.notification.unwrap();
    assert_eq!(n.target, PushRoute::ApprovalItem { item_id: "42".into() });
    assert_eq!(n.title, "Message 1");
    let m = r.message.unwrap();
    assert_eq!((m.seq, m.read), (1, false));
    // Every typed route, and an unknown kind to the inbox only.
    for (seq, kind, route, target) in [
        (2, PushKind::MeetingReminder, "meeting/m-9", PushRoute::MeetingReminder { meeting_id: "m-9".into() }),
        (3, PushKind::PunchSettled, "attendance/punch/p1", PushRoute::PunchSettled { punch_id: "p1".into() }),
        (4, PushKind::CertificateIssued, "wallet/c-3", PushRoute::CertificateIssued { certificate_id: "c-3".into() }),
        (5, PushKind::Unknown("parking_fee".into()), "parking/5", PushRoute::InboxOnly),
        (6, PushKind::ApprovalItem, "approval", PushRoute::InboxOnly),
    ] {
        let r = phone.receive(&msg(seq, kind, route));
        assert_eq!(r.message.unwrap().target, target);
    }
    assert_eq!(phone.inbox().len(), 6);
    assert_eq!(phone.inbox()[0].seq, 6, "newest first");
    let counts = phone.store().read(|c| store::unread_by_kind(c, NOW)).unwrap();
    assert!(counts.contains(&KindCount { kind: PushKind::ApprovalItem, unread: 2 }), "{counts:?}");
    assert!(counts.contains(&KindCount { kind: PushKind::Unknown("parking_fee".into()), unread: 1 }), "{counts:?}");
}

#[test]
fn a_repeat_is_dropped_by_its_signed_id_even_after_re_registering() {
    let phone = Phone::new();
    let m = msg(1, PushKind::ApprovalItem, "approval/1");
    assert_eq!(phone.receive(&m).outcome, Outcome::New);
    // The push service delivers it again: a fresh encryption of the same signed message.
    let again = phone.receive(&m);
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert_eq!((again.badge, again.notification), (1, None));
    // The token rotated (a reinstall of the app, a new FCM token): the old token's
    // copy of the message still arrives, and is still a repeat.
    let r = store::Registered {
        platform: PushPlatform::Fcm,
        endpoint: "fcm-token-2",
        server_key: phone.server.public_key().as_ref(),
        user_id: USER,
        now_ms: NOW,
        reverify_after_ms: NOW + 86_400_000,
    };
    phone.store().write(|tx| store::save_registration(tx, phone.store().key(), &r)).unwrap();
    assert_eq!(phone.receive(&m).outcome, Outcome::Duplicate);
    assert_eq!(phone.table_rows(), (1, 1));
}

#[test]
fn out_of_order_messages_are_ordered_by_sequence_and_a_gap_asks_for_a_sync() {
    let phone = Phone::new();
    assert!(!phone.receive(&msg(1, PushKind::ApprovalItem, "approval/1")).sync_needed);
    // 3 before 2: a gap, so a sync is asked for, not guessed around.
    let r = phone.receive(&msg(3, PushKind::ApprovalItem, "approval/3"));
    assert_eq!(r.outcome, Outcome::New);
    assert!(r.sync_needed);
    assert_eq!((phone.state().contiguous, phone.state().latest), (1, 3));
    // 2 arrives late: nothing missing any more.
    let r = phone.receive(&msg(2, PushKind::ApprovalItem, "approval/2"));
    assert!(!r.sync_needed);
    assert_eq!(phone.state().contiguous, 3);
    let seqs: Vec<u64> = phone.inbox().iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![3, 2, 1]);
}

#[test]
fn an_expired_message_is_remembered_not_kept() {
    let phone = Phone::new();
    let mut m = msg(1, PushKind::MeetingReminder, "meeting/1");
    m.expires_ms = NOW - 1;
    m.created_ms = NOW - HOUR;
    let r = phone.receive(&m);
    assert_eq!((r.outcome, r.badge, r.notification), (Outcome::Expired, 0, None));
    assert_eq!(phone.table_rows(), (0, 1));
    assert_eq!(phone.receive(&m).outcome, Outcome::Duplicate);
    // A kept message that expires later leaves the badge and the listing by itself.
    let live = msg(2, PushKind::ApprovalItem, "approval/2");
    assert_eq!(phone.receive(&live).badge, 1);
    assert_eq!(phone.store().read(|c| store::badge(c, live.expires_ms)).unwrap(), 0);
}

#[test]
fn messages_collapse_by_kind_and_key_and_the_newest_wins_whatever_the_order() {
    let phone = Phone::new();
    let with_key = |seq, kind, key: &str| {
        let mut m = msg(seq, kind, "approval/x");
        m.collapse_key = Some(key.into());
        m
    };
    assert_eq!(phone.receive(&with_key(1, PushKind::ApprovalItem, "waiting")).outcome, Outcome::New);
    assert_eq!(phone.receive(&with_key(2, PushKind::ApprovalItem, "waiting")).outcome, Outcome::New);
    // Same key, other kind: not collapsed.
    assert_eq!(phone.receive(&with_key(3, PushKind::MeetingReminder, "waiting")).outcome, Outcome::New);
    let seqs: Vec<u64> = phone.inbox().iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![3, 2]);
    // An older one of a key arriving after a newer one is superseded, not shown.
    assert_eq!(phone.receive(&with_key(5, PushKind::ApprovalItem, "k2")).outcome, Outcome::New);
    let late = phone.receive(&with_key(4, PushKind::ApprovalItem, "k2"));
    assert_eq!((late.outcome, late.notification), (Outcome::Superseded, None));
    assert_eq!(late.badge, 3);
    assert!(!late.sync_needed, "a superseded message still counts as arrived");
}

#[test]
fn a_tickle_asks_for_a_sync_and_the_full_message_is_still_taken_later() {
    let phone = Phone::new();
    let m = msg(1, PushKind::CertificateIssued, "wallet/c1");
    let plain = SignedPush::sign(m.tickle(), &phone.server, &phone.rng).unwrap().to_json();
    let r = process(phone.store(), &phone.seal_plain(&plain), NOW).unwrap();
    assert_eq!((r.outcome, r.notification.is_none(), r.sync_needed), (Outcome::Tickle, true, true));
    assert_eq!(phone.table_rows(), (0, 0));
    // What the sync brings: the same id, with content.
    let signed = SignedPush::sign(m, &phone.server, &phone.rng).unwrap();
    let outcome = phone.store().write(|tx| store::apply(tx, phone.store().key(), &signed, NOW)).unwrap();
    assert_eq!(outcome, Outcome::New);
    phone.store().write(|tx| store::synced_to(tx, 1, NOW)).unwrap();
    assert!(!phone.state().needs_sync());
}

#[test]
fn the_os_dropping_messages_asks_for_a_sync() {
    let phone = Phone::new();
    phone.receive(&msg(1, PushKind::ApprovalItem, "approval/1"));
    assert!(!phone.state().needs_sync());
    // What `on_deleted_messages` writes.
    phone.store().write(|tx| store::note_latest(tx, 0, true)).unwrap();
    assert!(phone.state().needs_sync());
    phone.store().write(|tx| store::synced_to(tx, 1, NOW)).unwrap();
    assert!(!phone.state().needs_sync());
}

#[test]
fn a_forged_message_is_refused_and_nothing_is_stored() {
    let phone = Phone::new();
    // Signed by a key that is not the server's.
    let other = server_key();
    let m = msg(1, PushKind::ApprovalItem, "approval/1");
    let plain = push_plaintext(&m, &other, &phone.rng).unwrap();
    assert_eq!(process(phone.store(), &phone.seal_plain(&plain), NOW), Err(PushError::Forged));
    // Signed by the server, then changed in transit.
    let mut signed = SignedPush::sign(m.clone(), &phone.server, &phone.rng).unwrap();
    signed.message.seq = 9;
    assert_eq!(process(phone.store(), &phone.seal_plain(&signed.to_json()), NOW), Err(PushError::Forged));
    // Signed by the server for someone else.
    let mut theirs = m;
    theirs.user_id = "u-8".into();
    let r = process(phone.store(), &phone.payload(&theirs), NOW);
    assert_eq!(r, Err(PushError::WrongUser));
    assert_eq!(phone.table_rows(), (0, 0));
    assert_eq!(phone.state(), store::State::default());
}

#[test]
fn an_undecryptable_or_malformed_payload_is_a_typed_error_and_stores_nothing() {
    let phone = Phone::new();
    let good = phone.payload(&msg(1, PushKind::ApprovalItem, "approval/1"));
    // Sealed to another subscription's keys.
    let other = keys::generate().unwrap();
    let plain = push_plaintext(&msg(1, PushKind::ApprovalItem, "approval/1"), &phone.server, &phone.rng).unwrap();
    let stranger = encryption::seal(&plain, &other.public, &other.auth, 0, &phone.rng).unwrap();
    assert!(matches!(process(phone.store(), &stranger, NOW), Err(PushError::Undecryptable(_))));
    // One bit flipped in the ciphertext.
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 0x40;
    assert!(matches!(process(phone.store(), &flipped, NOW), Err(PushError::Undecryptable(_))));
    // A sender key that is not a point.
    let mut bad_point = good.clone();
    bad_point[21 + 10] ^= 0xff;
    assert!(matches!(process(phone.store(), &bad_point, NOW), Err(PushError::Undecryptable(_))));
    // Truncated, empty, random, and decrypting to something that is not a message.
    for junk in [&good[..30], &[][..], &[7u8; 200][..]] {
        assert!(matches!(process(phone.store(), junk, NOW), Err(PushError::Malformed(_) | PushError::Undecryptable(_))), "{junk:?}");
    }
    for plain in [&b"not json"[..], b"{\"message\":{}}", b""] {
        assert!(matches!(process(phone.store(), &phone.seal_plain(plain), NOW), Err(PushError::Malformed(_))));
    }
    assert_eq!(phone.table_rows(), (0, 0));
    // The good one still goes in afterwards.
    assert_eq!(process(phone.store(), &good, NOW).unwrap().outcome, Outcome::New);
}

#[test]
fn an_oversized_payload_is_refused_before_any_work() {
    let phone = Phone::new();
    let mut big = phone.payload(&msg(1, PushKind::ApprovalItem, "approval/1"));
    big.resize(encryption::MAX_BODY_LEN + 1, 0);
    assert_eq!(process(phone.store(), &big, NOW), Err(PushError::Oversized { len: encryption::MAX_BODY_LEN + 1 }));
    assert_eq!(process(phone.store(), &vec![0u8; 1 << 20], NOW).unwrap_err().code(), "push_too_large");
    assert_eq!(phone.table_rows(), (0, 0));
}

#[test]
fn without_a_registration_a_payload_is_not_registered() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = FileSecretStore::new(dir.path().join("s")).unwrap();
    let store = Store::open(&dir.path().join("p.db"), &secrets, "k").unwrap();
    assert_eq!(process(&store, &[0u8; 200], NOW), Err(PushError::NotRegistered));
    assert_eq!(receive_light(&dir.path().join("none"), "p", &secrets, &[0u8; 10]), Err(PushError::NotRegistered));
    assert_eq!(receive_light(dir.path(), "../p", &secrets, &[0u8; 10]).unwrap_err().code(), "config");
}

#[test]
fn quiet_hours_cross_midnight_and_urgent_messages_bypass_them() {
    // 23:30 Taipei is 15:30 UTC.
    let day = NOW - NOW.rem_euclid(86_400_000);
    let at = |h: i64, m: i64| day + ((h - 8).rem_euclid(24) * 60 + m) * 60_000;
    let night = QuietHours { start_min: 22 * 60, end_min: 7 * 60 };
    assert!(night.contains(at(23, 30)));
    assert!(night.contains(at(0, 0)));
    assert!(night.contains(at(6, 59)));
    assert!(!night.contains(at(7, 0)));
    assert!(!night.contains(at(21, 59)));
    let lunch = QuietHours { start_min: 12 * 60, end_min: 13 * 60 };
    assert!(lunch.contains(at(12, 30)) && !lunch.contains(at(13, 0)));
    assert!(QuietHours { start_min: 5, end_min: 5 }.contains(at(17, 0)));
    assert!(QuietHours { start_min: 1440, end_min: 0 }.check().is_err());

    let phone = Phone::new();
    // Messages that live through the whole day tested.
    let msg = |seq, kind, route: &str| {
        let mut m = msg(seq, kind, route);
        m.created_ms = day - 1_000;
        m.expires_ms = day + 2 * 86_400_000;
        m
    };
    phone.store().write(|tx| store::set_quiet(tx, &PushKind::ApprovalItem, Some(night))).unwrap();
    let quiet = phone.receive_at(&msg(1, PushKind::ApprovalItem, "approval/1"), at(23, 30));
    assert_eq!((quiet.outcome, quiet.notification.is_none(), quiet.badge), (Outcome::New, true, 1));
    let mut urgent = msg(2, PushKind::ApprovalItem, "approval/2");
    urgent.urgency = Urgency::High;
    assert!(phone.receive_at(&urgent, at(23, 31)).notification.is_some());
    // Another kind has no quiet hours.
    assert!(phone.receive_at(&msg(3, PushKind::MeetingReminder, "meeting/3"), at(23, 32)).notification.is_some());
    assert!(phone.receive_at(&msg(4, PushKind::ApprovalItem, "approval/4"), at(8, 0)).notification.is_some());
    // Data only: kept, never shown.
    let mut data = msg(5, PushKind::ApprovalItem, "approval/5");
    data.content = PushContent::Body { title: String::new(), text: String::new(), route: "approval/5".into() };
    let r = phone.receive_at(&data, at(9, 0));
    assert_eq!((r.outcome, r.notification), (Outcome::New, None));
}

#[test]
fn reading_sets_the_badge_and_keeps_the_mark_until_sent() {
    let phone = Phone::new();
    for seq in 1..=3 {
        phone.receive(&msg(seq, PushKind::ApprovalItem, "approval/1"));
    }
    let first = phone.inbox()[2].id.clone();
    let n = phone.store().write(|tx| store::mark_read(tx, std::slice::from_ref(&first), true)).unwrap();
    assert_eq!(n, 1);
    assert_eq!(phone.store().read(|c| store::badge(c, NOW)).unwrap(), 2);
    assert_eq!(phone.store().read(|c| store::pending_reads(c, 10)).unwrap(), vec![first.clone()]);
    assert_eq!(phone.store().read(|c| store::oldest_unread(c, NOW)).unwrap(), Some(2));
    phone.store().write(|tx| store::reads_sent(tx, std::slice::from_ref(&first))).unwrap();
    assert!(phone.store().read(|c| store::pending_reads(c, 10)).unwrap().is_empty());
    // A read mark from another device (a sync page) clears without anything to send.
    let second = phone.inbox()[1].id.clone();
    assert_eq!(phone.store().write(|tx| store::mark_read(tx, &[second, "nope".into()], false)).unwrap(), 1);
    assert_eq!(phone.store().read(|c| store::badge(c, NOW)).unwrap(), 1);
    assert!(phone.store().read(|c| store::pending_reads(c, 10)).unwrap().is_empty());
}

#[test]
fn the_overview_counts_unread_and_lists_the_newest_read_or_not_never_expired() {
    let phone = Phone::new();
    for (seq, kind) in [(1, PushKind::ApprovalItem), (2, PushKind::CertificateIssued), (3, PushKind::ApprovalItem), (4, PushKind::MeetingReminder)] {
        phone.receive(&msg(seq, kind, "x/1"));
    }
    // Expires in a minute: listed and counted now, neither once it has expired.
    let short = PushMessage { expires_ms: NOW + 60_000, ..msg(5, PushKind::ApprovalItem, "approval/5") };
    phone.receive(&short);
    let read = phone.inbox().iter().find(|m| m.seq == 2).unwrap().id.clone();
    phone.store().write(|tx| store::mark_read(tx, &[read], true)).unwrap();

    let o = phone.store().read(|c| store::overview(c, phone.store().key(), NOW, 3)).unwrap();
    assert_eq!(o.badge, 4, "5 kept, 1 read");
    assert_eq!(o.newest.iter().map(|m| m.seq).collect::<Vec<_>>(), [5, 4, 3], "highest sequence first, as many as asked");
    let approval = o.unread_by_kind.iter().find(|k| k.kind == PushKind::ApprovalItem).map(|k| k.unread);
    assert_eq!(approval, Some(3));
    assert!(!o.unread_by_kind.iter().any(|k| k.kind == PushKind::CertificateIssued), "read: not counted {:?}", o.unread_by_kind);

    let later = phone.store().read(|c| store::overview(c, phone.store().key(), NOW + 120_000, 10)).unwrap();
    assert_eq!(later.badge, 3);
    assert_eq!(later.newest.iter().map(|m| (m.seq, m.read)).collect::<Vec<_>>(), [(4, false), (3, false), (2, true), (1, false)]);
}

#[test]
fn a_tapped_route_survives_a_restart_and_is_taken_once() {
    let mut phone = Phone::new();
    let m = phone.receive(&msg(1, PushKind::ApprovalItem, "approval/42")).message.unwrap();
    let pending = PendingRoute { message_id: m.id.clone(), route: m.route.clone(), target: m.target.clone() };
    phone.store().write(|tx| store::set_pending_route(tx, &pending)).unwrap();
    phone.store.take().unwrap().close().unwrap();
    let (path, key_name) = crate::store::profile_location(&phone.data_dir, "p").unwrap();
    phone.store = Some(Store::open(&path, &phone.secrets, &key_name).unwrap());
    let taken = phone.store().write(|tx| store::take_pending_route(tx, phone.store().key())).unwrap();
    assert_eq!(taken, Some(pending));
    assert_eq!(phone.store().write(|tx| store::take_pending_route(tx, phone.store().key())).unwrap(), None);
}

#[test]
fn tombstones_are_kept_thirty_days_then_pruned_and_repeats_still_refused() {
    let phone = Phone::new();
    let m1 = msg(1, PushKind::ApprovalItem, "approval/1");
    phone.receive(&m1);
    phone.receive(&msg(2, PushKind::ApprovalItem, "approval/2"));
    // 29 days on: kept.
    let later = NOW + 29 * 86_400_000;
    assert_eq!(phone.store().write(|tx| store::prune(tx, later)).unwrap(), 0);
    // 31 days on: pruned, and the floor still refuses their repeats.
    let much_later = NOW + 31 * 86_400_000;
    assert_eq!(phone.store().write(|tx| store::prune(tx, much_later)).unwrap(), 2);
    assert_eq!(phone.table_rows().1, 0);
    assert_eq!(phone.state().floor, 2);
    let mut again = m1.clone();
    again.created_ms = much_later - 1_000;
    again.expires_ms = much_later + HOUR;
    assert_eq!(phone.receive_at(&again, much_later).outcome, Outcome::Duplicate);
    // A tombstone above a gap is never pruned: its repeat could not be told otherwise.
    phone.receive_at(&msg_at(5, much_later), much_later);
    assert_eq!(phone.store().write(|tx| store::prune(tx, much_later + 40 * 86_400_000)).unwrap(), 0);
}

fn msg_at(seq: u64, now: i64) -> PushMessage {
    let mut m = msg(seq, PushKind::ApprovalItem, "approval/x");
    m.created_ms = now - 1_000;
    m.expires_ms = now + HOUR;
    m
}

#[test]
fn the_inbox_is_bounded() {
    let phone = Phone::new();
    let signed: Vec<SignedPush> = (1..=u64::try_from(store::MAX_INBOX).unwrap() + 5)
        .map(|seq| SignedPush::sign(msg(seq, PushKind::ApprovalItem, "approval/x"), &phone.server, &phone.rng).unwrap())
        .collect();
    phone
        .store()
        .write(|tx| {
            for s in &signed {
                store::apply(tx, phone.store().key(), s, NOW)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let (inbox, seen) = phone.table_rows();
    assert_eq!(inbox, store::MAX_INBOX);
    assert_eq!(seen, store::MAX_INBOX + 5);
    let oldest: i64 = phone.store().read(|c| Ok::<_, StoreError>(c.query_row("SELECT min(seq) FROM push_inbox", [], |r| r.get(0))?)).unwrap();
    assert_eq!(oldest, 6, "the oldest went first");
}

#[test]
fn the_light_entry_point_opens_the_store_alone_and_returns_what_to_show() {
    let mut phone = Phone::new();
    let first = phone.payload(&msg(1, PushKind::ApprovalItem, "approval/42"));
    let repeat = first.clone();
    phone.store.take().unwrap().close().unwrap();
    let r = receive_light(&phone.data_dir, "p", &phone.secrets, &first).unwrap();
    let n = r.notification.unwrap();
    assert_eq!((n.title.as_str(), n.target), ("Message 1", PushRoute::ApprovalItem { item_id: "42".into() }));
    assert_eq!(r.badge, 1);
    let again = receive_light(&phone.data_dir, "p", &phone.secrets, &repeat).unwrap();
    assert_eq!((again.outcome, again.notification), (Outcome::Duplicate, None));
    // Bad bytes are an error there too, and the file is closed after each call.
    assert!(receive_light(&phone.data_dir, "p", &phone.secrets, &[1u8; 100]).is_err());
    let (path, key_name) = crate::store::profile_location(&phone.data_dir, "p").unwrap();
    phone.store = Some(Store::open(&path, &phone.secrets, &key_name).unwrap());
    assert_eq!(phone.table_rows(), (1, 1));
}

#[test]
fn a_sync_page_is_checked_before_anything_is_taken() {
    let phone = Phone::new();
    let s = |seq| SignedPush::sign(msg(seq, PushKind::ApprovalItem, "approval/x"), &phone.server, &phone.rng).unwrap();
    let page = |messages: Vec<SignedPush>, latest, next| SyncPage { messages, read: vec![], latest_seq: latest, next_after: next };
    check_page(&page(vec![s(3), s(4)], 9, Some(4)), 2).unwrap();
    check_page(&page(vec![], 0, None), 0).unwrap();
    assert!(check_page(&page(vec![s(4), s(3)], 9, None), 2).is_err());
    assert!(check_page(&page(vec![s(2)], 9, None), 2).is_err());
    assert!(check_page(&page(vec![s(3)], 2, None), 2).is_err());
    assert!(check_page(&page(vec![s(3)], 9, Some(2)), 2).is_err());
    let tickle = SignedPush::sign(msg(3, PushKind::ApprovalItem, "a/b").tickle(), &phone.server, &phone.rng).unwrap();
    assert!(check_page(&page(vec![tickle], 9, None), 2).is_err());
}
