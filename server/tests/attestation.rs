//! Key attestation: public sample attestations (see `fixtures/attestation/README.md`)
//! verified by the reference verifier, each check failing on its own, and the hook
//! wired into device binding.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use base64::Engine as _;
use common::{Phone, TestServer, random_id};
use reqwest::StatusCode;
use taipei_protocol::api::{Assurance, AssuranceBasis, DeviceRegistered};
use taipei_protocol::b64;
use taipei_server::attestation::android::AndroidKeyAttestation;
use taipei_server::attestation::apple::AppAttest;
use taipei_server::attestation::{AttestationError, Attested, Evidence, KeyAttestation, PlatformAttestation, pem_certificates};

const ANDROID_CHAIN: &str = include_str!("fixtures/attestation/android_key_chain.pem");
/// 2023-03-01: within the sample chain's intermediates' validity.
const ANDROID_AT: u64 = 1_677_628_800;
const ANDROID_KEY_HEX: &str = "04e5124f3517ad9f4ae5b9fbea1a589bb365b814a2f129169d2e080f2d00b7c2793b64b522bad5c529f3ab0c548f65171be8e90a539de4da467dd59206837ae5d8";

const APPLE_OBJECT: &str = include_str!("fixtures/attestation/apple_app_attest_ios14.4.b64");
const APPLE_APP_ID: &str = "6MURL8TA57.de.vincent-haupert.apple-appattest-poc";
/// 2021-01-23T12:13:33Z, when the sample was made.
const APPLE_AT: u64 = 1_611_404_013;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn android_statement() -> String {
    let chain: Vec<String> = pem_certificates(ANDROID_CHAIN).iter().map(|der| b64::encode(der)).collect();
    format!("android-key:{}", chain.join("."))
}

fn android(challenge: &[u8], key: &[u8], at_secs: u64, verifier: &AndroidKeyAttestation) -> Result<Attested, AttestationError> {
    let statement = android_statement();
    let chain = statement.strip_prefix("android-key:").unwrap();
    verifier.verify(chain, &Evidence { statement: &statement, challenge, client_data: b"", public_key: key, at_secs })
}

fn apple_statement() -> String {
    let der = base64::engine::general_purpose::STANDARD.decode(APPLE_OBJECT.trim()).unwrap();
    format!("apple-appattest:{}", b64::encode(&der))
}

fn apple(client_data: &[u8], at_secs: u64, verifier: &AppAttest) -> Result<Attested, AttestationError> {
    let statement = apple_statement();
    let object = statement.strip_prefix("apple-appattest:").unwrap();
    verifier.verify(object, &Evidence { statement: &statement, challenge: b"", client_data, public_key: b"", at_secs })
}

#[test]
fn item12_android_sample_verifies_to_googles_root_with_its_challenge_and_key() {
    let key = hex(ANDROID_KEY_HEX);
    let attested = android(b"challenge", &key, ANDROID_AT, &AndroidKeyAttestation::google()).unwrap();
    assert_eq!(attested.assurance, Assurance::Hardware, "TrustedEnvironment → hardware");
    assert_eq!(attested.detail, "attestation v200 keymint v200 TrustedEnvironment");
    // Through the hook, the prefix picks the platform.
    let hook = PlatformAttestation::default();
    let statement = android_statement();
    let evidence = Evidence { statement: &statement, challenge: b"challenge", client_data: b"", public_key: &key, at_secs: ANDROID_AT };
    assert_eq!(hook.verify(&evidence).unwrap().format, "android-key");
}

#[test]
fn item12_android_refuses_wrong_challenge_wrong_key_unknown_root_expiry_and_revocation() {
    let key = hex(ANDROID_KEY_HEX);
    let google = AndroidKeyAttestation::google();
    assert_eq!(android(b"another binding", &key, ANDROID_AT, &google), Err(AttestationError::Challenge));
    let mut other_key = key.clone();
    other_key[10] ^= 1;
    assert_eq!(android(b"challenge", &other_key, ANDROID_AT, &google), Err(AttestationError::WrongKey));
    // Apple's root is not an Android root: the chain leads nowhere trusted.
    let apple_root = pem_certificates(include_str!("../src/attestation/apple_app_attestation_root_ca.pem"));
    let wrong_root = android(b"challenge", &key, ANDROID_AT, &AndroidKeyAttestation::with_roots(apple_root));
    assert!(matches!(&wrong_root, Err(AttestationError::Chain(m)) if m.contains("trusted attestation root")), "{wrong_root:?}");
    // Today the sample's intermediates (valid until March 2023) have expired.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expired = android(b"challenge", &key, now, &google);
    assert!(matches!(&expired, Err(AttestationError::Chain(m)) if m.contains("expired")), "{expired:?}");
    // Google's status list naming the TEE's certificate revokes the chain.
    let status = r#"{"entries": {"d05facf443ed535548d994f6845e6d3c": {"status": "REVOKED", "reason": "KEY_COMPROMISE"}, "2c8cdddfd5e03bfc": {"status": "SUSPENDED"}}}"#;
    let revoked = android(b"challenge", &key, ANDROID_AT, &AndroidKeyAttestation::google().with_status_list(status).unwrap());
    assert_eq!(revoked, Err(AttestationError::Revoked("d05facf443ed535548d994f6845e6d3c".into())));
    // A list that does not name it changes nothing; an unreadable one is refused.
    let clean = AndroidKeyAttestation::google().with_status_list(r#"{"entries": {"2c8cdddfd5e03bfc": {"status": "REVOKED"}}}"#).unwrap();
    assert!(android(b"challenge", &key, ANDROID_AT, &clean).is_ok());
    assert!(AndroidKeyAttestation::google().with_status_list("[]").is_err());
    // A mangled chain is a format error, not a panic.
    let evidence = Evidence { statement: "android-key:@@@", challenge: b"", client_data: b"", public_key: &key, at_secs: ANDROID_AT };
    assert!(matches!(PlatformAttestation::default().verify(&evidence), Err(AttestationError::Format(_))));
}

#[test]
fn item12_apple_sample_verifies_to_apples_root_with_its_nonce_app_and_environment() {
    let verifier = AppAttest::apple(vec![APPLE_APP_ID.into()], true);
    let attested = apple(b"wurzelpfropf", APPLE_AT, &verifier).unwrap();
    assert_eq!(attested.assurance, Assurance::Hardware);
    assert_eq!(attested.detail, "App Attest development");
}

#[test]
fn item12_apple_refuses_wrong_client_data_other_apps_development_unknown_root_and_expiry() {
    let verifier = AppAttest::apple(vec![APPLE_APP_ID.into()], true);
    assert_eq!(apple(b"another binding", APPLE_AT, &verifier), Err(AttestationError::Challenge));
    let other_app = apple(b"wurzelpfropf", APPLE_AT, &AppAttest::apple(vec!["TEAM.tw.gov.taipei.pass".into()], true));
    assert!(matches!(other_app, Err(AttestationError::Policy(_))), "{other_app:?}");
    let production_only = apple(b"wurzelpfropf", APPLE_AT, &AppAttest::apple(vec![APPLE_APP_ID.into()], false));
    assert!(matches!(&production_only, Err(AttestationError::Policy(m)) if m.contains("development")), "{production_only:?}");
    let google_root = pem_certificates(include_str!("../src/attestation/google_hardware_attestation_root.pem"));
    let wrong_root = apple(b"wurzelpfropf", APPLE_AT, &AppAttest::with_roots(google_root, vec![APPLE_APP_ID.into()], true));
    assert!(matches!(&wrong_root, Err(AttestationError::Chain(m)) if m.contains("trusted attestation root")), "{wrong_root:?}");
    // The credential certificate lived three days in January 2021.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expired = apple(b"wurzelpfropf", now, &verifier);
    assert!(matches!(&expired, Err(AttestationError::Chain(m)) if m.contains("expired")), "{expired:?}");
    // The default verifier names no app: App Attest fails closed.
    let statement = apple_statement();
    let evidence = Evidence { statement: &statement, challenge: b"", client_data: b"wurzelpfropf", public_key: b"", at_secs: APPLE_AT };
    assert!(matches!(PlatformAttestation::default().verify(&evidence), Err(AttestationError::Policy(_))));
    // Not CBOR at all.
    let evidence = Evidence { statement: "apple-appattest:AAAA", ..evidence };
    assert!(matches!(PlatformAttestation::default().verify(&evidence), Err(AttestationError::Format(_))));
}

async fn register(t: &TestServer, attestation: Option<String>, assurance: Assurance) -> (DeviceRegistered, String) {
    let phone = Phone::new();
    let offer = t.offer_for("u-attest").await;
    let mut registration = phone.registration(&offer);
    registration.attestation = attestation;
    registration.assurance = assurance;
    let response = t.register(&registration).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let registered: DeviceRegistered = response.json().await.unwrap();
    let basis: String = t.db().query_row("SELECT assurance_basis FROM devices WHERE device_id = ?1", [&registered.device_id], |r| r.get(0)).unwrap();
    (registered, basis)
}

#[tokio::test]
async fn item12_binding_records_assurance_as_claimed_unless_an_attestation_verifies() {
    let t = TestServer::start().await;
    // No attestation: the phone's word, recorded as such.
    let (registered, basis) = register(&t, None, Assurance::Strongbox).await;
    assert_eq!((registered.assurance, registered.assurance_basis, basis.as_str()), (Assurance::Strongbox, AssuranceBasis::Claimed, "claimed"));
    assert_eq!(t.audit_count("device.attestation", "IS NOT NULL"), 0);
    // A genuine chain that is not for this binding (another challenge, another key,
    // long expired): bound all the same, as claimed, and written down.
    let (registered, basis) = register(&t, Some(android_statement()), Assurance::Hardware).await;
    assert_eq!((registered.assurance_basis, basis.as_str()), (AssuranceBasis::Claimed, "claimed"));
    assert_eq!(t.audit_count("device.attestation", "LIKE 'refused: attestation chain:%claimed hardware'"), 1);
    let (_, basis) = register(&t, Some("sms:trust-me".into()), Assurance::Hardware).await;
    assert_eq!(basis, "claimed");
    assert_eq!(t.audit_count("device.attestation", "LIKE 'refused: attestation format:%'"), 1);
    // /v1/me tells the device which it is.
    let session = t.session("u-me").await;
    let me: taipei_protocol::api::Me = t.authed(&session, reqwest::Method::GET, "/v1/me").send().await.unwrap().json().await.unwrap();
    assert_eq!(me.assurance_basis, AssuranceBasis::Claimed);
}

/// A verifier standing in for a platform service: it checks that it is shown this
/// binding's challenge and key, and attests StrongBox.
#[derive(Debug)]
struct ChecksItsEvidence;

impl KeyAttestation for ChecksItsEvidence {
    fn verify(&self, evidence: &Evidence<'_>) -> Result<Attested, AttestationError> {
        let key = evidence.statement.strip_prefix("test:").ok_or(AttestationError::Format("test:".into()))?;
        if b64::decode(key).ok().as_deref() != Some(evidence.public_key) {
            return Err(AttestationError::WrongKey);
        }
        if evidence.challenge.len() != 16 || evidence.client_data.is_empty() {
            return Err(AttestationError::Challenge);
        }
        Ok(Attested { format: "test", assurance: Assurance::Strongbox, detail: "stand-in".into() })
    }
}

#[tokio::test]
async fn item12_the_verifier_is_swappable_and_a_verified_one_sets_the_recorded_assurance() {
    let t = TestServer::start_with(|c| c.attestation = Arc::new(ChecksItsEvidence)).await;
    let phone = Phone::new();
    let offer = t.offer_for("u-swap").await;
    let mut registration = phone.registration(&offer);
    registration.attestation = Some(format!("test:{}", registration.public_key));
    registration.assurance = Assurance::Software;
    let response = t.register(&registration).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let registered: DeviceRegistered = response.json().await.unwrap();
    // The attested level wins over the phone's (lower) claim.
    assert_eq!((registered.assurance, registered.assurance_basis), (Assurance::Strongbox, AssuranceBasis::Attested));
    let detail: String = t.db().query_row("SELECT attestation_detail FROM devices WHERE device_id = ?1", [&registered.device_id], |r| r.get(0)).unwrap();
    assert_eq!(detail, "test: stand-in");
    // Another phone's key in the attestation: claimed.
    let offer = t.offer_for("u-swap2").await;
    let mut registration = Phone::new().registration(&offer);
    registration.attestation = Some(format!("test:{}", phone.registration(&offer).public_key));
    let response = t.post_json("/v1/devices", &registration, Some(&random_id())).await;
    let registered: DeviceRegistered = response.json().await.unwrap();
    assert_eq!(registered.assurance_basis, AssuranceBasis::Claimed);
    assert_eq!(t.audit_count("device.attestation", "LIKE 'refused: the attested key%'"), 1);
}
