//! Push on the phone (closing-note figures of the push issue):
//!
//! 1. payload → routed event: `client.push().receive(payload)` on an open client, from
//!    the encrypted bytes to the message kept, routed and its event sent — p50 and p95
//!    over 1,000 distinct messages (plus 200 repeats, the push service's duplicates);
//! 2. the light entry point's peak memory: a child process of this binary opens the
//!    profile alone, takes one payload in and reports its peak resident set (VmHWM,
//!    what `getrusage`'s maxrss reports), against another child of the same binary
//!    that reads the same payload file and does nothing else (the baseline).
//!
//! Payloads are what the server sends: signed with a server key, sealed with
//! `encryption::seal` to the keys `push::fixture_register` made.
//! Run: `cargo bench -p taipei-core --bench push --features push-fixture`.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use taipei_core::push::{self, Outcome, PushKind, Urgency};
use taipei_core::{Client, ClientConfig, FileSecretStore, Platform};
use taipei_protocol::b64;
use taipei_protocol::push::encryption;
use taipei_protocol::push::message::{PushContent, PushMessage, push_plaintext};

const USER: &str = "bench-user";

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn message(seq: u64, now: i64) -> PushMessage {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seq.to_be_bytes());
    PushMessage {
        id: b64::encode(id),
        user_id: USER.into(),
        seq,
        kind: PushKind::ApprovalItem,
        collapse_key: None,
        created_ms: now,
        expires_ms: now + 86_400_000,
        urgency: Urgency::Normal,
        content: PushContent::Body {
            title: "新公文待批".into(),
            text: format!("北市府交通局函 第 {seq} 號：請於三日內核示"),
            route: format!("approval/doc-{seq}"),
        },
    }
}

struct Sender {
    key: EcdsaKeyPair,
    public: Vec<u8>,
    auth: Vec<u8>,
    rng: SystemRandom,
}

impl Sender {
    fn payload(&self, seq: u64, now: i64) -> Vec<u8> {
        let plain = push_plaintext(&message(seq, now), &self.key, &self.rng).expect("sign");
        encryption::seal(&plain, &self.public, &self.auth, 0, &self.rng).expect("seal")
    }
}

fn setup(dir: &Path) -> Sender {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("key");
    let secrets = FileSecretStore::new(dir.join("secrets")).expect("secrets");
    let (public, auth) = push::fixture_register(&dir.join("profiles"), "bench", &secrets, key.public_key().as_ref(), USER).expect("fixture");
    Sender { key, public, auth, rng }
}

fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis()).expect("ms")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn receive_latency() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sender = setup(dir.path());
    let now = now_ms();
    let payloads: Vec<Vec<u8>> = (1..=1_000).map(|seq| sender.payload(seq, now)).collect();
    let repeats: Vec<Vec<u8>> = (1..=200).map(|seq| sender.payload(seq * 5, now)).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut config = ClientConfig::new(dir.path().join("profiles"), "bench", "http://127.0.0.1:9", "bench");
        config.sync_interval_secs = 0;
        let secrets = Arc::new(FileSecretStore::new(dir.path().join("secrets")).expect("secrets"));
        let platform = Platform { signer: None, secret_store: secrets, listener: None, clock: None };
        let client = Client::open(config, platform).await.expect("open");
        let push = client.push();
        let mut new = Vec::with_capacity(payloads.len());
        for p in payloads {
            let t = Instant::now();
            let r = push.receive(p).await.expect("receive");
            new.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(r.outcome, Outcome::New);
        }
        let mut dup = Vec::with_capacity(repeats.len());
        for p in repeats {
            let t = Instant::now();
            let r = push.receive(p).await.expect("receive");
            dup.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(r.outcome, Outcome::Duplicate);
        }
        assert_eq!(push.badge().await.expect("badge"), 1_000);
        client.close().await.expect("close");
        for (what, mut v) in [("new message → routed event", new), ("repeat → dropped", dup)] {
            v.sort_by(f64::total_cmp);
            println!("push receive, {what}: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms (n = {})", percentile(&v, 0.5), percentile(&v, 0.95), v[v.len() - 1], v.len());
        }
    });
}

/// The child: one light entry call in a fresh process, then its peak RSS.
fn light_child(dir: &Path, payload: &Path) {
    let before = peak_rss_kib();
    let secrets = FileSecretStore::new(dir.join("secrets")).expect("secrets");
    let bytes = std::fs::read(payload).expect("payload");
    let t = Instant::now();
    let r = push::receive_light(&dir.join("profiles"), "bench", &secrets, &bytes).expect("light receive");
    let elapsed = t.elapsed().as_secs_f64() * 1e3;
    assert!(r.notification.is_some());
    println!("{before} {} {elapsed:.2}", peak_rss_kib());
}

/// The baseline child: the same binary, the same payload read, no call.
fn baseline_child(payload: &Path) {
    let bytes = std::fs::read(payload).expect("payload");
    println!("{} {}", std::hint::black_box(bytes).len(), peak_rss_kib());
}

fn child(args: &[&std::ffi::OsStr]) -> Vec<String> {
    let out = std::process::Command::new(std::env::current_exe().expect("exe")).args(args).output().expect("child");
    assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect()
}

fn light_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sender = setup(dir.path());
    let payload = dir.path().join("payload.bin");
    std::fs::write(&payload, sender.payload(1, now_ms())).expect("write");
    let light = child(&["--light-child".as_ref(), dir.path().as_os_str(), payload.as_os_str()]);
    let baseline = child(&["--baseline-child".as_ref(), payload.as_os_str()]);
    let (before, after, ms) = (&light[0], &light[1], &light[2]);
    let (peak, base): (u64, u64) = (after.parse().expect("kib"), baseline[1].parse().expect("kib"));
    println!(
        "push light entry (own process, cold): peak RSS {peak} KiB; a process of the same binary doing nothing: {base} KiB; \
         the call adds {} KiB (the light child before its call: {before} KiB); {ms} ms",
        peak.saturating_sub(base)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--light-child") {
        light_child(Path::new(&args[i + 1]), Path::new(&args[i + 2]));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--baseline-child") {
        baseline_child(Path::new(&args[i + 1]));
        return;
    }
    // `cargo test --benches` runs bench binaries with `--test`-like flags: keep it quick.
    receive_latency();
    light_memory();
}
