//! Mobile approval from the phone's side: the inbox of documents (公文), e-forms and
//! leave requests waiting for the person, readable offline; the actions (暫存, 陳核,
//! 陳會, 會辦, 決行, 退回, 取回) signed by the device key over exactly what was shown and
//! sent through the outbox; the server's verdicts kept per action.
//!
//! Flow: [`Approvals::sync_inbox`] follows the server's change feed from the stored
//! cursor into the store (summaries sealed). [`Approvals::open`] reads an item online
//! and keeps its detail and body sealed; offline it answers from that copy.
//! [`Approvals::act`] signs `TPQ-APPROVE-v1` over the item, the version read, the
//! SHA-256 of the body bytes kept (the bytes rendered), the action and what it carries,
//! and writes the action row and its outbox item in one transaction (so the idempotency
//! key is on disk before any request); then it tries to deliver at once. The receipt
//! settles the row: `done`, `conflict` ("changed since you read it": the opinion is kept
//! for review, nothing is applied to a version the person did not see) or `refused`
//! with the server's code. Nothing is dropped: a queued action waits for the next sync.

mod store;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rusqlite::Transaction;
use taipei_protocol::api::Receipt;
use taipei_protocol::approval::{
    Action, AttachmentInfo, CosignMode, ItemDetail, ItemSummary, KindCounts, MAX_BATCH, MAX_COSIGNERS, MAX_OPINION_CHARS,
    OwnProxy, ReturnTo, SignedAction, action_message, codes,
};
pub use taipei_protocol::approval::{Changes, Kind, Urgency};
use taipei_protocol::b64;

use crate::ctx::{self, Account, AfterSync, CommonError, Ctx, Queue, common_error};
use crate::identity::signer::sign_checked;
use crate::net::{self, Method, NetError, parse_json};
use crate::outbox::{self, NewItem, Outbox, OutboxError, OutboxItem, ReceiptHandler, Rejection};
use crate::store::Store;

/// The outbox kind of an approval action.
pub const ACTION_KIND: &str = "approval_action";
/// Items asked for per change-feed page (the server's own maximum).
const FEED_PAGE: usize = 100;
/// Change-feed pages read in one sync before handing back (the rest waits for the next).
const MAX_FEED_PAGES: usize = 200;
/// The network layer refuses replies above 4 MiB; an attachment announced larger is
/// refused before it is fetched.
pub const MAX_ATTACHMENT_BYTES: u64 = 4 << 20;
/// Attachment types a phone opens (the agency viewer's formats; ODF is the
/// government's document standard).
pub const ATTACHMENT_TYPES: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "text/plain",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
];
/// Longest id or agency name kept from the server (its own limit is 64 for ids).
const MAX_ID_CHARS: usize = 64;
const MAX_TEXT_CHARS: usize = 1000;

/// Why an approval call failed. Verdicts on sent actions are not errors: they are the
/// [`ActionState`] of the action's record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("no item {0} on this phone: sync the inbox or open it while online")]
    UnknownItem(String),
    #[error("item {0} has not been read on this phone: open it once while online before acting")]
    NotRead(String),
    #[error("item {0} changed since you read it: open it again before acting")]
    ChangedSinceRead(String),
    #[error("a classified item is opened at your desk, not on a phone")]
    Classified,
    #[error("{action} is not an action you can take on this item now")]
    NotAllowed { action: String },
    #[error("approving as final needs an opinion")]
    OpinionRequired,
    #[error("returning needs a reason")]
    ReasonRequired,
    #[error("co-signers: {0}")]
    BadCosigners(String),
    #[error("an action on item {0} is already waiting to be sent")]
    ActionPending(String),
    #[error("a batch has 1 to {MAX_BATCH} actions")]
    BatchSize,
    #[error("the attachment is refused: {0}")]
    AttachmentRejected(String),
    #[error("the server's reply breaks the approval protocol: {0}")]
    BadReply(String),
    #[error("no action {0} on this phone")]
    UnknownAction(String),
    /// A failure every capability shares (offline, not bound, the store, …).
    #[error(transparent)]
    Common(CommonError),
}

common_error!(ApprovalError);

impl ApprovalError {
    pub fn code(&self) -> &str {
        match self {
            Self::UnknownItem(_) => codes::UNKNOWN_ITEM,
            Self::NotRead(_) => "approval_not_read",
            Self::ChangedSinceRead(_) => codes::VERSION_CHANGED,
            Self::Classified => codes::CLASSIFIED,
            Self::NotAllowed { .. } => codes::ACTION_NOT_ALLOWED,
            Self::OpinionRequired => codes::OPINION_REQUIRED,
            Self::ReasonRequired => codes::REASON_REQUIRED,
            Self::BadCosigners(_) => codes::BAD_COSIGNERS,
            Self::ActionPending(_) => "approval_action_pending",
            Self::BatchSize => "approval_batch_size",
            Self::AttachmentRejected(_) => codes::ATTACHMENT_REJECTED,
            Self::BadReply(_) => "approval_bad_reply",
            Self::UnknownAction(_) => "approval_unknown_action",
            Self::Common(e) => e.code(),
        }
    }
}

/// Where a sent action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionState {
    /// Signed and kept in the outbox; sent at the next sync.
    Queued,
    Done,
    /// The item changed since it was read (edited, recalled, acted on elsewhere, moved
    /// to someone else): nothing was applied; read it again and decide again.
    Conflict,
    /// Refused for good; `code` says why.
    Refused,
}

impl ActionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Done => "done",
            Self::Conflict => "conflict",
            Self::Refused => "refused",
        }
    }
}

/// One action the person took, with its verdict once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRecord {
    pub action_id: String,
    pub item_id: String,
    pub action: Action,
    /// The version it was signed for.
    pub version: i64,
    /// Kept for review after a conflict or a refusal.
    pub opinion: String,
    pub cosigners: Vec<String>,
    pub state: ActionState,
    /// The server's code for a conflict or refusal (`approval_version_changed`, ...).
    pub code: Option<String>,
    pub message: Option<String>,
    pub created_at_ms: i64,
    pub settled_at_ms: Option<i64>,
}

/// What the person decided on one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActRequest {
    pub item_id: String,
    pub action: Action,
    /// The opinion (批示, 會辦意見) or, for a return, the reason.
    pub opinion: String,
    /// 陳會 / 加會: the co-signers, in order.
    pub cosigners: Vec<String>,
    pub cosign_mode: Option<CosignMode>,
    pub return_to: Option<ReturnTo>,
}

impl ActRequest {
    pub fn new(item_id: &str, action: Action, opinion: &str) -> Self {
        Self { item_id: item_id.to_owned(), action, opinion: opinion.to_owned(), cosigners: Vec::new(), cosign_mode: None, return_to: None }
    }
}

/// Which part of the stored inbox to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxFilter {
    pub kind: Option<Kind>,
    pub urgency: Option<Urgency>,
    pub agency: Option<String>,
    /// Only items due before this time (UTC ms).
    pub due_before_ms: Option<i64>,
    /// Also items the person can no longer act on (sent on, decided).
    pub include_inactive: bool,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1-100; 0 means 20.
    pub limit: u32,
}

/// One line of the inbox as kept on the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    pub summary: ItemSummary,
    /// Its detail is kept, so it can be read offline.
    pub readable_offline: bool,
    /// An action the person took that waits to be sent.
    pub pending: Option<Action>,
}

impl From<store::Line> for InboxEntry {
    fn from(l: store::Line) -> Self {
        Self { summary: l.summary, readable_offline: l.has_detail, pending: l.pending }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxPage {
    pub entries: Vec<InboxEntry>,
    pub next_cursor: Option<String>,
    /// Actionable items per kind over the whole stored inbox.
    pub counts: KindCounts,
    /// When the inbox was last synced (server clock), if ever.
    pub synced_at_ms: Option<i64>,
}

/// The inbox at a glance (the dashboard's approval section), from the store alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// Actionable items per kind, and how many of them are past due.
    pub counts: KindCounts,
    /// Actionable items marked 最速件 or 速件.
    pub urgent: u32,
    /// The actionable items the feed brought or changed last, newest first.
    pub newest: Vec<InboxEntry>,
    /// When the inbox was last synced (server clock), if ever.
    pub synced_at_ms: Option<i64>,
}

/// An item as read: the detail, the decoded body, and whether it came from the copy kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemView {
    pub detail: ItemDetail,
    /// The body bytes (HTML or PDF, `detail.body_type`) whose hash an action signs.
    pub body: Vec<u8>,
    /// Read from the phone's copy because the server could not be reached.
    pub offline: bool,
    /// The phone knows the item changed since this copy was read.
    pub stale: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxSyncReport {
    /// Items whose line changed.
    pub changed: u32,
    /// More changes wait (the sync stopped after its page budget).
    pub more: bool,
}

/// The result of one action of a batch: its record, or why it was not even queued.
pub type BatchResult = Result<ActionRecord, ApprovalError>;

/// The approval capability of a [`crate::Client`]; see `Client::approvals`. Its
/// context: the store (its item and action tables), the account (the feed, items and
/// attachments, the device key that signs, the server clock) and the outbox (the
/// `approval_action` kind and the after-sync clearing of refusals, registered here).
#[derive(Clone)]
pub struct Approvals {
    store: Arc<Store>,
    account: Arc<Account>,
    outbox: Arc<Queue>,
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Approvals(..)")
    }
}

/// [`ctx::blocking`] with this capability's error, so the closures need no annotation.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApprovalError> + Send + 'static) -> Result<T, ApprovalError> {
    ctx::blocking(f).await
}

fn bad(what: impl Into<String>) -> ApprovalError {
    ApprovalError::BadReply(what.into())
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), ApprovalError> {
    if text.chars().count() > max { Err(bad(format!("{what} longer than {max} characters"))) } else { Ok(()) }
}

/// A line of the feed is stored only if it is one a server could have meant.
fn check_summary(s: &ItemSummary) -> Result<(), ApprovalError> {
    if s.item_id.is_empty() || !s.item_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(bad("an item id that is not [A-Za-z0-9_-]"));
    }
    check_text("item id", &s.item_id, MAX_ID_CHARS)?;
    check_text("agency", &s.agency, MAX_TEXT_CHARS)?;
    check_text("subject", s.subject.as_deref().unwrap_or(""), MAX_TEXT_CHARS)?;
    check_text("acting for", s.acting_for.as_deref().unwrap_or(""), MAX_ID_CHARS)?;
    if s.classified && s.subject.is_some() {
        return Err(bad("a classified item came with its subject"));
    }
    Ok(())
}

fn sha256(bytes: &[u8]) -> String {
    b64::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The body bytes of a detail, checked against the hash the server says it signs.
fn body_of(d: &ItemDetail) -> Result<Vec<u8>, ApprovalError> {
    match &d.body {
        None if d.summary.classified => Ok(Vec::new()),
        None => Err(bad("an item that is not classified came without its body")),
        Some(text) => {
            let body = b64::decode(text).map_err(|e| bad(format!("body: {e}")))?;
            if sha256(&body) != d.body_sha256 {
                return Err(bad("the body does not match its hash"));
            }
            Ok(body)
        }
    }
}

fn cursor_text(s: &ItemSummary) -> String {
    format!("{}~{}", s.due_at_ms, s.item_id)
}

fn parse_cursor(text: &str) -> Result<(i64, String), ApprovalError> {
    text.split_once('~')
        .and_then(|(due, id)| Some((due.parse().ok()?, id.to_owned())))
        .ok_or_else(|| CommonError::InvalidInput("not an inbox cursor this phone gave".into()).into())
}

/// Words for a verdict code (the receipt carries the code; the message is for people).
fn describe(code: &str) -> &'static str {
    match code {
        codes::VERSION_CHANGED => "the item changed since you read it",
        codes::RECALLED => "the sender took the item back since you read it",
        codes::ACTED_ELSEWHERE => "you already acted on it from another device or through a proxy",
        codes::NOT_HOLDER => "the item is no longer with you",
        codes::UNKNOWN_ITEM => "no such item for you",
        codes::NOT_DECIDER => "only the holder at the item's decision level approves as final",
        codes::OPINION_REQUIRED => "an opinion is required",
        codes::REASON_REQUIRED => "a reason is required",
        codes::RECALL_CLOSED => "too late to take it back: the next holder has it",
        codes::CLASSIFIED => "a classified item is handled at the desk only",
        codes::BODY_MISMATCH => "the body you read is not the body of this version",
        codes::REPLAYED => "this signed action was already accepted",
        codes::NOT_PROXY => "you do not stand in for that person now",
        codes::PROXY_CYCLE => "the proxies would route in a loop",
        codes::ACTION_NOT_ALLOWED => "this action does not fit the item's place in its chain",
        codes::BAD_COSIGNERS => "the co-signers chosen are not valid",
        codes::CLOCK_SKEW => "the phone's clock is ahead of the server's",
        _ => "the server refused the action",
    }
}

/// Local checks before anything is signed: the rules the server would refuse on anyway.
fn check_request(req: &ActRequest, detail: &ItemDetail, stale: bool) -> Result<(), ApprovalError> {
    if detail.summary.classified {
        return Err(ApprovalError::Classified);
    }
    if stale {
        return Err(ApprovalError::ChangedSinceRead(req.item_id.clone()));
    }
    if !detail.actions.contains(&req.action) {
        return Err(ApprovalError::NotAllowed { action: req.action.as_str().into() });
    }
    if req.opinion.chars().count() > MAX_OPINION_CHARS {
        return Err(CommonError::InvalidInput(format!("an opinion has at most {MAX_OPINION_CHARS} characters")).into());
    }
    match req.action {
        Action::Approve if req.opinion.trim().is_empty() => return Err(ApprovalError::OpinionRequired),
        Action::Return if req.opinion.trim().is_empty() => return Err(ApprovalError::ReasonRequired),
        _ => {}
    }
    let takes_cosigners = matches!(req.action, Action::RequestCosign | Action::Cosign);
    if !takes_cosigners && (!req.cosigners.is_empty() || req.cosign_mode.is_some()) {
        return Err(ApprovalError::BadCosigners("only 陳會 and 加會 name co-signers".into()));
    }
    if req.action == Action::RequestCosign && req.cosigners.is_empty() {
        return Err(ApprovalError::BadCosigners("陳會 needs at least one co-signer".into()));
    }
    if req.cosigners.len() > MAX_COSIGNERS {
        return Err(ApprovalError::BadCosigners(format!("at most {MAX_COSIGNERS}")));
    }
    if req.cosigners.iter().any(|c| c.is_empty() || c.len() > MAX_ID_CHARS) {
        return Err(ApprovalError::BadCosigners("a co-signer id is 1 to 64 characters".into()));
    }
    if req.return_to.is_some() && req.action != Action::Return {
        return Err(CommonError::InvalidInput("only a return names where it goes".into()).into());
    }
    Ok(())
}

impl Approvals {
    pub(crate) fn new(ctx: &Ctx) -> Self {
        ctx.outbox.register(ACTION_KIND, Arc::new(Receipts));
        ctx.outbox.on_after_sync(Arc::new(ClearRefused { store: Arc::clone(&ctx.store) }));
        Self { store: Arc::clone(&ctx.store), account: Arc::clone(&ctx.account), outbox: Arc::clone(&ctx.outbox) }
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>, CommonError> {
        self.account.authed(Method::Get, path, None, None).await
    }

    /// Tells the UI the outbox grew and wakes the background sync.
    async fn queued(&self) {
        self.outbox.changed().await;
        self.outbox.kick();
    }

    /// Tells the UI the outbox grew and delivers now; a failure leaves the items queued
    /// for the background sync, so it is logged, not returned.
    async fn deliver(&self) {
        self.outbox.changed().await;
        if let Err(e) = self.outbox.sync(true).await {
            tracing::info!(code = e.code(), "approval actions stay queued");
            self.outbox.kick();
        }
    }

    /// Follows the server's change feed from the stored cursor; each page is stored with
    /// its cursor in one transaction, so a crash mid-sync resumes where it stopped.
    pub async fn sync_inbox(&self) -> Result<InboxSyncReport, ApprovalError> {
        let store = Arc::clone(&self.store);
        let mut report = InboxSyncReport::default();
        let (mut since, _) = blocking({
            let store = Arc::clone(&store);
            move || Ok(store.read(store::cursor)?)
        })
        .await?;
        for _ in 0..MAX_FEED_PAGES {
            let reply = self.get(&format!("/v1/approval/changes?since={since}&limit={FEED_PAGE}")).await?;
            let page: Changes = parse_json(&reply, "Changes")?;
            if page.items.len() > FEED_PAGE || page.cursor < since {
                return Err(bad("a change page larger than asked, or a cursor going back"));
            }
            page.items.iter().try_for_each(check_summary)?;
            let now = self.account.server_now_ms();
            let store2 = Arc::clone(&store);
            let (items, cursor) = (page.items, page.cursor);
            let n = u32::try_from(items.len()).unwrap_or(u32::MAX);
            blocking(move || {
                store2.write(|tx| {
                    for s in &items {
                        store::put_summary(tx, store2.key(), s)?;
                    }
                    store::set_cursor(tx, cursor, now)?;
                    store::prune(tx)?;
                    Ok::<_, ApprovalError>(())
                })
            })
            .await?;
            report.changed = report.changed.saturating_add(n);
            since = cursor;
            if !page.more {
                return Ok(report);
            }
        }
        report.more = true;
        Ok(report)
    }

    /// A page of the inbox from the store alone (works offline), due first.
    pub async fn inbox(&self, filter: InboxFilter) -> Result<InboxPage, ApprovalError> {
        let limit = match filter.limit {
            0 => 20,
            n => usize::try_from(n.min(100)).unwrap_or(100),
        };
        let after = filter.cursor.as_deref().map(parse_cursor).transpose()?;
        let store = Arc::clone(&self.store);
        let now = self.account.server_now_ms();
        blocking(move || {
            store.read(|c| {
                let mut lines = store::page(c, store.key(), &filter, after, limit + 1)?;
                let next_cursor = (lines.len() > limit).then(|| {
                    lines.truncate(limit);
                    lines.last().map(|l| cursor_text(&l.summary))
                });
                let entries = lines
                    .into_iter()
                    .map(InboxEntry::from)
                    .collect();
                let (_, synced_at_ms) = store::cursor(c)?;
                Ok::<_, ApprovalError>(InboxPage { entries, next_cursor: next_cursor.flatten(), counts: store::counts(c, now)?, synced_at_ms })
            })
        })
        .await
    }

    /// Counts and the `newest` (at most 100) items the feed changed last, from the store
    /// alone; overdue is judged at `at_ms`.
    pub async fn overview(&self, at_ms: i64, newest: u32) -> Result<Overview, ApprovalError> {
        let limit = usize::try_from(newest.min(100)).unwrap_or(100);
        let store = Arc::clone(&self.store);
        blocking(move || {
            store.read(|c| {
                let newest = store::newest(c, store.key(), limit)?
                    .into_iter()
                    .map(InboxEntry::from)
                    .collect();
                let (_, synced_at_ms) = store::cursor(c)?;
                Ok::<_, ApprovalError>(Overview { counts: store::counts(c, at_ms)?, urgent: store::urgent(c)?, newest, synced_at_ms })
            })
        })
        .await
    }

    /// Reads an item: from the server when it can be reached (and keeps the copy, body
    /// included, sealed), else from the copy kept. Reading it as its holder closes the
    /// sender's recall window on the server.
    pub async fn open(&self, item_id: &str) -> Result<ItemView, ApprovalError> {
        if item_id.is_empty() || item_id.len() > MAX_ID_CHARS || !item_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ApprovalError::UnknownItem(item_id.to_owned()));
        }
        match self.get(&format!("/v1/approval/items/{item_id}")).await {
            Ok(reply) => {
                let detail: ItemDetail = parse_json(&reply, "ItemDetail")?;
                if detail.summary.item_id != item_id {
                    return Err(bad("the server answered about another item"));
                }
                check_summary(&detail.summary)?;
                let body = body_of(&detail)?;
                let store = Arc::clone(&self.store);
                let kept = detail.clone();
                blocking(move || Ok(store.write(|tx| store::put_detail(tx, store.key(), &kept))?)).await?;
                Ok(ItemView { detail, body, offline: false, stale: false })
            }
            Err(CommonError::Net(e)) if matches!(e, NetError::Unreachable(_) | NetError::Timeout(_)) => {
                let (store, id) = (Arc::clone(&self.store), item_id.to_owned());
                let kept = blocking(move || Ok(store.read(|c| store::detail(c, store.key(), &id))?)).await?;
                let (detail, stale) = kept.ok_or(CommonError::Net(e))?;
                let body = body_of(&detail)?;
                Ok(ItemView { detail, body, offline: true, stale })
            }
            Err(CommonError::Net(e)) if e.server_code() == Some(codes::UNKNOWN_ITEM) => Err(ApprovalError::UnknownItem(item_id.to_owned())),
            Err(CommonError::Net(e)) if e.server_code() == Some(codes::CLASSIFIED) => Err(ApprovalError::Classified),
            Err(e) => Err(e.into()),
        }
    }

    /// One attachment's bytes, fetched on demand (never kept): refused before fetching
    /// if its announced type or size is not one a phone opens, and after fetching if
    /// the bytes are not the ones announced.
    pub async fn attachment(&self, item_id: &str, index: u32) -> Result<(AttachmentInfo, Vec<u8>), ApprovalError> {
        let (store, id) = (Arc::clone(&self.store), item_id.to_owned());
        let kept = blocking(move || Ok(store.read(|c| store::detail(c, store.key(), &id))?)).await?;
        let (detail, _) = kept.ok_or_else(|| ApprovalError::NotRead(item_id.to_owned()))?;
        let info = detail
            .attachments
            .iter()
            .find(|a| a.index == index)
            .cloned()
            .ok_or_else(|| ApprovalError::AttachmentRejected(format!("item {item_id} has no attachment {index}")))?;
        if !ATTACHMENT_TYPES.contains(&info.content_type.as_str()) {
            return Err(ApprovalError::AttachmentRejected(format!("type {} is not opened on a phone", info.content_type)));
        }
        if info.size > MAX_ATTACHMENT_BYTES {
            return Err(ApprovalError::AttachmentRejected(format!("{} bytes, more than {MAX_ATTACHMENT_BYTES}", info.size)));
        }
        let bytes = self.get(&format!("/v1/approval/items/{item_id}/attachments/{index}")).await?;
        if u64::try_from(bytes.len()).ok() != Some(info.size) || sha256(&bytes) != info.sha256 {
            return Err(bad("the attachment's bytes are not the ones its item lists"));
        }
        Ok((info, bytes))
    }

    /// Signs and queues one action on the version last read, then tries to deliver it.
    /// The record says where it stands: `Done`, `Conflict`, `Refused` or still `Queued`
    /// (offline: sent by a later sync).
    pub async fn act(&self, request: ActRequest) -> Result<ActionRecord, ApprovalError> {
        let mut results = self.queue(vec![request]).await?;
        let id = results.pop().ok_or_else(|| CommonError::Internal("no result for one action".into()))??;
        self.deliver().await;
        self.action(&id).await
    }

    /// Signs and queues one action without waiting for delivery: the background sync
    /// (or the next `Client::sync`) sends it. For a phone that knows it is offline.
    pub async fn enqueue(&self, request: ActRequest) -> Result<ActionRecord, ApprovalError> {
        let mut results = self.queue(vec![request]).await?;
        let id = results.pop().ok_or_else(|| CommonError::Internal("no result for one action".into()))??;
        self.queued().await;
        self.action(&id).await
    }

    /// Batch approval: up to [`MAX_BATCH`] actions queued in one transaction, then
    /// delivered; one result per request in order (its record, whose state tells done,
    /// conflict, refused or will retry; or the error that kept it from being queued).
    pub async fn act_batch(&self, requests: Vec<ActRequest>) -> Result<Vec<BatchResult>, ApprovalError> {
        if requests.is_empty() || requests.len() > MAX_BATCH {
            return Err(ApprovalError::BatchSize);
        }
        let queued = self.queue(requests).await?;
        self.deliver().await;
        let mut out = Vec::with_capacity(queued.len());
        for q in queued {
            out.push(match q {
                Ok(id) => self.action(&id).await,
                Err(e) => Err(e),
            });
        }
        Ok(out)
    }

    /// Checks, signs and writes each request with its outbox item; all that pass go in
    /// one transaction. Returns the action id or the refusal of each, in order.
    async fn queue(&self, requests: Vec<ActRequest>) -> Result<Vec<Result<String, ApprovalError>>, ApprovalError> {
        let ctx::Active { info, signer, public } = self.account.active()?;
        let time_ms = self.account.server_now_ms();
        // Read and check on the blocking pool, sign outside it (a platform signer may wait
        // for the person), then write every signed action in one transaction.
        let store = Arc::clone(&self.store);
        let checked = blocking(move || {
            let mut checked = Vec::with_capacity(requests.len());
            for (i, req) in requests.iter().enumerate() {
                let kept = store.read(|c| {
                    let d = store::detail(c, store.key(), &req.item_id)?;
                    Ok::<_, ApprovalError>((d, store::queued_for(c, &req.item_id)?))
                })?;
                checked.push((|| {
                    let (kept, pending) = kept;
                    let (detail, stale) = kept.ok_or_else(|| ApprovalError::NotRead(req.item_id.clone()))?;
                    let earlier = requests[..i].iter().any(|r| r.item_id == req.item_id && r.action != Action::SaveDraft);
                    if req.action != Action::SaveDraft && (pending || earlier) {
                        return Err(ApprovalError::ActionPending(req.item_id.clone()));
                    }
                    check_request(req, &detail, stale)?;
                    let body = body_of(&detail)?;
                    Ok::<_, ApprovalError>(SignedAction {
                        item_id: req.item_id.clone(),
                        version: detail.summary.version,
                        body_sha256: sha256(&body),
                        action: req.action,
                        opinion: req.opinion.clone(),
                        cosigners: req.cosigners.clone(),
                        cosign_mode: req.cosign_mode,
                        return_to: req.return_to,
                        acting_for: detail.summary.acting_for.clone(),
                        time_ms,
                        signature: String::new(),
                    })
                })());
            }
            Ok(checked)
        })
        .await?;
        let mut results = Vec::with_capacity(checked.len());
        let mut signed = Vec::new();
        for outcome in checked {
            let outcome = match outcome {
                Ok(mut a) => sign_checked(signer.as_ref(), &public, &action_message(&info.device_id, &a))
                    .await
                    .map(|signature| {
                        a.signature = b64::encode(signature);
                        a
                    })
                    .map_err(ApprovalError::from),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(a) => {
                    let id = net::new_idempotency_key();
                    signed.push((id.clone(), a));
                    results.push(Ok(id));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let store = Arc::clone(&self.store);
        blocking(move || {
            store.write(|tx| {
                for (id, a) in &signed {
                    let item = NewItem {
                        kind: ACTION_KIND.into(),
                        method: "POST".into(),
                        path: "/v1/approval/actions".into(),
                        body: serde_json::to_value(a).map_err(|e| CommonError::Internal(e.to_string()))?,
                    };
                    let outbox_id = outbox::enqueue_in(tx, &item, time_ms)?;
                    store::insert_action(tx, id, &outbox_id, a, time_ms)?;
                }
                Ok::<_, ApprovalError>(())
            })?;
            Ok(results)
        })
        .await
    }

    /// Names `proxy_id` to act for the signed-in person (職務代理) from `from_ms` until
    /// `until_ms`. Online: a proxy someone relies on tomorrow is not left in a queue.
    /// The server refuses an unknown person or a chain that would loop back.
    pub async fn set_proxy(&self, proxy_id: &str, from_ms: i64, until_ms: i64) -> Result<(), ApprovalError> {
        let proxy = OwnProxy { proxy_id: proxy_id.to_owned(), from_ms, until_ms };
        proxy.check().map_err(CommonError::InvalidInput)?;
        self.account.post_json("/v1/approval/proxies", &proxy).await?;
        Ok(())
    }

    /// One action by id, with its current state.
    pub async fn action(&self, action_id: &str) -> Result<ActionRecord, ApprovalError> {
        let (store, id) = (Arc::clone(&self.store), action_id.to_owned());
        blocking(move || store.read(|c| store::action(c, &id))?.ok_or_else(|| ApprovalError::UnknownAction(id))).await
    }

    /// The person's actions, newest first (at most `limit`), optionally for one item.
    pub async fn actions(&self, item_id: Option<&str>, limit: u32) -> Result<Vec<ActionRecord>, ApprovalError> {
        let (store, id) = (Arc::clone(&self.store), item_id.map(str::to_owned));
        let limit = usize::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        blocking(move || Ok(store.read(|c| store::actions(c, id.as_deref(), limit))?)).await
    }

    /// One inbox line from the store.
    pub async fn entry(&self, item_id: &str) -> Result<InboxEntry, ApprovalError> {
        let (store, id) = (Arc::clone(&self.store), item_id.to_owned());
        blocking(move || {
            let line = store.read(|c| store::line_of(c, store.key(), &id))?;
            line.map(InboxEntry::from)
                .ok_or_else(|| ApprovalError::UnknownItem(id))
        })
        .await
    }
}

/// Applies the server's verdict to the action row, in the outbox's transaction.
pub(crate) struct Receipts;

impl ReceiptHandler for Receipts {
    fn on_receipt(&self, tx: &Transaction<'_>, item: &OutboxItem, receipt: &Receipt) -> Result<(), OutboxError> {
        let state = match receipt.status.as_str() {
            "done" => ActionState::Done,
            "conflict" => ActionState::Conflict,
            _ => ActionState::Refused,
        };
        let code = match (state, receipt.code.as_deref()) {
            (ActionState::Done, _) => None,
            (_, Some(code)) => Some(code),
            (_, None) => Some("approval_bad_reply"),
        };
        let message = code.map(describe);
        Ok(store::settle(tx, &item.id, state, code, message, Some(receipt.server_time_ms))?)
    }

    fn on_rejected(&self, tx: &Transaction<'_>, item: &OutboxItem, rejection: &Rejection) -> Result<(), OutboxError> {
        store::settle(tx, &item.id, ActionState::Refused, Some(&rejection.code), Some(&rejection.message), None)?;
        Ok(store::mark_dead_outbox(tx, &item.id)?)
    }
}

/// After a sync: clears the dead outbox items of refused actions (their rows keep the
/// code and words, so the person sees each refusal once, in one place).
struct ClearRefused {
    store: Arc<Store>,
}

impl AfterSync for ClearRefused {
    fn after_sync<'a>(&'a self, outbox: &'a Outbox) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(clear_refused(&self.store, outbox))
    }
}

async fn clear_refused(store: &Arc<Store>, outbox: &Outbox) {
    let store = Arc::clone(store);
    let ids = match blocking(move || Ok(store.write(store::take_dead_outbox)?)).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(code = e.code(), "could not read refused approval actions");
            return;
        }
    };
    for id in ids {
        match outbox.discard_dead(id).await {
            Ok(()) | Err(OutboxError::NotFound(_)) => {}
            Err(e) => tracing::warn!(code = e.code(), "could not clear a refused approval action from the outbox"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::FileSecretStore;
    use taipei_protocol::approval::ItemState;

    fn open(dir: &std::path::Path) -> Store {
        Store::open(&dir.join("p.db"), &FileSecretStore::new(dir.join("s")).unwrap(), "k").unwrap()
    }

    fn summary(id: &str, kind: Kind, due: i64, version: i64) -> ItemSummary {
        ItemSummary {
            item_id: id.into(),
            kind,
            subject: Some(format!("subject {id}")),
            classified: false,
            urgency: Urgency::Urgent,
            agency: "資訊局".into(),
            version,
            state: ItemState::Routing,
            due_at_ms: due,
            actionable: true,
            acting_for: None,
            seq: version,
        }
    }

    fn detail(s: ItemSummary, body: &[u8]) -> ItemDetail {
        ItemDetail {
            summary: s,
            body: Some(b64::encode(body)),
            body_type: "text/html".into(),
            body_sha256: sha256(body),
            attachments: Vec::new(),
            decision_level: 2,
            chain: Vec::new(),
            step: 1,
            leave: None,
            fields: Vec::new(),
            history: Vec::new(),
            actions: vec![Action::SaveDraft, Action::Approve, Action::Return, Action::RequestCosign],
            my_draft: None,
        }
    }

    fn page(store: &Store, f: &InboxFilter, after: Option<(i64, String)>) -> Vec<String> {
        store.read(|c| store::page(c, store.key(), f, after, 10)).unwrap().into_iter().map(|l| l.summary.item_id).collect()
    }

    #[test]
    fn the_inbox_is_due_first_filtered_counted_and_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store
            .write(|tx| {
                store::put_summary(tx, store.key(), &summary("b", Kind::Document, 200, 1))?;
                store::put_summary(tx, store.key(), &summary("a", Kind::Leave, 200, 1))?;
                store::put_summary(tx, store.key(), &summary("c", Kind::Document, 100, 1))?;
                let mut gone = summary("d", Kind::Form, 50, 1);
                gone.actionable = false;
                store::put_summary(tx, store.key(), &gone)
            })
            .unwrap();
        assert_eq!(page(&store, &InboxFilter::default(), None), ["c", "a", "b"]);
        assert_eq!(page(&store, &InboxFilter { include_inactive: true, ..InboxFilter::default() }, None), ["d", "c", "a", "b"]);
        assert_eq!(page(&store, &InboxFilter { kind: Some(Kind::Document), ..InboxFilter::default() }, None), ["c", "b"]);
        assert_eq!(page(&store, &InboxFilter { due_before_ms: Some(150), ..InboxFilter::default() }, None), ["c"]);
        assert_eq!(page(&store, &InboxFilter::default(), Some((200, "a".into()))), ["b"]);
        let counts = store.read(|c| store::counts(c, 150)).unwrap();
        assert_eq!((counts.document, counts.leave, counts.form, counts.overdue), (2, 1, 0, 1));
        // The subject never sits in the file in clear.
        drop(store);
        let raw = std::fs::read(dir.path().join("p.db")).unwrap();
        assert!(!raw.windows(9).any(|w| w == b"subject b"));
    }

    #[tokio::test]
    async fn the_overview_counts_the_actionable_and_lists_the_newest_by_feed_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(dir.path()));
        let mut lines = vec![
            summary("old", Kind::Document, 100, 1),
            summary("mid", Kind::Leave, 300, 2),
            summary("new", Kind::Form, 200, 3),
            summary("gone", Kind::Document, 50, 4),
        ];
        lines[0].urgency = Urgency::Normal;
        lines[1].urgency = Urgency::Most;
        lines[3].actionable = false;
        store.write(|tx| lines.iter().try_for_each(|s| store::put_summary(tx, store.key(), s))).unwrap();
        let read = |at, newest| {
            let store = Arc::clone(&store);
            async move {
                blocking(move || {
                    store.read(|c| {
                        let newest: Vec<InboxEntry> = store::newest(c, store.key(), newest)?.into_iter().map(InboxEntry::from).collect();
                        Ok::<_, ApprovalError>((store::counts(c, at)?, store::urgent(c)?, newest))
                    })
                })
                .await
                .unwrap()
            }
        };
        let (counts, urgent, newest) = read(200, 2).await;
        assert_eq!((counts.document, counts.form, counts.leave), (1, 1, 1), "the inactive item is not waiting");
        assert_eq!(counts.overdue, 2, "due at or before the time asked is overdue");
        assert_eq!(urgent, 2, "最速件 and 速件, not 普通件");
        let ids: Vec<&str> = newest.iter().map(|e| e.summary.item_id.as_str()).collect();
        assert_eq!(ids, ["new", "mid"], "the feed's latest changes first, at most as many as asked");
        // A later change to the oldest item brings it to the top.
        store.write(|tx| store::put_summary(tx, store.key(), &ItemSummary { seq: 9, ..summary("old", Kind::Document, 100, 1) })).unwrap();
        let (_, _, newest) = read(0, 10).await;
        let ids: Vec<&str> = newest.iter().map(|e| e.summary.item_id.as_str()).collect();
        assert_eq!(ids, ["old", "new", "mid"]);
    }

    #[test]
    fn a_newer_version_in_the_feed_marks_the_kept_detail_stale() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let s = summary("x", Kind::Document, 1, 3);
        store.write(|tx| store::put_detail(tx, store.key(), &detail(s.clone(), b"<p>v3</p>"))).unwrap();
        let (_, stale) = store.read(|c| store::detail(c, store.key(), "x")).unwrap().unwrap();
        assert!(!stale);
        // The same version again (another field changed) keeps it fresh; a newer one does not.
        store.write(|tx| store::put_summary(tx, store.key(), &s)).unwrap();
        assert!(!store.read(|c| store::detail(c, store.key(), "x")).unwrap().unwrap().1);
        store.write(|tx| store::put_summary(tx, store.key(), &summary("x", Kind::Document, 1, 4))).unwrap();
        let (kept, stale) = store.read(|c| store::detail(c, store.key(), "x")).unwrap().unwrap();
        assert!(stale);
        assert_eq!(kept.summary.version, 3, "the copy read is kept as it was read");
    }

    fn queue_one(store: &Store, item: &str, action: Action) -> OutboxItem {
        let a = SignedAction {
            item_id: item.into(),
            version: 3,
            body_sha256: String::new(),
            action,
            opinion: "意見".into(),
            cosigners: Vec::new(),
            cosign_mode: None,
            return_to: None,
            acting_for: None,
            time_ms: 1,
            signature: "s".into(),
        };
        let outbox_id = store
            .write(|tx| {
                let item = NewItem { kind: ACTION_KIND.into(), method: "POST".into(), path: "/v1/approval/actions".into(), body: serde_json::to_value(&a).unwrap() };
                let id = outbox::enqueue_in(tx, &item, 1)?;
                store::insert_action(tx, &format!("act-{item}", item = a.item_id), &id, &a, 1)?;
                Ok::<_, OutboxError>(id)
            })
            .unwrap();
        OutboxItem {
            id: outbox_id,
            kind: ACTION_KIND.into(),
            method: "POST".into(),
            path: "/v1/approval/actions".into(),
            body: String::new(),
            idempotency_key: String::new(),
            created_at_ms: 1,
            attempts: 0,
            last_error: None,
            last_code: None,
            next_attempt_at_ms: 1,
            state: outbox::ItemState::Pending,
        }
    }

    fn receipt(status: &str, code: Option<&str>) -> Receipt {
        Receipt { id: "r".into(), server_time_ms: 9, status: status.into(), reason: None, code: code.map(str::to_owned), late: false }
    }

    #[test]
    fn receipts_settle_each_action_as_done_conflict_or_refused_and_keep_the_opinion() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for id in ["d", "c", "r", "w", "z"] {
            store.write(|tx| store::put_detail(tx, store.key(), &detail(summary(id, Kind::Document, 1, 3), b"b"))).unwrap();
        }
        let cases = [
            ("d", receipt("done", None), ActionState::Done, None),
            ("c", receipt("conflict", Some(codes::RECALLED)), ActionState::Conflict, Some(codes::RECALLED)),
            ("r", receipt("refused", Some(codes::NOT_DECIDER)), ActionState::Refused, Some(codes::NOT_DECIDER)),
            // A status this version does not know is never taken for success.
            ("w", receipt("accepted", None), ActionState::Refused, Some("approval_bad_reply")),
        ];
        for (id, receipt, state, code) in cases {
            let item = queue_one(&store, id, Action::Approve);
            store.write(|tx| Receipts.on_receipt(tx, &item, &receipt)).unwrap();
            let record = store.read(|c| store::action(c, &format!("act-{id}"))).unwrap().unwrap();
            assert_eq!((record.state, record.code.as_deref()), (state, code), "{id}");
            assert_eq!(record.opinion, "意見");
            assert_eq!(record.message.is_some(), code.is_some());
        }
        let item = queue_one(&store, "z", Action::Approve);
        let rejection = Rejection { code: "signature_invalid".into(), message: "bad signature".into() };
        store.write(|tx| Receipts.on_rejected(tx, &item, &rejection)).unwrap();
        let z = store.read(|c| store::action(c, "act-z")).unwrap().unwrap();
        assert_eq!((z.state, z.code.as_deref()), (ActionState::Refused, Some("signature_invalid")));
        assert_eq!(store.write(store::take_dead_outbox).unwrap(), [item.id]);
        assert!(store.write(store::take_dead_outbox).unwrap().is_empty());
        // Done: out of the inbox and to be read again; conflict: to be read again.
        let line = |id: &str| store.read(|c| store::line_of(c, store.key(), id)).unwrap().unwrap().summary.actionable;
        assert!(!line("d") && line("c") && line("r"));
        let stale = |id: &str| store.read(|c| store::detail(c, store.key(), id)).unwrap().unwrap().1;
        assert!(stale("d") && stale("c") && !stale("r"));
    }

    #[test]
    fn local_rules_refuse_before_signing() {
        let d = detail(summary("x", Kind::Document, 1, 3), b"b");
        let req = |action, opinion: &str| ActRequest::new("x", action, opinion);
        let code = |r: &ActRequest, stale| check_request(r, &d, stale).err().map(|e| e.code().to_owned());
        assert_eq!(code(&req(Action::Approve, "准"), false), None);
        assert_eq!(code(&req(Action::Approve, "准"), true).as_deref(), Some(codes::VERSION_CHANGED));
        assert_eq!(code(&req(Action::Approve, "  "), false).as_deref(), Some(codes::OPINION_REQUIRED));
        assert_eq!(code(&req(Action::Return, ""), false).as_deref(), Some(codes::REASON_REQUIRED));
        assert_eq!(code(&req(Action::Forward, "x"), false).as_deref(), Some(codes::ACTION_NOT_ALLOWED));
        assert_eq!(code(&req(Action::RequestCosign, "x"), false).as_deref(), Some(codes::BAD_COSIGNERS));
        let mut many = req(Action::RequestCosign, "x");
        many.cosigners = (0..=MAX_COSIGNERS).map(|i| format!("u{i}")).collect();
        assert_eq!(code(&many, false).as_deref(), Some(codes::BAD_COSIGNERS));
        let mut stray = req(Action::Approve, "x");
        stray.cosigners = vec!["u".into()];
        assert_eq!(code(&stray, false).as_deref(), Some(codes::BAD_COSIGNERS));
        let long = req(Action::Approve, &"字".repeat(MAX_OPINION_CHARS + 1));
        assert_eq!(code(&long, false).as_deref(), Some("invalid_input"));
        let mut secret = d.clone();
        secret.summary.classified = true;
        assert_eq!(check_request(&req(Action::Approve, "x"), &secret, false).unwrap_err().code(), codes::CLASSIFIED);
    }

    #[test]
    fn hostile_replies_are_refused_with_a_typed_error() {
        let mut d = detail(summary("x", Kind::Document, 1, 3), b"<p>real</p>");
        assert_eq!(body_of(&d).unwrap(), b"<p>real</p>");
        d.body = Some(b64::encode(b"<p>swapped</p>"));
        assert_eq!(body_of(&d).unwrap_err().code(), "approval_bad_reply");
        d.body = None;
        assert_eq!(body_of(&d).unwrap_err().code(), "approval_bad_reply");
        for bad in ["", "../x", "a b", &"x".repeat(65)] {
            assert!(check_summary(&summary(bad, Kind::Form, 1, 1)).is_err(), "{bad:?}");
        }
        let mut leaky = summary("x", Kind::Document, 1, 1);
        leaky.classified = true;
        assert!(check_summary(&leaky).is_err(), "a classified subject must not be stored");
        let mut huge = summary("x", Kind::Document, 1, 1);
        huge.subject = Some("字".repeat(MAX_TEXT_CHARS + 1));
        assert!(check_summary(&huge).is_err());
        assert!(parse_cursor("nope").is_err());
        assert_eq!(parse_cursor("12~ab").unwrap(), (12, "ab".to_owned()));
        assert_eq!(describe("something_new"), "the server refused the action");
    }
}
