//! The certificate wallet end to end: the reference server issues and revokes, the
//! core syncs the signed lists and certificates over loopback HTTP, keeps them sealed
//! in its SQLite file, and verifies offline — every way a certificate can fail.

use std::sync::atomic::{AtomicU32, Ordering};

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use taipei_core::Client;
use taipei_core::qr::{self, RenderOptions};
use taipei_core::wallet::{ContractStatus, Filter, VerdictKind, WalletError};
use taipei_protocol::b64;
use taipei_protocol::cert::city::{CityCertificate, sample_diploma};
use taipei_protocol::cert::key_id;
use taipei_server::RunningServer;

use taipei_scenarios::{admin_post, http, mint_credential, mint_kiosk, offer_binding, profile_config, server_kek, software_platform, start_server};

static KEYS: AtomicU32 = AtomicU32::new(0);

/// `POST` a back-office endpoint with `token`, each call a new request (its own
/// idempotency key).
async fn desk(server: &RunningServer, token: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let key = format!("wallet-{}-{}", std::process::id(), KEYS.fetch_add(1, Ordering::Relaxed));
    let reply = http()
        .post(format!("{}{path}", server.base_url()))
        .header("Authorization", format!("Bearer {token}"))
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("admin call");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(serde_json::Value::Null))
}

async fn issue(server: &RunningServer, user: &str, issuer: &str, cert_type: &str, title: (&str, &str), expires_at_ms: Option<i64>) -> (String, String) {
    let body = serde_json::json!({
        "user_id": user, "issuer": issuer, "cert_type": cert_type, "holder_name": "陳小明",
        "title": {"zh": title.0, "en": title.1},
        "fields": [{"label": {"zh": "學校", "en": "School"}, "value": "臺北市立建國高級中學"}],
        "expires_at_ms": expires_at_ms,
    });
    let token = mint_credential(server, "issuer", Some(issuer)).await;
    let (status, json) = admin_post(&server.base_url(), &token, "/v1/admin/wallet/certificates", body).await;
    assert_eq!(status, 201, "issue: {json}");
    (json["id"].as_str().unwrap().to_owned(), json["qr"].as_str().unwrap().to_owned())
}

async fn root_key(server: &RunningServer) -> String {
    let reply: serde_json::Value =
        http().get(format!("{}/v1/wallet/root-key", server.base_url())).send().await.unwrap().json().await.unwrap();
    reply["public_key"].as_str().unwrap().to_owned()
}

/// A profile configured with the city root key, bound to `user`.
async fn phone(dir: &std::path::Path, server: &RunningServer, user: &str) -> Client {
    let mut config = profile_config(dir, &server.base_url());
    config.wallet_root_key = Some(root_key(server).await);
    let client = Client::open(config, software_platform(dir)).await.expect("profile opens");
    client.bind_device(&offer_binding(server, user).await).await.expect("binds");
    client
}

fn server_db(dir: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("server.db")).unwrap()
}

fn pair(pkcs8: &[u8]) -> EcdsaKeyPair {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &SystemRandom::new()).unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test]
async fn certificates_sync_verify_offline_and_show_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let client = phone(&dir.path().join("phone"), &server, "u-chen").await;
    let wallet = client.wallet();
    // Nothing to check against before the first sync: an error, not a guess.
    assert_eq!(wallet.verify_text("TPC1:X").await.unwrap_err().code(), "wallet_no_lists");

    let (diploma_id, diploma_qr) = issue(&server, "u-chen", "TPE-EDU", "diploma", ("高級中等學校畢業證書", "Diploma"), None).await;
    let (_, proof_qr) = issue(&server, "u-chen", "TPE-SW", "low_income", ("低收入戶證明", "Low-income household"), None).await;
    let visit_expires = now_ms() + 86_400_000;
    let (_, visit_qr) = issue(&server, "u-chen", "TPE-CUL", "event_visit", ("參訪證明", "Event visit"), Some(visit_expires)).await;
    issue(&server, "u-someone-else", "TPE-EDU", "award", ("獎狀", "Award"), None).await;

    let report = wallet.sync().await.unwrap();
    assert_eq!((report.added, report.total, report.refused), (3, 3, 0));
    assert_eq!(wallet.sync().await.unwrap().added, 0, "a second sync adds nothing");

    // List, filter and search offline.
    let all = wallet.list(Filter::default()).await.unwrap();
    assert_eq!(all.total, 3);
    let diplomas = wallet.list(Filter { cert_type: Some("diploma".into()), ..Filter::default() }).await.unwrap();
    assert_eq!(diplomas.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [diploma_id.as_str()]);
    let social = wallet.list(Filter { issuer: Some("TPE-SW".into()), ..Filter::default() }).await.unwrap();
    assert_eq!(social.items[0].qr, proof_qr);
    let searched = wallet.list(Filter { text: Some("low-INCOME".into()), ..Filter::default() }).await.unwrap();
    assert_eq!(searched.total, 1);
    assert_eq!(wallet.list(Filter { text: Some("no such words".into()), ..Filter::default() }).await.unwrap().total, 0);
    let future = wallet.list(Filter { issued_from_ms: Some(now_ms() + 3_600_000), ..Filter::default() }).await.unwrap();
    assert_eq!(future.total, 0);
    // The type of a certificate is not on disk in clear.
    let conn = rusqlite::Connection::open(dir.path().join("phone/profiles/main.db")).unwrap();
    let clear: i64 = conn
        .query_row("SELECT COUNT(*) FROM wallet_item WHERE instr(CAST(body AS TEXT), 'low_income') > 0 OR instr(CAST(type_tag AS TEXT), 'low') > 0", [], |r| r.get(0))
        .unwrap();
    assert_eq!(clear, 0);

    // Show one: fields, verdict, QR; and the QR read back from a picture.
    let card = wallet.show(&diploma_id).await.unwrap();
    assert_eq!(card.verdict.kind, VerdictKind::Valid, "{}", card.verdict.reason);
    assert_eq!(card.item.certificate.holder, "陳○明");
    assert!(card.qr_svg.contains("<svg"));
    let png = wallet.qr_png(&diploma_id, 4).await.unwrap();
    assert_eq!(wallet.verify_image(&png).await.unwrap().kind, VerdictKind::Valid);

    // Every failure, offline.
    let trust_kid = {
        let db = server_db(dir.path());
        let (sealed, public): (Vec<u8>, Vec<u8>) = db
            .query_row("SELECT pkcs8, public_key FROM wallet_issuers WHERE issuer = 'TPE-SW'", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        // Sealed at rest: only the operator's KEK opens it.
        let pkcs8 = server_kek().open("wallet_issuers/TPE-SW", &sealed).unwrap();
        // The social-welfare key signing a diploma: trusted key, wrong type.
        let misuse = CityCertificate { issuer: "TPE-SW".into(), ..sample_diploma("林大華", 99, now_ms() / 1000) };
        let misused = misuse.sign(&pair(&pkcs8), &key_id(&public)).unwrap();
        assert_eq!(wallet.verify_text(&misused).await.unwrap().kind, VerdictKind::IssuerNotAllowedType);
        key_id(&public)
    };
    let stranger_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
    let stranger = pair(stranger_pkcs8.as_ref());
    let diploma = sample_diploma("陳小明", 0, now_ms() / 1000);
    let unknown = diploma.sign(&stranger, b"12345678").unwrap();
    assert_eq!(wallet.verify_text(&unknown).await.unwrap().kind, VerdictKind::UnknownIssuer);
    let forged = CityCertificate { issuer: "TPE-SW".into(), cert_type: "low_income".into(), ..diploma }.sign(&stranger, &trust_kid).unwrap();
    assert_eq!(wallet.verify_text(&forged).await.unwrap().kind, VerdictKind::InvalidSignature);
    let tampered = format!("{}{}", &diploma_qr[..40], &diploma_qr[41..]);
    assert_eq!(wallet.verify_text(&tampered).await.unwrap().kind, VerdictKind::Tampered);
    assert_eq!(wallet.verify_text("https://example.com/").await.unwrap().kind, VerdictKind::NotACertificate);
    assert_eq!(wallet.verify_text_at(&visit_qr, visit_expires + 1000).await.unwrap().kind, VerdictKind::Expired);
    assert_eq!(wallet.verify_text_at(&visit_qr, 0).await.unwrap().kind, VerdictKind::NotYetValid);
    let not_a_code = qr::render::png("hello", &RenderOptions::default()).unwrap();
    assert_eq!(wallet.verify_image(&not_a_code).await.unwrap().kind, VerdictKind::NotACertificate);

    // Revocation reaches the phone with the next status list; until then the verdict
    // says which lists it used.
    let school = mint_credential(&server, "issuer", Some("TPE-EDU")).await;
    let path = format!("/v1/admin/wallet/certificates/{diploma_id}/revoke");
    let (status, _) = admin_post(&server.base_url(), &school, &path, serde_json::json!({})).await;
    assert_eq!(status, 204);
    let before = wallet.verify_text(&diploma_qr).await.unwrap();
    assert_eq!(before.kind, VerdictKind::Valid);
    assert!(before.reason.contains("checked against lists of"));
    wallet.sync().await.unwrap();
    let after = wallet.verify_text(&diploma_qr).await.unwrap();
    assert_eq!(after.kind, VerdictKind::Revoked, "{}", after.reason);
    assert!(after.status_list_as_of_ms.unwrap() >= before.status_list_as_of_ms.unwrap());

    // Offline: the server is gone, verification still answers; sync says why not.
    server.shutdown().await;
    assert_eq!(wallet.verify_text(&proof_qr).await.unwrap().kind, VerdictKind::Valid);
    assert_eq!(wallet.verify_text(&diploma_qr).await.unwrap().kind, VerdictKind::Revoked);
    assert!(wallet.sync().await.is_err());
    wallet.delete(&diploma_id).await.unwrap();
    assert_eq!(wallet.list(Filter::default()).await.unwrap().total, 2);
    assert!(matches!(wallet.delete(&diploma_id).await, Err(taipei_core::Error::Wallet(WalletError::UnknownItem(_)))));
    client.close().await.unwrap();
}

#[tokio::test]
async fn backups_restore_with_the_passphrase_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let client = phone(&dir.path().join("phone"), &server, "u-lin").await;
    for n in 0..3 {
        issue(&server, "u-lin", "TPE-EDU", "award", ("獎狀", &format!("Award {n}")), None).await;
    }
    client.wallet().sync().await.unwrap();
    let backup = client.wallet().export_backup("correct horse battery").await.unwrap();
    assert!(!String::from_utf8_lossy(&backup).contains("TPC1:"), "the backup is sealed");
    assert!(client.wallet().export_backup("short").await.is_err());

    // A new phone (another profile, another data key) restores it.
    let other = Client::open(profile_config(&dir.path().join("new-phone"), &server.base_url()), software_platform(&dir.path().join("new-phone")))
        .await
        .unwrap();
    let wrong = other.wallet().import_backup(&backup, "wrong horse battery").await.unwrap_err();
    assert_eq!(wrong, taipei_core::Error::Wallet(WalletError::WrongPassphrase));
    let mut altered = backup.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    assert_eq!(other.wallet().import_backup(&altered, "correct horse battery").await.unwrap_err().code(), "wallet_wrong_passphrase");
    assert_eq!(other.wallet().import_backup(b"not a backup", "x").await.unwrap_err().code(), "wallet_bad_backup");
    assert_eq!(other.wallet().import_backup(&backup, "correct horse battery").await.unwrap(), 3);
    assert_eq!(other.wallet().import_backup(&backup, "correct horse battery").await.unwrap(), 0, "restoring twice adds nothing");
    let restored = other.wallet().list(Filter::default()).await.unwrap();
    let original = client.wallet().list(Filter::default()).await.unwrap();
    assert_eq!(restored.items, original.items);
    other.close().await.unwrap();
    client.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn pickup_codes_are_one_time_short_lived_and_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let client = phone(&dir.path().join("phone"), &server, "u-wu").await;
    let (id, qr_text) = issue(&server, "u-wu", "TPE-SW", "low_income", ("低收入戶證明", "Low-income household"), None).await;
    client.wallet().sync().await.unwrap();
    let kiosk_token = mint_kiosk(&server).await;
    let kiosk = |code: String| {
        let url = format!("{}/v1/kiosk/pickup", server.base_url());
        let token = kiosk_token.clone();
        async move {
            let reply = http().post(url).bearer_auth(token).json(&serde_json::json!({ "code": code })).send().await.unwrap();
            let status = reply.status().as_u16();
            (status, reply.json::<serde_json::Value>().await.unwrap())
        }
    };
    let code = client.wallet().pickup_code(&id, Some(300)).await.unwrap();
    assert!(code.expires_at_ms > now_ms());
    let (status, got) = kiosk(code.code.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(got["qr"], qr_text.as_str());
    assert_eq!(kiosk(code.code).await.1["code"], "wallet_pickup_invalid", "used once");

    let revoked = client.wallet().pickup_code(&id, None).await.unwrap();
    client.wallet().revoke_pickup_code(&revoked.code).await.unwrap();
    assert_eq!(kiosk(revoked.code.clone()).await.0, 404);
    let again = client.wallet().revoke_pickup_code(&revoked.code).await.unwrap_err();
    assert_eq!(again.code(), "wallet_pickup_invalid");

    let expiring = client.wallet().pickup_code(&id, Some(60)).await.unwrap();
    server_db(dir.path()).execute("UPDATE wallet_pickup_codes SET expires_at_ms = 0 WHERE used_at_ms IS NULL AND revoked_at_ms IS NULL", []).unwrap();
    assert_eq!(kiosk(expiring.code).await.0, 404, "expired");
    let unknown = client.wallet().pickup_code("no-such-id", None).await.unwrap_err();
    assert_eq!(unknown.code(), "wallet_unknown_certificate");
    client.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn contract_signature_histories_verify_fail_when_altered_and_show_voided() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let client = phone(&dir.path().join("phone"), &server, "u-vendor").await;
    let create = |title: &str| {
        serde_json::json!({
            "user_id": "u-vendor", "title": title, "document_sha256": "ab".repeat(32),
            "parties": ["臺北市政府資訊局", "大同資訊股份有限公司", "臺北市政府法務局"],
        })
    };
    let contracts = mint_credential(&server, "contracts", None).await;
    let (status, refused) = desk(&server, server.admin_token(), "/v1/admin/wallet/contracts", create("維護契約")).await;
    assert_eq!(status, 401, "the admin token does not open the contracts desk: {refused}");
    let (status, good) = desk(&server, &contracts, "/v1/admin/wallet/contracts", create("維護契約")).await;
    assert_eq!(status, 201, "{good}");
    let (_, bad) = desk(&server, &contracts, "/v1/admin/wallet/contracts", create("被改過的契約")).await;
    let (_, voided) = desk(&server, &contracts, "/v1/admin/wallet/contracts", create("解約的契約")).await;
    // Someone edits the stored document hash of one contract after it was signed.
    let bad_id = bad["id"].as_str().unwrap();
    server_db(dir.path())
        .execute("UPDATE wallet_contracts SET body = replace(body, ?2, ?3) WHERE id = ?1", rusqlite::params![bad_id, "ab".repeat(32), "cd".repeat(32)])
        .unwrap();
    let voided_id = voided["id"].as_str().unwrap();
    let (status, _) = desk(&server, &contracts, &format!("/v1/admin/wallet/contracts/{voided_id}/void"), serde_json::json!({"reason": "廠商解約"})).await;
    assert_eq!(status, 204);

    assert_eq!(client.wallet().sync().await.unwrap().contracts, 3);
    let views = client.wallet().contracts().await.unwrap();
    let by_id = |id: &str| views.iter().find(|v| v.id == id).unwrap();
    let ok = by_id(good["id"].as_str().unwrap());
    assert_eq!(ok.status, ContractStatus::Valid, "{:?}", ok.signatures);
    assert_eq!(ok.signatures.iter().map(|s| s.order).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(ok.signatures[1].signer, "大同資訊股份有限公司");
    assert!(ok.signatures[1].subject_dn.contains("CN=大同資訊股份有限公司"));
    assert!(ok.signatures[1].issuer_dn.contains("CN=Taipei City Test CA"));
    assert!(!ok.signatures[1].serial.is_empty());
    assert!(ok.signatures.windows(2).all(|w| w[0].signed_at_ms < w[1].signed_at_ms));
    let altered = by_id(bad_id);
    assert_eq!(altered.status, ContractStatus::Invalid);
    assert!(altered.signatures.iter().all(|s| s.problem.is_some()));
    let void = by_id(voided_id);
    assert_eq!(void.status, ContractStatus::Voided);
    assert_eq!(void.void_reason.as_deref(), Some("廠商解約"));
    client.close().await.unwrap();
    server.shutdown().await;
}

#[test]
fn root_key_text_is_checked() {
    // A wrong root key in the configuration is a configuration error at first use.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let server = start_server(dir.path()).await;
        let mut config = profile_config(&dir.path().join("p"), &server.base_url());
        config.wallet_root_key = Some(b64::encode([4u8; 10]));
        let client = Client::open(config, software_platform(&dir.path().join("p"))).await.unwrap();
        client.bind_device(&offer_binding(&server, "u-k").await).await.unwrap();
        assert_eq!(client.wallet().sync().await.unwrap_err().code(), "config");
        client.close().await.unwrap();
        server.shutdown().await;
    });
}
