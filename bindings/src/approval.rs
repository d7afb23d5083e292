//! [`Approvals`]: mobile approval — the inbox readable offline, items read and kept,
//! signed actions (one or a batch of up to 50) with their verdicts — and its error enum
//! [`ApprovalError`]. The protocol's enums are restated as `Approval*` here because
//! their short names (`Kind`, `Action`, `Urgency`) would collide in Kotlin and Swift.

use std::sync::Arc;

use taipei_core::Error as CoreError;
use taipei_core::NetError;
use taipei_core::approval::{self as core_ap, ActRequest, ActionState, InboxFilter};
use taipei_protocol::approval::{self as wire, codes};

use crate::client::{Client, Shared};
use crate::error::{ClientError, ffi_error};

/// 公文, 電子表單, 請假.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ApprovalKind {
    Document,
    Form,
    Leave,
}

/// 速別: 最速件 (1 working day), 速件 (3), 普通件 (6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ApprovalUrgency {
    Most,
    Urgent,
    Normal,
}

/// 暫存, 陳核, 陳會, 會辦 (with 加會), 決行, 退回, 取回.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ApprovalAction {
    SaveDraft,
    Forward,
    RequestCosign,
    Cosign,
    Approve,
    Return,
    Recall,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ApprovalItemState {
    Routing,
    Cosigning,
    Decided,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CosignOrder {
    Parallel,
    Sequential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReturnTarget {
    Previous,
    Drafter,
}

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ApprovalActionState {
    /// Signed and in the outbox; sent at the next sync (offline: will retry).
    Queued,
    Done,
    /// "Changed since you read it": nothing applied; the opinion is kept; read again.
    Conflict,
    /// Refused for good; `code` says why.
    Refused,
}

macro_rules! same_enum {
    ($from:ty => $to:ident { $($v:ident),* }) => {
        impl From<$from> for $to {
            fn from(v: $from) -> Self {
                match v { $(<$from>::$v => Self::$v),* }
            }
        }
        impl From<$to> for $from {
            fn from(v: $to) -> Self {
                match v { $($to::$v => Self::$v),* }
            }
        }
    };
}

same_enum!(wire::Kind => ApprovalKind { Document, Form, Leave });
same_enum!(wire::Urgency => ApprovalUrgency { Most, Urgent, Normal });
same_enum!(wire::Action => ApprovalAction { SaveDraft, Forward, RequestCosign, Cosign, Approve, Return, Recall });
same_enum!(wire::ItemState => ApprovalItemState { Routing, Cosigning, Decided });
same_enum!(wire::CosignMode => CosignOrder { Parallel, Sequential });
same_enum!(wire::ReturnTo => ReturnTarget { Previous, Drafter });
same_enum!(ActionState => ApprovalActionState { Queued, Done, Conflict, Refused });

/// One line of the inbox. Times UTC ms.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalSummary {
    pub item_id: String,
    pub kind: ApprovalKind,
    /// `None` for a classified item: show "open at your desk".
    pub subject: Option<String>,
    pub classified: bool,
    pub urgency: ApprovalUrgency,
    pub agency: String,
    pub version: i64,
    pub state: ApprovalItemState,
    pub due_at_ms: i64,
    pub actionable: bool,
    /// Set when the person would act for someone else (代).
    pub acting_for: Option<String>,
}

impl From<wire::ItemSummary> for ApprovalSummary {
    fn from(s: wire::ItemSummary) -> Self {
        Self {
            item_id: s.item_id,
            kind: s.kind.into(),
            subject: s.subject,
            classified: s.classified,
            urgency: s.urgency.into(),
            agency: s.agency,
            version: s.version,
            state: s.state.into(),
            due_at_ms: s.due_at_ms,
            actionable: s.actionable,
            acting_for: s.acting_for,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalInboxEntry {
    pub summary: ApprovalSummary,
    /// Its detail is kept on the phone.
    pub readable_offline: bool,
    /// An action of the person's waiting to be sent.
    pub pending: Option<ApprovalAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalCounts {
    pub document: u32,
    pub form: u32,
    pub leave: u32,
    pub overdue: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalInboxPage {
    pub entries: Vec<ApprovalInboxEntry>,
    pub next_cursor: Option<String>,
    pub counts: ApprovalCounts,
    pub synced_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalInboxFilter {
    #[uniffi(default = None)]
    pub kind: Option<ApprovalKind>,
    #[uniffi(default = None)]
    pub urgency: Option<ApprovalUrgency>,
    #[uniffi(default = None)]
    pub agency: Option<String>,
    #[uniffi(default = None)]
    pub due_before_ms: Option<i64>,
    #[uniffi(default = false)]
    pub include_inactive: bool,
    #[uniffi(default = None)]
    pub cursor: Option<String>,
    /// 1-100; 0 means 20.
    #[uniffi(default = 0)]
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalAttachment {
    pub index: u32,
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalChainStep {
    pub user_id: String,
    pub display_name: String,
    pub title: String,
    pub level: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalHistoryEntry {
    pub version: i64,
    pub action: String,
    pub actor: String,
    /// 代: whom the actor stood in for.
    pub acting_for: Option<String>,
    pub opinion: String,
    pub to: Vec<String>,
    pub at_ms: i64,
}

/// 請假 details.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalLeave {
    pub leave_type: String,
    pub from_ms: i64,
    pub until_ms: i64,
    pub hours: u32,
    pub cover_user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalField {
    pub label: String,
    pub value: String,
}

/// An item as read, with the body bytes an action signs the hash of.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalItem {
    pub summary: ApprovalSummary,
    /// HTML or PDF bytes (`body_type`); empty for a classified item.
    pub body: Vec<u8>,
    pub body_type: String,
    pub attachments: Vec<ApprovalAttachment>,
    pub decision_level: u8,
    pub chain: Vec<ApprovalChainStep>,
    pub step: u32,
    pub leave: Option<ApprovalLeave>,
    pub fields: Vec<ApprovalField>,
    pub history: Vec<ApprovalHistoryEntry>,
    /// What the person may do now.
    pub actions: Vec<ApprovalAction>,
    pub my_draft: Option<String>,
    /// Read from the phone's copy (the server could not be reached).
    pub offline: bool,
    /// The phone knows the item changed since this copy was read.
    pub stale: bool,
}

impl From<core_ap::ItemView> for ApprovalItem {
    fn from(v: core_ap::ItemView) -> Self {
        let d = v.detail;
        Self {
            summary: d.summary.into(),
            body: v.body,
            body_type: d.body_type,
            attachments: d
                .attachments
                .into_iter()
                .map(|a| ApprovalAttachment { index: a.index, name: a.name, content_type: a.content_type, size: a.size })
                .collect(),
            decision_level: d.decision_level,
            chain: d
                .chain
                .into_iter()
                .map(|c| ApprovalChainStep { user_id: c.user_id, display_name: c.display_name, title: c.title, level: c.level })
                .collect(),
            step: d.step,
            leave: d.leave.map(|l| ApprovalLeave {
                leave_type: l.leave_type,
                from_ms: l.from_ms,
                until_ms: l.until_ms,
                hours: l.hours,
                cover_user_id: l.cover_user_id,
            }),
            fields: d.fields.into_iter().map(|f| ApprovalField { label: f.label, value: f.value }).collect(),
            history: d
                .history
                .into_iter()
                .map(|h| ApprovalHistoryEntry {
                    version: h.version,
                    action: h.action,
                    actor: h.actor,
                    acting_for: h.acting_for,
                    opinion: h.opinion,
                    to: h.to,
                    at_ms: h.at_ms,
                })
                .collect(),
            actions: d.actions.into_iter().map(Into::into).collect(),
            my_draft: d.my_draft,
            offline: v.offline,
            stale: v.stale,
        }
    }
}

/// What the person decided on one item.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalRequest {
    pub item_id: String,
    pub action: ApprovalAction,
    /// The opinion (批示, 會辦意見) or, for a return, the reason.
    #[uniffi(default = "")]
    pub opinion: String,
    #[uniffi(default = [])]
    pub cosigners: Vec<String>,
    #[uniffi(default = None)]
    pub cosign_order: Option<CosignOrder>,
    #[uniffi(default = None)]
    pub return_to: Option<ReturnTarget>,
}

impl From<ApprovalRequest> for ActRequest {
    fn from(r: ApprovalRequest) -> Self {
        Self {
            item_id: r.item_id,
            action: r.action.into(),
            opinion: r.opinion,
            cosigners: r.cosigners,
            cosign_mode: r.cosign_order.map(Into::into),
            return_to: r.return_to.map(Into::into),
        }
    }
}

/// One action and its verdict once known.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalActionRecord {
    pub action_id: String,
    pub item_id: String,
    pub action: ApprovalAction,
    pub version: i64,
    pub opinion: String,
    pub cosigners: Vec<String>,
    pub state: ApprovalActionState,
    /// The server's code for a conflict or refusal.
    pub code: Option<String>,
    pub detail: Option<String>,
    pub created_at_ms: i64,
    pub settled_at_ms: Option<i64>,
}

impl From<core_ap::ActionRecord> for ApprovalActionRecord {
    fn from(r: core_ap::ActionRecord) -> Self {
        Self {
            action_id: r.action_id,
            item_id: r.item_id,
            action: r.action.into(),
            version: r.version,
            opinion: r.opinion,
            cosigners: r.cosigners,
            state: r.state.into(),
            code: r.code,
            detail: r.message,
            created_at_ms: r.created_at_ms,
            settled_at_ms: r.settled_at_ms,
        }
    }
}

/// One result of a batch: the action's record, or why it was not queued at all (then
/// `record` is absent and `code`/`detail` say why).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalBatchResult {
    pub item_id: String,
    pub record: Option<ApprovalActionRecord>,
    pub code: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalSyncReport {
    pub changed: u32,
    pub more: bool,
}

ffi_error! {
    /// What mobile approval refuses before anything is signed or sent. Verdicts on sent
    /// actions are not errors: they are `ApprovalActionRecord.state`.
    pub enum ApprovalError {
        /// No such item for this person. Code `approval_unknown_item`.
        UnknownItem {},
        /// The item was never read on this phone: open it online first. Code `approval_not_read`.
        NotRead {},
        /// The phone knows the item changed since it was read: open it again. Code
        /// `approval_version_changed`.
        ChangedSinceRead {},
        /// Classified (機密): open it at the desk. Code `approval_classified`.
        Classified {},
        /// Not an action the person can take on this item now. Code `approval_action_not_allowed`.
        NotAllowed {},
        /// 決行 needs an opinion. Code `approval_opinion_required`.
        OpinionRequired {},
        /// 退回 needs a reason. Code `approval_reason_required`.
        ReasonRequired {},
        /// Co-signers missing, too many or malformed. Code `approval_bad_cosigners`.
        BadCosigners {},
        /// An action on this item already waits to be sent. Code `approval_action_pending`.
        ActionPending {},
        /// A batch has 1 to 50 actions. Code `approval_batch_size`.
        BatchSize {},
        /// An attachment of a type or size a phone does not open, or whose bytes are not
        /// the ones listed. Code `approval_attachment_rejected`.
        AttachmentRejected {},
        /// The server's reply breaks the protocol (a body not matching its hash, …).
        /// Code `approval_bad_reply`.
        BadReply {},
        /// No such action on this phone. Code `approval_unknown_action`.
        UnknownAction {},
        /// An approval refusal this version has no variant for; `code` is the raw code.
        Unknown {},
    }
    specific = |e| match e {
        CoreError::Approval(a) => {
            let (code, detail) = (a.code().to_owned(), a.to_string());
            Ok(match a {
                core_ap::ApprovalError::UnknownItem(_) => ApprovalError::UnknownItem { code, detail },
                core_ap::ApprovalError::NotRead(_) => ApprovalError::NotRead { code, detail },
                core_ap::ApprovalError::ChangedSinceRead(_) => ApprovalError::ChangedSinceRead { code, detail },
                core_ap::ApprovalError::Classified => ApprovalError::Classified { code, detail },
                core_ap::ApprovalError::NotAllowed { .. } => ApprovalError::NotAllowed { code, detail },
                core_ap::ApprovalError::OpinionRequired => ApprovalError::OpinionRequired { code, detail },
                core_ap::ApprovalError::ReasonRequired => ApprovalError::ReasonRequired { code, detail },
                core_ap::ApprovalError::BadCosigners(_) => ApprovalError::BadCosigners { code, detail },
                core_ap::ApprovalError::ActionPending(_) => ApprovalError::ActionPending { code, detail },
                core_ap::ApprovalError::BatchSize => ApprovalError::BatchSize { code, detail },
                core_ap::ApprovalError::AttachmentRejected(_) => ApprovalError::AttachmentRejected { code, detail },
                core_ap::ApprovalError::BadReply(_) => ApprovalError::BadReply { code, detail },
                core_ap::ApprovalError::UnknownAction(_) => ApprovalError::UnknownAction { code, detail },
                core_ap::ApprovalError::Common(c) => return Err(CoreError::from(c)),
            })
        }
        CoreError::Net(NetError::Server { code, message, .. }) if code == codes::CLASSIFIED => {
            Ok(ApprovalError::Classified { code, detail: message })
        }
        CoreError::Net(NetError::Server { code, message, .. }) if code.starts_with("approval_") => {
            Ok(ApprovalError::Unknown { code, detail: message })
        }
        e => Err(e),
    };
}

/// Mobile approval, handed out by `Client.approvals()`.
#[derive(Debug, uniffi::Object)]
pub struct Approvals {
    client: Arc<Shared>,
}

#[uniffi::export]
impl Client {
    /// Mobile approval. No I/O; fails only with `Closed`.
    pub fn approvals(&self) -> Result<Arc<Approvals>, ClientError> {
        self.shared.get(|_| Ok(Arc::new(Approvals { client: Arc::clone(&self.shared) })))
    }
}

#[uniffi::export]
impl Approvals {
    /// Follows the server's change feed into the phone's store (needs the network).
    pub async fn sync_inbox(&self) -> Result<ApprovalSyncReport, ApprovalError> {
        self.client
            .call(|c| async move { c.approvals().sync_inbox().await.map(|r| ApprovalSyncReport { changed: r.changed, more: r.more }) })
            .await
    }

    /// A page of the inbox from the phone's store (offline), due first.
    pub async fn inbox(&self, filter: ApprovalInboxFilter) -> Result<ApprovalInboxPage, ApprovalError> {
        let filter = InboxFilter {
            kind: filter.kind.map(Into::into),
            urgency: filter.urgency.map(Into::into),
            agency: filter.agency,
            due_before_ms: filter.due_before_ms,
            include_inactive: filter.include_inactive,
            cursor: filter.cursor,
            limit: filter.limit,
        };
        self.client
            .call(|c| async move {
                let p = c.approvals().inbox(filter).await?;
                Ok::<_, core_ap::ApprovalError>(ApprovalInboxPage {
                    entries: p
                        .entries
                        .into_iter()
                        .map(|e| ApprovalInboxEntry { summary: e.summary.into(), readable_offline: e.readable_offline, pending: e.pending.map(Into::into) })
                        .collect(),
                    next_cursor: p.next_cursor,
                    counts: ApprovalCounts { document: p.counts.document, form: p.counts.form, leave: p.counts.leave, overdue: p.counts.overdue },
                    synced_at_ms: p.synced_at_ms,
                })
            })
            .await
    }

    /// Reads an item (online, keeping a sealed copy; offline, from that copy).
    pub async fn open(&self, item_id: String) -> Result<ApprovalItem, ApprovalError> {
        self.client.call(|c| async move { c.approvals().open(&item_id).await.map(Into::into) }).await
    }

    /// One attachment's bytes, fetched on demand and checked against the listing.
    pub async fn attachment(&self, item_id: String, index: u32) -> Result<Vec<u8>, ApprovalError> {
        self.client.call(|c| async move { Ok::<_, core_ap::ApprovalError>(c.approvals().attachment(&item_id, index).await?.1) }).await
    }

    /// Signs and queues one action on the version last read, then tries to send it.
    pub async fn act(&self, request: ApprovalRequest) -> Result<ApprovalActionRecord, ApprovalError> {
        self.client.call(|c| async move { c.approvals().act(request.into()).await.map(Into::into) }).await
    }

    /// Up to 50 actions queued together and sent; one result per request, in order.
    pub async fn act_batch(&self, requests: Vec<ApprovalRequest>) -> Result<Vec<ApprovalBatchResult>, ApprovalError> {
        self.client
            .call(|c| async move {
                let ids: Vec<String> = requests.iter().map(|r| r.item_id.clone()).collect();
                let results = c.approvals().act_batch(requests.into_iter().map(Into::into).collect()).await?;
                Ok::<_, core_ap::ApprovalError>(ids
                    .into_iter()
                    .zip(results)
                    .map(|(item_id, r)| match r {
                        Ok(record) => ApprovalBatchResult { item_id, record: Some(record.into()), code: None, detail: None },
                        Err(e) => ApprovalBatchResult { item_id, record: None, code: Some(e.code().to_owned()), detail: Some(e.to_string()) },
                    })
                    .collect())
            })
            .await
    }

    /// Names `proxy_id` to act for the signed-in person from `from_ms` until
    /// `until_ms` (at most a year); online.
    pub async fn set_proxy(&self, proxy_id: String, from_ms: i64, until_ms: i64) -> Result<(), ApprovalError> {
        self.client.call(|c| async move { c.approvals().set_proxy(&proxy_id, from_ms, until_ms).await }).await
    }

    /// The person's actions, newest first, optionally for one item.
    pub async fn actions(&self, item_id: Option<String>, limit: u32) -> Result<Vec<ApprovalActionRecord>, ApprovalError> {
        self.client
            .call(|c| async move { Ok::<_, core_ap::ApprovalError>(c.approvals().actions(item_id.as_deref(), limit).await?.into_iter().map(Into::into).collect()) })
            .await
    }
}
