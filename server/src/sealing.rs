//! Server keys at rest: every private or secret key the server keeps in SQLite (the
//! root, CA and issuer signing keys, Eddystone-EID identity keys, meeting HMAC keys,
//! the pickup-code HMAC key, idempotent replies that carry a secret) is sealed under
//! a key-encryption key (KEK) the operator supplies. A copy of the database file alone
//! yields no key.
//!
//! The KEK sits behind [`KeyEncryptionKey`], so an HSM or a cloud KMS can take the
//! place of [`LocalKek`] (AES-256-GCM with ring, the key from a file or an environment
//! variable) without touching the code that stores keys.
//!
//! Every sealed value is bound to a label naming its place (`wallet_keys/root`,
//! `meetings/<mid>`, …) as associated data, so a sealed value copied into another row
//! does not open there.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use taipei_protocol::b64;

use crate::error::ApiError;
use crate::random;

/// The environment variable [`LocalKek::from_env_or_file`] reads first (base64 of 32 bytes).
pub const KEK_ENV: &str = "TAIPEI_SERVER_KEK";

/// First byte of a value sealed by [`LocalKek`]: the format, so a later one can differ.
const LOCAL_V1: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("a sealed value does not open under this key-encryption key (wrong KEK, or the value was moved or altered)")]
    Open,
    #[error("sealing failed")]
    Seal,
    #[error("the key-encryption key is unusable: {0}")]
    BadKey(String),
}

impl From<SealError> for ApiError {
    fn from(e: SealError) -> Self {
        ApiError::internal(e.to_string())
    }
}

/// What seals and opens server keys. Implementations must be authenticated encryption
/// bound to `label`, and their Debug must not print key material.
pub trait KeyEncryptionKey: fmt::Debug + Send + Sync + 'static {
    fn seal(&self, label: &str, plain: &[u8]) -> Result<Vec<u8>, SealError>;
    fn open(&self, label: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError>;
}

/// The KEK as the server holds it.
pub type Kek = Arc<dyn KeyEncryptionKey>;

/// AES-256-GCM under a 32-byte key held in memory; a random 96-bit nonce per value
/// (`version ‖ nonce ‖ ciphertext ‖ tag`).
pub struct LocalKek {
    key: LessSafeKey,
}

// The key must never reach a log line.
impl fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKek(<redacted>)")
    }
}

impl LocalKek {
    pub fn from_bytes(key: &[u8; 32]) -> Result<Self, SealError> {
        let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SealError::BadKey("not an AES-256 key".into()))?;
        Ok(Self { key: LessSafeKey::new(key) })
    }

    /// A fresh random KEK: for tests and the demo, whose databases live as long as the process.
    pub fn generate() -> Result<Self, SealError> {
        let key = random::bytes::<32>().map_err(|_| SealError::BadKey("no randomness".into()))?;
        Self::from_bytes(&key)
    }

    /// From base64url (no padding) of exactly 32 bytes; surrounding whitespace is ignored.
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let bytes = b64::decode(text.trim()).map_err(|_| SealError::BadKey("not base64".into()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SealError::BadKey("must be 32 bytes (base64 of 32 random bytes)".into()))?;
        Self::from_bytes(&key)
    }

    /// The base64 text of a new random KEK, for an operator to store.
    pub fn new_base64() -> Result<String, SealError> {
        let key = random::bytes::<32>().map_err(|_| SealError::BadKey("no randomness".into()))?;
        Ok(b64::encode(key))
    }

    /// `$TAIPEI_SERVER_KEK` if set, else the file at `path`.
    pub fn from_env_or_file(path: &Path) -> Result<Self, SealError> {
        match std::env::var(KEK_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::from_base64(&text),
            _ => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| SealError::BadKey(format!("cannot read {}: {e}", path.display())))?;
                Self::from_base64(&text)
            }
        }
    }
}

impl KeyEncryptionKey for LocalKek {
    fn seal(&self, label: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce = random::bytes::<NONCE_LEN>().map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plain.len() + AES_256_GCM.tag_len());
        out.push(LOCAL_V1);
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(label.as_bytes()), &mut body)
            .map_err(|_| SealError::Seal)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn open(&self, label: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Open)?;
        if version != LOCAL_V1 || rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Open);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut body = body.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(label.as_bytes()), &mut body).map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

/// A random server secret of 32 bytes kept sealed in `server_secrets` under `name`,
/// made on first use. For HMAC keys the server needs but nobody else ever sees.
pub fn server_secret(tx: &crate::db::Conn<'_>, kek: &Kek, name: &str) -> Result<Vec<u8>, ApiError> {
    use crate::db::OptionalExtension as _;
    let label = format!("server_secrets/{name}");
    let stored: Option<Vec<u8>> =
        tx.query_row("SELECT sealed FROM server_secrets WHERE name = ?1", [name], |r| r.get(0)).optional()?;
    if let Some(sealed) = stored {
        return Ok(kek.open(&label, &sealed)?);
    }
    let secret = random::bytes::<32>()?.to_vec();
    tx.execute(
        "INSERT INTO server_secrets (name, sealed, created_at_ms) VALUES (?1, ?2, ?3)",
        crate::params![name, kek.seal(&label, &secret)?, crate::time::now_ms()],
    )?;
    Ok(secret)
}

/// HMAC-SHA256 under the server secret `name` (see [`server_secret`]).
pub fn mac(tx: &crate::db::Conn<'_>, kek: &Kek, name: &str, data: &[u8]) -> Result<Vec<u8>, ApiError> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &server_secret(tx, kek, name)?);
    Ok(ring::hmac::sign(&key, data).as_ref().to_vec())
}

/// The server secret behind the id that recognises an EID identity key registered twice.
pub const BEACON_KEY_ID: &str = "attendance-beacon-key-id";

/// Labels of the sealed columns, one place for the writer and the reader.
pub mod labels {
    pub fn wallet_key(name: &str) -> String {
        format!("wallet_keys/{name}")
    }
    pub fn issuer_key(issuer: &str) -> String {
        format!("wallet_issuers/{issuer}")
    }
    pub fn beacon_key(office_id: &str) -> String {
        format!("attendance_beacons/{office_id}")
    }
    pub fn meeting_key(mid: &str) -> String {
        format!("meetings/{mid}")
    }
    pub fn push_key(name: &str) -> String {
        format!("push_keys/{name}")
    }
}

/// Seals, once, every key a database written before sealing existed holds in clear,
/// in one transaction with the `server_sealed` mark: a crash leaves all clear (and
/// the next start seals) or all sealed, never a mix. Then the file is compacted: the
/// writer that stored those keys may have left copies of them in free space.
pub async fn seal_stored_keys(db: &crate::db::Db, kek: &Kek) -> Result<(), ApiError> {
    let kek = kek.clone();
    let sealed_now = db.write(move |tx| {
        let done: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM server_sealed)", [], |r| r.get(0))?;
        if done {
            return Ok(false);
        }
        let rows = |sql: &str| -> Result<Vec<(String, Vec<u8>)>, ApiError> {
            let mut stmt = tx.prepare(sql)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        };
        for (name, key) in rows("SELECT name, pkcs8 FROM wallet_keys")? {
            tx.execute("UPDATE wallet_keys SET pkcs8 = ?2 WHERE name = ?1", crate::params![name, kek.seal(&labels::wallet_key(&name), &key)?])?;
        }
        for (issuer, key) in rows("SELECT issuer, pkcs8 FROM wallet_issuers")? {
            tx.execute("UPDATE wallet_issuers SET pkcs8 = ?2 WHERE issuer = ?1", crate::params![issuer, kek.seal(&labels::issuer_key(&issuer), &key)?])?;
        }
        for (mid, key) in rows("SELECT mid, meeting_key FROM meetings")? {
            tx.execute("UPDATE meetings SET meeting_key = ?2 WHERE mid = ?1", crate::params![mid, kek.seal(&labels::meeting_key(&mid), &key)?])?;
        }
        let beacons: Vec<(i64, String, Vec<u8>)> = tx
            .prepare("SELECT id, office_id, identity_key FROM attendance_beacons WHERE identity_key IS NOT NULL")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        for (id, office_id, key) in beacons {
            let key_id = mac(tx, &kek, BEACON_KEY_ID, &key)?;
            tx.execute(
                "UPDATE attendance_beacons SET identity_key = ?2, identity_key_id = ?3 WHERE id = ?1",
                crate::params![id, kek.seal(&labels::beacon_key(&office_id), &key)?, key_id],
            )?;
        }
        tx.execute("INSERT INTO server_sealed (id, at_ms) VALUES (1, ?1)", [crate::time::now_ms()])?;
        Ok(true)
    })
    .await?;
    if sealed_now {
        db.compact().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_label() {
        let kek = LocalKek::generate().unwrap();
        let sealed = kek.seal("wallet_keys/root", b"secret key").unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"secret key"));
        assert_eq!(kek.open("wallet_keys/root", &sealed).unwrap(), b"secret key");
        assert!(matches!(kek.open("wallet_keys/ca", &sealed), Err(SealError::Open)));
        assert!(matches!(LocalKek::generate().unwrap().open("wallet_keys/root", &sealed), Err(SealError::Open)));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(kek.open("wallet_keys/root", &flipped), Err(SealError::Open)));
        assert!(matches!(kek.open("x", &[]), Err(SealError::Open)));
        assert!(matches!(kek.open("x", &[1, 2, 3]), Err(SealError::Open)));
    }

    #[test]
    fn a_kek_is_read_from_base64_of_32_bytes() {
        let text = LocalKek::new_base64().unwrap();
        let a = LocalKek::from_base64(&text).unwrap();
        let b = LocalKek::from_base64(&format!("{text}\n")).unwrap();
        assert_eq!(b.open("l", &a.seal("l", b"x").unwrap()).unwrap(), b"x");
        assert!(LocalKek::from_base64("c2hvcnQ").is_err());
        assert!(LocalKek::from_base64("not base64!").is_err());
        assert_eq!(format!("{a:?}"), "LocalKek(<redacted>)");
    }
}
