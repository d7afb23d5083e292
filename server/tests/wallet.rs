//! The wallet endpoints over real HTTP on loopback: issuance, signed lists,
//! revocation, pickup codes, contracts, the verifier.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, error_of, random_id};
use reqwest::{Method, StatusCode};
use taipei_protocol::api::headers;
use taipei_protocol::b64;
use taipei_protocol::cert::contract::{self, ContractStatus};
use taipei_protocol::cert::lists::{STATUS_LIST_TAG, SignedList, StatusBits, StatusList, TRUST_LIST_TAG, TrustList};
use taipei_protocol::cert::verdict::{Lists, Verdict, VerdictKind, verify_text};
use taipei_protocol::ecdsa::PublicKey;
use taipei_protocol::wallet::{
    Contract, Contracts, Field, IssuedCertificate, NewCertificate, NewContract, NewPickupCode, PickedUp, PickupCode,
    RedeemPickup, RevokePickup, RootKey, Text, VerifyRequest, WalletEntries, codes,
};

fn diploma(user: &str) -> NewCertificate {
    NewCertificate {
        user_id: user.into(),
        issuer: "TPE-EDU".into(),
        cert_type: "diploma".into(),
        holder_name: "陳小明".into(),
        title: Text::new("高級中等學校畢業證書", "Senior High School Diploma"),
        fields: vec![Field { label: Text::new("學校", "School"), value: "臺北市立建國高級中學".into() }],
        expires_at_ms: None,
        document_sha256: None,
    }
}

async fn admin_post(t: &TestServer, path: &str, body: &impl serde::Serialize) -> reqwest::Response {
    t.http
        .post(t.url(path))
        .bearer_auth(t.server.admin_token())
        .header(headers::IDEMPOTENCY_KEY, random_id())
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A kiosk credential minted by the operator.
async fn mint_kiosk(t: &TestServer) -> String {
    let response = admin_post(t, "/v1/admin/credentials", &serde_json::json!({"kind": "kiosk", "name": "7-ELEVEN kiosk"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<taipei_protocol::api::MintedCredential>().await.unwrap().token
}

/// An issuer credential for `agency`, minted by the operator.
async fn mint_issuer(t: &TestServer, agency: &str) -> String {
    let body = serde_json::json!({"kind": "issuer", "name": format!("{agency} issuing system"), "scope": agency});
    let response = admin_post(t, "/v1/admin/credentials", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<taipei_protocol::api::MintedCredential>().await.unwrap().token
}

async fn post_as(t: &TestServer, token: &str, path: &str, body: &impl serde::Serialize) -> reqwest::Response {
    let request = t.http.post(t.url(path)).bearer_auth(token).header(headers::IDEMPOTENCY_KEY, random_id());
    request.json(body).send().await.unwrap()
}

/// Issues with a credential of the body's agency.
async fn issue(t: &TestServer, body: &NewCertificate) -> IssuedCertificate {
    let token = mint_issuer(t, &body.issuer).await;
    let response = post_as(t, &token, "/v1/admin/wallet/certificates", body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn get<T: serde::de::DeserializeOwned>(t: &TestServer, path: &str) -> T {
    t.http.get(t.url(path)).send().await.unwrap().json().await.unwrap()
}

async fn lists(t: &TestServer) -> (TrustList, StatusBits, i64) {
    let root: RootKey = get(t, "/v1/wallet/root-key").await;
    let root = PublicKey::from_sec1(&b64::decode(&root.public_key).unwrap()).unwrap();
    let trust: SignedList = get(t, "/v1/wallet/trust-list").await;
    let status: SignedList = get(t, "/v1/wallet/status-list").await;
    let trust: TrustList = trust.open(TRUST_LIST_TAG, &root).unwrap();
    let status: StatusList = status.open(STATUS_LIST_TAG, &root).unwrap();
    (trust, StatusBits::from_list(&status).unwrap(), status.as_of_ms)
}

async fn verdict(t: &TestServer, qr: &str) -> Verdict {
    let (trust, bits, at) = lists(t).await;
    verify_text(qr, Lists { trust: &trust, status: Some((&bits, at)) }, common::now_s() * 1000)
}

#[tokio::test]
async fn issued_certificates_verify_offline_until_revoked() {
    let t = TestServer::start().await;
    let issued = issue(&t, &diploma("u-chen")).await;
    assert!(issued.qr.starts_with("TPC1:"));
    let v = verdict(&t, &issued.qr).await;
    assert_eq!(v.kind, VerdictKind::Valid, "{}", v.reason);
    let cert = v.certificate.unwrap();
    assert_eq!(cert.holder, "陳○明");
    assert_eq!(cert.issuer, "TPE-EDU");
    assert_eq!(cert.expires_at, None);

    let edu = mint_issuer(&t, "TPE-EDU").await;
    let revoke_path = format!("/v1/admin/wallet/certificates/{}/revoke", issued.id);
    // Another agency cannot revoke it: to it the certificate does not exist.
    let other_agency = post_as(&t, &mint_issuer(&t, "TPE-SW").await, &revoke_path, &serde_json::json!({})).await;
    assert_eq!(error_of(other_agency).await, (StatusCode::NOT_FOUND, codes::UNKNOWN_CERTIFICATE.into()));
    let by_admin = post_as(&t, t.server.admin_token(), &revoke_path, &serde_json::json!({})).await;
    assert_eq!(by_admin.status(), StatusCode::UNAUTHORIZED, "the admin token is not an issuer credential");
    let revoke = post_as(&t, &edu, &revoke_path, &serde_json::json!({})).await;
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    assert_eq!(verdict(&t, &issued.qr).await.kind, VerdictKind::Revoked);
    // The second certificate has its own bit: still valid.
    let other = issue(&t, &diploma("u-chen")).await;
    assert_eq!(other.status_index, issued.status_index + 1);
    assert_eq!(verdict(&t, &other.qr).await.kind, VerdictKind::Valid);

    let unknown = post_as(&t, &edu, "/v1/admin/wallet/certificates/nope/revoke", &serde_json::json!({})).await;
    assert_eq!(error_of(unknown).await, (StatusCode::NOT_FOUND, codes::UNKNOWN_CERTIFICATE.into()));
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log WHERE action = 'wallet.revoke' AND outcome = 'ok'"), 1);
}

#[tokio::test]
async fn issuance_keeps_to_the_trust_list() {
    let t = TestServer::start().await;
    let sw = mint_issuer(&t, "TPE-SW").await;
    let mut wrong_type = diploma("u-x");
    wrong_type.issuer = "TPE-SW".into();
    let response = post_as(&t, &sw, "/v1/admin/wallet/certificates", &wrong_type).await;
    assert_eq!(error_of(response).await, (StatusCode::FORBIDDEN, codes::TYPE_NOT_ALLOWED.into()));
    // No credential for an agency the wallet does not know.
    let unknown = admin_post(&t, "/v1/admin/credentials", &serde_json::json!({"kind": "issuer", "name": "x", "scope": "TPE-NOPE"})).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let no_admin = t.post_json("/v1/admin/wallet/certificates", &diploma("u-x"), Some("k")).await;
    assert_eq!(no_admin.status(), StatusCode::UNAUTHORIZED);
    // Types per issuer as the trust list states them.
    let (trust, _, _) = lists(&t).await;
    let sw = trust.issuers.iter().find(|i| i.issuer == "TPE-SW").unwrap();
    assert_eq!(sw.types, vec!["low_income".to_string()]);
    assert_eq!(trust.anchors.len(), 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM wallet_certificates"), 0);
}

#[tokio::test]
async fn an_issuer_credential_issues_for_its_own_agency_only() {
    let t = TestServer::start().await;
    let sw = mint_issuer(&t, "TPE-SW").await;
    // The social-welfare system naming the education department in the body.
    let forged = post_as(&t, &sw, "/v1/admin/wallet/certificates", &diploma("u-x")).await;
    assert_eq!(error_of(forged).await, (StatusCode::FORBIDDEN, codes::WRONG_ISSUER.into()));
    // The admin token issues nothing.
    let by_admin = admin_post(&t, "/v1/admin/wallet/certificates", &diploma("u-x")).await;
    assert_eq!(by_admin.status(), StatusCode::UNAUTHORIZED);
    // With its own credential, the agency may leave the body's issuer empty.
    let edu = mint_issuer(&t, "TPE-EDU").await;
    let mut body = diploma("u-x");
    body.issuer = String::new();
    let response = post_as(&t, &edu, "/v1/admin/wallet/certificates", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let issued: IssuedCertificate = response.json().await.unwrap();
    assert_eq!(verdict(&t, &issued.qr).await.certificate.unwrap().issuer, "TPE-EDU");
    assert_eq!(t.count("SELECT COUNT(*) FROM wallet_certificates"), 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log WHERE action = 'wallet.issue' AND outcome = 'wallet_wrong_issuer'"), 1);
    // Kind and scope go together.
    let no_scope = admin_post(&t, "/v1/admin/credentials", &serde_json::json!({"kind": "issuer", "name": "x"})).await;
    assert_eq!(no_scope.status(), StatusCode::BAD_REQUEST);
    let scoped_kiosk = admin_post(&t, "/v1/admin/credentials", &serde_json::json!({"kind": "kiosk", "name": "x", "scope": "TPE-EDU"})).await;
    assert_eq!(scoped_kiosk.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_phone_lists_its_own_certificates_only() {
    let t = TestServer::start().await;
    let session = t.session("u-lin").await;
    let mine = issue(&t, &diploma("u-lin")).await;
    issue(&t, &diploma("u-someone-else")).await;
    let entries: WalletEntries = t.authed(&session, Method::GET, "/v1/wallet/certificates").send().await.unwrap().json().await.unwrap();
    assert_eq!(entries.certificates.len(), 1);
    assert_eq!(entries.certificates[0].id, mine.id);
    assert_eq!(entries.certificates[0].qr, mine.qr);
}

#[tokio::test]
async fn pickup_codes_work_once_and_the_owner_can_revoke_them() {
    let t = TestServer::start().await;
    let session = t.session("u-wang").await;
    let cert = issue(&t, &diploma("u-wang")).await;
    let create = |ttl: Option<u32>, id: String| {
        t.authed(&session, Method::POST, "/v1/wallet/pickup-codes")
            .header(headers::IDEMPOTENCY_KEY, random_id())
            .json(&NewPickupCode { certificate_id: id, ttl_secs: ttl })
    };
    let code: PickupCode = create(None, cert.id.clone()).send().await.unwrap().json().await.unwrap();
    assert_eq!(code.code.len(), 10);
    assert!(code.code.bytes().all(|b| b.is_ascii_digit()));
    let kiosk = mint_kiosk(&t).await;
    let redeem = |c: &str| t.http.post(t.url("/v1/kiosk/pickup")).bearer_auth(&kiosk).json(&RedeemPickup { code: c.into() }).send();
    let picked: PickedUp = redeem(&code.code).await.unwrap().json().await.unwrap();
    assert_eq!(picked.qr, cert.qr);
    assert_eq!(error_of(redeem(&code.code).await.unwrap()).await, (StatusCode::NOT_FOUND, codes::PICKUP_INVALID.into()));

    let second: PickupCode = create(Some(60), cert.id.clone()).send().await.unwrap().json().await.unwrap();
    let revoke = t.authed(&session, Method::POST, "/v1/wallet/pickup-codes/revoke").json(&RevokePickup { code: second.code.clone() }).send().await.unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    assert_eq!(error_of(redeem(&second.code).await.unwrap()).await.1, codes::PICKUP_INVALID);

    // Expired: aged in the database rather than waited for.
    let third: PickupCode = create(Some(60), cert.id.clone()).send().await.unwrap().json().await.unwrap();
    t.db().execute("UPDATE wallet_pickup_codes SET expires_at_ms = 1 WHERE used_at_ms IS NULL AND revoked_at_ms IS NULL", []).unwrap();
    assert_eq!(error_of(redeem(&third.code).await.unwrap()).await.1, codes::PICKUP_INVALID);

    // Someone else's certificate, and a too-long lifetime.
    let other = issue(&t, &diploma("u-other")).await;
    assert_eq!(error_of(create(None, other.id).send().await.unwrap()).await.1, codes::UNKNOWN_CERTIFICATE);
    assert_eq!(create(Some(999_999), cert.id).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    // SQLite keeps any type in any column: the hashes must be bytes. PostgreSQL's BYTEA
    // column holds nothing else.
    let bytes_only = if common::postgres_url().is_some() { "" } else { "code_hash = CAST(code_hash AS BLOB) AND " };
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM wallet_pickup_codes WHERE {bytes_only}length(code_hash) = 32")), 3);
}

/// A pickup code's creation, with the idempotency key kept for a retry.
async fn new_code(t: &TestServer, session: &common::Session, certificate_id: &str, key: &str) -> reqwest::Response {
    t.authed(session, Method::POST, "/v1/wallet/pickup-codes")
        .header(headers::IDEMPOTENCY_KEY, key)
        .json(&NewPickupCode { certificate_id: certificate_id.into(), ttl_secs: None })
        .send()
        .await
        .unwrap()
}

/// A person with a certificate and a fresh pickup code for it.
async fn owner_with_code(t: &TestServer, user: &str) -> (common::Session, IssuedCertificate, PickupCode) {
    let session = t.session(user).await;
    let cert = issue(t, &diploma(user)).await;
    let code: PickupCode = new_code(t, &session, &cert.id, &random_id()).await.json().await.unwrap();
    (session, cert, code)
}

/// Everything the database file and its side files hold.
fn file_bytes(t: &TestServer) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(t.dir.path()).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    all
}

#[tokio::test]
async fn item5_pickup_codes_are_never_stored_in_clear_and_hashed_with_a_server_secret() {
    let t = TestServer::start().await;
    let session = t.session("u-lin").await;
    let cert = issue(&t, &diploma("u-lin")).await;
    let key = random_id();
    let first = new_code(&t, &session, &cert.id, &key).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let code: PickupCode = first.json().await.unwrap();
    // The retry still gets its code: the stored reply is sealed, not lost.
    let again = new_code(&t, &session, &cert.id, &key).await;
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.json::<PickupCode>().await.unwrap(), code);
    if common::postgres_url().is_none() {
        let bytes = file_bytes(&t);
        assert!(!bytes.windows(10).any(|w| w == code.code.as_bytes()), "the pickup code is in the database in clear");
    } else {
        // No file to search: the stored reply, where a clear code would be, is sealed.
        let clear: i64 = t.db().query_row("SELECT COUNT(*) FROM idempotency WHERE body LIKE '%' || ?1 || '%'", [&code.code], |r| r.get(0)).unwrap();
        assert_eq!(clear, 0, "the pickup code is in the stored reply in clear");
    }
    // Not a bare SHA-256 either: 10^10 of those are computed in hours.
    let stored: Vec<u8> = t.db().query_row("SELECT code_hash FROM wallet_pickup_codes", [], |r| r.get(0)).unwrap();
    assert_eq!(stored.len(), 32);
    assert_ne!(stored, ring::digest::digest(&ring::digest::SHA256, code.code.as_bytes()).as_ref());
}

#[tokio::test]
async fn revoking_a_pickup_code_keeps_it_out_of_the_url() {
    assert!(taipei_server::served_routes().iter().all(|(_, path)| !path.contains("{code}")));
    let t = TestServer::start().await;
    let (session, _, code) = owner_with_code(&t, "u-ho").await;
    let revoke = t.authed(&session, Method::POST, "/v1/wallet/pickup-codes/revoke").json(&RevokePickup { code: code.code }).send().await.unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn kiosks_need_a_credential_of_their_own() {
    let t = TestServer::start().await;
    let (_, _, code) = owner_with_code(&t, "u-kao").await;
    let body = RedeemPickup { code: code.code };
    let anonymous = t.http.post(t.url("/v1/kiosk/pickup")).json(&body).send().await.unwrap();
    assert_eq!(error_of(anonymous).await.0, StatusCode::UNAUTHORIZED);
    let admin = t.http.post(t.url("/v1/kiosk/pickup")).bearer_auth(t.server.admin_token()).json(&body).send().await.unwrap();
    assert_eq!(error_of(admin).await.0, StatusCode::UNAUTHORIZED, "the admin token is not a kiosk credential");
    let kiosk = mint_kiosk(&t).await;
    assert!(kiosk.starts_with("kiosk_"));
    let ok = t.http.post(t.url("/v1/kiosk/pickup")).bearer_auth(&kiosk).json(&body).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // Stored as a hash only; a kind the server does not know is refused.
    let hash = ring::digest::digest(&ring::digest::SHA256, kiosk.as_bytes()).as_ref().to_vec();
    let stored: i64 = t.db().query_row("SELECT COUNT(*) FROM credentials WHERE token_hash = ?1", [hash], |r| r.get(0)).unwrap();
    assert_eq!(stored, 1);
    if common::postgres_url().is_none() {
        assert!(!file_bytes(&t).windows(kiosk.len()).any(|w| w == kiosk.as_bytes()));
    }
    let bad = admin_post(&t, "/v1/admin/credentials", &serde_json::json!({"kind": "root", "name": "x"})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn item5_kiosk_lockout_after_repeated_failures_per_kiosk_and_per_code() {
    use taipei_server::wallet::pickup::{MAX_CODE_FAILURES, MAX_KIOSK_FAILURES};
    let t = TestServer::start().await;
    let session = t.session("u-chen").await;
    let cert = issue(&t, &diploma("u-chen")).await;
    let redeem = |kiosk: String, code: String| {
        let request = t.http.post(t.url("/v1/kiosk/pickup")).bearer_auth(kiosk).json(&RedeemPickup { code });
        async move { request.send().await.unwrap() }
    };
    // Per kiosk: after the limit of wrong codes, even a right one is refused.
    let guesser = mint_kiosk(&t).await;
    for i in 0..MAX_KIOSK_FAILURES {
        let response = redeem(guesser.clone(), format!("{:010}", 1_000 + i)).await;
        assert_eq!(error_of(response).await, (StatusCode::NOT_FOUND, codes::PICKUP_INVALID.into()));
    }
    let good: PickupCode = new_code(&t, &session, &cert.id, &random_id()).await.json().await.unwrap();
    assert_eq!(error_of(redeem(guesser.clone(), good.code.clone()).await).await, (StatusCode::TOO_MANY_REQUESTS, codes::PICKUP_LOCKED.into()));
    // The lockout keeps no more rows however long the flood.
    for _ in 0..20 {
        redeem(guesser.clone(), "0000000000".into()).await;
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM kiosk_failures"), MAX_KIOSK_FAILURES);
    // Another kiosk is not affected, and the good code still works there.
    let honest = mint_kiosk(&t).await;
    assert_eq!(redeem(honest.clone(), good.code).await.status(), StatusCode::OK);

    // Per code: one code tried and failed from several kiosks is locked everywhere.
    for _ in 0..MAX_CODE_FAILURES {
        let kiosk = mint_kiosk(&t).await;
        assert_eq!(redeem(kiosk, "5555555555".into()).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(error_of(redeem(honest, "5555555555".into()).await).await, (StatusCode::TOO_MANY_REQUESTS, codes::PICKUP_LOCKED.into()));
    // Failures older than the window are forgotten.
    t.db().execute("UPDATE kiosk_failures SET at_ms = 0", []).unwrap();
    let later: PickupCode = new_code(&t, &session, &cert.id, &random_id()).await.json().await.unwrap();
    assert_eq!(redeem(guesser, later.code).await.status(), StatusCode::OK);
    assert_eq!(t.count("SELECT COUNT(*) FROM kiosk_failures"), 0);
}

#[tokio::test]
async fn contracts_carry_verifiable_signatures_and_can_be_voided() {
    let t = TestServer::start().await;
    let session = t.session("u-vendor").await;
    let new = NewContract {
        user_id: "u-vendor".into(),
        title: "資訊系統維護契約".into(),
        document_sha256: "0f".repeat(32),
        parties: vec!["臺北市政府資訊局".into(), "大同資訊股份有限公司".into()],
    };
    let desk = t.mint("contracts", None).await;
    let response = t.http.post(t.url("/v1/admin/wallet/contracts")).bearer_auth(&desk).json(&new).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Contract = response.json().await.unwrap();
    let (trust, _, _) = lists(&t).await;
    let view = contract::check(&created, &trust.anchor_certificates());
    assert_eq!(view.status, ContractStatus::Valid, "{:?}", view.signatures);
    assert_eq!(view.signatures[1].subject_dn, "C=TW, O=大同資訊股份有限公司, CN=大同資訊股份有限公司");
    assert!(view.signatures[0].issuer_dn.contains("Taipei City Test CA"));

    let void = t
        .http
        .post(t.url(&format!("/v1/admin/wallet/contracts/{}/void", created.id)))
        .bearer_auth(&desk)
        .json(&serde_json::json!({"reason": "廠商解約"}))
        .send()
        .await
        .unwrap();
    assert_eq!(void.status(), StatusCode::NO_CONTENT);
    let listed: Contracts = t.authed(&session, Method::GET, "/v1/wallet/contracts").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.contracts.len(), 1);
    assert_eq!(listed.contracts[0].void_reason.as_deref(), Some("廠商解約"));
    assert_eq!(contract::check(&listed.contracts[0], &trust.anchor_certificates()).status, ContractStatus::Voided);
}

#[tokio::test]
async fn the_verifier_page_and_its_endpoint_judge_pasted_text() {
    let t = TestServer::start().await;
    let page = t.http.get(t.url("/verify")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("/v1/wallet/verify"));
    let cert = issue(&t, &diploma("u-a")).await;
    let check = |qr: String| t.http.post(t.url("/v1/wallet/verify")).json(&VerifyRequest { qr }).send();
    let v: Verdict = check(cert.qr.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(v.kind, VerdictKind::Valid);
    assert_eq!(v.issuer_name.as_deref(), Some("臺北市政府教育局 Department of Education"));
    let v: Verdict = check("hello".into()).await.unwrap().json().await.unwrap();
    assert_eq!(v.kind, VerdictKind::NotACertificate);
    let last = if cert.qr.ends_with('A') { "B" } else { "A" };
    let v: Verdict = check(format!("{}{last}", &cert.qr[..cert.qr.len() - 1])).await.unwrap().json().await.unwrap();
    assert_ne!(v.kind, VerdictKind::Valid);
    assert_eq!(check("x".repeat(10_000)).await.unwrap().status(), StatusCode::BAD_REQUEST);
}

/// A pickup code presented at two kiosks served by two server processes at once: one
/// certificate handed out, the other kiosk refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pickup_code_raced_on_two_servers_is_redeemed_once() {
    let t = TestServer::start().await;
    let twin = t.twin().await;
    picked_up_once_across(&t, [&t.server.base_url(), &twin.server.base_url()]).await;
    twin.server.shutdown().await;
}

/// The same race across two `reference-server` OS processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pickup_code_raced_on_two_processes_is_redeemed_once() {
    let (t, a, b) = common::process::three_servers().await;
    picked_up_once_across(&t, [&a.base, &b.base]).await;
}

/// Three codes, each presented four times at once, alternately at each of `bases`.
async fn picked_up_once_across(t: &TestServer, bases: [&str; 2]) {
    let kiosk = mint_kiosk(t).await;
    for n in 0..3 {
        let (_, _, code) = owner_with_code(t, &format!("u-race{n}")).await;
        let sends = (0..4).map(|i| {
            t.http.post(format!("{}/v1/kiosk/pickup", bases[i % 2])).bearer_auth(&kiosk).json(&RedeemPickup { code: code.code.clone() }).send()
        });
        let statuses: Vec<StatusCode> = futures::future::join_all(sends).await.into_iter().map(|r| r.unwrap().status()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM wallet_pickup_codes WHERE used_at_ms IS NOT NULL"), 3);
}
