//! The wallet's closing-note figures (issue #6): verify time per QR from text and
//! from a PNG (decode + verify), list and search times over 10,000 stored
//! certificates, and the QR version of a typical diploma (printed once at start).
//!
//! Real parts: the embedded reference server issues the signed lists, the profile is
//! a SQLite file in a temp dir, the certificates are signed with ring.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use taipei_core::qr::{RenderOptions, render};
use taipei_core::wallet::{Filter, VerdictKind};
use taipei_core::{Client, ClientConfig, FileSecretStore, Platform};
use taipei_protocol::cert::city::{CityCertificate, Field, Text, sample_diploma};
use taipei_protocol::cert::key_id;

const ITEMS: usize = 10_000;
const TYPES: [(&str, &str, &str); 4] =
    [("diploma", "TPE-EDU", "畢業證書"), ("award", "TPE-EDU", "獎狀"), ("low_income", "TPE-SW", "低收入戶證明"), ("event_visit", "TPE-CUL", "參訪證明")];

struct Setup {
    rt: tokio::runtime::Runtime,
    client: Client,
    diploma: String,
    _server: taipei_server::RunningServer,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, client, diploma) = rt.block_on(async {
        let server = taipei_server::start(taipei_server::ServerConfig::embedded(dir.path().join("server.db"))).await.expect("server");
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(taipei_core::net::tls::refuse_all_config().expect("tls"))
            .build()
            .expect("http");
        let get = |path: &str| http.get(format!("{}{path}", server.base_url())).send();
        let root: serde_json::Value = get("/v1/wallet/root-key").await.expect("root").json().await.expect("json");
        let post_as = |token: &str, path: &str, body: serde_json::Value| {
            http.post(format!("{}{path}", server.base_url()))
                .bearer_auth(token)
                .header("Idempotency-Key", format!("bench{path}"))
                .json(&body)
                .send()
        };
        let post = |path: &str, body: serde_json::Value| post_as(server.admin_token(), path, body);
        // Issuing takes the agency's own credential, not the admin token.
        let issuer: serde_json::Value = post("/v1/admin/credentials", serde_json::json!({"kind": "issuer", "name": "bench", "scope": "TPE-EDU"}))
            .await
            .expect("mint")
            .json()
            .await
            .expect("json");
        let issuer = issuer["token"].as_str().expect("issuer token").to_owned();
        // So does the portal's binding offer.
        let portal: serde_json::Value = post("/v1/admin/credentials", serde_json::json!({"kind": "portal", "name": "bench portal"}))
            .await
            .expect("mint")
            .json()
            .await
            .expect("json");
        let portal = portal["token"].as_str().expect("portal token").to_owned();
        let offer: serde_json::Value = post_as(&portal, "/v1/portal/bindings", serde_json::json!({"user_id": "u-bench", "display_name": "陳小明"}))
            .await
            .expect("offer")
            .json()
            .await
            .expect("json");
        let diploma: serde_json::Value = post_as(
            &issuer,
            "/v1/admin/wallet/certificates",
            serde_json::json!({
                "user_id": "u-bench", "issuer": "TPE-EDU", "cert_type": "diploma", "holder_name": "陳小明",
                "title": {"zh": "高級中等學校畢業證書", "en": "Senior High School Diploma"},
                "fields": sample_diploma("陳小明", 0, 0).fields,
            }),
        )
        .await
        .expect("issue")
        .json()
        .await
        .expect("json");
        let mut config = ClientConfig::new(dir.path().join("phone"), "bench", &server.base_url(), "bench");
        config.sync_interval_secs = 0;
        config.wallet_root_key = root["public_key"].as_str().map(str::to_owned);
        let platform = Platform {
            signer: None,
            secret_store: Arc::new(FileSecretStore::new(dir.path().join("secrets")).expect("secrets")),
            listener: None,
            clock: None,
        };
        let client = Client::open(config, platform).await.expect("open");
        client.bind_device(offer["qr"].as_str().expect("qr")).await.expect("bind");
        client.wallet().sync().await.expect("sync");
        (server, client, diploma["qr"].as_str().expect("qr").to_owned())
    });
    Setup { rt, client, diploma, _server: server, _dir: dir }
}

/// 10,000 varied certificates (signed by a local key: storage and search do not
/// depend on who signed).
fn fill(s: &Setup) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("key");
    let kid = key_id(key.public_key().as_ref());
    let names = ["陳小明", "林大華", "王美麗", "張志強", "李家豪", "黃淑芬"];
    let started = std::time::Instant::now();
    s.rt.block_on(async {
        for i in 0..ITEMS {
            let (cert_type, issuer, title) = TYPES[i % TYPES.len()];
            let cert = CityCertificate {
                issuer: issuer.into(),
                cert_type: cert_type.into(),
                title: Text::new(title, cert_type),
                fields: vec![Field { label: Text::new("編號", "No."), value: format!("北市字第{i:07}號") }],
                issued_at: 1_600_000_000 + i as i64 * 3600,
                ..sample_diploma(names[i % names.len()], i as u64, 0)
            };
            s.client.wallet().add(&cert.sign(&key, &kid).expect("sign")).await.expect("add");
        }
    });
    println!("stored {ITEMS} certificates in {:.1} s", started.elapsed().as_secs_f64());
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let version = render::matrix(&s.diploma, &RenderOptions::default()).expect("render").version;
    println!("typical diploma: {} characters, QR version {version} at level M", s.diploma.len());
    let wallet = s.client.wallet();
    let png = render::png(&s.diploma, &RenderOptions::default()).expect("png");
    assert_eq!(s.rt.block_on(wallet.verify_text(&s.diploma)).expect("verify").kind, VerdictKind::Valid);
    c.bench_function("wallet verify text (diploma, cached lists)", |b| {
        b.iter(|| s.rt.block_on(wallet.verify_text(black_box(&s.diploma))))
    });
    c.bench_function("wallet verify PNG (QR decode + verify)", |b| b.iter(|| s.rt.block_on(wallet.verify_image(black_box(&png)))));

    fill(&s);
    let page = Filter::default();
    let by_type = Filter { cert_type: Some("low_income".into()), ..Filter::default() };
    let search = Filter { text: Some("第0004242號".into()), ..Filter::default() };
    let search_common = Filter { text: Some("林大華".into()), ..Filter::default() };
    assert_eq!(s.rt.block_on(wallet.list(search.clone())).expect("search").total, 1);
    assert_eq!(s.rt.block_on(wallet.list(by_type.clone())).expect("type").total as usize, ITEMS / 4);
    c.bench_function("wallet list first page of 10k", |b| b.iter(|| s.rt.block_on(wallet.list(page.clone()))));
    c.bench_function("wallet list by type (10k)", |b| b.iter(|| s.rt.block_on(wallet.list(by_type.clone()))));
    c.bench_function("wallet text search, 1 hit (10k)", |b| b.iter(|| s.rt.block_on(wallet.list(search.clone()))));
    c.bench_function("wallet text search, 1/6 hit (10k)", |b| b.iter(|| s.rt.block_on(wallet.list(search_common.clone()))));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
