//! RFC 8291 Appendix A, read from `../shared/testdata/webpush` (or `$TAIPEI_TESTDATA`):
//! the body decrypts to the example's plaintext, and sealing with the example's keys
//! and salt reproduces the body byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on broken data


use std::path::PathBuf;

use taipei_protocol::b64;
use taipei_protocol::push::encryption::{self, SALT_LEN};

fn vector() -> Option<serde_json::Value> {
    let root = std::env::var_os("TAIPEI_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"));
    let path = root.join("webpush/rfc8291-appendix-a.json");
    match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("the vector file is JSON")),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("RFC 8291 vector missing at {} under CI: {e}", path.display())
        }
        Err(_) => {
            println!("SKIPPED: the RFC 8291 vector is absent ({}); set TAIPEI_TESTDATA", path.display());
            None
        }
    }
}

fn field(v: &serde_json::Value, name: &str) -> Vec<u8> {
    b64::decode(v[name].as_str().unwrap_or_else(|| panic!("vector has {name}"))).expect("base64url")
}

fn ecdh(private: &[u8], public: &[u8]) -> Vec<u8> {
    let secret = p256::SecretKey::from_slice(private).expect("a P-256 scalar");
    let public = p256::PublicKey::from_sec1_bytes(public).expect("a P-256 point");
    p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine()).raw_secret_bytes().to_vec()
}

#[test]
fn appendix_a_decrypts_and_reseals_byte_for_byte() {
    let Some(v) = vector() else { return };
    let (body, auth) = (field(&v, "body"), field(&v, "auth_secret"));
    let (ua_public, as_public) = (field(&v, "ua_public"), field(&v, "as_public"));
    let plaintext = v["plaintext"].as_str().expect("plaintext").as_bytes();

    let envelope = encryption::parse(&body).expect("the example parses");
    assert_eq!(envelope.sender_public, &as_public[..]);
    assert_eq!(envelope.record_size, v["record_size"].as_u64().expect("record_size") as u32);
    let receiver_secret = ecdh(&field(&v, "ua_private"), envelope.sender_public);
    assert_eq!(encryption::open(&envelope, &receiver_secret, &ua_public, &auth).unwrap(), plaintext);

    let sender_secret = ecdh(&field(&v, "as_private"), &ua_public);
    assert_eq!(sender_secret, receiver_secret);
    let salt: [u8; SALT_LEN] = field(&v, "salt").try_into().expect("16-byte salt");
    let resealed = encryption::seal_with(plaintext, &sender_secret, &as_public, &ua_public, &auth, &salt, 0).unwrap();
    assert_eq!(resealed, body);

    // Another subscription's auth secret: the same body no longer opens.
    let mut other_auth = auth.clone();
    other_auth[0] ^= 1;
    assert_eq!(
        encryption::open(&envelope, &receiver_secret, &ua_public, &other_auth),
        Err(encryption::WebPushError::Undecryptable)
    );
}

#[test]
fn a_message_sealed_by_the_server_opens_with_the_stored_key() {
    use ring::rand::{SecureRandom, SystemRandom};
    let rng = SystemRandom::new();
    let mut scalar = [0u8; 32];
    rng.fill(&mut scalar).unwrap();
    let private = p256::SecretKey::from_slice(&scalar).expect("a random scalar is valid");
    let public = private.public_key().to_sec1_bytes();
    let auth = [3u8; 16];
    let body = encryption::seal(b"{\"type\":\"approval\"}", &public, &auth, 32, &rng).unwrap();
    assert!(body.len() <= encryption::MAX_BODY_LEN);
    let envelope = encryption::parse(&body).unwrap();
    let secret = ecdh(&scalar, envelope.sender_public);
    assert_eq!(encryption::open(&envelope, &secret, &public, &auth).unwrap(), b"{\"type\":\"approval\"}");
}
