//! Wallet backups sealed to a passphrase: PBKDF2-HMAC-SHA256 (ring) stretches the
//! passphrase into an AES-256-GCM key. Layout:
//! `"TPWB1\0" ‖ salt (16) ‖ iterations (u32 BE) ‖ nonce (12) ‖ ciphertext ‖ tag`,
//! the header as AAD, so the iteration count cannot be lowered unnoticed.

use std::num::NonZeroU32;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use taipei_protocol::cert::contract::Contract;

use super::storage;
use super::WalletError;
use crate::ctx::CommonError;
use crate::store::{Store, StoreError};

const MAGIC: &[u8; 6] = b"TPWB1\0";
const SALT_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + SALT_LEN + 4 + NONCE_LEN;
/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
const ITERATIONS: u32 = 600_000;
/// Bounds on what an imported file may ask for: fewer is too weak to have been made
/// by us, more is a way to hang the phone.
const MIN_ITERATIONS: u32 = 100_000;
const MAX_ITERATIONS: u32 = 10_000_000;

#[derive(Serialize, Deserialize)]
struct Entry {
    id: String,
    qr: String,
    received_at_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Contents {
    items: Vec<Entry>,
    #[serde(default)]
    contracts: Vec<Contract>,
}

fn key(passphrase: &str, salt: &[u8], iterations: u32) -> Result<LessSafeKey, WalletError> {
    let mut raw = [0u8; 32];
    let n = NonZeroU32::new(iterations).ok_or_else(|| WalletError::BadBackup("zero iterations".into()))?;
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, n, salt, passphrase.as_bytes(), &mut raw);
    let unbound = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| StoreError::Crypto("AES key".into()))?;
    Ok(LessSafeKey::new(unbound))
}

pub fn export(store: &Store, passphrase: &str) -> Result<Vec<u8>, WalletError> {
    if passphrase.chars().count() < 8 {
        return Err(CommonError::InvalidInput("a backup passphrase has at least 8 characters".into()).into());
    }
    let items = storage::all(store)?.into_iter().map(|i| Entry { id: i.id, qr: i.qr, received_at_ms: i.received_at_ms }).collect();
    let contents = Contents { items, contracts: storage::contracts(store)? };
    let mut plain = serde_json::to_vec(&contents).map_err(|e| CommonError::Internal(e.to_string()))?;
    let rng = SystemRandom::new();
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt).and_then(|()| rng.fill(&mut nonce)).map_err(|_| StoreError::Crypto("random source failed".into()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + plain.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&salt);
    out.extend_from_slice(&ITERATIONS.to_be_bytes());
    out.extend_from_slice(&nonce);
    key(passphrase, &salt, ITERATIONS)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&out[..]), &mut plain)
        .map_err(|_| StoreError::Crypto("sealing the backup failed".into()))?;
    out.extend_from_slice(&plain);
    Ok(out)
}

pub fn import(store: &Store, backup: &[u8], passphrase: &str, now_ms: i64) -> Result<u32, WalletError> {
    if backup.len() < HEADER_LEN + 16 || &backup[..MAGIC.len()] != MAGIC {
        return Err(WalletError::BadBackup("the file does not start like a wallet backup".into()).into());
    }
    let (header, sealed) = backup.split_at(HEADER_LEN);
    let salt = &header[MAGIC.len()..MAGIC.len() + SALT_LEN];
    let mut iterations = [0u8; 4];
    iterations.copy_from_slice(&header[MAGIC.len() + SALT_LEN..MAGIC.len() + SALT_LEN + 4]);
    let iterations = u32::from_be_bytes(iterations);
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(WalletError::BadBackup(format!("{iterations} PBKDF2 iterations is out of range")).into());
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[HEADER_LEN - NONCE_LEN..]);
    let mut buf = sealed.to_vec();
    let plain = key(passphrase, salt, iterations)?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(header), &mut buf)
        .map_err(|_| WalletError::WrongPassphrase)?;
    let contents: Contents = serde_json::from_slice(plain).map_err(|e| WalletError::BadBackup(e.to_string()))?;
    store.write(|tx| {
        let mut added = 0u32;
        for entry in &contents.items {
            let (_, new) = storage::insert_in(tx, store.key(), Some(&entry.id), &entry.qr, entry.received_at_ms.min(now_ms))?;
            added += u32::from(new);
        }
        for contract in &contents.contracts {
            storage::save_contract(tx, store.key(), contract)?;
        }
        Ok(added)
    })
}
