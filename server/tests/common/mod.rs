//! Test-side phone: a software P-256 key (ring), DPoP proofs, and a started server on
//! loopback with its SQLite file in a temp dir.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

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

pub fn db_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("server.sqlite")
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

    /// Audit entries of `action` whose outcome matches the SQL condition `outcome`: rows
    /// of the log plus the per-minute counts of anonymous refusals.
    pub fn audit_count(&self, action: &str, outcome: &str) -> i64 {
        self.count(&format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND outcome {outcome}"))
            + self.count(&format!(
                "SELECT COALESCE(SUM(count), 0) FROM audit_refusals WHERE action = '{action}' AND outcome {outcome}"
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
        let url = self.url(path);
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

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(db_path(&self.dir)).unwrap()
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
