//! Server keys at rest: an attacker who copies the SQLite file (and its WAL) finds no
//! key in clear; the wrong key-encryption key stops the start; keys a database held in
//! clear before sealing existed are sealed at the next start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{TestServer, random_id};
use reqwest::StatusCode;
use taipei_protocol::api::headers;
use taipei_protocol::b64;
use taipei_protocol::cert::lists::{SignedList, TRUST_LIST_TAG, TrustList};
use taipei_protocol::ecdsa::PublicKey;
use taipei_protocol::wallet::{NewCertificate, RootKey, Text};
use taipei_server::ServerConfig;
use taipei_server::sealing::{KeyEncryptionKey, LocalKek};

const IK: [u8; 16] = [0x5a, 0x17, 0xc3, 0x88, 0x01, 0xfe, 0x42, 0x9d, 0x6b, 0x20, 0xe7, 0x33, 0x74, 0xaa, 0x0c, 0xd1];
/// What every PKCS #8 P-256 key ring writes begins with after its length: version 0,
/// then the id-ecPublicKey algorithm. A certificate's key info has no version 0 there.
const PKCS8_HEAD: [u8; 14] = [0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn post_as(t: &TestServer, token: &str, path: &str, body: serde_json::Value) -> StatusCode {
    let request = t.http.post(t.url(path)).bearer_auth(token).header(headers::IDEMPOTENCY_KEY, random_id());
    request.json(&body).send().await.unwrap().status()
}

/// Everything the database file and its side files hold, as one byte string.
fn file_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn root_key(t: &TestServer) -> Vec<u8> {
    let root: RootKey = t.http.get(t.url("/v1/wallet/root-key")).send().await.unwrap().json().await.unwrap();
    b64::decode(&root.public_key).unwrap()
}

async fn trust_list_verifies(t: &TestServer, root: &[u8]) -> bool {
    let signed: SignedList = t.http.get(t.url("/v1/wallet/trust-list")).send().await.unwrap().json().await.unwrap();
    signed.open::<TrustList>(TRUST_LIST_TAG, &PublicKey::from_sec1(root).unwrap()).is_ok()
}

#[tokio::test]
async fn item9_server_keys_are_sealed_at_rest_and_a_copied_file_holds_none() {
    if common::sqlite_only("searching the database file's bytes") {
        return;
    }
    let t = TestServer::start().await;
    // Every kind of key the server keeps: root, CA, issuers (made at start), an EID
    // identity key, a meeting HMAC key; an issuance uses an issuer key.
    let minted = t.http.post(t.url("/v1/admin/credentials")).bearer_auth(t.server.admin_token());
    let hr: serde_json::Value = minted.json(&serde_json::json!({"kind": "hr", "name": "HR"})).send().await.unwrap().json().await.unwrap();
    let hr = hr["token"].as_str().unwrap();
    let office = serde_json::json!({"office_id": "hq", "name": "HQ", "level": "eid"});
    assert_eq!(post_as(&t, hr, "/v1/admin/offices", office).await, StatusCode::CREATED);
    let beacon = serde_json::json!({"kind": "eid", "identity_key": hex(&IK), "rotation_exponent": 10, "epoch_ms": 0});
    assert_eq!(post_as(&t, hr, "/v1/admin/offices/hq/beacons", beacon.clone()).await, StatusCode::CREATED);
    // Registering the same key again is still recognised (sealed copies differ).
    assert_eq!(post_as(&t, hr, "/v1/admin/offices/hq/beacons", beacon).await, StatusCode::CREATED);
    assert_eq!(t.count("SELECT COUNT(*) FROM attendance_beacons"), 1);
    let now = common::now_s() * 1000;
    let meeting = serde_json::json!({"title": "t", "room": "r", "organizer": "o", "starts_at_ms": now, "ends_at_ms": now + 3_600_000, "invitees": []});
    assert_eq!(post_as(&t, &t.mint("organizer", None).await, "/v1/admin/meetings", meeting).await, StatusCode::CREATED);
    let cert = NewCertificate {
        user_id: "u-a".into(),
        issuer: "TPE-EDU".into(),
        cert_type: "diploma".into(),
        holder_name: "王小明".into(),
        title: Text::new("畢業證書", "Diploma"),
        fields: vec![],
        expires_at_ms: None,
        document_sha256: None,
    };
    let minted = t.http.post(t.url("/v1/admin/credentials")).bearer_auth(t.server.admin_token());
    let minted: serde_json::Value = minted.json(&serde_json::json!({"kind": "issuer", "name": "EDU", "scope": "TPE-EDU"})).send().await.unwrap().json().await.unwrap();
    let issued = t.http.post(t.url("/v1/admin/wallet/certificates")).bearer_auth(minted["token"].as_str().unwrap());
    let issued = issued.header(headers::IDEMPOTENCY_KEY, random_id()).json(&cert).send().await.unwrap();
    assert_eq!(issued.status(), StatusCode::CREATED);
    let root = root_key(&t).await;
    assert!(trust_list_verifies(&t, &root).await);
    // The EIDs the phone gets still come from the (sealed) identity key.
    let meeting_key_len: i64 = t.count("SELECT length(meeting_key) FROM meetings");

    let TestServer { server, dir, .. } = t;
    server.shutdown().await;
    let bytes = file_bytes(dir.path());
    assert!(bytes.len() > 10_000, "the database files were not read");
    assert!(!contains(&bytes, &PKCS8_HEAD), "a PKCS #8 private key is stored in clear");
    // The root's public key appears nowhere but inside its PKCS #8 (issuers' public
    // keys are public columns), so finding it would mean a clear root key.
    assert!(!contains(&bytes, &root), "the root key pair is stored in clear");
    assert!(!contains(&bytes, &IK), "the EID identity key is stored in clear");
    assert!(!contains(&bytes, hex(&IK).as_bytes()), "the EID identity key is stored in clear as hex");
    // A 32-byte key sealed: version, nonce, key, tag.
    assert_eq!(meeting_key_len, 1 + 12 + 32 + 16);
}

#[tokio::test]
async fn a_wrong_key_encryption_key_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::embedded(common::db_path(&dir));
    taipei_server::start(config.clone()).await.unwrap().shutdown().await;
    let mut other = config.clone();
    other.kek = Arc::new(LocalKek::generate().unwrap());
    let error = taipei_server::start(other).await.unwrap_err().to_string();
    assert!(error.contains("key-encryption key"), "{error}");
    // The right one still opens everything.
    taipei_server::start(config).await.unwrap().shutdown().await;
}

#[tokio::test]
async fn keys_stored_in_clear_before_sealing_are_sealed_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Arc::new(LocalKek::generate().unwrap());
    let mut config = ServerConfig::embedded(common::db_path(&dir));
    config.kek = kek.clone();
    let t = TestServer { server: taipei_server::start(config.clone()).await.unwrap(), http: common::http_client(), dir };
    let root = root_key(&t).await;
    let TestServer { server, http, dir } = t;
    server.shutdown().await;
    // Turn the file back into one written before sealing: the root key in clear, no mark.
    {
        common::test_db(&dir).with(|conn| {
        let sealed: Vec<u8> = conn.query_row("SELECT pkcs8 FROM wallet_keys WHERE name = 'root'", [], |r| r.get(0)).unwrap();
        let clear = kek.open("wallet_keys/root", &sealed).unwrap();
        conn.execute("UPDATE wallet_keys SET pkcs8 = ?1 WHERE name = 'root'", [clear.clone()]).unwrap();
        for (table, column, label) in [("wallet_keys", "pkcs8", "wallet_keys/ca"), ("wallet_issuers", "pkcs8", "wallet_issuers/TPE-EDU")] {
            let key = if table == "wallet_keys" { "name = 'ca'" } else { "issuer = 'TPE-EDU'" };
            let sealed: Vec<u8> = conn.query_row(&format!("SELECT {column} FROM {table} WHERE {key}"), [], |r| r.get(0)).unwrap();
            conn.execute(&format!("UPDATE {table} SET {column} = ?1 WHERE {key}"), [kek.open(label, &sealed).unwrap()]).unwrap();
        }
        conn.execute("DELETE FROM server_sealed", []).unwrap();
        assert!(contains(&clear, &PKCS8_HEAD));
        Ok(())
        })
        .unwrap();
    }
    let t = TestServer { server: taipei_server::start(config).await.unwrap(), http, dir };
    assert!(trust_list_verifies(&t, &root).await);
    assert_eq!(t.count("SELECT COUNT(*) FROM server_sealed"), 1);
    let TestServer { server, dir, .. } = t;
    server.shutdown().await;
    if common::postgres_url().is_none() {
        assert!(!contains(&file_bytes(dir.path()), &PKCS8_HEAD), "a clear key survived the start");
    }
}
