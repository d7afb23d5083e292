//! Sealed columns: AES-256-GCM under the profile's data key.
//!
//! Layout: `version (1) ‖ nonce (12, random) ‖ ciphertext ‖ tag (16)`. The AAD names the
//! table, column and row, so a sealed value copied into another row or column fails to
//! open instead of silently becoming that row's secret.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::StoreError;

const SEAL_VERSION: u8 = 1;
pub const DATA_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// Where a sealed value lives; bound into the AAD.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: &'a str,
}

impl SealContext<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        for part in [self.table, self.column, self.row] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// The profile's data key. Never logged: Debug prints nothing of it.
pub struct DataKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        if bytes.len() != DATA_KEY_LEN {
            return Err(StoreError::WrongKey(format!(
                "the data key from the secret store is {} bytes, expected {DATA_KEY_LEN}",
                bytes.len()
            )));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| StoreError::WrongKey("the data key was refused by AES-256-GCM".into()))?;
        Ok(Self { key: LessSafeKey::new(unbound), rng: SystemRandom::new() })
    }

    pub fn generate_bytes() -> Result<Vec<u8>, StoreError> {
        let mut key = vec![0u8; DATA_KEY_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| StoreError::Crypto("the system random source failed".into()))?;
        Ok(key)
    }

    pub fn seal(&self, ctx: SealContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| StoreError::Crypto("the system random source failed".into()))?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(ctx.aad()), &mut buf)
            .map_err(|_| StoreError::Crypto("sealing failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn unseal(&self, ctx: SealContext<'_>, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let where_ = || format!("{}.{} (row {})", ctx.table, ctx.column, ctx.row);
        let (version, rest) = sealed
            .split_first()
            .ok_or_else(|| StoreError::Unseal(format!("{}: empty sealed value", where_())))?;
        if *version != SEAL_VERSION {
            return Err(StoreError::Unseal(format!("{}: unknown seal version {version}", where_())));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(StoreError::Unseal(format!("{}: sealed value is truncated", where_())));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| StoreError::Unseal(format!("{}: bad nonce", where_())))?;
        let mut buf = ciphertext.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(ctx.aad()), &mut buf).map_err(|_| {
            StoreError::Unseal(format!(
                "{}: does not open (wrong key, tampered, or moved from another row)",
                where_()
            ))
        })?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(row: &str) -> SealContext<'_> {
        SealContext { table: "t", column: "c", row }
    }

    #[test]
    fn seal_round_trips_and_binds_its_row() {
        let key = DataKey::from_bytes(&DataKey::generate_bytes().unwrap()).unwrap();
        let sealed = key.seal(ctx("1"), b"secret").unwrap();
        assert_eq!(sealed[0], SEAL_VERSION);
        assert_eq!(sealed.len(), 1 + 12 + 6 + 16);
        assert_eq!(key.unseal(ctx("1"), &sealed).unwrap(), b"secret");
        assert!(matches!(key.unseal(ctx("2"), &sealed), Err(StoreError::Unseal(_))));
        let other_column = SealContext { table: "t", column: "d", row: "1" };
        assert!(key.unseal(other_column, &sealed).is_err());
        // Two seals of one value differ (random nonce).
        assert_ne!(sealed, key.seal(ctx("1"), b"secret").unwrap());
    }

    #[test]
    fn tampered_truncated_or_foreign_values_fail_cleanly() {
        let key = DataKey::from_bytes(&DataKey::generate_bytes().unwrap()).unwrap();
        let other = DataKey::from_bytes(&DataKey::generate_bytes().unwrap()).unwrap();
        let sealed = key.seal(ctx("1"), b"secret").unwrap();
        assert!(other.unseal(ctx("1"), &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert!(key.unseal(ctx("1"), &flipped).is_err());
        for cut in [0, 1, 12, 28] {
            assert!(key.unseal(ctx("1"), &sealed[..cut]).is_err());
        }
        let mut wrong_version = sealed;
        wrong_version[0] = 9;
        assert!(key.unseal(ctx("1"), &wrong_version).is_err());
        assert!(DataKey::from_bytes(&[0u8; 5]).is_err());
    }
}
