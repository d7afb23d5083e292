//! The wallet's tables. Certificate bodies are sealed (AES-256-GCM under the data
//! key, the row id in the AAD); what a list filter needs stays searchable without
//! showing on disk what a certificate says: type and issuer as HMAC tags under a
//! sealed per-profile key (a "low-income household" type in clear would itself be
//! personal data), the issue date in clear for ordering. Free-text search opens the
//! candidates and scans them: measured at 10,000 items in `benches/wallet.rs`.

use ring::hmac;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use taipei_protocol::cert::city::CityCertificate;
use taipei_protocol::cert::contract::Contract;
use taipei_protocol::cert::lists::{StatusBits, StatusList, TrustList};
use taipei_protocol::cert::{Prefix, decode};

use super::{CachedLists, Item, Page, WalletError};
use crate::store::seal::{DataKey, SealContext};
use crate::store::{Store, StoreError};

const TRUST: &str = "trust";
const STATUS: &str = "status";
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

/// What to list. Every set field must match; `text` matches any of title, holder,
/// issuer, type and field values, case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub cert_type: Option<String>,
    pub issuer: Option<String>,
    /// Issued at or after (UTC ms).
    pub issued_from_ms: Option<i64>,
    /// Issued at or before (UTC ms).
    pub issued_to_ms: Option<i64>,
    pub text: Option<String>,
    pub offset: u32,
    /// 0: the default page size.
    pub limit: u32,
}

fn sealed_ctx<'a>(table: &'a str, row: &'a str) -> SealContext<'a> {
    SealContext { table, column: "body", row }
}

fn bad_row(e: impl std::fmt::Display) -> StoreError {
    StoreError::BadRow(e.to_string())
}

/// The per-profile key of the search tags, made on first use.
fn tag_key(conn: &Connection, key: &DataKey, create: bool) -> Result<Option<hmac::Key>, StoreError> {
    let ctx = SealContext { table: "wallet_secret", column: "tag_key", row: "1" };
    let sealed: Option<Vec<u8>> = conn.query_row("SELECT tag_key FROM wallet_secret WHERE slot = 1", [], |r| r.get(0)).optional()?;
    let raw = match sealed {
        Some(s) => key.unseal(ctx, &s)?,
        None if create => {
            let raw = DataKey::generate_bytes()?;
            conn.execute("INSERT INTO wallet_secret (slot, tag_key) VALUES (1, ?1)", [key.seal(ctx, &raw)?])?;
            raw
        }
        None => return Ok(None),
    };
    Ok(Some(hmac::Key::new(hmac::HMAC_SHA256, &raw)))
}

fn tag(key: &hmac::Key, what: &str, value: &str) -> Vec<u8> {
    hmac::sign(key, format!("{what}\0{value}").as_bytes()).as_ref()[..16].to_vec()
}

/// Reads a city certificate's claims from its text (signature checked separately).
pub fn city_certificate(qr: &str) -> Result<CityCertificate, WalletError> {
    let decoded = decode(qr).map_err(|e| WalletError::NotACityCertificate(e.to_string()))?;
    if decoded.prefix != Prefix::Taipei {
        return Err(WalletError::NotACityCertificate("only city (TPC1:) certificates are kept".into()));
    }
    CityCertificate::from_claims(&decoded.claims).map_err(|e| WalletError::NotACityCertificate(e.to_string()))
}

fn id_for(qr: &str) -> String {
    taipei_protocol::b64::encode(&ring::digest::digest(&ring::digest::SHA256, qr.as_bytes()).as_ref()[..16])
}

/// Stores one certificate (unless a row with its id exists) inside `tx`.
pub fn insert_in(tx: &Transaction<'_>, key: &DataKey, id: Option<&str>, qr: &str, received_at_ms: i64) -> Result<(Item, bool), WalletError> {
    let certificate = city_certificate(qr)?;
    let id = id.map_or_else(|| id_for(qr), str::to_owned);
    if let Some(existing) = get_in(tx, key, &id)? {
        return Ok((existing, false));
    }
    let tags = tag_key(tx, key, true)?.ok_or_else(|| StoreError::Crypto("no tag key".into()))?;
    let item = Item { id, qr: qr.to_owned(), certificate, received_at_ms };
    let body = serde_json::to_vec(&item).map_err(bad_row)?;
    tx.execute(
        "INSERT INTO wallet_item (id, body, type_tag, issuer_tag, issued_at_ms, received_at_ms, expires_at_ms, expiry_known)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
        params![
            item.id,
            key.seal(sealed_ctx("wallet_item", &item.id), &body)?,
            tag(&tags, "type", &item.certificate.cert_type),
            tag(&tags, "issuer", &item.certificate.issuer),
            item.certificate.issued_at.saturating_mul(1000),
            received_at_ms,
            expires_ms(&item.certificate)
        ],
    )
    .map_err(StoreError::from)?;
    Ok((item, true))
}

pub fn insert(store: &Store, id: Option<&str>, qr: &str, received_at_ms: i64) -> Result<Item, WalletError> {
    store.write(|tx| insert_in(tx, store.key(), id, qr, received_at_ms).map(|(item, _)| item))
}

fn open_item(key: &DataKey, id: &str, sealed: &[u8]) -> Result<Item, StoreError> {
    serde_json::from_slice(&key.unseal(sealed_ctx("wallet_item", id), sealed)?).map_err(bad_row)
}

fn get_in(conn: &Connection, key: &DataKey, id: &str) -> Result<Option<Item>, StoreError> {
    let sealed: Option<Vec<u8>> = conn.query_row("SELECT body FROM wallet_item WHERE id = ?1", [id], |r| r.get(0)).optional()?;
    sealed.map(|s| open_item(key, id, &s)).transpose()
}

pub fn get(store: &Store, id: &str) -> Result<Item, WalletError> {
    store.read(|c| get_in(c, store.key(), id))?.ok_or_else(|| WalletError::UnknownItem(id.to_owned()).into())
}

pub fn delete(store: &Store, id: &str) -> Result<(), WalletError> {
    let deleted = store.write(|tx| tx.execute("DELETE FROM wallet_item WHERE id = ?1", [id]).map_err(StoreError::from))?;
    if deleted == 0 { Err(WalletError::UnknownItem(id.to_owned()).into()) } else { Ok(()) }
}

/// Every stored certificate's text and receipt time (for the backup).
pub fn all(store: &Store) -> Result<Vec<Item>, WalletError> {
    store.read(|c| {
        let mut stmt = c.prepare("SELECT id, body FROM wallet_item ORDER BY issued_at_ms, id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        rows.map(|row| {
            let (id, sealed) = row?;
            open_item(store.key(), &id, &sealed)
        })
        .collect::<Result<Vec<_>, StoreError>>()
    })
    .map_err(WalletError::from)
}

fn matches_text(item: &Item, needle: &str) -> bool {
    let c = &item.certificate;
    let hay = [&c.title.zh, &c.title.en, &c.holder, &c.issuer, &c.cert_type];
    hay.iter().any(|h| h.to_lowercase().contains(needle))
        || c.fields.iter().any(|f| f.value.to_lowercase().contains(needle) || f.label.zh.contains(needle) || f.label.en.to_lowercase().contains(needle))
}

pub fn list(store: &Store, filter: &Filter) -> Result<Page, WalletError> {
    let limit = match filter.limit {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    };
    let needle = filter.text.as_deref().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty());
    store
        .read(|c| {
            let tags = tag_key(c, store.key(), false)?;
            let Some(tags) = tags else { return Ok(Page { items: vec![], total: 0 }) };
            let type_tag = filter.cert_type.as_deref().map(|t| tag(&tags, "type", t));
            let issuer_tag = filter.issuer.as_deref().map(|i| tag(&tags, "issuer", i));
            let from = filter.issued_from_ms.unwrap_or(i64::MIN);
            let to = filter.issued_to_ms.unwrap_or(i64::MAX);
            let mut stmt = c.prepare_cached(
                "SELECT id, body FROM wallet_item WHERE (?1 IS NULL OR type_tag = ?1) AND (?2 IS NULL OR issuer_tag = ?2) \
                 AND issued_at_ms BETWEEN ?3 AND ?4 ORDER BY issued_at_ms DESC, id",
            )?;
            let mut rows = stmt.query(params![type_tag, issuer_tag, from, to])?;
            let (mut items, mut total) = (Vec::new(), 0u32);
            while let Some(row) = rows.next()? {
                let in_page = total >= filter.offset && total - filter.offset < limit;
                // Without a text filter only the page's rows are opened.
                if needle.is_none() && !in_page {
                    total += 1;
                    continue;
                }
                let id: String = row.get(0)?;
                let item = open_item(store.key(), &id, &row.get::<_, Vec<u8>>(1)?)?;
                if needle.as_deref().is_some_and(|n| !matches_text(&item, n)) {
                    continue;
                }
                if in_page {
                    items.push(item);
                }
                total += 1;
            }
            Ok::<_, StoreError>(Page { items, total })
        })
        .map_err(WalletError::from)
}

fn expires_ms(c: &CityCertificate) -> Option<i64> {
    c.expires_at.map(|s| s.saturating_mul(1000))
}

/// Rows stored before the expiry column existed get it from their sealed body.
fn fill_expiry(store: &Store) -> Result<(), StoreError> {
    let pending = store.read(|c| {
        Ok::<_, StoreError>(c.query_row("SELECT EXISTS(SELECT 1 FROM wallet_item WHERE expiry_known = 0)", [], |r| r.get::<_, bool>(0))?)
    })?;
    if !pending {
        return Ok(());
    }
    store.write(|tx| {
        let rows = {
            let mut stmt = tx.prepare("SELECT id, body FROM wallet_item WHERE expiry_known = 0")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        for (id, sealed) in rows {
            let item = open_item(store.key(), &id, &sealed)?;
            tx.execute(
                "UPDATE wallet_item SET expires_at_ms = ?2, expiry_known = 1 WHERE id = ?1",
                params![id, expires_ms(&item.certificate)],
            )?;
        }
        Ok(())
    })
}

/// The wallet at a glance at `now_ms`: see [`super::Overview`].
pub fn overview(store: &Store, now_ms: i64, within_ms: i64, limit: u32) -> Result<super::Overview, WalletError> {
    fill_expiry(store)?;
    let limit = i64::from(limit.min(MAX_PAGE));
    let until = now_ms.saturating_add(within_ms.max(0));
    store
        .read(|c| {
            let seen_at_ms: Option<i64> =
                c.query_row("SELECT seen_at_ms FROM wallet_seen WHERE slot = 1", [], |r| r.get(0)).optional()?;
            let (total, new_since_seen, expiring_soon): (u32, u32, u32) = c.query_row(
                "SELECT (SELECT count(*) FROM wallet_item),
                        (SELECT count(*) FROM wallet_item WHERE received_at_ms > ?1),
                        (SELECT count(*) FROM wallet_item WHERE expires_at_ms >= ?2 AND expires_at_ms <= ?3)",
                params![seen_at_ms.unwrap_or(i64::MIN), now_ms, until],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let opened = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> Result<Vec<Item>, StoreError> {
                let mut stmt = c.prepare_cached(sql)?;
                let rows = stmt.query_map(args, |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
                rows.map(|row| {
                    let (id, sealed) = row?;
                    open_item(store.key(), &id, &sealed)
                })
                .collect()
            };
            let newest = opened("SELECT id, body FROM wallet_item ORDER BY received_at_ms DESC, id LIMIT ?1", &[&limit])?;
            let expiring = opened(
                "SELECT id, body FROM wallet_item WHERE expires_at_ms >= ?1 AND expires_at_ms <= ?2 ORDER BY expires_at_ms, id LIMIT ?3",
                &[&now_ms, &until, &limit],
            )?;
            Ok::<_, StoreError>(super::Overview { total, new_since_seen, seen_at_ms, expiring_soon, newest, expiring })
        })
        .map_err(WalletError::from)
}

/// Records that the person looked at the wallet at `at_ms` (never moves back).
pub fn mark_seen(store: &Store, at_ms: i64) -> Result<(), StoreError> {
    store.write(|tx| {
        tx.execute(
            "INSERT INTO wallet_seen (slot, seen_at_ms) VALUES (1, ?1)
             ON CONFLICT (slot) DO UPDATE SET seen_at_ms = max(seen_at_ms, ?1)",
            [at_ms],
        )?;
        Ok(())
    })
}

/// Replaces a cached list unless the cached one is newer (a replayed old list must not
/// hide a later revocation).
pub fn save_list(tx: &Transaction<'_>, kind: &str, payload: &str, as_of_ms: i64) -> Result<bool, StoreError> {
    let changed = tx.execute(
        "INSERT INTO wallet_list (kind, payload, as_of_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (kind) DO UPDATE SET payload = excluded.payload, as_of_ms = excluded.as_of_ms WHERE excluded.as_of_ms >= wallet_list.as_of_ms",
        params![kind, payload, as_of_ms],
    )?;
    Ok(changed > 0)
}

pub fn save_lists(tx: &Transaction<'_>, trust: &TrustList, status: &StatusList) -> Result<(), WalletError> {
    save_list(tx, TRUST, &serde_json::to_string(trust).map_err(bad_row)?, trust.as_of_ms)?;
    save_list(tx, STATUS, &serde_json::to_string(status).map_err(bad_row)?, status.as_of_ms)?;
    Ok(())
}

/// The cached lists (stored only after their root signature was checked).
pub fn load_lists(store: &Store) -> Result<Option<CachedLists>, WalletError> {
    let rows: Vec<(String, String)> = store.read(|c| {
        let mut stmt = c.prepare_cached("SELECT kind, payload FROM wallet_list")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>();
        rows.map_err(StoreError::from)
    })?;
    let find = |kind: &str| rows.iter().find(|(k, _)| k == kind).map(|(_, p)| p.as_str());
    let Some(trust) = find(TRUST) else { return Ok(None) };
    let trust: TrustList = serde_json::from_str(trust).map_err(bad_row)?;
    let (status, status_as_of_ms) = match find(STATUS) {
        Some(s) => {
            let list: StatusList = serde_json::from_str(s).map_err(bad_row)?;
            (Some(StatusBits::from_list(&list).map_err(bad_row)?), list.as_of_ms)
        }
        None => (None, 0),
    };
    Ok(Some(CachedLists { trust, status, status_as_of_ms }))
}

pub fn save_contract(tx: &Transaction<'_>, key: &DataKey, contract: &Contract) -> Result<(), WalletError> {
    let body = serde_json::to_vec(contract).map_err(bad_row)?;
    tx.execute(
        "INSERT INTO wallet_contract (id, body) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
        params![contract.id, key.seal(sealed_ctx("wallet_contract", &contract.id), &body)?],
    )
    .map_err(StoreError::from)?;
    Ok(())
}

pub fn contracts(store: &Store) -> Result<Vec<Contract>, WalletError> {
    store
        .read(|c| {
            let mut stmt = c.prepare("SELECT id, body FROM wallet_contract ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
            rows.map(|row| {
                let (id, sealed) = row?;
                serde_json::from_slice(&store.key().unseal(sealed_ctx("wallet_contract", &id), &sealed)?).map_err(bad_row)
            })
            .collect::<Result<Vec<_>, StoreError>>()
        })
        .map_err(WalletError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::FileSecretStore;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    use taipei_protocol::cert::city::sample_diploma;

    #[test]
    fn a_certificate_stored_before_the_expiry_column_is_counted_once_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.db"), &FileSecretStore::new(dir.path().join("s")).unwrap(), "k").unwrap();
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let kid = taipei_protocol::cert::key_id(key.public_key().as_ref());
        let now_s = 1_800_000_000;
        let cert = CityCertificate { expires_at: Some(now_s + 86_400), ..sample_diploma("陳小明", 1, now_s - 86_400) };
        insert(&store, None, &cert.sign(&key, &kid).unwrap(), now_s * 1000).unwrap();
        // As an earlier version left it: no expiry in clear.
        store.write(|tx| tx.execute("UPDATE wallet_item SET expires_at_ms = NULL, expiry_known = 0", []).map_err(StoreError::from)).unwrap();
        let o = overview(&store, now_s * 1000, 30 * 86_400_000, 5).unwrap();
        assert_eq!((o.total, o.expiring_soon, o.expiring.len()), (1, 1, 1));
        let unknown: i64 =
            store.read(|c| c.query_row("SELECT count(*) FROM wallet_item WHERE expiry_known = 0", [], |r| r.get(0)).map_err(StoreError::from)).unwrap();
        assert_eq!(unknown, 0, "filled from the sealed body, once");
    }
}
