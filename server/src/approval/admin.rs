//! Back-office routes: what the agency's document system, HR and the demo use to put
//! people, proxies, the calendar and items in place. Each handler takes the `Admin`
//! extractor once; the functions below it work on a transaction, so the demo seed uses
//! exactly the same rules.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use crate::db::Conn;
use crate::params;
use taipei_protocol::approval::{
    Calendar, DayKind, ItemCreated, ItemEdit, Kind, NewAttachment, NewItem, NewPerson, NewProxy, codes, due_at_ms,
};
use taipei_protocol::attendance::{date_day, workday};

use super::{page, store};
use crate::AppState;
use crate::audit::{self, Entry, actions};
use crate::auth::{Admin, sha256};
use crate::error::ApiError;
use crate::extract::{JsonBody, b64_field, check_len, path_of};
use crate::random;
use crate::time::now_ms;

/// Largest document body and attachment, decoded.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_ATTACHMENTS: usize = 10;
/// What an attachment may be: the formats official documents travel in (ODF is the
/// government's standard office format).
pub const ATTACHMENT_TYPES: &[&str] = &[
    "application/pdf",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "image/png",
    "image/jpeg",
    "text/plain",
];
const BODY_TYPES: &[&str] = &["text/html", "application/pdf"];
/// The item route carries a body and attachments in base64: room for both at their limits.
pub const ITEM_REQUEST_LIMIT: usize = 24 * 1024 * 1024;

pub fn put_person(tx: &Conn<'_>, p: &NewPerson) -> Result<(), ApiError> {
    check_len("user_id", &p.user_id, 1, 64)?;
    check_len("display_name", &p.display_name, 1, 100)?;
    check_len("title", &p.title, 0, 100)?;
    check_len("agency", &p.agency, 1, 100)?;
    if !(1..=9).contains(&p.level) {
        return Err(ApiError::bad_request("level must be 1 (head of agency) to 9"));
    }
    tx.execute(
        "INSERT INTO approval_people (user_id, display_name, title, agency, level) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name, title = excluded.title, \
         agency = excluded.agency, level = excluded.level",
        params![p.user_id, p.display_name, p.title, p.agency, p.level],
    )?;
    Ok(())
}

pub fn put_proxy(tx: &Conn<'_>, p: &NewProxy) -> Result<(), ApiError> {
    if p.from_ms >= p.until_ms || p.user_id == p.proxy_id {
        return Err(ApiError::bad_request("a proxy is someone else, for a period with from_ms < until_ms"));
    }
    for who in [&p.user_id, &p.proxy_id] {
        if !store::person_exists(tx, who)? {
            return Err(ApiError::bad_request(format!("{who} is not a registered person")));
        }
    }
    if store::reaches(tx, &p.proxy_id, &p.user_id, p.from_ms, p.until_ms)? {
        return Err(store::proxy_cycle(&p.user_id));
    }
    tx.execute(
        "INSERT INTO approval_proxies (user_id, proxy_id, from_ms, until_ms, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![p.user_id, p.proxy_id, p.from_ms, p.until_ms, now_ms()],
    )?;
    Ok(())
}

pub fn put_calendar(tx: &Conn<'_>, c: &Calendar) -> Result<usize, ApiError> {
    if c.days.len() > 1000 {
        return Err(ApiError::bad_request("at most 1000 days per request"));
    }
    for d in &c.days {
        let day = date_day(&d.date).ok_or_else(|| ApiError::bad_request(format!("{:?} is not a YYYY-MM-DD date", d.date)))?;
        check_len("name", &d.name, 0, 100)?;
        let kind = match d.kind {
            DayKind::Holiday => "holiday",
            DayKind::Workday => "workday",
        };
        tx.execute(
            "INSERT INTO approval_calendar (day, kind, name) VALUES (?1, ?2, ?3) \
             ON CONFLICT (day) DO UPDATE SET kind = excluded.kind, name = excluded.name",
            params![day, kind, d.name],
        )?;
    }
    Ok(c.days.len())
}

/// The deadline of an item received at `received_at_ms`, on the stored calendar.
fn deadline(tx: &Conn<'_>, item: &NewItem, received_at_ms: i64) -> Result<i64, ApiError> {
    let first = workday(received_at_ms, 0);
    let mut stmt = tx.prepare("SELECT day, kind FROM approval_calendar WHERE day BETWEEN ?1 AND ?1 + 400")?;
    let days: HashMap<i64, DayKind> = stmt
        .query_map([first], |r| {
            let kind: String = r.get(1)?;
            Ok((r.get(0)?, if kind == "holiday" { DayKind::Holiday } else { DayKind::Workday }))
        })?
        .collect::<Result<_, _>>()?;
    Ok(due_at_ms(received_at_ms, item.urgency, |d| days.get(&d).copied()))
}

/// Forms and leave requests carry fields, not a body: the server renders the one body
/// every phone shows and signs the hash of.
fn rendered_body(tx: &Conn<'_>, item: &NewItem) -> Result<Vec<u8>, ApiError> {
    let e = page::escape;
    let mut html = format!("<!doctype html><meta charset=\"utf-8\"><h1>{}</h1><dl>", e(&item.subject));
    match item.kind {
        Kind::Leave => {
            let l = item.leave.as_ref().ok_or_else(|| ApiError::bad_request("a leave request needs its leave details"))?;
            check_len("leave_type", &l.leave_type, 1, 20)?;
            if l.from_ms >= l.until_ms || l.hours == 0 || l.hours > 24 * 366 {
                return Err(ApiError::bad_request("a leave needs from_ms < until_ms and 1 or more hours"));
            }
            if !store::person_exists(tx, &l.cover_user_id)? {
                return Err(ApiError::bad_request("the colleague who covers is not a registered person"));
            }
            for (k, v) in [
                ("假別", l.leave_type.clone()),
                ("起", page::taipei_time(l.from_ms)),
                ("迄", page::taipei_time(l.until_ms)),
                ("時數", l.hours.to_string()),
                ("職務代理人", l.cover_user_id.clone()),
            ] {
                html.push_str(&format!("<dt>{k}</dt><dd>{}</dd>", e(&v)));
            }
        }
        Kind::Form => {
            if item.fields.is_empty() || item.fields.len() > 100 {
                return Err(ApiError::bad_request("a form has 1 to 100 fields"));
            }
            for f in &item.fields {
                check_len("field label", &f.label, 1, 100)?;
                check_len("field value", &f.value, 0, 2000)?;
                html.push_str(&format!("<dt>{}</dt><dd>{}</dd>", e(&f.label), e(&f.value)));
            }
        }
        Kind::Document => return Err(ApiError::bad_request("a document needs its body")),
    }
    html.push_str("</dl>");
    Ok(html.into_bytes())
}

fn attachment(a: &NewAttachment) -> Result<Vec<u8>, ApiError> {
    let refuse = |m: String| ApiError::new(StatusCode::BAD_REQUEST, codes::ATTACHMENT_REJECTED, m);
    check_len("attachment name", &a.name, 1, 200)?;
    if a.name.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Err(refuse("an attachment name has no path separators or control characters".into()));
    }
    if !ATTACHMENT_TYPES.contains(&a.content_type.as_str()) {
        return Err(refuse(format!("{} is not an accepted attachment type ({})", a.content_type, ATTACHMENT_TYPES.join(", "))));
    }
    let data = b64_field("attachment data", &a.data)?;
    if data.is_empty() || data.len() > MAX_BODY_BYTES {
        return Err(refuse(format!("an attachment is 1 to {MAX_BODY_BYTES} bytes")));
    }
    Ok(data)
}

/// Validates and stores a new item; the drafter has sent it on, so the chain's second
/// person holds it.
pub fn create_item(tx: &Conn<'_>, item: &NewItem, now: i64) -> Result<ItemCreated, ApiError> {
    check_len("subject", &item.subject, 1, 200)?;
    check_len("agency", &item.agency, 1, 100)?;
    if item.chain.len() < 2 || item.chain.len() > 10 {
        return Err(ApiError::bad_request("a chain has 2 to 10 people, drafter first and decider last"));
    }
    for (i, who) in item.chain.iter().enumerate() {
        if !store::person_exists(tx, who)? {
            return Err(ApiError::bad_request(format!("{who} in the chain is not a registered person")));
        }
        if item.chain[..i].contains(who) {
            return Err(ApiError::bad_request(format!("{who} appears twice in the chain")));
        }
    }
    let decider = &item.chain[item.chain.len() - 1];
    if store::level_of(tx, decider)? != Some(item.decision_level) {
        return Err(ApiError::bad_request(format!(
            "the chain's last person must hold decision level {} (分層負責)",
            item.decision_level
        )));
    }
    let body = match &item.body {
        Some(text) => {
            if !BODY_TYPES.contains(&item.body_type.as_str()) {
                return Err(ApiError::bad_request("body_type is text/html or application/pdf"));
            }
            let body = b64_field("body", text)?;
            if body.is_empty() || body.len() > MAX_BODY_BYTES {
                return Err(ApiError::bad_request(format!("a body is 1 to {MAX_BODY_BYTES} bytes")));
            }
            body
        }
        None => rendered_body(tx, item)?,
    };
    let body_type = if item.body.is_some() { item.body_type.as_str() } else { "text/html" };
    if item.attachments.len() > MAX_ATTACHMENTS {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, codes::ATTACHMENT_REJECTED, format!("at most {MAX_ATTACHMENTS} attachments")));
    }
    let attachments = item.attachments.iter().map(attachment).collect::<Result<Vec<_>, _>>()?;
    let details = match item.kind {
        Kind::Leave => Some(serde_json::to_string(&item.leave).map_err(|e| ApiError::internal(e.to_string()))?),
        Kind::Form => Some(serde_json::to_string(&item.fields).map_err(|e| ApiError::internal(e.to_string()))?),
        Kind::Document => None,
    };
    let received = item.received_at_ms.unwrap_or(now);
    let due = deadline(tx, item, received)?;
    let item_id = random::id()?;
    let chain = serde_json::to_string(&item.chain).map_err(|e| ApiError::internal(e.to_string()))?;
    let holder = item.chain[1].clone();
    tx.execute(
        "INSERT INTO approval_items (item_id, kind, subject, body, body_type, body_sha256, classified, urgency, agency, \
         decision_level, chain, details, state, step, holder, version, seq, received_at_ms, due_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'routing', 1, ?13, 1, ?14, ?15, ?16)",
        params![item_id, item.kind.as_str(), item.subject, body, body_type, sha256(&body).as_slice(), item.classified,
                item.urgency.as_str(), item.agency, item.decision_level, chain, details, holder, store::next_seq(tx)?, received, due],
    )?;
    for (i, (a, data)) in item.attachments.iter().zip(&attachments).enumerate() {
        tx.execute(
            "INSERT INTO approval_attachments (item_id, idx, name, content_type, data, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![item_id, i as i64, a.name, a.content_type, data, sha256(data).as_slice()],
        )?;
    }
    desk_event(tx, &item_id, 1, "create", &item.chain[0], std::slice::from_ref(&holder), now)?;
    Ok(ItemCreated { item_id, version: 1, due_at_ms: due, holder })
}

fn desk_event(tx: &Conn<'_>, item_id: &str, version: i64, action: &str, actor: &str, to: &[String], now: i64) -> Result<(), ApiError> {
    let to = serde_json::to_string(to).map_err(|e| ApiError::internal(e.to_string()))?;
    tx.execute(
        "INSERT INTO approval_events (item_id, version, action, actor, opinion, to_users, at_ms) VALUES (?1, ?2, ?3, ?4, '', ?5, ?6)",
        params![item_id, version, action, actor, to, now],
    )?;
    Ok(())
}

/// An edit at the desk: a new version, so every phone that read the old one gets a
/// conflict instead of signing what it no longer shows.
pub fn edit_item(tx: &Conn<'_>, item_id: &str, edit: &ItemEdit, now: i64) -> Result<i64, ApiError> {
    let item = store::load(tx, item_id)?.ok_or_else(store::unknown_item)?;
    if let Some(subject) = &edit.subject {
        check_len("subject", subject, 1, 200)?;
        tx.execute("UPDATE approval_items SET subject = ?2 WHERE item_id = ?1", params![item_id, subject])?;
    }
    if let Some(body) = &edit.body {
        let body = b64_field("body", body)?;
        if body.is_empty() || body.len() > MAX_BODY_BYTES {
            return Err(ApiError::bad_request(format!("a body is 1 to {MAX_BODY_BYTES} bytes")));
        }
        tx.execute(
            "UPDATE approval_items SET body = ?2, body_sha256 = ?3 WHERE item_id = ?1",
            params![item_id, body, sha256(&body).as_slice()],
        )?;
    }
    let version = item.version + 1;
    tx.execute(
        "UPDATE approval_items SET version = ?2, seq = ?3 WHERE item_id = ?1",
        params![item_id, version, store::next_seq(tx)?],
    )?;
    desk_event(tx, item_id, version, "edit", &item.chain[0], &[item.holder], now)?;
    Ok(version)
}

async fn admin_write<T: Send + 'static>(
    state: &AppState,
    admin: Admin,
    work: impl FnOnce(&Conn<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let entry = Entry::new(actions::APPROVAL_ADMIN, "admin").ip(admin.ip);
    let audited = entry.clone();
    let result = state
        .db
        .write(move |tx| {
            let out = work(tx)?;
            audit::record(tx, &audited)?;
            Ok(out)
        })
        .await;
    audit::unless_refused(&state.db, entry, result).await
}

/// `POST /v1/admin/approval/people`.
#[utoipa::path(
    post,
    path = "/v1/admin/approval/people",
    operation_id = "putApprovalPerson",
    summary = "Back office: create or update someone who can hold items, with their level of 分層負責.",
    request_body(content = taipei_protocol::approval::NewPerson),
    responses(
        (status = 201, description = "The person as stored.", body = taipei_protocol::approval::NewPerson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    ),
    security(("admin" = [])),
)]
pub async fn people(State(state): State<AppState>, admin: Admin, body: JsonBody<NewPerson>) -> Result<(StatusCode, Json<NewPerson>), ApiError> {
    let person = body.value;
    let stored = person.clone();
    admin_write(&state, admin, move |tx| put_person(tx, &stored)).await?;
    Ok((StatusCode::CREATED, Json(person)))
}

/// `POST /v1/admin/approval/proxies`.
#[utoipa::path(
    post,
    path = "/v1/admin/approval/proxies",
    operation_id = "addApprovalProxy",
    summary = "Back office: `proxy_id` acts for `user_id` (職務代理) in [from_ms, until_ms).",
    request_body(content = taipei_protocol::approval::NewProxy),
    responses(
        (status = 201, description = "The proxy as stored.", body = taipei_protocol::approval::NewProxy),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 409, description = "`approval_proxy_cycle`: the proxies set for overlapping periods would lead back to `user_id`.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn proxies(State(state): State<AppState>, admin: Admin, body: JsonBody<NewProxy>) -> Result<(StatusCode, Json<NewProxy>), ApiError> {
    let proxy = body.value;
    let stored = proxy.clone();
    admin_write(&state, admin, move |tx| put_proxy(tx, &stored)).await?;
    Ok((StatusCode::CREATED, Json(proxy)))
}

/// `POST /v1/admin/approval/calendar`.
#[utoipa::path(
    post,
    path = "/v1/admin/approval/calendar",
    operation_id = "putApprovalCalendar",
    summary = "Back office: days that differ from Monday-to-Friday (holidays, make-up working Saturdays).",
    description = "Deadlines of items created afterwards count working days on this calendar: 最速件 1, 速件 3, 普通件 6 working days after the day of receipt, due at the end (Taipei midnight) of the last.",
    request_body(content = taipei_protocol::approval::Calendar),
    responses(
        (status = 200, description = "How many days were stored.", body = CalendarStored),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    ),
    security(("admin" = [])),
)]
pub async fn calendar(State(state): State<AppState>, admin: Admin, body: JsonBody<Calendar>) -> Result<Json<CalendarStored>, ApiError> {
    let days = body.value;
    let days = admin_write(&state, admin, move |tx| put_calendar(tx, &days)).await?;
    Ok(Json(CalendarStored { days }))
}

/// `POST /v1/admin/approval/calendar` reply.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CalendarStored {
    /// How many days were stored.
    pub days: usize,
}

/// `POST /v1/admin/approval/items/{item_id}/edit` reply.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ItemEdited {
    pub item_id: String,
    /// The item's version after the edit.
    pub version: i64,
}

/// `POST /v1/admin/approval/items`.
#[utoipa::path(
    post,
    path = "/v1/admin/approval/items",
    operation_id = "createApprovalItem",
    summary = "Back office: a document, e-form or leave request enters its chain; the chain's second person holds it.",
    description = "This route accepts bodies up to 24 MiB (a document body and attachments of up to 4 MiB each, base64url). Attachment types: PDF, ODF text and spreadsheet, PNG, JPEG, plain text; otherwise `approval_attachment_rejected` (400). The chain's last person must hold `decision_level`.",
    request_body(content = taipei_protocol::approval::NewItem),
    responses(
        (status = 201, description = "Created.", body = taipei_protocol::approval::ItemCreated),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    ),
    security(("admin" = [])),
)]
pub async fn items(State(state): State<AppState>, admin: Admin, body: JsonBody<NewItem>) -> Result<(StatusCode, Json<ItemCreated>), ApiError> {
    let item = body.value;
    let kek = state.settings.kek.clone();
    let created = admin_write(&state, admin, move |tx| {
        let now = now_ms();
        let created = create_item(tx, &item, now)?;
        super::notify::newly_waiting(tx, &kek, &created.item_id, &[], now)?;
        Ok(created)
    })
    .await?;
    state.settings.push.wake();
    Ok((StatusCode::CREATED, Json(created)))
}

/// `POST /v1/admin/approval/items/{item_id}/edit`.
#[utoipa::path(
    post,
    path = "/v1/admin/approval/items/{item_id}/edit",
    operation_id = "editApprovalItem",
    summary = "Back office: the item was changed at the desk; a new version, so phones that read the old one get a conflict.",
    params(
        ("item_id" = String, Path, description = "Item id."),
    ),
    request_body(content = taipei_protocol::approval::ItemEdit),
    responses(
        (status = 200, description = "The new version.", body = ItemEdited),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 404, description = "`approval_unknown_item`: no such item, or the reader takes no part in it.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn edit(
    State(state): State<AppState>,
    admin: Admin,
    item_id: Result<Path<String>, PathRejection>,
    body: JsonBody<ItemEdit>,
) -> Result<Json<ItemEdited>, ApiError> {
    let item_id = path_of(item_id)?;
    let edit = body.value;
    let reply_id = item_id.clone();
    let version = admin_write(&state, admin, move |tx| edit_item(tx, &item_id, &edit, now_ms())).await?;
    Ok(Json(ItemEdited { item_id: reply_id, version }))
}

/// `GET /v1/admin/approval/items/{item_id}/history.html`: the item's history at the desk.
#[utoipa::path(
    get,
    path = "/v1/admin/approval/items/{item_id}/history.html",
    operation_id = "getApprovalHistoryPage",
    summary = "Back office: the item's history as an HTML page (who acted, for whom 代, opinions; refused attempts).",
    params(
        ("item_id" = String, Path, description = "Item id."),
    ),
    responses(
        (status = 200, description = "The page.", body = String, content_type = "text/html"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 404, description = "`approval_unknown_item`: no such item, or the reader takes no part in it.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn history_html(State(state): State<AppState>, admin: Admin, item_id: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    let item_id = path_of(item_id)?;
    let html = admin_write(&state, admin, move |tx| page::history(tx, &item_id)).await?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}
