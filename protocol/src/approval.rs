//! Mobile approval: official documents (公文), e-forms and leave requests routed along a
//! chain (承辦 → 核稿 → 會辦 → 決行), the inbox and item views a phone reads, and the
//! signed action it sends.
//!
//! A phone signs [`action_message`]: the item, the exact version it showed, a SHA-256
//! of the body bytes it rendered, the action and everything the action carries. The
//! server judges each action against the current version and holder and answers an
//! [`ActionReceipt`] whose status tells a conflict ("changed since you read it") apart
//! from a plain refusal.

use serde::{Deserialize, Serialize};

use crate::signed::{SignedMessage, tags};

/// Stable codes in an [`ActionReceipt`] or an error reply.
pub mod codes {
    // Conflicts: the item moved on since the phone read it.
    /// The item was edited or acted on since the signed version.
    pub const VERSION_CHANGED: &str = "approval_version_changed";
    /// The sender took the item back (取回) after the phone read it.
    pub const RECALLED: &str = "approval_recalled";
    /// The same person already acted on it from another device or through a proxy.
    pub const ACTED_ELSEWHERE: &str = "approval_acted_elsewhere";
    /// The signer does not hold the item (nor stands in for whoever does).
    pub const NOT_HOLDER: &str = "approval_not_holder";

    // Refusals: the action itself is wrong whatever the item's state.
    pub const UNKNOWN_ITEM: &str = "approval_unknown_item";
    /// 決行 by someone who is not at the item's decision level.
    pub const NOT_DECIDER: &str = "approval_not_decider";
    pub const OPINION_REQUIRED: &str = "approval_opinion_required";
    pub const REASON_REQUIRED: &str = "approval_reason_required";
    /// 取回 after the next holder opened or acted on it, or by someone who did not send it.
    pub const RECALL_CLOSED: &str = "approval_recall_closed";
    /// A classified item (機密) is handled at the desk only.
    pub const CLASSIFIED: &str = "approval_classified";
    /// The body the phone signed is not the body of the signed version.
    pub const BODY_MISMATCH: &str = "approval_body_mismatch";
    /// This exact signed action was accepted before.
    pub const REPLAYED: &str = "approval_replayed";
    /// Acting-as names someone the signer does not stand in for now.
    pub const NOT_PROXY: &str = "approval_not_proxy";
    /// Routing would loop through proxies (A → B → A).
    pub const PROXY_CYCLE: &str = "approval_proxy_cycle";
    /// The action does not fit the item's place in its chain.
    pub const ACTION_NOT_ALLOWED: &str = "approval_action_not_allowed";
    pub const BAD_COSIGNERS: &str = "approval_bad_cosigners";
    /// The signed time is ahead of the server clock.
    pub const CLOCK_SKEW: &str = "approval_clock_skew";
    pub const ATTACHMENT_REJECTED: &str = "approval_attachment_rejected";

    /// Whether `code` means "changed since you read it" rather than "not allowed".
    pub fn is_conflict(code: &str) -> bool {
        matches!(code, VERSION_CHANGED | RECALLED | ACTED_ELSEWHERE | NOT_HOLDER)
    }
}

/// Batch approval takes at most this many actions in one request.
pub const MAX_BATCH: usize = 50;
/// Co-signers chosen in one 陳會 or 加會.
pub const MAX_COSIGNERS: usize = 10;
/// An opinion or reason, in characters.
pub const MAX_OPINION_CHARS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalKind))]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 公文
    Document,
    /// 電子表單
    Form,
    /// 請假
    Leave,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Document => "document",
            Self::Form => "form",
            Self::Leave => "leave",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Document, Self::Form, Self::Leave].into_iter().find(|k| k.as_str() == text)
    }
}

/// 速別: how fast an item must be handled, in working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalUrgency))]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// 最速件: 1 working day.
    Most,
    /// 速件: 3 working days.
    Urgent,
    /// 普通件: 6 working days.
    Normal,
}

impl Urgency {
    pub fn working_days(self) -> u32 {
        match self {
            Self::Most => 1,
            Self::Urgent => 3,
            Self::Normal => 6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Most => "most",
            Self::Urgent => "urgent",
            Self::Normal => "normal",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Most, Self::Urgent, Self::Normal].into_iter().find(|u| u.as_str() == text)
    }
}

/// How far ahead of a day's count a deadline search may run before it gives up: a
/// calendar that marks a year of days off is a configuration error, not a reason to loop.
const MAX_CALENDAR_SCAN_DAYS: i64 = 400;

/// The deadline of an item received at `received_at_ms`: the end (Taipei midnight) of
/// the `urgency.working_days()`-th working day after the day of receipt. A working day
/// is Monday to Friday unless `override_of(day)` says `Holiday`, or a Saturday or
/// Sunday it says is a `Workday` (補班). Day numbers are Taipei days since 1970-01-01.
pub fn due_at_ms(received_at_ms: i64, urgency: Urgency, override_of: impl Fn(i64) -> Option<DayKind>) -> i64 {
    let received = crate::attendance::workday(received_at_ms, 0);
    let mut left = urgency.working_days();
    let mut day = received;
    while left > 0 && day - received < MAX_CALENDAR_SCAN_DAYS {
        day += 1;
        let working = match override_of(day) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::Workday) => true,
            None => crate::attendance::weekday(day) < 5,
        };
        if working {
            left -= 1;
        }
    }
    crate::attendance::workday_start_ms(day + 1, 0)
}

/// What a phone can do with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalAction))]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// 暫存: keep a draft opinion, private to its writer until sent.
    SaveDraft,
    /// 陳核: send on to the next holder of the chain.
    Forward,
    /// 陳會: send to chosen co-signers; the item comes back when all have answered.
    RequestCosign,
    /// 會辦意見 by a co-signer, optionally adding further co-signers (加會).
    Cosign,
    /// 決行: approve as final; only at the item's decision level.
    Approve,
    /// 退回: back to the previous holder or the drafter, with a reason.
    Return,
    /// 取回: take back what one sent, while the next holder has not opened it.
    Recall,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SaveDraft => "save_draft",
            Self::Forward => "forward",
            Self::RequestCosign => "request_cosign",
            Self::Cosign => "cosign",
            Self::Approve => "approve",
            Self::Return => "return",
            Self::Recall => "recall",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalCosignMode))]
#[serde(rename_all = "snake_case")]
pub enum CosignMode {
    /// All co-signers hold the item at once.
    Parallel,
    /// One after another, in the order chosen.
    Sequential,
}

impl CosignMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parallel => "parallel",
            Self::Sequential => "sequential",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalReturnTo))]
#[serde(rename_all = "snake_case")]
pub enum ReturnTo {
    Previous,
    Drafter,
}

impl ReturnTo {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Previous => "previous",
            Self::Drafter => "drafter",
        }
    }
}

/// `POST /v1/approval/actions` (one) or an element of [`BatchRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalSignedAction))]
pub struct SignedAction {
    pub item_id: String,
    /// The version the phone showed.
    pub version: i64,
    /// SHA-256 of the body bytes the phone rendered, base64url (empty for a classified item).
    pub body_sha256: String,
    /// 暫存, 陳核, 陳會, 會辦意見 (with 加會), 決行, 退回, 取回.
    pub action: Action,
    #[serde(default)]
    pub opinion: String,
    /// 陳會 / 加會: the co-signers chosen, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cosigners: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosign_mode: Option<CosignMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<ReturnTo>,
    /// 代: the absent person this signer acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_for: Option<String>,
    /// Server-clock time the phone signed at (UTC ms).
    pub time_ms: i64,
    /// r‖s over [`action_message`], base64url.
    pub signature: String,
}

/// The bytes a device signs for an approval action:
/// `TPQ-APPROVE-v1 ‖ device ‖ item ‖ version ‖ body hash ‖ action ‖ opinion ‖
/// n ‖ co-signer* ‖ mode ‖ return-to ‖ acting-for ‖ time`.
pub fn action_message(device_id: &str, a: &SignedAction) -> Vec<u8> {
    let count = u64::try_from(a.cosigners.len()).unwrap_or(u64::MAX);
    let mut m = SignedMessage::new(tags::APPROVE)
        .text(device_id)
        .text(&a.item_id)
        .i64(a.version)
        .text(&a.body_sha256)
        .text(a.action.as_str())
        .text(&a.opinion)
        .u64(count);
    for c in &a.cosigners {
        m = m.text(c);
    }
    m.text(a.cosign_mode.map_or("", CosignMode::as_str))
        .text(a.return_to.map_or("", ReturnTo::as_str))
        .text(a.acting_for.as_deref().unwrap_or(""))
        .i64(a.time_ms)
        .finish()
}

/// `POST /v1/approval/actions/batch`: up to [`MAX_BATCH`] actions, each judged alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalBatchRequest))]
pub struct BatchRequest {
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub actions: Vec<SignedAction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalActionStatus))]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Done,
    /// The item changed since the phone read it: re-read, then decide again.
    Conflict,
    Refused,
}

/// The verdict on one action; stored as the idempotent reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalActionReceipt))]
pub struct ActionReceipt {
    pub id: String,
    pub item_id: String,
    pub status: ActionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The item's version after the verdict (the current one for a conflict).
    pub version: i64,
    pub server_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalBatchReceipt))]
pub struct BatchReceipt {
    /// One per action, in the request's order.
    pub results: Vec<ActionReceipt>,
}

/// A leave request's own fields (請假).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalLeaveDetails))]
pub struct LeaveDetails {
    /// 特休, 事假, 病假, ...
    pub leave_type: String,
    pub from_ms: i64,
    pub until_ms: i64,
    pub hours: u32,
    /// 職務代理人 during the leave.
    pub cover_user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalFormField))]
pub struct FormField {
    pub label: String,
    pub value: String,
}

/// `POST /v1/admin/approval/people`: someone who can hold items, at a level of 分層負責
/// (1 = head of agency; larger numbers are lower levels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalNewPerson))]
pub struct NewPerson {
    pub user_id: String,
    pub display_name: String,
    pub title: String,
    pub agency: String,
    /// 分層負責: 1 is the head of agency.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 9))]
    pub level: u8,
}

/// `POST /v1/approval/proxies` (phone): the signed-in person names `proxy_id` to act
/// for them (職務代理) in `[from_ms, until_ms)`, at most [`MAX_PROXY_MS`] long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalOwnProxy))]
pub struct OwnProxy {
    pub proxy_id: String,
    pub from_ms: i64,
    pub until_ms: i64,
}

/// The longest proxy period a person can set from the phone: a year.
pub const MAX_PROXY_MS: i64 = 366 * 24 * 3600 * 1000;

impl OwnProxy {
    /// The shape the server accepts: someone, for a period of at most a year.
    pub fn check(&self) -> Result<(), String> {
        if self.proxy_id.is_empty() || self.proxy_id.chars().count() > 64 {
            return Err("proxy_id must be 1 to 64 characters".into());
        }
        if self.from_ms >= self.until_ms {
            return Err("a proxy period needs from_ms < until_ms".into());
        }
        if self.until_ms - self.from_ms > MAX_PROXY_MS {
            return Err("a proxy period is at most a year".into());
        }
        Ok(())
    }
}

/// `POST /v1/admin/approval/proxies`: `proxy_id` acts for `user_id` in `[from_ms, until_ms)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalNewProxy))]
pub struct NewProxy {
    pub user_id: String,
    pub proxy_id: String,
    pub from_ms: i64,
    pub until_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalDayKind))]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A weekday off (national holiday, typhoon day).
    Holiday,
    /// A Saturday or Sunday worked (補班).
    Workday,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalCalendarDay))]
pub struct CalendarDay {
    /// `YYYY-MM-DD` (Taipei).
    pub date: String,
    pub kind: DayKind,
    #[serde(default)]
    pub name: String,
}

/// `POST /v1/admin/approval/calendar`: days that differ from Monday-to-Friday.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalCalendar))]
pub struct Calendar {
    pub days: Vec<CalendarDay>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalNewAttachment))]
pub struct NewAttachment {
    pub name: String,
    pub content_type: String,
    /// base64url.
    pub data: String,
}

/// `POST /v1/admin/approval/items` (the agency's document system).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalNewItem))]
pub struct NewItem {
    pub kind: Kind,
    pub subject: String,
    /// Documents: the body as the agency's system gives it (base64url); forms and leave
    /// requests get a body rendered from their fields when this is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `text/html` or `application/pdf`.
    #[serde(default = "default_body_type")]
    pub body_type: String,
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
    /// 最速件 (1 working day), 速件 (3), 普通件 (6).
    pub urgency: Urgency,
    /// 機密: never sent to a phone.
    #[serde(default)]
    pub classified: bool,
    pub agency: String,
    /// 決行層級: the level whose holder approves as final; the chain's last person.
    pub decision_level: u8,
    /// user ids, drafter first, decider last.
    pub chain: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leave: Option<LeaveDetails>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FormField>,
    /// When the agency received it (deadlines count from here); now when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at_ms: Option<i64>,
}

pub fn default_body_type() -> String {
    "text/html".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalItemCreated))]
pub struct ItemCreated {
    pub item_id: String,
    pub version: i64,
    pub due_at_ms: i64,
    pub holder: String,
}

/// `POST /v1/admin/approval/items/{item_id}/edit`: the drafter changed the item at the desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalItemEdit))]
pub struct ItemEdit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// base64url
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalItemState))]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Routing,
    Cosigning,
    Decided,
}

/// One line of the inbox; for a classified item only what the desk hint needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalItemSummary))]
pub struct ItemSummary {
    pub item_id: String,
    pub kind: Kind,
    /// `None` for a classified item ("open at your desk").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub classified: bool,
    /// 最速件 (1 working day), 速件 (3), 普通件 (6).
    pub urgency: Urgency,
    pub agency: String,
    pub version: i64,
    pub state: ItemState,
    pub due_at_ms: i64,
    /// Whether the reader can act on it now (as holder, co-signer or proxy).
    pub actionable: bool,
    /// Set when the reader would act for someone else (代).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_for: Option<String>,
    /// Change sequence, for `GET /v1/approval/changes?since=`.
    pub seq: i64,
}

/// `GET /v1/approval/inbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalInbox))]
pub struct Inbox {
    pub items: Vec<ItemSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Actionable items per kind, over the whole inbox (not just this page).
    pub counts: KindCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalKindCounts))]
pub struct KindCounts {
    pub document: u32,
    pub form: u32,
    pub leave: u32,
    /// Of those, past their deadline.
    pub overdue: u32,
}

/// `GET /v1/approval/changes?since=`: items the reader takes part in that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalChanges))]
pub struct Changes {
    pub items: Vec<ItemSummary>,
    /// Pass as `since` next time.
    pub cursor: i64,
    /// More changes wait beyond this page.
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalAttachmentInfo))]
pub struct AttachmentInfo {
    pub index: u32,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalChainStep))]
pub struct ChainStep {
    pub user_id: String,
    pub display_name: String,
    pub title: String,
    pub level: u8,
}

/// One accepted step of an item's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalHistoryEntry))]
pub struct HistoryEntry {
    pub version: i64,
    pub action: String,
    /// Who acted (signed).
    pub actor: String,
    /// 代: whom the actor stood in for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_for: Option<String>,
    #[serde(default)]
    pub opinion: String,
    /// Who holds the item after this step (a co-sign round: the co-signers).
    #[serde(default)]
    pub to: Vec<String>,
    pub at_ms: i64,
}

/// `GET /v1/approval/items/{item_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApprovalItemDetail))]
pub struct ItemDetail {
    pub summary: ItemSummary,
    /// base64url; absent for a classified item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub body_type: String,
    /// What the phone signs as `body_sha256` (empty for a classified item).
    pub body_sha256: String,
    pub attachments: Vec<AttachmentInfo>,
    pub decision_level: u8,
    pub chain: Vec<ChainStep>,
    /// Index in `chain` of the holder while routing.
    pub step: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leave: Option<LeaveDetails>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FormField>,
    pub history: Vec<HistoryEntry>,
    /// What the reader may do now.
    pub actions: Vec<Action>,
    /// The reader's own saved draft opinion (暫存), never anyone else's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_draft: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action() -> SignedAction {
        SignedAction {
            item_id: "i1".into(),
            version: 3,
            body_sha256: "h".into(),
            action: Action::RequestCosign,
            opinion: "請會計室表示意見".into(),
            cosigners: vec!["ab".into(), "c".into()],
            cosign_mode: Some(CosignMode::Parallel),
            return_to: None,
            acting_for: None,
            time_ms: 1,
            signature: String::new(),
        }
    }

    #[test]
    fn every_signed_field_changes_the_bytes() {
        let base = action_message("d", &action());
        assert!(base.starts_with(&[0, 0, 0, 14]));
        assert_eq!(&base[4..18], tags::APPROVE.as_bytes());
        let variants: [fn(&mut SignedAction); 9] = [
            |a| a.version = 4,
            |a| a.body_sha256 = "g".into(),
            |a| a.action = Action::Forward,
            |a| a.opinion.push('!'),
            |a| a.cosigners = vec!["a".into(), "bc".into()],
            |a| a.cosign_mode = Some(CosignMode::Sequential),
            |a| a.return_to = Some(ReturnTo::Drafter),
            |a| a.acting_for = Some("x".into()),
            |a| a.time_ms = 2,
        ];
        for change in variants {
            let mut a = action();
            change(&mut a);
            assert_ne!(action_message("d", &a), base);
        }
        assert_ne!(action_message("e", &action()), base);
        // The signature is not part of what it signs.
        let mut a = action();
        a.signature = "sig".into();
        assert_eq!(action_message("d", &a), base);
    }

    fn day(text: &str) -> i64 {
        crate::attendance::date_day(text).unwrap_or(0)
    }

    fn taipei_noon(text: &str) -> i64 {
        crate::attendance::workday_start_ms(day(text), 0) + 12 * 3_600_000
    }

    #[test]
    fn deadlines_count_working_days_across_weekends_and_holidays() {
        let none = |_: i64| None;
        // Received Thursday 2026-12-03: 最速件 due end of Friday, 速件 end of Tuesday
        // (the weekend skipped), 普通件 end of the next Friday.
        let thu = taipei_noon("2026-12-03");
        assert_eq!(due_at_ms(thu, Urgency::Most, none), taipei_noon("2026-12-05") - 12 * 3_600_000);
        assert_eq!(due_at_ms(thu, Urgency::Urgent, none), taipei_noon("2026-12-09") - 12 * 3_600_000);
        assert_eq!(due_at_ms(thu, Urgency::Normal, none), taipei_noon("2026-12-12") - 12 * 3_600_000);
        // Monday 12-07 a holiday, Saturday 12-05 a make-up working day.
        let cal = |d: i64| {
            if d == day("2026-12-07") {
                Some(DayKind::Holiday)
            } else if d == day("2026-12-05") {
                Some(DayKind::Workday)
            } else {
                None
            }
        };
        // Fri 12-04, Sat 12-05 (worked), Tue 12-08.
        assert_eq!(due_at_ms(thu, Urgency::Urgent, cal), taipei_noon("2026-12-09") - 12 * 3_600_000);
        let holiday_only = |d: i64| (d == day("2026-12-07")).then_some(DayKind::Holiday);
        // Fri 12-04, Tue 12-08, Wed 12-09.
        assert_eq!(due_at_ms(thu, Urgency::Urgent, holiday_only), taipei_noon("2026-12-10") - 12 * 3_600_000);
        // A calendar with no working day at all still ends.
        let never = |_: i64| Some(DayKind::Holiday);
        assert!(due_at_ms(thu, Urgency::Most, never) > thu);
    }

    #[test]
    fn conflicts_are_told_apart_from_refusals() {
        assert!(codes::is_conflict(codes::RECALLED));
        assert!(codes::is_conflict(codes::NOT_HOLDER));
        assert!(!codes::is_conflict(codes::NOT_DECIDER));
        assert!(!codes::is_conflict(codes::REPLAYED));
    }

    #[test]
    fn urgency_deadlines_follow_the_handbook() {
        assert_eq!(Urgency::Most.working_days(), 1);
        assert_eq!(Urgency::Urgent.working_days(), 3);
        assert_eq!(Urgency::Normal.working_days(), 6);
        assert_eq!(Urgency::parse("urgent"), Some(Urgency::Urgent));
        assert_eq!(Kind::parse("leave"), Some(Kind::Leave));
        assert_eq!(Kind::parse("x"), None);
    }
}
