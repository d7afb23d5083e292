//! The certificate wallet from the phone's side (issue #6): receive certificates,
//! keep them sealed, list and search them offline, show one with its QR, verify any
//! scanned certificate (city `TPC1:` or EU `HC1:`) offline against the cached signed
//! lists, back up to a passphrase, hand out kiosk pickup codes, view contracts.
//!
//! The format, the lists and the verdict logic are `taipei_protocol::cert`; this
//! module adds what needs the phone: storage, the network, the camera, the clock.

mod backup;
mod storage;
mod sync;

use std::sync::Arc;

use taipei_protocol::b64;
use taipei_protocol::cert::city::CityCertificate;
use taipei_protocol::cert::contract;
pub use taipei_protocol::cert::verdict::Verdict;
use taipei_protocol::cert::verdict::{Lists, verify_text};
use taipei_protocol::ecdsa::PublicKey;

pub use storage::Filter;
pub use sync::SyncReport;
pub use taipei_protocol::cert::city::{CityCertificate as Certificate, Field, Text};
pub use taipei_protocol::cert::contract::{ContractStatus, ContractView, SignatureView};
pub use taipei_protocol::cert::verdict::{CheckStatus, VerdictCheck, VerdictKind, VerdictStep};
pub use taipei_protocol::wallet::PickupCode;

use crate::ctx::{Account, CommonError, Ctx, blocking, common_error};
use crate::qr::{self, LumaFrame, RenderOptions};
use crate::store::Store;

/// Why a wallet call failed (verdicts are not errors: a forged certificate is an answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    #[error("no city root key is configured; the app cannot check the trust lists")]
    NoRootKey,
    #[error("no trust list yet: sync once while online")]
    NoLists,
    #[error("the signed lists were refused: {0}")]
    BadLists(String),
    #[error("no certificate {0} in the wallet")]
    UnknownItem(String),
    #[error("not a city certificate: {0}")]
    NotACityCertificate(String),
    #[error("no QR code found in the picture")]
    NoCode,
    #[error("QR engine: {0}")]
    Qr(String),
    #[error("wrong passphrase, or the backup was altered")]
    WrongPassphrase,
    #[error("not a wallet backup: {0}")]
    BadBackup(String),
    #[error("the server refused: {message} ({code})")]
    Refused { code: String, message: String },
    /// A failure every capability shares (offline, not bound, the store, …).
    #[error(transparent)]
    Common(CommonError),
}

common_error!(WalletError);

impl WalletError {
    pub fn code(&self) -> &str {
        match self {
            Self::NoRootKey => "wallet_no_root_key",
            Self::NoLists => "wallet_no_lists",
            Self::BadLists(_) => "wallet_bad_lists",
            Self::UnknownItem(_) => "wallet_unknown_item",
            Self::NotACityCertificate(_) => "wallet_not_a_city_certificate",
            Self::NoCode => "wallet_no_code",
            Self::Qr(_) => "wallet_qr",
            Self::WrongPassphrase => "wallet_wrong_passphrase",
            Self::BadBackup(_) => "wallet_bad_backup",
            Self::Refused { code, .. } => code,
            Self::Common(e) => e.code(),
        }
    }
}

/// One certificate in the wallet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    pub id: String,
    /// The `TPC1:` text its QR code holds.
    pub qr: String,
    pub certificate: CityCertificate,
    pub received_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Item>,
    /// Matches in all, beyond this page too.
    pub total: u32,
}

/// The wallet at a glance (the dashboard's wallet section), from the store alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    pub total: u32,
    /// Received after the person last looked (`seen_at_ms`; all of them if never).
    pub new_since_seen: u32,
    pub seen_at_ms: Option<i64>,
    /// Not expired yet, but expiring within the window asked for.
    pub expiring_soon: u32,
    /// Newest received first.
    pub newest: Vec<Item>,
    /// The first to expire within the window first.
    pub expiring: Vec<Item>,
}

/// One certificate as the detail screen shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub item: Item,
    /// Checked now, against the cached lists.
    pub verdict: Verdict,
    pub qr_svg: String,
}

/// The wallet capability of a [`crate::Client`]; see `Client::wallet`. Its context:
/// the store (its sealed item, list and contract tables) and the account (public and
/// authenticated calls, the server clock), plus the city root key of the app build.
#[derive(Clone)]
pub struct Wallet {
    store: Arc<Store>,
    account: Arc<Account>,
    root_key: Option<String>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wallet(..)")
    }
}

impl Wallet {
    /// `root_key`: the city root public key (base64url SEC1 P-256) of the app build.
    pub(crate) fn new(ctx: &Ctx, root_key: Option<String>) -> Self {
        Self { store: Arc::clone(&ctx.store), account: Arc::clone(&ctx.account), root_key }
    }

    /// The configured city root key.
    fn root_key(&self) -> Result<PublicKey, WalletError> {
        let text = self.root_key.as_deref().ok_or(WalletError::NoRootKey)?;
        let bytes = b64::decode(text).map_err(|e| CommonError::Config(format!("wallet_root_key: {e}")))?;
        Ok(PublicKey::from_sec1(&bytes).map_err(|e| CommonError::Config(format!("wallet_root_key: {e}")))?)
    }

    /// Verifies a scanned text now (server clock as this phone knows it), offline.
    pub async fn verify_text(&self, text: &str) -> Result<Verdict, WalletError> {
        self.verify_text_at(text, self.account.server_now_ms()).await
    }

    /// Verifies as of `now_ms` (UTC ms): for tests and for "was it valid on ⟨date⟩".
    pub async fn verify_text_at(&self, text: &str, now_ms: i64) -> Result<Verdict, WalletError> {
        let text = text.to_owned();
        self.store
            .call(move |store| {
                let cached = storage::load_lists(store)?.ok_or(WalletError::NoLists)?;
                Ok::<_, WalletError>(cached.verdict(&text, now_ms))
            })
            .await
    }

    /// Verifies the certificate in a picture (PNG/JPEG), through the QR engine.
    #[cfg(feature = "image")]
    pub async fn verify_image(&self, encoded: &[u8]) -> Result<Verdict, WalletError> {
        let bytes = encoded.to_vec();
        self.verify_decoded(move || qr::decode_image(&bytes)).await
    }

    /// Verifies the certificate in a camera frame (a luminance plane).
    pub async fn verify_frame(&self, data: &[u8], width: u32, height: u32, stride: u32) -> Result<Verdict, WalletError> {
        let data = data.to_vec();
        self.verify_decoded(move || qr::decode_luma(&LumaFrame { data: &data, width, height, stride })).await
    }

    /// Runs a QR decode off the async threads (it is CPU work), then verifies what it read.
    async fn verify_decoded<F>(&self, decode: F) -> Result<Verdict, WalletError>
    where
        F: FnOnce() -> Result<Vec<qr::DecodedCode>, qr::QrError> + Send + 'static,
    {
        let codes = blocking(move || decode().map_err(|e| WalletError::Qr(e.to_string()))).await?;
        self.verify_codes(codes.into_iter().map(|c| c.text).collect()).await
    }

    /// Of several codes in one picture, the first that is a certificate at all.
    async fn verify_codes(&self, texts: Vec<String>) -> Result<Verdict, WalletError> {
        let mut first = None;
        for text in texts {
            let verdict = self.verify_text(&text).await?;
            if verdict.kind != VerdictKind::NotACertificate {
                return Ok(verdict);
            }
            first.get_or_insert(verdict);
        }
        first.ok_or(WalletError::NoCode)
    }

    /// Adds a certificate (a scanned or shared `TPC1:` text) to the wallet. It must
    /// decode as a city certificate; its verdict is shown, not required, so a revoked
    /// diploma can still be kept and seen as revoked.
    pub async fn add(&self, qr_text: &str) -> Result<Item, WalletError> {
        let qr = qr_text.trim().to_owned();
        let now = self.account.server_now_ms();
        self.store.call(move |store| storage::insert(store, None, &qr, now)).await
    }

    /// A page of certificates, newest issued first, filtered offline.
    pub async fn list(&self, filter: Filter) -> Result<Page, WalletError> {
        self.store.call(move |store| storage::list(store, &filter)).await
    }

    /// Counts, the `limit` newest received and the first `limit` expiring within
    /// `within_ms` of `now_ms`, from the store alone.
    pub async fn overview(&self, now_ms: i64, within_ms: i64, limit: u32) -> Result<Overview, WalletError> {
        self.store.call(move |store| storage::overview(store, now_ms, within_ms, limit)).await
    }

    /// The person looked at the wallet now: what arrived so far is no longer new.
    pub async fn mark_seen(&self) -> Result<(), WalletError> {
        let now = self.account.server_now_ms();
        self.store.call(move |store| Ok::<_, WalletError>(storage::mark_seen(store, now)?)).await
    }

    /// One certificate with its verdict now and its QR as SVG.
    pub async fn show(&self, id: &str) -> Result<Card, WalletError> {
        let item = self.get(id).await?;
        let verdict = self.verify_text(&item.qr).await?;
        let qr_svg = qr::render::svg(&item.qr, &RenderOptions::default()).map_err(|e| WalletError::Qr(e.to_string()))?;
        Ok(Card { item, verdict, qr_svg })
    }

    pub async fn get(&self, id: &str) -> Result<Item, WalletError> {
        let id = id.to_owned();
        self.store.call(move |store| storage::get(store, &id)).await
    }

    /// The certificate's QR as PNG, `module_px` pixels a module (paper: 8 or more).
    pub async fn qr_png(&self, id: &str, module_px: u32) -> Result<Vec<u8>, WalletError> {
        let item = self.get(id).await?;
        let options = RenderOptions { module_px, ..RenderOptions::default() };
        blocking(move || qr::render::png(&item.qr, &options).map_err(|e| WalletError::Qr(e.to_string()))).await
    }

    pub async fn delete(&self, id: &str) -> Result<(), WalletError> {
        let id = id.to_owned();
        self.store.call(move |store| storage::delete(store, &id)).await
    }

    /// Fetches the signed lists, the person's certificates and contracts.
    pub async fn sync(&self) -> Result<SyncReport, WalletError> {
        sync::sync(&self.account, &self.store, self.root_key()?).await
    }

    /// When the cached lists were made (UTC ms): "checked against lists of ⟨date⟩".
    pub async fn lists_as_of(&self) -> Result<Option<(i64, i64)>, WalletError> {
        self.store
            .call(|store| Ok::<_, WalletError>(storage::load_lists(store)?.map(|l| (l.trust.as_of_ms, l.status_as_of_ms))))
            .await
    }

    /// A backup of every certificate and contract, sealed to `passphrase`.
    pub async fn export_backup(&self, passphrase: &str) -> Result<Vec<u8>, WalletError> {
        let passphrase = passphrase.to_owned();
        self.store.call(move |store| backup::export(store, &passphrase)).await
    }

    /// Restores a backup; returns how many certificates were added.
    pub async fn import_backup(&self, backup: &[u8], passphrase: &str) -> Result<u32, WalletError> {
        let (bytes, passphrase) = (backup.to_vec(), passphrase.to_owned());
        let now = self.account.server_now_ms();
        self.store.call(move |store| backup::import(store, &bytes, &passphrase, now)).await
    }

    /// A one-time kiosk pickup code for one certificate (needs the network).
    pub async fn pickup_code(&self, id: &str, ttl_secs: Option<u32>) -> Result<PickupCode, WalletError> {
        sync::pickup_code(&self.account, id, ttl_secs).await
    }

    pub async fn revoke_pickup_code(&self, code: &str) -> Result<(), WalletError> {
        sync::revoke_pickup_code(&self.account, code).await
    }

    /// The contracts received at the last sync, each checked against the trust
    /// list's anchors.
    pub async fn contracts(&self) -> Result<Vec<ContractView>, WalletError> {
        self.store
            .call(|store| {
                let anchors = storage::load_lists(store)?.map(|l| l.trust.anchor_certificates()).unwrap_or_default();
                Ok::<_, WalletError>(storage::contracts(store)?.iter().map(|c| contract::check(c, &anchors)).collect())
            })
            .await
    }
}

/// The lists as cached: the trust list and the revocation bits, with their times.
#[derive(Debug, Clone)]
pub(crate) struct CachedLists {
    pub trust: taipei_protocol::cert::lists::TrustList,
    pub status: Option<taipei_protocol::cert::lists::StatusBits>,
    pub status_as_of_ms: i64,
}

impl CachedLists {
    pub fn verdict(&self, text: &str, now_ms: i64) -> Verdict {
        let status = self.status.as_ref().map(|bits| (bits, self.status_as_of_ms));
        verify_text(text, Lists { trust: &self.trust, status }, now_ms)
    }
}
