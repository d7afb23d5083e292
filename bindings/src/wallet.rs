//! [`Wallet`]: the certificate wallet, and its error enum [`WalletError`]. The core's wallet types
//! are restated as `Wallet*` records here (not exported as they are) because their
//! short Rust names — `Text`, `Field`, `Page`, `SyncReport` — would collide in Kotlin
//! and Swift with the app's own and with the outbox's `SyncReport`.

use taipei_core::wallet::{
    self as core_wallet, Certificate as CityCertificate, CheckStatus, ContractStatus, ContractView, Field, Filter, PickupCode,
    SignatureView, Text, Verdict, VerdictCheck, VerdictKind, VerdictStep,
};

use std::sync::Arc;

use taipei_core::Error as CoreError;

use crate::client::{Client, Shared};
use crate::error::{ClientError, ffi_error};

#[uniffi::remote(Enum)]
pub enum VerdictKind {
    Valid,
    InvalidSignature,
    UnknownIssuer,
    IssuerNotAllowedType,
    Expired,
    NotYetValid,
    Revoked,
    Tampered,
    NotACertificate,
}

#[uniffi::remote(Enum)]
pub enum VerdictCheck {
    Format,
    Integrity,
    Content,
    Issuer,
    Signature,
    IssuerMatch,
    AllowedType,
    Revocation,
    Validity,
}

#[uniffi::remote(Enum)]
pub enum CheckStatus {
    Passed,
    Failed,
    NotChecked,
}

#[uniffi::remote(Enum)]
pub enum ContractStatus {
    Valid,
    Voided,
    Invalid,
}

#[uniffi::remote(Record)]
pub struct SignatureView {
    pub order: u32,
    pub signed_at_ms: i64,
    pub signer: String,
    pub subject_dn: String,
    pub issuer_dn: String,
    pub serial: String,
    pub problem: Option<String>,
}

#[uniffi::remote(Record)]
pub struct ContractView {
    pub id: String,
    pub title: String,
    pub status: ContractStatus,
    pub signatures: Vec<SignatureView>,
    pub voided_at_ms: Option<i64>,
    pub void_reason: Option<String>,
}

#[uniffi::remote(Record)]
pub struct PickupCode {
    pub code: String,
    pub certificate_id: String,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletText {
    pub zh: String,
    pub en: String,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletField {
    pub label: WalletText,
    pub value: String,
}

/// A city certificate's claims. Times UTC ms.
#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletCertificate {
    pub issuer: String,
    pub holder: String,
    pub cert_type: String,
    pub title: WalletText,
    pub fields: Vec<WalletField>,
    pub issued_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub status_index: u64,
    pub document_sha256: Option<String>,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletItem {
    pub id: String,
    pub qr: String,
    pub certificate: WalletCertificate,
    pub received_at_ms: i64,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletPage {
    pub items: Vec<WalletItem>,
    pub total: u32,
}

/// One check of a verdict: `words` to show a citizen (zh and en), `detail` the
/// technical cause for an inspector.
#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletVerdictStep {
    pub code: VerdictCheck,
    pub status: CheckStatus,
    pub words: WalletText,
    pub detail: Option<String>,
}

/// A verifier's answer: `kind` to act on, `reason` to show, every check in `steps`
/// (at most one failed: the one to explain), what could be decoded.
#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletVerdict {
    pub kind: VerdictKind,
    pub reason: String,
    pub steps: Vec<WalletVerdictStep>,
    pub format: Option<String>,
    pub issuer: Option<String>,
    pub issuer_name: Option<String>,
    pub certificate: Option<WalletCertificate>,
    /// The EU DCC payload as JSON text.
    pub eu_dcc_json: Option<String>,
    pub trust_list_as_of_ms: Option<i64>,
    pub status_list_as_of_ms: Option<i64>,
    pub checked_at_ms: i64,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletCard {
    pub item: WalletItem,
    pub verdict: WalletVerdict,
    pub qr_svg: String,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletFilter {
    #[uniffi(default = None)]
    pub cert_type: Option<String>,
    #[uniffi(default = None)]
    pub issuer: Option<String>,
    #[uniffi(default = None)]
    pub issued_from_ms: Option<i64>,
    #[uniffi(default = None)]
    pub issued_to_ms: Option<i64>,
    #[uniffi(default = None)]
    pub text: Option<String>,
    #[uniffi(default = 0)]
    pub offset: u32,
    #[uniffi(default = 0)]
    pub limit: u32,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletSyncReport {
    pub added: u32,
    pub refused: u32,
    pub total: u32,
    pub contracts: u32,
    pub trust_list_as_of_ms: i64,
    pub status_list_as_of_ms: i64,
}

fn text(t: Text) -> WalletText {
    WalletText { zh: t.zh, en: t.en }
}

impl From<CityCertificate> for WalletCertificate {
    fn from(c: CityCertificate) -> Self {
        Self {
            issuer: c.issuer,
            holder: c.holder,
            cert_type: c.cert_type,
            title: text(c.title),
            fields: c.fields.into_iter().map(|Field { label, value }| WalletField { label: text(label), value }).collect(),
            issued_at_ms: c.issued_at.saturating_mul(1000),
            expires_at_ms: c.expires_at.map(|s| s.saturating_mul(1000)),
            status_index: c.status_index,
            document_sha256: c.document_sha256,
        }
    }
}

impl From<core_wallet::Item> for WalletItem {
    fn from(i: core_wallet::Item) -> Self {
        Self { id: i.id, qr: i.qr, certificate: i.certificate.into(), received_at_ms: i.received_at_ms }
    }
}

impl From<Verdict> for WalletVerdict {
    fn from(v: Verdict) -> Self {
        Self {
            kind: v.kind,
            reason: v.reason,
            steps: v
                .steps
                .into_iter()
                .map(|VerdictStep { code, status, words, detail }| WalletVerdictStep { code, status, words: text(words), detail })
                .collect(),
            format: v.format,
            issuer: v.issuer,
            issuer_name: v.issuer_name,
            certificate: v.certificate.map(Into::into),
            eu_dcc_json: v.eu_dcc.map(|j| j.to_string()),
            trust_list_as_of_ms: v.trust_list_as_of_ms,
            status_list_as_of_ms: v.status_list_as_of_ms,
            checked_at_ms: v.checked_at_ms,
        }
    }
}

ffi_error! {
    /// What the certificate wallet refuses.
    pub enum WalletError {
        /// The app was built without the city root key. Code `wallet_no_root_key`.
        NoRootKey {},
        /// No trust list yet: sync once while online. Code `wallet_no_lists`.
        NoLists {},
        /// The signed lists did not verify. Code `wallet_bad_lists`.
        BadLists {},
        /// No certificate with that id on this phone. Code `wallet_unknown_item`.
        UnknownItem {},
        /// The scanned or received text is not a city certificate. Code
        /// `wallet_not_a_city_certificate`.
        NotACityCertificate {},
        /// No QR code found in the picture or frame. Code `wallet_no_code`.
        NoCode {},
        /// The picture or frame could not be read. Code `wallet_qr`.
        BadImage {},
        /// Wrong passphrase, or the backup was altered. Code `wallet_wrong_passphrase`.
        WrongPassphrase {},
        /// Not a wallet backup. Code `wallet_bad_backup`.
        BadBackup {},
        /// A wallet refusal this version has no variant for (`wallet_…` codes of the
        /// server, or a code a newer server adds); `code` is the server's raw code.
        Unknown {},
    }
    specific = |e| match e {
        CoreError::Wallet(w) => {
            use core_wallet::WalletError as W;
            let (code, detail) = (w.code().to_owned(), w.to_string());
            Ok(match w {
                W::NoRootKey => WalletError::NoRootKey { code, detail },
                W::NoLists => WalletError::NoLists { code, detail },
                W::BadLists(_) => WalletError::BadLists { code, detail },
                W::UnknownItem(_) => WalletError::UnknownItem { code, detail },
                W::NotACityCertificate(_) => WalletError::NotACityCertificate { code, detail },
                W::NoCode => WalletError::NoCode { code, detail },
                W::Qr(_) => WalletError::BadImage { code, detail },
                W::WrongPassphrase => WalletError::WrongPassphrase { code, detail },
                W::BadBackup(_) => WalletError::BadBackup { code, detail },
                W::Refused { message, .. } => WalletError::Unknown { code, detail: message },
                W::Common(c) => return Err(CoreError::from(c)),
            })
        }
        e => Err(e),
    };
}

/// The certificate wallet, handed out by `Client.wallet()`.
#[derive(Debug, uniffi::Object)]
pub struct Wallet {
    client: Arc<Shared>,
}

#[uniffi::export]
impl Client {
    /// The certificate wallet. No I/O; fails only with `Closed`.
    pub fn wallet(&self) -> Result<Arc<Wallet>, ClientError> {
        self.shared.get(|_| Ok(Arc::new(Wallet { client: Arc::clone(&self.shared) })))
    }
}

#[uniffi::export]
impl Wallet {
    /// Fetches the signed lists, this person's certificates and contracts.
    pub async fn sync(&self) -> Result<WalletSyncReport, WalletError> {
        self.client.call(|c| async move {
            let r = c.wallet().sync().await?;
            Ok::<_, core_wallet::WalletError>(WalletSyncReport {
                added: r.added,
                refused: r.refused,
                total: r.total,
                contracts: r.contracts,
                trust_list_as_of_ms: r.trust_list_as_of_ms,
                status_list_as_of_ms: r.status_list_as_of_ms,
            })
        })
        .await
    }

    /// A page of certificates, newest issued first, filtered offline.
    pub async fn list(&self, filter: WalletFilter) -> Result<WalletPage, WalletError> {
        let filter = Filter {
            cert_type: filter.cert_type,
            issuer: filter.issuer,
            issued_from_ms: filter.issued_from_ms,
            issued_to_ms: filter.issued_to_ms,
            text: filter.text,
            offset: filter.offset,
            limit: filter.limit,
        };
        self.client.call(|c| async move {
            let page = c.wallet().list(filter).await?;
            Ok::<_, core_wallet::WalletError>(WalletPage { items: page.items.into_iter().map(Into::into).collect(), total: page.total })
        })
        .await
    }

    /// One certificate: fields, its verdict now, its QR as SVG.
    pub async fn show(&self, id: String) -> Result<WalletCard, WalletError> {
        self.client.call(|c| async move {
            let card = c.wallet().show(&id).await?;
            Ok::<_, core_wallet::WalletError>(WalletCard { item: card.item.into(), verdict: card.verdict.into(), qr_svg: card.qr_svg })
        })
        .await
    }

    /// The certificate's QR as PNG (`module_px` pixels per module).
    pub async fn render_qr_png(&self, id: String, module_px: u32) -> Result<Vec<u8>, WalletError> {
        self.client.call(|c| async move { c.wallet().qr_png(&id, module_px).await }).await
    }

    /// The person looked at the wallet: what arrived so far is no longer "new" on the
    /// dashboard.
    pub async fn mark_seen(&self) -> Result<(), WalletError> {
        self.client.call(|c| async move { c.wallet().mark_seen().await }).await
    }

    /// Removes the certificate from this phone (the server keeps its copy).
    pub async fn delete(&self, id: String) -> Result<(), WalletError> {
        self.client.call(|c| async move { c.wallet().delete(&id).await }).await
    }

    /// Verifies scanned text (`TPC1:` or `HC1:`) offline against the cached lists.
    pub async fn verify_text(&self, qr_text: String) -> Result<WalletVerdict, WalletError> {
        self.client.call(|c| async move { Ok::<_, core_wallet::WalletError>(c.wallet().verify_text(&qr_text).await?.into()) }).await
    }

    /// Verifies the certificate in a camera frame (luminance plane).
    pub async fn verify_frame(&self, luma: Vec<u8>, width: u32, height: u32, stride: u32) -> Result<WalletVerdict, WalletError> {
        self.client.call(|c| async move { Ok::<_, core_wallet::WalletError>(c.wallet().verify_frame(&luma, width, height, stride).await?.into()) }).await
    }

    /// A backup sealed to `passphrase` (at least 8 characters).
    pub async fn export_backup(&self, passphrase: String) -> Result<Vec<u8>, WalletError> {
        self.client.call(|c| async move { c.wallet().export_backup(&passphrase).await }).await
    }

    /// Restores a backup; returns how many certificates were added.
    pub async fn import_backup(&self, backup: Vec<u8>, passphrase: String) -> Result<u32, WalletError> {
        self.client.call(|c| async move { c.wallet().import_backup(&backup, &passphrase).await }).await
    }

    /// A one-time kiosk pickup code.
    pub async fn create_pickup_code(&self, id: String, ttl_secs: Option<u32>) -> Result<PickupCode, WalletError> {
        self.client.call(|c| async move { c.wallet().pickup_code(&id, ttl_secs).await }).await
    }

    /// Withdraws a pickup code before it is used.
    pub async fn revoke_pickup_code(&self, code: String) -> Result<(), WalletError> {
        self.client.call(|c| async move { c.wallet().revoke_pickup_code(&code).await }).await
    }

    /// Contracts with their signature history, checked against the trust anchors.
    pub async fn list_contracts(&self) -> Result<Vec<ContractView>, WalletError> {
        self.client.call(|c| async move { c.wallet().contracts().await }).await
    }
}

/// Picture files are for builds with the `image` feature (tests, desktop tools); apps
/// hand camera and gallery frames to `verify_frame` as luma planes.
#[cfg(feature = "image")]
#[uniffi::export]
impl Wallet {
    /// Verifies the certificate in a picture (PNG/JPEG bytes).
    pub async fn verify_image(&self, image: Vec<u8>) -> Result<WalletVerdict, WalletError> {
        self.client.call(|c| async move { Ok::<_, core_wallet::WalletError>(c.wallet().verify_image(&image).await?.into()) }).await
    }
}
