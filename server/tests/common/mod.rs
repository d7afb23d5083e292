//! Test-side phone: a software P-256 key (ring), DPoP proofs, and a started server on
//! loopback with its SQLite file in a temp dir — or, when `TAIPEI_TEST_DATABASE_URL`
//! names a PostgreSQL server (`postgres://user@host:port/maintenance_db`), with a fresh
//! database of its own there, named after the temp dir.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod process;

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::{Method, Response, StatusCode};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde::Serialize;
use taipei_protocol::api::{
    AccessToken, Assurance, BindingOffer, ErrorBody, NewBinding, NewReport, RegisterDevice, headers,
};
use taipei_protocol::binding::BindingQr;
use taipei_protocol::dpop::{self, Claims};
use taipei_protocol::ecdsa::PublicKey;
use taipei_protocol::{b64, signed};
use taipei_server::db::{Conn, Params, Result as DbResult, Row, Value};
use taipei_server::{RunningServer, ServerConfig};

pub fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn random_id() -> String {
    let mut b = [0u8; 16];
    SystemRandom::new().fill(&mut b).unwrap();
    b64::encode(b)
}

pub struct Phone {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    pub public: PublicKey,
}

impl Phone {
    pub fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = PublicKey::from_sec1(pair.public_key().as_ref()).unwrap();
        Self { pair, rng, public }
    }

    pub fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.pair
            .sign(&self.rng, message)
            .unwrap()
            .as_ref()
            .try_into()
            .unwrap()
    }

    pub fn sign(&self, message: &[u8]) -> String {
        b64::encode(self.sign_raw(message))
    }

    pub fn proof_for(&self, claims: &Claims) -> String {
        let input = dpop::signing_input(&self.public, claims);
        dpop::assemble(&input, &self.sign_raw(input.as_bytes()))
    }

    /// A fresh proof for `method url`, optionally bound to an access token.
    pub fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        self.proof_for(&self.claims(method, url, token))
    }

    pub fn claims(&self, method: &str, url: &str, token: Option<&str>) -> Claims {
        Claims {
            jti: random_id(),
            htm: method.into(),
            htu: url.into(),
            iat: now_s(),
            ath: token.map(dpop::token_hash),
        }
    }

    pub fn registration(&self, offer: &BindingOffer) -> RegisterDevice {
        let qr = BindingQr::decode(&offer.qr).unwrap();
        let message = signed::binding_message(&qr.bid, &qr.bnonce, self.public.as_bytes());
        RegisterDevice {
            bid: offer.bid.clone(),
            public_key: b64::encode(self.public.as_bytes()),
            assurance: Assurance::Software,
            attestation: None,
            device_name: "Test phone".into(),
            signature: self.sign(&message),
        }
    }
}

/// A phone with a registered device and a live token.
pub struct Session {
    pub phone: Phone,
    pub device_id: String,
    pub token: String,
}

/// A signed problem report of `session`'s device (`POST /v1/reports`).
pub fn report(session: &Session, text: &str) -> NewReport {
    let (kind, client_time_ms) = ("suspicious_login", 1_700_000_000_000);
    let message = signed::report_message(&session.device_id, kind, text, client_time_ms);
    NewReport {
        kind: kind.into(),
        text: text.into(),
        client_time_ms,
        signature: session.phone.sign(&message),
    }
}

pub struct TestServer {
    pub server: RunningServer,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

pub fn http_client() -> reqwest::Client {
    // reqwest is built without a TLS provider; plain http to loopback still wants one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

/// The KEK of every [`TestServer`], so a test can open what the server sealed (as
/// only its operator could).
pub fn kek() -> taipei_server::sealing::Kek {
    static KEK: std::sync::OnceLock<taipei_server::sealing::Kek> = std::sync::OnceLock::new();
    KEK.get_or_init(|| std::sync::Arc::new(taipei_server::sealing::LocalKek::generate().unwrap())).clone()
}

/// The PostgreSQL server the suite runs against, if one was named.
pub fn postgres_url() -> Option<String> {
    std::env::var("TAIPEI_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// True (after saying so) when the suite runs on PostgreSQL and `what` is about the
/// SQLite file itself (its bytes, its backup API, its pragmas): such a test has nothing
/// to check there.
pub fn sqlite_only(what: &str) -> bool {
    let pg = postgres_url().is_some();
    if pg {
        eprintln!("not on PostgreSQL: {what} is about the SQLite file");
    }
    pg
}

/// True (after saying so) when the suite runs on SQLite and `what` needs PostgreSQL
/// (several processes sharing state the SQLite build keeps in memory, or PostgreSQL's
/// own views and locks).
pub fn postgres_only(what: &str) -> bool {
    let sqlite = postgres_url().is_none();
    if sqlite {
        eprintln!("only on PostgreSQL: {what}");
    }
    sqlite
}

/// Runs blocking database work off the async runtime (the synchronous PostgreSQL
/// client refuses to run on one).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

/// A database of its own for `dir`, created on first use: the same name for the same
/// dir, so a test that restarts its server finds its data again.
fn postgres_database(admin_url: &str, dir: &std::path::Path) -> String {
    let tag: String = dir.file_name().unwrap().to_string_lossy().bytes().map(|b| format!("{b:02x}")).collect();
    let name = format!("taipei_test_{tag}");
    let (base, _) = admin_url.rsplit_once('/').expect("TAIPEI_TEST_DATABASE_URL ends in /database");
    off_runtime(|| {
        let mut admin = postgres::Client::connect(admin_url, postgres::NoTls).expect("TAIPEI_TEST_DATABASE_URL is reachable");
        let exists = admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).unwrap().is_some();
        if !exists {
            if let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {name}")) {
                // Created meanwhile by another thread of the same test: fine.
                assert_eq!(e.code(), Some(&postgres::error::SqlState::DUPLICATE_DATABASE), "{e}");
            }
        }
    });
    format!("{base}/{name}")
}

/// Where the server of `dir` keeps its data: a SQLite file in it, or a PostgreSQL
/// database named after it.
pub fn db_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    match postgres_url() {
        Some(url) => postgres_database(&url, dir.path()).into(),
        None => dir.path().join("server.sqlite"),
    }
}

/// Opens the database of `dir` as a second handle beside the server's.
pub async fn open_db(dir: &tempfile::TempDir) -> taipei_server::db::Db {
    let location = db_path(dir);
    tokio::task::spawn_blocking(move || taipei_server::db::Db::open(&location)).await.unwrap().unwrap()
}

/// A test's own look into the server's database, on either engine: each call is one
/// transaction on a connection of its own.
pub struct TestDb {
    location: std::path::PathBuf,
}

/// [`TestDb`] on the database of `dir`, with no server running.
pub fn test_db(dir: &tempfile::TempDir) -> TestDb {
    TestDb { location: db_path(dir) }
}

impl TestDb {
    pub fn with<T: Send>(&self, f: impl FnOnce(&Conn<'_>) -> DbResult<T> + Send) -> DbResult<T> {
        off_runtime(|| taipei_server::db::with_conn(&self.location, f))
    }

    fn rows(&self, sql: &str, params: Vec<Value>) -> DbResult<Vec<Row>> {
        self.with(|c| c.query_all(sql, params))
    }

    pub fn query_row<T>(&self, sql: &str, params: impl Params, f: impl FnOnce(&Row) -> DbResult<T>) -> DbResult<T> {
        self.rows(sql, params.into_values())?.first().map_or(Err(taipei_server::db::Error::NoRows), f)
    }

    pub fn execute(&self, sql: &str, params: impl Params) -> DbResult<usize> {
        let params = params.into_values();
        self.with(|c| c.execute(sql, params))
    }

    pub fn prepare<'s>(&self, sql: &'s str) -> DbResult<TestStmt<'_, 's>> {
        Ok(TestStmt { db: self, sql })
    }

    /// Sets the schema version the server reads, as a newer release would leave it.
    pub fn set_schema_version(&self, version: i64) {
        self.with(|c| {
            if c.is_postgres() {
                c.execute("DELETE FROM schema_version", [])?;
                c.execute("INSERT INTO schema_version (version) VALUES (?1)", [version])?;
            } else {
                c.execute_batch(&format!("PRAGMA user_version = {version}"))?;
            }
            Ok(())
        })
        .unwrap();
    }
}

pub struct TestStmt<'d, 's> {
    db: &'d TestDb,
    sql: &'s str,
}

impl TestStmt<'_, '_> {
    pub fn query_map<T>(&mut self, params: impl Params, f: impl FnMut(&Row) -> DbResult<T>) -> DbResult<std::vec::IntoIter<DbResult<T>>> {
        Ok(self.db.rows(self.sql, params.into_values())?.iter().map(f).collect::<Vec<_>>().into_iter())
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::embedded(db_path(&dir));
        config.kek = kek();
        adjust(&mut config);
        let server = taipei_server::start(config).await.unwrap();
        Self {
            server,
            http: http_client(),
            dir,
        }
    }

    /// A second server on this one's database — as a second process behind the same load
    /// balancer would be: its own connections, caches and background tasks, the same
    /// admin token and key-encryption key. Its `db()` is not the shared database: look
    /// through the first server's.
    pub async fn twin(&self) -> TestServer {
        let mut config = ServerConfig::embedded(db_path(&self.dir));
        config.kek = kek();
        config.admin_token = self.server.admin_token().to_owned();
        TestServer { server: taipei_server::start(config).await.unwrap(), http: http_client(), dir: tempfile::tempdir().unwrap() }
    }

    /// Audit entries of `action` whose outcome matches the SQL condition `outcome`: rows
    /// of the log plus the per-minute counts of anonymous refusals.
    pub fn audit_count(&self, action: &str, outcome: &str) -> i64 {
        self.count(&format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND outcome {outcome}"))
            + self.count(&format!(
                "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM audit_refusals WHERE action = '{action}' AND outcome {outcome}"
            ))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// A credential of `kind` (an issuer's agency as `scope`), minted with the admin token.
    pub async fn mint(&self, kind: &str, scope: Option<&str>) -> String {
        let body = serde_json::json!({"kind": kind, "name": format!("test {kind}"), "scope": scope});
        let response = self.http.post(self.url("/v1/admin/credentials")).bearer_auth(self.server.admin_token()).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "minting a {kind} credential");
        let minted: taipei_protocol::api::MintedCredential = response.json().await.unwrap();
        minted.token
    }

    /// The portal's credential for this server and database, minted once.
    pub async fn portal_token(&self) -> String {
        static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
        let base = format!("{} {}", self.server.base_url(), self.dir.path().display());
        if let Some((_, token)) = TOKENS.lock().unwrap().iter().find(|(b, _)| *b == base) {
            return token.clone();
        }
        let token = self.mint("portal", None).await;
        TOKENS.lock().unwrap().push((base, token.clone()));
        token
    }

    pub async fn offer_for(&self, user_id: &str) -> BindingOffer {
        let response = self
            .http
            .post(self.url("/v1/portal/bindings"))
            .bearer_auth(self.portal_token().await)
            .json(&NewBinding {
                user_id: user_id.into(),
                display_name: format!("Name of {user_id}"),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &impl Serialize,
        idempotency_key: Option<&str>,
    ) -> Response {
        let mut request = self.http.post(self.url(path)).json(body);
        if let Some(key) = idempotency_key {
            request = request.header(headers::IDEMPOTENCY_KEY, key);
        }
        request.send().await.unwrap()
    }

    pub async fn register(&self, registration: &RegisterDevice) -> Response {
        self.post_json("/v1/devices", registration, Some(&random_id()))
            .await
    }

    /// Offer + registration; returns the phone and its device id.
    pub async fn enroll(&self, user_id: &str) -> (Phone, String) {
        let phone = Phone::new();
        let offer = self.offer_for(user_id).await;
        let response = self.register(&phone.registration(&offer)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let registered: taipei_protocol::api::DeviceRegistered = response.json().await.unwrap();
        (phone, registered.device_id)
    }

    pub async fn token_with_proof(&self, device_id: &str, proof: &str) -> Response {
        self.http
            .post(self.url("/v1/token"))
            .header(headers::DPOP, proof)
            .json(&taipei_protocol::api::TokenRequest {
                device_id: device_id.into(),
            })
            .send()
            .await
            .unwrap()
    }

    pub async fn token(&self, phone: &Phone, device_id: &str) -> Response {
        let proof = phone.proof("POST", &self.url("/v1/token"), None);
        self.token_with_proof(device_id, &proof).await
    }

    pub async fn session(&self, user_id: &str) -> Session {
        let (phone, device_id) = self.enroll(user_id).await;
        let response = self.token(&phone, &device_id).await;
        assert_eq!(response.status(), StatusCode::OK);
        let token: AccessToken = response.json().await.unwrap();
        Session {
            phone,
            device_id,
            token: token.access_token,
        }
    }

    /// An authenticated request with a fresh, correct proof.
    pub fn authed(&self, session: &Session, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.authed_at(&self.server.base_url(), session, method, path)
    }

    /// [`Self::authed`] sent to another server on this one's database (`base` is its
    /// `http://host:port`).
    pub fn authed_at(&self, base: &str, session: &Session, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{base}{path}");
        let proof = session
            .phone
            .proof(method.as_str(), &url, Some(&session.token));
        self.with_auth(self.http.request(method, url), &session.token, &proof)
    }

    pub fn with_auth(
        &self,
        request: reqwest::RequestBuilder,
        token: &str,
        proof: &str,
    ) -> reqwest::RequestBuilder {
        request
            .header(headers::AUTHORIZATION, format!("DPoP {token}"))
            .header(headers::DPOP, proof)
    }

    pub fn db(&self) -> TestDb {
        TestDb { location: db_path(&self.dir) }
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// Status and error code of an error reply; also checks the server clock header.
pub async fn error_of(response: Response) -> (StatusCode, String) {
    assert!(
        response.headers().contains_key(headers::SERVER_TIME_MS),
        "missing server time header"
    );
    let status = response.status();
    let body: ErrorBody = response
        .json()
        .await
        .expect("error replies are ErrorBody JSON");
    assert!(!body.message.is_empty());
    (status, body.code)
}

/// Eight copies of one report under one key, sent at once and spread over the servers
/// at `bases` (all on `t`'s database): every copy gets the same receipt, the work is
/// done once.
pub async fn duplicates_do_the_work_once(t: &TestServer, bases: &[String], user: &str) {
    let session = t.session(user).await;
    let body = report(&session, "sent eight times at once");
    let key = random_id();
    // Each copy carries its own fresh proof, as a retrying phone's would.
    let sends = (0..8).map(|i| {
        let url = format!("{}/v1/reports", bases[i % bases.len()]);
        let proof = session.phone.proof("POST", &url, Some(&session.token));
        t.with_auth(t.http.post(url), &session.token, &proof).header(headers::IDEMPOTENCY_KEY, &key).json(&body).send()
    });
    let mut receipts = Vec::new();
    for response in futures::future::join_all(sends).await {
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        receipts.push(response.json::<taipei_protocol::api::Receipt>().await.unwrap());
    }
    assert!(receipts.iter().all(|r| *r == receipts[0]));
    assert_eq!(t.count("SELECT COUNT(*) FROM reports"), 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log WHERE action = 'report.file'"), 1);
}

/// One DPoP proof sent six times at once, spread over the servers at `bases`: the
/// replay cache is the shared database, so exactly one copy is accepted (three rounds).
pub async fn a_proof_is_accepted_once_across(t: &TestServer, bases: &[String], user: &str) {
    let session = t.session(user).await;
    for _ in 0..3 {
        let proof = session.phone.proof("GET", &format!("{}/v1/me", bases[0]), Some(&session.token));
        let sends = (0..6).map(|i| t.with_auth(t.http.get(format!("{}/v1/me", bases[i % bases.len()])), &session.token, &proof).send());
        let statuses: Vec<StatusCode> = futures::future::join_all(sends).await.into_iter().map(|r| r.unwrap().status()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    }
}
