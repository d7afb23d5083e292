//! The bound-device record: one per profile, in table `identity_device`.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension as _, Transaction, params};
use taipei_protocol::api::{Assurance, DeviceRegistered, RegisterDevice};
use taipei_protocol::binding::BindingQr;
use taipei_protocol::{b64, signed};

use super::IdentityError;
use super::signer::{DeviceSigner, SoftwareSigner, public_key_of, sign_checked};
use crate::store::{SealContext, Store, StoreError};

/// The device as this profile knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device_id: String,
    pub user_id: String,
    pub display_name: String,
    pub assurance: Assurance,
    /// Uncompressed SEC1 P-256 public key.
    pub public_key: Vec<u8>,
    pub bound_at_ms: i64,
    /// The server revoked it; the profile must be bound again.
    pub revoked: bool,
}

fn key_ctx(device_id: &str) -> SealContext<'_> {
    SealContext { table: "identity_device", column: "software_key", row: device_id }
}

/// A binding about to be sent: the request, and the software key if one was made
/// (sealed into the store only once the server accepted it).
pub struct PendingBinding {
    pub request: RegisterDevice,
    pub signer: Arc<dyn DeviceSigner>,
    pub software_pkcs8: Option<Vec<u8>>,
}

impl std::fmt::Debug for PendingBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingBinding").field("bid", &self.request.bid).finish_non_exhaustive()
    }
}

fn intent_ctx(bid: &str) -> SealContext<'_> {
    SealContext { table: "identity_binding_intent", column: "software_key", row: bid }
}

/// The binding id a portal code names (to find a binding already under way).
pub fn binding_id(qr_text: &str) -> Result<String, IdentityError> {
    let qr = BindingQr::decode(qr_text).map_err(|e| IdentityError::BadBindingCode(e.to_string()))?;
    Ok(qr.bid_text())
}

/// Keeps a binding about to be sent, with its idempotency key, before the request
/// leaves (replacing any earlier one: one binding is under way at a time).
pub fn save_intent(store: &Store, pending: &PendingBinding, idempotency_key: &str, now_ms: i64) -> Result<(), IdentityError> {
    let request = serde_json::to_string(&pending.request).map_err(|e| IdentityError::SoftwareKey(e.to_string()))?;
    let sealed = match &pending.software_pkcs8 {
        Some(pkcs8) => Some(store.key().seal(intent_ctx(&pending.request.bid), pkcs8)?),
        None => None,
    };
    store.write(|tx| {
        tx.execute(
            "INSERT OR REPLACE INTO identity_binding_intent (slot, bid, idempotency_key, request, software_key, created_at_ms)
             VALUES (1, ?1, ?2, ?3, ?4, ?5)",
            params![pending.request.bid, idempotency_key, request, sealed, now_ms],
        )
        .map_err(StoreError::from)?;
        Ok(())
    })
}

/// The binding under way for `bid`, if any, with its idempotency key. One signed with
/// a platform key resumes only if that key is still the one given.
pub fn load_intent(
    store: &Store,
    bid: &str,
    platform: Option<Arc<dyn DeviceSigner>>,
) -> Result<Option<(PendingBinding, String)>, IdentityError> {
    let row = store.read(|c: &Connection| {
        c.query_row(
            "SELECT idempotency_key, request, software_key FROM identity_binding_intent WHERE slot = 1 AND bid = ?1",
            [bid],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<Vec<u8>>>(2)?)),
        )
        .optional()
        .map_err(StoreError::from)
    })?;
    let Some((key, request, sealed)) = row else { return Ok(None) };
    let request: RegisterDevice =
        serde_json::from_str(&request).map_err(|e| StoreError::BadRow(format!("identity_binding_intent.request: {e}")))?;
    let (signer, software_pkcs8): (Arc<dyn DeviceSigner>, _) = match (sealed, platform) {
        (Some(sealed), _) => {
            let pkcs8 = store.key().unseal(intent_ctx(bid), &sealed)?;
            (Arc::new(SoftwareSigner::from_pkcs8(&pkcs8)?), Some(pkcs8))
        }
        (None, Some(platform)) => (platform, None),
        (None, None) => return Ok(None),
    };
    if b64::encode(public_key_of(signer.as_ref())?.as_bytes()) != request.public_key {
        return Ok(None); // another key now: start afresh
    }
    Ok(Some((PendingBinding { request, signer, software_pkcs8 }, key)))
}

/// Forgets the binding under way (the server refused it for good).
pub fn clear_intent(store: &Store) -> Result<(), IdentityError> {
    store.write(|tx| {
        tx.execute("DELETE FROM identity_binding_intent", []).map_err(StoreError::from)?;
        Ok(())
    })
}

/// Parses the portal's QR and signs the registration with the platform signer (or a
/// new software key when the platform has none).
pub async fn prepare_binding(
    qr_text: &str,
    platform: Option<Arc<dyn DeviceSigner>>,
    device_name: &str,
    server_now_ms: i64,
) -> Result<PendingBinding, IdentityError> {
    let qr = BindingQr::decode(qr_text).map_err(|e| IdentityError::BadBindingCode(e.to_string()))?;
    if qr.expires_at_ms <= server_now_ms {
        return Err(IdentityError::BindingExpired);
    }
    let (signer, software_pkcs8): (Arc<dyn DeviceSigner>, _) = match platform {
        Some(s) => (s, None),
        None => {
            let (s, pkcs8) = SoftwareSigner::generate()?;
            (Arc::new(s), Some(pkcs8))
        }
    };
    // First: an attesting signer may make its key anew with the offer's nonce in it.
    let attestation = signer.attest(&qr.bnonce).await?.and_then(|a| a.statement());
    let public = public_key_of(signer.as_ref())?;
    let message = signed::binding_message(&qr.bid, &qr.bnonce, public.as_bytes());
    let signature = sign_checked(signer.as_ref(), &public, &message).await?;
    let request = RegisterDevice {
        bid: qr.bid_text(),
        public_key: b64::encode(public.as_bytes()),
        assurance: signer.assurance(),
        attestation,
        device_name: device_name.to_owned(),
        signature: b64::encode(signature),
    };
    Ok(PendingBinding { request, signer, software_pkcs8 })
}

/// Persists the accepted binding (replacing a revoked one).
pub fn save_device(
    store: &Store,
    pending: &PendingBinding,
    registered: &DeviceRegistered,
    now_ms: i64,
) -> Result<DeviceInfo, IdentityError> {
    let public_key = public_key_of(pending.signer.as_ref())?.as_bytes().to_vec();
    let sealed = match &pending.software_pkcs8 {
        Some(pkcs8) => Some(store.key().seal(key_ctx(&registered.device_id), pkcs8)?),
        None => None,
    };
    store.write(|tx| {
        tx.execute("DELETE FROM identity_device", []).map_err(StoreError::from)?;
        tx.execute("DELETE FROM identity_session", []).map_err(StoreError::from)?;
        tx.execute("DELETE FROM identity_binding_intent", []).map_err(StoreError::from)?;
        tx.execute(
            "INSERT INTO identity_device (slot, device_id, user_id, display_name, assurance, public_key,
                                          software_key, counter, status, bound_at_ms)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, 0, 'active', ?7)",
            params![
                registered.device_id,
                registered.user_id,
                registered.display_name,
                registered.assurance.as_str(),
                public_key,
                sealed,
                now_ms
            ],
        )
        .map_err(StoreError::from)?;
        Ok::<_, IdentityError>(())
    })?;
    Ok(DeviceInfo {
        device_id: registered.device_id.clone(),
        user_id: registered.user_id.clone(),
        display_name: registered.display_name.clone(),
        assurance: registered.assurance,
        public_key,
        bound_at_ms: now_ms,
        revoked: false,
    })
}

/// The stored device and, for a software key, its signer.
pub fn load_device(
    store: &Store,
) -> Result<Option<(DeviceInfo, Option<Arc<dyn DeviceSigner>>)>, IdentityError> {
    let row = store.read(|c: &Connection| {
        c.query_row(
            "SELECT device_id, user_id, display_name, assurance, public_key, software_key, status, bound_at_ms
             FROM identity_device WHERE slot = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, Option<Vec<u8>>>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            },
        )
        .optional()
        .map_err(StoreError::from)
    })?;
    let Some((device_id, user_id, display_name, assurance, public_key, sealed, status, bound_at_ms)) = row else {
        return Ok(None);
    };
    let assurance = Assurance::parse(&assurance)
        .ok_or_else(|| StoreError::BadRow(format!("identity_device.assurance {assurance:?}")))?;
    let signer: Option<Arc<dyn DeviceSigner>> = match sealed {
        Some(sealed) => {
            let pkcs8 = store.key().unseal(key_ctx(&device_id), &sealed)?;
            let signer = SoftwareSigner::from_pkcs8(&pkcs8)?;
            if public_key_of(&signer)?.as_bytes() != public_key.as_slice() {
                return Err(IdentityError::SoftwareKey("the stored key does not match the device record".into()));
            }
            Some(Arc::new(signer))
        }
        None => None,
    };
    let info = DeviceInfo {
        device_id,
        user_id,
        display_name,
        assurance,
        public_key,
        bound_at_ms,
        revoked: status == "revoked",
    };
    Ok(Some((info, signer)))
}

pub fn mark_revoked(store: &Store) -> Result<(), IdentityError> {
    store.write(|tx| {
        tx.execute("UPDATE identity_device SET status = 'revoked'", []).map_err(StoreError::from)?;
        tx.execute("DELETE FROM identity_session", []).map_err(StoreError::from)?;
        Ok(())
    })
}

/// The next value of the device's signature counter, inside the caller's transaction
/// (so a signed record and the counter it used commit together). Strictly increasing.
pub fn next_counter(tx: &Transaction<'_>) -> Result<u64, IdentityError> {
    let value: Option<i64> = tx
        .query_row("UPDATE identity_device SET counter = counter + 1 WHERE slot = 1 RETURNING counter", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(StoreError::from)?;
    let value = value.ok_or(IdentityError::NotBound)?;
    u64::try_from(value).map_err(|_| StoreError::BadRow(format!("identity_device.counter {value}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::FileSecretStore;
    use taipei_protocol::ecdsa::PublicKey;

    fn store(dir: &std::path::Path) -> Store {
        Store::open(&dir.join("p.db"), &FileSecretStore::new(dir.join("s")).unwrap(), "k").unwrap()
    }

    fn qr(expires_at_ms: i64) -> String {
        BindingQr { bid: [1; 16], bnonce: [2; 16], expires_at_ms }.encode()
    }

    fn registered(device_id: &str) -> DeviceRegistered {
        DeviceRegistered {
            device_id: device_id.into(),
            user_id: "u1".into(),
            display_name: "Ada".into(),
            assurance: Assurance::Software,
            assurance_basis: Default::default(),
        }
    }

    #[tokio::test]
    async fn binding_signs_the_protocol_message_and_persists_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let pending = prepare_binding(&qr(10_000), None, "Pixel", 5_000).await.unwrap();
        let public = PublicKey::from_sec1(&b64::decode(&pending.request.public_key).unwrap()).unwrap();
        let message = signed::binding_message(&[1; 16], &[2; 16], public.as_bytes());
        public.verify(&message, &b64::decode(&pending.request.signature).unwrap()).unwrap();
        assert_eq!(pending.request.assurance, Assurance::Software);
        assert_eq!(pending.request.attestation, None, "a software key attests nothing");

        let info = save_device(&store, &pending, &registered("d1"), 6_000).unwrap();
        let (loaded, signer) = load_device(&store).unwrap().unwrap();
        assert_eq!(loaded, info);
        let signer = signer.unwrap();
        assert_eq!(signer.public_key().unwrap(), info.public_key);
    }

    #[tokio::test]
    async fn expired_or_foreign_codes_are_refused() {
        assert_eq!(prepare_binding(&qr(10_000), None, "x", 10_000).await.unwrap_err(), IdentityError::BindingExpired);
        assert!(matches!(prepare_binding("hello", None, "x", 0).await, Err(IdentityError::BadBindingCode(_))));
    }

    #[tokio::test]
    async fn a_sealed_key_moved_to_another_device_row_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let pending = prepare_binding(&qr(10_000), None, "P", 0).await.unwrap();
        save_device(&store, &pending, &registered("d1"), 0).unwrap();
        store
            .write(|tx| tx.execute("UPDATE identity_device SET device_id = 'd2'", []).map_err(StoreError::from))
            .unwrap();
        assert!(matches!(load_device(&store), Err(IdentityError::Store(StoreError::Unseal(_)))));
    }

    #[tokio::test]
    async fn counter_increases_and_needs_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        assert_eq!(store.write(|tx| next_counter(tx)).unwrap_err(), IdentityError::NotBound);
        let pending = prepare_binding(&qr(10_000), None, "P", 0).await.unwrap();
        save_device(&store, &pending, &registered("d1"), 0).unwrap();
        let a = store.write(|tx| next_counter(tx)).unwrap();
        let b = store.write(|tx| next_counter(tx)).unwrap();
        assert_eq!((a, b), (1, 2));
        drop(store);
        let reopened = self::store(dir.path());
        assert_eq!(reopened.write(|tx| next_counter(tx)).unwrap(), 3);
    }
}
