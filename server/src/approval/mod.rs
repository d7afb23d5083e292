#![doc = include_str!("README.md")]

pub mod admin;
pub mod judge;
pub mod notify;
pub mod page;
pub mod reminders;
pub mod seed;
pub mod store;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use crate::db::{Conn, OptionalExtension};
use crate::params;
use serde::Deserialize;
use taipei_protocol::approval::{
    Action, ActionReceipt, AttachmentInfo, BatchReceipt, BatchRequest, ChainStep, Changes, FormField, HistoryEntry, Inbox,
    ItemDetail, ItemState, Kind, KindCounts, LeaveDetails, MAX_BATCH, MAX_COSIGNERS, MAX_OPINION_CHARS, NewProxy, OwnProxy, SignedAction,
    Urgency,
    action_message, codes,
};
use taipei_protocol::b64;

use crate::AppState;
use crate::audit::{self, Entry, actions};
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::extract::{JsonBody, check_len, path_of, query_of, verify_signature};
use crate::idempotency::{self, IdempotencyKey};
use crate::time::now_ms;
use judge::Signer;
use store::Item;

const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

#[derive(Debug, Deserialize)]
pub struct InboxQuery {
    pub kind: Option<Kind>,
    pub urgency: Option<Urgency>,
    pub agency: Option<String>,
    /// Only items due before this time (UTC ms).
    pub due_before_ms: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// Every open item `user_id` can act on now, as themselves or standing in for someone.
fn actionable(conn: &Conn<'_>, user_id: &str, now: i64) -> Result<Vec<Item>, ApiError> {
    let represented = store::represented(conn, user_id, now)?;
    let sql = format!(
        "SELECT {} FROM approval_items i WHERE state <> 'decided' AND (holder = ?1 OR EXISTS (SELECT 1 FROM approval_cosigners c \
         WHERE c.item_id = i.item_id AND c.user_id = ?1 AND c.done_at_ms IS NULL))",
        store::ITEM_COLUMNS
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut out: Vec<Item> = Vec::new();
    for who in &represented {
        for item in stmt.query_map([who], store::item_of)? {
            let item = item?;
            if !out.iter().any(|i| i.item_id == item.item_id) && store::acting_as(conn, &item, user_id, now)?.is_some() {
                out.push(item);
            }
        }
    }
    // Due first; the id breaks ties so the page cursor is a total order.
    out.sort_by(|a, b| (a.due_at_ms, &a.item_id).cmp(&(b.due_at_ms, &b.item_id)));
    Ok(out)
}

fn cursor_of(item: &Item) -> String {
    format!("{}~{}", item.due_at_ms, item.item_id)
}

fn parse_cursor(text: &str) -> Result<(i64, String), ApiError> {
    text.split_once('~')
        .and_then(|(due, id)| Some((due.parse().ok()?, id.to_owned())))
        .ok_or_else(|| ApiError::bad_request("cursor is not one this server gave"))
}

/// `GET /v1/approval/inbox` (phone): what waits for the person, due first, with counts.
#[utoipa::path(
    get,
    path = "/v1/approval/inbox",
    operation_id = "getApprovalInbox",
    summary = "Phone: items waiting for the person (as holder, co-signer or proxy), due first, with counts per kind.",
    params(
        ("kind" = Option<taipei_protocol::approval::Kind>, Query, description = "document, form or leave."),
        ("urgency" = Option<taipei_protocol::approval::Urgency>, Query, description = "most, urgent or normal."),
        ("agency" = Option<String>, Query, description = "Only items of this agency."),
        ("due_before_ms" = Option<i64>, Query, description = "Only items due before this UTC ms."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
        ("limit" = Option<i64>, Query, description = "1 to 100 (default 20)."),
    ),
    responses(
        (status = 200, description = "A page of the inbox.", body = taipei_protocol::approval::Inbox),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, response = crate::openapi::DeviceRevoked),
    ),
    security(("dpop" = [])),
)]
pub async fn inbox(State(state): State<AppState>, device: AuthedDevice, q: Result<Query<InboxQuery>, QueryRejection>) -> Result<Json<Inbox>, ApiError> {
    let q = query_of(q)?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let after = q.cursor.as_deref().map(parse_cursor).transpose()?;
    state
        .db
        .read(move |conn| {
            let now = now_ms();
            let all = actionable(conn, &device.user_id, now)?;
            let mut counts = KindCounts::default();
            for i in &all {
                match i.kind {
                    Kind::Document => counts.document += 1,
                    Kind::Form => counts.form += 1,
                    Kind::Leave => counts.leave += 1,
                }
                if i.due_at_ms <= now {
                    counts.overdue += 1;
                }
            }
            let mut page = all
                .iter()
                .filter(|i| after.as_ref().is_none_or(|(due, id)| (i.due_at_ms, &i.item_id) > (*due, id)))
                .filter(|i| q.kind.is_none_or(|k| i.kind == k))
                .filter(|i| q.urgency.is_none_or(|u| i.urgency == u))
                .filter(|i| q.agency.as_ref().is_none_or(|a| &i.agency == a))
                .filter(|i| q.due_before_ms.is_none_or(|d| i.due_at_ms < d))
                .take(limit + 1)
                .collect::<Vec<_>>();
            let next_cursor = (page.len() > limit).then(|| {
                page.truncate(limit);
                page.last().map(|i| cursor_of(i))
            });
            let items = page.into_iter().map(|i| store::summary(conn, i, &device.user_id, now)).collect::<Result<_, _>>()?;
            Ok(Json(Inbox { items, next_cursor: next_cursor.flatten(), counts }))
        })
        .await
}

#[derive(Debug, Deserialize)]
pub struct ChangesQuery {
    #[serde(default)]
    pub since: i64,
    pub limit: Option<usize>,
}

/// `GET /v1/approval/changes?since=` (phone): items the person takes part in that
/// changed after the cursor, oldest change first.
#[utoipa::path(
    get,
    path = "/v1/approval/changes",
    operation_id = "getApprovalChanges",
    summary = "Phone: items the person takes part in that changed after `since` (sync cursor).",
    params(
        ("since" = Option<i64>, Query, description = "`cursor` of the previous reply; 0 for everything."),
        ("limit" = Option<i64>, Query, description = "1 to 100 (default 100)."),
    ),
    responses(
        (status = 200, description = "Changes, oldest first.", body = taipei_protocol::approval::Changes),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, response = crate::openapi::DeviceRevoked),
    ),
    security(("dpop" = [])),
)]
pub async fn changes(State(state): State<AppState>, device: AuthedDevice, q: Result<Query<ChangesQuery>, QueryRejection>) -> Result<Json<Changes>, ApiError> {
    let q = query_of(q)?;
    let limit = q.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    state
        .db
        .read(move |conn| {
            let now = now_ms();
            let sql = format!("SELECT {} FROM approval_items WHERE seq > ?1 ORDER BY seq", store::ITEM_COLUMNS);
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = stmt.query([q.since])?;
            let mut items = Vec::new();
            let mut cursor = q.since;
            let mut more = false;
            while let Some(row) = rows.next()? {
                let item = store::item_of(row)?;
                if !store::may_read(conn, &item, &device.user_id, now)? {
                    // Skipped changes still advance the cursor: they are not this person's.
                    cursor = item.seq;
                    continue;
                }
                if items.len() == limit {
                    more = true;
                    break;
                }
                cursor = item.seq;
                items.push(store::summary(conn, &item, &device.user_id, now)?);
            }
            Ok(Json(Changes { items, cursor, more }))
        })
        .await
}

fn readable(conn: &Conn<'_>, item_id: &str, user_id: &str, now: i64) -> Result<Item, ApiError> {
    match store::load(conn, item_id)? {
        Some(item) if store::may_read(conn, &item, user_id, now)? => Ok(item),
        _ => Err(store::unknown_item()),
    }
}

fn classified() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, codes::CLASSIFIED, "a classified item is opened at your desk, not on a phone")
}

/// What `user_id` may do with `item` now, as the detail view offers it.
fn allowed(conn: &Conn<'_>, item: &Item, user_id: &str, now: i64) -> Result<Vec<Action>, ApiError> {
    if item.classified {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    if let Some(principal) = store::acting_as(conn, item, user_id, now)? {
        let last = item.chain.len().saturating_sub(1);
        out.push(Action::SaveDraft);
        match item.state {
            ItemState::Routing => {
                out.push(Action::RequestCosign);
                if item.step < last {
                    out.push(Action::Forward);
                } else if store::level_of(conn, &principal)? == Some(item.decision_level) {
                    out.push(Action::Approve);
                }
                if item.step > 0 {
                    out.push(Action::Return);
                }
            }
            ItemState::Cosigning => out.push(Action::Cosign),
            ItemState::Decided => out.clear(),
        }
    }
    let sender = item.sent_by.as_deref();
    if item.opened_at_ms.is_none() && sender.is_some() && (sender == Some(user_id) || store::represented(conn, user_id, now)?.iter().any(|p| Some(p.as_str()) == sender)) {
        out.push(Action::Recall);
    }
    Ok(out)
}

fn chain_steps(conn: &Conn<'_>, item: &Item) -> Result<Vec<ChainStep>, ApiError> {
    let mut stmt = conn.prepare("SELECT display_name, title, level FROM approval_people WHERE user_id = ?1")?;
    item.chain
        .iter()
        .map(|u| {
            let (display_name, title, level) = stmt
                .query_row([u], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?
                .unwrap_or_else(|| (u.clone(), String::new(), 0));
            Ok(ChainStep { user_id: u.clone(), display_name, title, level })
        })
        .collect()
}

fn history(conn: &Conn<'_>, item_id: &str) -> Result<Vec<HistoryEntry>, ApiError> {
    let mut stmt = conn.prepare(
        "SELECT version, action, actor, acting_for, opinion, to_users, at_ms FROM approval_events WHERE item_id = ?1 ORDER BY version, id",
    )?;
    let rows = stmt.query_map([item_id], |r| {
        let to: String = r.get(5)?;
        Ok(HistoryEntry {
            version: r.get(0)?,
            action: r.get(1)?,
            actor: r.get(2)?,
            acting_for: r.get(3)?,
            opinion: r.get(4)?,
            to: serde_json::from_str(&to).unwrap_or_default(),
            at_ms: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `GET /v1/approval/items/{item_id}` (phone): the item to read before acting. Opening
/// it as its current holder closes the sender's recall window.
#[utoipa::path(
    get,
    path = "/v1/approval/items/{item_id}",
    operation_id = "getApprovalItem",
    summary = "Phone: the item to read before acting; opening it as its holder closes the sender's recall window.",
    params(
        ("item_id" = String, Path, description = "Item id."),
    ),
    responses(
        (status = 200, description = "The item; for a classified item (機密) no subject, body, attachments or history: it is opened at the desk.", body = taipei_protocol::approval::ItemDetail),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, response = crate::openapi::DeviceRevoked),
        (status = 404, description = "`approval_unknown_item`: no such item, or the reader takes no part in it.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("dpop" = [])),
)]
pub async fn item(State(state): State<AppState>, device: AuthedDevice, item_id: Result<Path<String>, PathRejection>) -> Result<Json<ItemDetail>, ApiError> {
    let item_id = path_of(item_id)?;
    let entry = Entry::new(actions::APPROVAL_READ, &device.user_id).device(&device.device_id).ip(device.ip.clone());
    let result = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let item = readable(tx, &item_id, &device.user_id, now)?;
            let summary = store::summary(tx, &item, &device.user_id, now)?;
            if summary.actionable && item.opened_at_ms.is_none() && !item.classified {
                tx.execute("UPDATE approval_items SET opened_at_ms = ?2 WHERE item_id = ?1", params![item.item_id, now])?;
            }
            let actions = allowed(tx, &item, &device.user_id, now)?;
            let chain = chain_steps(tx, &item)?;
            if item.classified {
                return Ok(Json(ItemDetail {
                    summary,
                    body: None,
                    body_type: item.body_type,
                    body_sha256: String::new(),
                    attachments: Vec::new(),
                    decision_level: item.decision_level,
                    chain,
                    step: u32::try_from(item.step).unwrap_or(0),
                    leave: None,
                    fields: Vec::new(),
                    history: Vec::new(),
                    actions,
                    my_draft: None,
                }));
            }
            let body: Vec<u8> = tx.query_row("SELECT body FROM approval_items WHERE item_id = ?1", [&item.item_id], |r| r.get(0))?;
            let mut stmt = tx.prepare(
                "SELECT idx, name, content_type, length(data), sha256 FROM approval_attachments WHERE item_id = ?1 ORDER BY idx",
            )?;
            let attachments = stmt
                .query_map([&item.item_id], |r| {
                    Ok(AttachmentInfo {
                        index: r.get(0)?,
                        name: r.get(1)?,
                        content_type: r.get(2)?,
                        size: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                        sha256: b64::encode(r.get::<_, Vec<u8>>(4)?),
                    })
                })?
                .collect::<Result<_, _>>()?;
            let (leave, fields) = match (item.kind, &item.details) {
                (Kind::Leave, Some(d)) => (serde_json::from_str::<Option<LeaveDetails>>(d).ok().flatten(), Vec::new()),
                (Kind::Form, Some(d)) => (None, serde_json::from_str::<Vec<FormField>>(d).unwrap_or_default()),
                _ => (None, Vec::new()),
            };
            let my_draft = tx
                .query_row(
                    "SELECT opinion FROM approval_drafts WHERE item_id = ?1 AND user_id = ?2",
                    params![item.item_id, device.user_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(Json(ItemDetail {
                summary,
                body: Some(b64::encode(&body)),
                body_type: item.body_type.clone(),
                body_sha256: b64::encode(&item.body_sha256),
                attachments,
                decision_level: item.decision_level,
                chain,
                step: u32::try_from(item.step).unwrap_or(0),
                leave,
                fields,
                history: history(tx, &item.item_id)?,
                actions,
                my_draft,
            }))
        })
        .await;
    audit::unless_refused(&state.db, entry, result).await
}

/// `GET /v1/approval/items/{item_id}/attachments/{index}` (phone): the bytes, with their
/// type and length; never for a classified item.
#[utoipa::path(
    get,
    path = "/v1/approval/items/{item_id}/attachments/{index}",
    operation_id = "getApprovalAttachment",
    summary = "Phone: an attachment's bytes with their stored type and length.",
    params(
        ("item_id" = String, Path, description = "Item id."),
        ("index" = i64, Path, description = "Attachment index."),
    ),
    responses(
        (status = 200, description = "The bytes (`Content-Type` as stored, `X-Content-Type-Options: nosniff`).", body = String, content_type = "application/octet-stream"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, description = "`device_revoked`, or `approval_classified`: a classified item's attachments never reach a phone.", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`approval_unknown_item`, or `not_found`: no such attachment.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("dpop" = [])),
)]
pub async fn attachment(State(state): State<AppState>, device: AuthedDevice, p: Result<Path<(String, u32)>, PathRejection>) -> Result<Response, ApiError> {
    let (item_id, index) = path_of(p)?;
    let entry = Entry::new(actions::APPROVAL_READ, &device.user_id).device(&device.device_id).ip(device.ip.clone());
    let result = state
        .db
        .read(move |conn| {
            let item = readable(conn, &item_id, &device.user_id, now_ms())?;
            if item.classified {
                return Err(classified());
            }
            conn.query_row(
                "SELECT content_type, data FROM approval_attachments WHERE item_id = ?1 AND idx = ?2",
                params![item_id, index],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()?
            .ok_or_else(|| ApiError::not_found("no such attachment"))
        })
        .await;
    let (content_type, data) = audit::unless_refused(&state.db, entry, result).await?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_LENGTH, data.len().to_string()),
            (header::CONTENT_DISPOSITION, "attachment".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        Body::from(data),
    )
        .into_response())
}

fn check_shape(a: &SignedAction) -> Result<(), ApiError> {
    check_len("item_id", &a.item_id, 1, 64)?;
    check_len("opinion", &a.opinion, 0, MAX_OPINION_CHARS)?;
    check_len("body_sha256", &a.body_sha256, 0, 64)?;
    if a.cosigners.len() > MAX_COSIGNERS {
        return Err(ApiError::bad_request(format!("at most {MAX_COSIGNERS} co-signers")));
    }
    for c in a.cosigners.iter().chain(&a.acting_for) {
        check_len("user id", c, 1, 64)?;
    }
    Ok(())
}

fn signer_of(device: &AuthedDevice) -> Signer {
    Signer {
        user_id: device.user_id.clone(),
        device_id: device.device_id.clone(),
        entry: Entry::new(actions::APPROVAL_ACT, &device.user_id).device(&device.device_id).ip(device.ip.clone()),
    }
}

/// `POST /v1/approval/actions` (phone, through its outbox): one signed action in, its
/// receipt out. A bad signature is an error reply; every other verdict is the receipt.
#[utoipa::path(
    post,
    path = "/v1/approval/actions",
    operation_id = "approvalAct",
    summary = "Phone (through its outbox): one signed approval action.",
    description = "Signature over approval::action_message (tag `TPQ-APPROVE-v1`: device, item, version, SHA-256 of the body rendered, action, opinion, co-signers, mode, return-to, acting-for, time). The receipt is the verdict, stored under the Idempotency-Key: `done`; `conflict` (the item changed since it was read: `approval_version_changed`, `approval_recalled`, `approval_acted_elsewhere`, `approval_not_holder`); or `refused` (`approval_unknown_item`, `approval_not_decider`, `approval_opinion_required`, `approval_reason_required`, `approval_recall_closed`, `approval_classified`, `approval_body_mismatch`, `approval_replayed`, `approval_not_proxy`, `approval_proxy_cycle`, `approval_action_not_allowed`, `approval_bad_cosigners`, `approval_clock_skew`, and in a batch `signature_invalid`).",
    params(
        ("Idempotency-Key" = String, Header),
    ),
    request_body(content = taipei_protocol::approval::SignedAction),
    responses(
        (status = 200, description = "ActionReceipt.", body = taipei_protocol::approval::ActionReceipt),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "An authentication refusal (`invalid_token`, `invalid_dpop_proof`, `replayed_proof`, `clock_skew`), or `signature_invalid` for an action whose signature does not verify.", body = taipei_protocol::api::ErrorBody),
        (status = 403, response = crate::openapi::DeviceRevoked),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    ),
    security(("dpop" = [])),
)]
pub async fn act(State(state): State<AppState>, device: AuthedDevice, key: IdempotencyKey, body: JsonBody<SignedAction>) -> Result<Response, ApiError> {
    let signer = signer_of(&device);
    let a = body.value;
    let checked = check_shape(&a).and_then(|()| verify_signature(&device.public_key, &action_message(&device.device_id, &a), &a.signature, "approval action"));
    let signature = match checked {
        Ok(s) => s,
        Err(e) => return audit::unless_refused(&state.db, signer.entry, Err(e)).await,
    };
    let entry = signer.entry.clone();
    let kek = state.settings.kek.clone();
    let result = idempotency::once(&state.db, device.device_id.clone(), key, body.request_hash, StatusCode::OK, move |tx| {
        let now = now_ms();
        let before = notify::waiting(tx, &a.item_id, now)?;
        let receipt = judge::judge(tx, &signer, &a, Ok(signature), now)?;
        notify::newly_waiting(tx, &kek, &a.item_id, &before, now)?;
        Ok(receipt)
    })
    .await;
    state.settings.push.wake();
    audit::unless_refused(&state.db, entry, result).await
}

/// `POST /v1/approval/proxies` (phone): the person names who acts for them while
/// away; the same rules as the agency's own setting (someone registered, no cycle).
#[utoipa::path(
    post,
    path = "/v1/approval/proxies",
    operation_id = "setOwnProxy",
    summary = "Phone: name who acts for the signed-in person (職務代理) in [from_ms, until_ms), at most a year.",
    description = "The same rules as the agency's own setting: the proxy is a registered person, not the person themself, and no chain of proxies loops back (`approval_proxy_cycle`). Every call is an `approval.proxy` audit row.",
    params(
        ("Idempotency-Key" = String, Header),
    ),
    request_body(content = taipei_protocol::approval::OwnProxy),
    responses(
        (status = 201, description = "Set; the body echoes the proxy with the person's user id."),
        (status = 400, description = "Not a registered person, or a period that is empty or longer than a year."),
        (status = 409, description = "`approval_proxy_cycle`."),
    ),
    security(("dpop" = [])),
)]
pub async fn set_proxy(State(state): State<AppState>, device: AuthedDevice, key: IdempotencyKey, body: JsonBody<OwnProxy>) -> Result<Response, ApiError> {
    let entry = Entry::new(actions::APPROVAL_PROXY, &device.user_id).device(&device.device_id).ip(device.ip.clone());
    let own = body.value;
    if let Err(e) = own.check() {
        return audit::unless_refused(&state.db, entry, Err(ApiError::bad_request(e))).await;
    }
    let proxy = NewProxy { user_id: device.user_id.clone(), proxy_id: own.proxy_id, from_ms: own.from_ms, until_ms: own.until_ms };
    let ok = entry.clone();
    let result = idempotency::once(&state.db, device.device_id.clone(), key, body.request_hash, StatusCode::CREATED, move |tx| {
        admin::put_proxy(tx, &proxy)?;
        audit::record(tx, &ok)?;
        Ok(proxy)
    })
    .await;
    audit::unless_refused(&state.db, entry, result).await
}

/// `POST /v1/approval/actions/batch` (phone): up to 50 actions, each judged on its own;
/// one receipt per action in the request's order.
#[utoipa::path(
    post,
    path = "/v1/approval/actions/batch",
    operation_id = "approvalBatch",
    summary = "Phone: up to 50 signed actions, each judged on its own; one receipt per action in order.",
    description = "Each element as for `POST /v1/approval/actions`; a bad signature refuses only its own element (`signature_invalid`). More than 50 actions is a 400.",
    params(
        ("Idempotency-Key" = String, Header),
    ),
    request_body(content = taipei_protocol::approval::BatchRequest),
    responses(
        (status = 200, description = "BatchReceipt.", body = taipei_protocol::approval::BatchReceipt),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, response = crate::openapi::DeviceRevoked),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    ),
    security(("dpop" = [])),
)]
pub async fn batch(State(state): State<AppState>, device: AuthedDevice, key: IdempotencyKey, body: JsonBody<BatchRequest>) -> Result<Response, ApiError> {
    let signer = signer_of(&device);
    let actions = body.value.actions;
    let checked = if actions.is_empty() || actions.len() > MAX_BATCH {
        Err(ApiError::bad_request(format!("a batch has 1 to {MAX_BATCH} actions")))
    } else {
        actions.iter().try_for_each(check_shape)
    };
    if let Err(e) = checked {
        return audit::unless_refused(&state.db, signer.entry, Err(e)).await;
    }
    // Signatures are checked before the transaction: they need no data, and the
    // write lock is held only for the judging.
    let judged: Vec<(SignedAction, Result<Vec<u8>, ApiError>)> = actions
        .into_iter()
        .map(|a| {
            let sig = verify_signature(&device.public_key, &action_message(&device.device_id, &a), &a.signature, "approval action");
            (a, sig)
        })
        .collect();
    let entry = signer.entry.clone();
    let kek = state.settings.kek.clone();
    let result = idempotency::once(&state.db, device.device_id.clone(), key, body.request_hash, StatusCode::OK, move |tx| {
        let now = now_ms();
        let results = judged
            .into_iter()
            .map(|(a, sig)| {
                let before = notify::waiting(tx, &a.item_id, now)?;
                let receipt = judge::judge(tx, &signer, &a, sig, now)?;
                notify::newly_waiting(tx, &kek, &a.item_id, &before, now)?;
                Ok(receipt)
            })
            .collect::<Result<Vec<ActionReceipt>, ApiError>>()?;
        Ok(BatchReceipt { results })
    })
    .await;
    state.settings.push.wake();
    audit::unless_refused(&state.db, entry, result).await
}
