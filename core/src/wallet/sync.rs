//! The wallet's network side: the signed lists (public), the person's certificates
//! and contracts (authenticated), pickup codes.

use taipei_protocol::cert::lists::{STATUS_LIST_TAG, SignedList, StatusBits, StatusList, TRUST_LIST_TAG, TrustList};
use taipei_protocol::wallet::{Contracts, NewPickupCode, PickupCode, RevokePickup, WalletEntries};

use std::sync::Arc;

use taipei_protocol::ecdsa::PublicKey;

use super::{WalletError, storage};
use crate::ctx::{Account, CommonError};
use crate::net::{Method, NetError, Request, parse_json};
use crate::store::Store;


/// What a wallet sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Certificates new in the wallet.
    pub added: u32,
    /// Certificates the server sent that are not city certificates (kept out).
    pub refused: u32,
    /// Certificates the server holds for this person.
    pub total: u32,
    pub contracts: u32,
    pub trust_list_as_of_ms: i64,
    pub status_list_as_of_ms: i64,
}

/// A wallet refusal from the server keeps its code; anything else stays as it was.
fn refusal(e: CommonError) -> WalletError {
    match e {
        CommonError::Net(NetError::Server { code, message, .. }) if code.starts_with("wallet_") => {
            WalletError::Refused { code, message }
        }
        e => WalletError::Common(e),
    }
}

async fn public_get(account: &Account, path: &'static str) -> Result<SignedList, WalletError> {
    let body = account.api().send(|| async { Ok::<_, NetError>(Request::new(Method::Get, path)) }).await?;
    Ok(parse_json(&body, "SignedList")?)
}

pub async fn sync(account: &Account, store: &Arc<Store>, root: PublicKey) -> Result<SyncReport, WalletError> {
    let trust = public_get(account, "/v1/wallet/trust-list").await?;
    let status = public_get(account, "/v1/wallet/status-list").await?;
    let bad = |e: taipei_protocol::cert::CertError| WalletError::BadLists(e.to_string());
    let trust: TrustList = trust.open(TRUST_LIST_TAG, &root).map_err(bad)?;
    let status: StatusList = status.open(STATUS_LIST_TAG, &root).map_err(bad)?;
    StatusBits::from_list(&status).map_err(bad)?;
    let entries: WalletEntries = account.get_json("/v1/wallet/certificates", "WalletEntries").await?;
    let contracts: Contracts = account.get_json("/v1/wallet/contracts", "Contracts").await?;
    let now = account.server_now_ms();
    let (trust_as_of, status_as_of) = (trust.as_of_ms, status.as_of_ms);
    let total = u32::try_from(entries.certificates.len()).unwrap_or(u32::MAX);
    let contract_count = u32::try_from(contracts.contracts.len()).unwrap_or(u32::MAX);
    let (added, refused) = store
        .call(move |store| {
            store.write(|tx| {
                storage::save_lists(tx, &trust, &status)?;
                let (mut added, mut refused) = (0u32, 0u32);
                for entry in &entries.certificates {
                    match storage::insert_in(tx, store.key(), Some(&entry.id), &entry.qr, now) {
                        Ok((_, new)) => added += u32::from(new),
                        Err(WalletError::NotACityCertificate(why)) => {
                            tracing::warn!(id = %entry.id, %why, "the server sent a certificate that does not decode");
                            refused += 1;
                        }
                        Err(e) => return Err(e),
                    }
                }
                for contract in &contracts.contracts {
                    storage::save_contract(tx, store.key(), contract)?;
                }
                Ok::<_, WalletError>((added, refused))
            })
        })
        .await?;
    Ok(SyncReport { added, refused, total, contracts: contract_count, trust_list_as_of_ms: trust_as_of, status_list_as_of_ms: status_as_of })
}

pub async fn pickup_code(account: &Account, id: &str, ttl_secs: Option<u32>) -> Result<PickupCode, WalletError> {
    taipei_protocol::limits::check_pickup_ttl(ttl_secs)?;
    let request = NewPickupCode { certificate_id: id.to_owned(), ttl_secs };
    let reply = account.post_json("/v1/wallet/pickup-codes", &request).await.map_err(refusal)?;
    Ok(parse_json(&reply, "PickupCode")?)
}

pub async fn revoke_pickup_code(account: &Account, code: &str) -> Result<(), WalletError> {
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) || code.len() > 32 {
        return Err(CommonError::InvalidInput("a pickup code is digits".into()).into());
    }
    // In the body, not the path: a code in a URL ends up in request logs.
    account.post_json("/v1/wallet/pickup-codes/revoke", &RevokePickup { code: code.to_owned() }).await.map_err(refusal)?;
    Ok(())
}

