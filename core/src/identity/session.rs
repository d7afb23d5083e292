//! The signed-in session: a short-lived access token bound to the device key, and the
//! DPoP proof every request carries.

use std::sync::Mutex;

use ring::rand::{SecureRandom as _, SystemRandom};
use rusqlite::{OptionalExtension as _, params};
use taipei_protocol::b64;
use taipei_protocol::dpop::{self, Claims};
use taipei_protocol::ecdsa::PublicKey;

use super::IdentityError;
use super::signer::{DeviceSigner, sign_checked};
use crate::store::{SealContext, Store, StoreError};

/// A token this close to expiry is refreshed first, so it does not lapse in flight.
const EXPIRY_MARGIN_MS: i64 = 30_000;
const TOKEN_CTX: SealContext<'static> = SealContext { table: "identity_session", column: "token", row: "1" };

#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub access_token: String,
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token itself is a secret: never in a log line.
        f.debug_struct("Token").field("expires_at_ms", &self.expires_at_ms).finish_non_exhaustive()
    }
}

/// The in-memory token (mirrored, sealed, in the store so a restart need not sign in).
#[derive(Debug, Default)]
pub struct Session {
    token: Mutex<Option<Token>>,
}

impl Session {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Token>> {
        self.token.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The token, if it is still good at `now_ms` (server clock).
    pub fn valid_token(&self, now_ms: i64) -> Option<Token> {
        self.lock().as_ref().filter(|t| t.expires_at_ms - EXPIRY_MARGIN_MS > now_ms).cloned()
    }

    pub fn set(&self, token: Token) {
        *self.lock() = Some(token);
    }

    /// Forgets the token; true if there was one.
    pub fn clear(&self) -> bool {
        self.lock().take().is_some()
    }
}

pub fn save_token(store: &Store, token: &Token) -> Result<(), IdentityError> {
    let sealed = store.key().seal(TOKEN_CTX, token.access_token.as_bytes())?;
    store.write(|tx| {
        tx.execute(
            "INSERT OR REPLACE INTO identity_session (slot, token, expires_at_ms) VALUES (1, ?1, ?2)",
            params![sealed, token.expires_at_ms],
        )
        .map_err(StoreError::from)?;
        Ok(())
    })
}

pub fn load_token(store: &Store) -> Result<Option<Token>, IdentityError> {
    let row: Option<(Vec<u8>, i64)> = store.read(|c| {
        c.query_row("SELECT token, expires_at_ms FROM identity_session WHERE slot = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(StoreError::from)
    })?;
    let Some((sealed, expires_at_ms)) = row else { return Ok(None) };
    let plain = store.key().unseal(TOKEN_CTX, &sealed)?;
    let access_token = String::from_utf8(plain).map_err(|_| StoreError::BadRow("identity_session.token".into()))?;
    Ok(Some(Token { access_token, expires_at_ms }))
}

/// `base64url(SHA-256(token))`, the `ath` claim.
pub fn token_hash(access_token: &str) -> String {
    b64::encode(ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes()))
}

/// A fresh DPoP proof for one request attempt (a retry needs a new one: new `jti`).
pub async fn proof(
    signer: &dyn DeviceSigner,
    public: &PublicKey,
    method: &str,
    url: &str,
    server_now_ms: i64,
    access_token: Option<&str>,
) -> Result<String, IdentityError> {
    let mut jti = [0u8; 16];
    SystemRandom::new()
        .fill(&mut jti)
        .map_err(|_| IdentityError::BadSigner("the system random source failed".into()))?;
    let htu = url.split(['?', '#']).next().unwrap_or(url);
    let claims = Claims {
        jti: b64::encode(jti),
        htm: method.to_ascii_uppercase(),
        htu: htu.to_owned(),
        iat: server_now_ms.div_euclid(1000),
        ath: access_token.map(token_hash),
    };
    let input = dpop::signing_input(public, &claims);
    let signature = sign_checked(signer, public, input.as_bytes()).await?;
    Ok(dpop::assemble(&input, &signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::signer::{SoftwareSigner, public_key_of};
    use crate::secrets::FileSecretStore;

    #[tokio::test]
    async fn proofs_verify_and_carry_the_token_hash() {
        let (signer, _) = SoftwareSigner::generate().unwrap();
        let public = public_key_of(&signer).unwrap();
        let p = proof(&signer, &public, "get", "http://127.0.0.1:9/v1/me?x=1", 1_700_000_000_999, Some("tok")).await.unwrap();
        let v = dpop::verify(&p).unwrap();
        assert_eq!(v.public_key, public);
        assert_eq!(v.claims.htm, "GET");
        assert_eq!(v.claims.htu, "http://127.0.0.1:9/v1/me");
        assert_eq!(v.claims.iat, 1_700_000_000);
        assert_eq!(v.claims.ath.as_deref(), Some(token_hash("tok").as_str()));
        let again = dpop::verify(&proof(&signer, &public, "GET", "u", 0, None).await.unwrap()).unwrap();
        assert_ne!(again.claims.jti, v.claims.jti);
        assert_eq!(again.claims.ath, None);
    }

    #[test]
    fn tokens_expire_with_a_margin_and_survive_a_restart_sealed() {
        let session = Session::default();
        session.set(Token { access_token: "t".into(), expires_at_ms: 100_000 });
        assert!(session.valid_token(60_000).is_some());
        assert!(session.valid_token(75_000).is_none());
        assert!(format!("{:?}", session.valid_token(0)).contains("expires_at_ms"));
        assert!(!format!("{:?}", session.valid_token(0)).contains("\"t\""));
        assert!(session.clear());
        assert!(!session.clear());

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.db"), &FileSecretStore::new(dir.path()).unwrap(), "k").unwrap();
        assert_eq!(load_token(&store).unwrap(), None);
        let t = Token { access_token: "secret-token".into(), expires_at_ms: 5 };
        save_token(&store, &t).unwrap();
        assert_eq!(load_token(&store).unwrap(), Some(t));
        let raw: Vec<u8> = store
            .read(|c| c.query_row("SELECT token FROM identity_session", [], |r| r.get(0)).map_err(StoreError::from))
            .unwrap();
        assert!(!raw.windows(12).any(|w| w == b"secret-token"), "stored sealed");
    }
}
