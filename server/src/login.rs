//! QR-key login (protocol.md, "QR-key login"): the browser starts a request and holds
//! an HttpOnly secret; the page shows rotating frames; the phone scans, sees the
//! context, and signs its decision; the browser alone redeems an approval, once.
//!
//! Every step and every refusal writes an audit row. State moves only forward,
//! `pending → scanned → approved → redeemed` (or `denied` / `cancelled`), each move
//! a conditional UPDATE inside one transaction, so two racing approvals cannot both win.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crate::db::{Conn, OptionalExtension};
use crate::params;
use taipei_protocol::b64;
use taipei_protocol::login::{
    Decision, LoginConfirm, LoginContext, LoginDecided, LoginDecisionRequest, LoginFrame, LoginHistory,
    LoginHistoryEntry, LoginRedeemed, LoginScan, LoginStarted, LoginStatus, codes,
};

use crate::AppState;
use crate::audit::{self, Entry, actions};
use crate::auth::{AuthedDevice, sha256};
use crate::error::ApiError;
use crate::extract::{JsonBody, check_len, verify_signature};
use crate::idempotency::{self, IdempotencyKey};
use crate::middleware::Ctx;
use crate::random;
use crate::time::now_ms;
use crate::web;
use crate::web_systems;

/// A request can be scanned for this long in all.
pub const REQUEST_TTL_MS: i64 = 120_000;
/// Each frame lives this long...
pub const FRAME_TTL_MS: i64 = 30_000;
/// ...and is replaced this long after it was issued, so the frame on screen always has
/// a few seconds left when a phone reads it.
const FRAME_ROTATE_MS: i64 = 25_000;
/// After a scan, the person has this long to decide.
const DECIDE_TTL_MS: i64 = 60_000;
/// After approval, the browser has this long to redeem.
const REDEEM_TTL_MS: i64 = 30_000;
/// A browser session for the web system.
const WEB_SESSION_TTL_MS: i64 = 8 * 60 * 60 * 1000;
// Short enough that the page follows the phone within half a second; each poll is one
// indexed read.
const POLL_MS: u32 = 500;
const HISTORY_LIMIT: i64 = 50;

/// The login request cookie: one per request, so two tabs do not overwrite each other.
fn secret_cookie(rid: &str) -> String {
    format!("tpl_{rid}")
}

/// The web system's own session cookie, set at redeem.
pub const SESSION_COOKIE: &str = "tp_session";

fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

fn gone(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::GONE, code, message)
}

fn request_unknown() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::REQUEST_UNKNOWN, "no such login request")
}

/// `POST /v1/login/start` body: which registered web system the browser wants to enter.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct StartLogin {
    #[schema(min_length = 1, max_length = 40, pattern = "^[a-z0-9-]+$")]
    pub system_id: String,
}

/// `POST /v1/login/start` (browser, no authentication).
#[utoipa::path(
    post,
    path = "/v1/login/start",
    operation_id = "startLogin",
    summary = "Browser: start a QR-key login request.",
    description = "Sets the HttpOnly cookie `tpl_{rid}` holding the secret that alone can read the request's state and redeem it. The request can be scanned for 120 s; each frame lives 30 s and is replaced after 25 s. The system is named by its registered id; the phone is shown the registered name. A browser page on an origin the system did not register (other than this server's own `/login` page) is refused with 403 `login_origin_not_allowed`; an unknown id with 404 `login_unknown_system`.",
    request_body(content = StartLogin),
    responses(
        (status = 201, description = "Started; the cookie is set.", body = taipei_protocol::login::LoginStarted),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 403, description = "`login_origin_not_allowed`: the page's origin is not one the system registered.", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`login_unknown_system`: no web system is registered under `system_id`.", body = taipei_protocol::api::ErrorBody),
    ),
)]
pub async fn start(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: JsonBody<StartLogin>,
) -> Result<Response, ApiError> {
    let system_id = body.value.system_id;
    check_len("system_id", &system_id, 1, 40)?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (browser, os) = web::describe_user_agent(user_agent);
    let ip = ctx.ip().unwrap_or_else(|| "unknown".into());
    let place = web::place_of(&ip, &state.settings.city_networks);
    let rid = b64::encode(random::bytes::<16>()?);
    let secret = b64::encode(random::bytes::<32>()?);
    let fnonce = random::bytes::<16>()?;
    let now = now_ms();
    let expires_at_ms = now + REQUEST_TTL_MS;
    // The system is looked up in the transaction that stores the request: one trip to
    // the database's thread for the whole start, and a refusal (unknown system, origin
    // not registered) rolls back having written nothing. No write lock on PostgreSQL:
    // the request's row is new under a fresh random id and the audit row is appended,
    // so nothing here reads "not done yet" and then acts on it.
    let (rid2, secret_hash) = (rid.clone(), sha256(secret.as_bytes()));
    let entry = Entry::new(actions::LOGIN_START, "anon").ip(ctx.ip());
    let recorded = entry.clone();
    let stored = state
        .db
        .write_atomic(move |tx| {
            let web_system = web_systems::find(tx, &system_id)?.ok_or_else(|| web_systems::unknown(&system_id))?;
            if !web_systems::origin_allowed(&web_system, &headers) {
                let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).unwrap_or("?");
                return Err(web_systems::origin_refused(origin, &web_system));
            }
            tx.execute(
                "INSERT INTO login_requests (rid, secret_hash, system, browser, os, ip, place, state, \
                 started_at_ms, expires_at_ms, fnonce, frame_issued_ms, frame_expires_ms, system_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?10, ?8, ?11, ?12)",
                params![rid2, secret_hash.as_slice(), web_system.name, browser, os, ip, place, now,
                        expires_at_ms, fnonce.as_slice(), (now + FRAME_TTL_MS).min(expires_at_ms), system_id],
            )?;
            audit::record(tx, &recorded)?;
            Ok(web_system.name)
        })
        .await;
    let system = audit::unless_refused(&state.db, entry, stored).await?;
    let cookie = format!(
        "{}={secret}; Path=/v1/login/{rid}; HttpOnly; SameSite=Strict; Max-Age={}",
        secret_cookie(&rid),
        (REQUEST_TTL_MS + REDEEM_TTL_MS + DECIDE_TTL_MS) / 1000
    );
    let mut response = (
        StatusCode::CREATED,
        Json(LoginStarted { rid, expires_at_ms, poll_ms: POLL_MS, system }),
    )
        .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| ApiError::internal("cookie"))?,
    );
    Ok(response)
}

/// The row as the handlers need it.
#[derive(Debug, Clone)]
struct Row {
    secret_hash: Vec<u8>,
    system: String,
    state: String,
    expires_at_ms: i64,
    fnonce: Vec<u8>,
    frame_issued_ms: i64,
    frame_expires_ms: i64,
    prev_fnonce: Option<Vec<u8>>,
    prev_expires_ms: Option<i64>,
    device_id: Option<String>,
    user_id: Option<String>,
    number: Option<String>,
    context_json: Option<String>,
    context_hash: Option<Vec<u8>>,
    scanned_at_ms: Option<i64>,
    decided_at_ms: Option<i64>,
    confirm_nonce: Option<String>,
}

fn load(conn: &Conn<'_>, rid: &str) -> Result<Option<Row>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT secret_hash, system, state, expires_at_ms, fnonce, frame_issued_ms, frame_expires_ms, \
             prev_fnonce, prev_expires_ms, device_id, user_id, number, context_json, context_hash, \
             scanned_at_ms, decided_at_ms, confirm_nonce FROM login_requests WHERE rid = ?1",
            [rid],
            |r| {
                Ok(Row {
                    secret_hash: r.get(0)?,
                    system: r.get(1)?,
                    state: r.get(2)?,
                    expires_at_ms: r.get(3)?,
                    fnonce: r.get(4)?,
                    frame_issued_ms: r.get(5)?,
                    frame_expires_ms: r.get(6)?,
                    prev_fnonce: r.get(7)?,
                    prev_expires_ms: r.get(8)?,
                    device_id: r.get(9)?,
                    user_id: r.get(10)?,
                    number: r.get(11)?,
                    context_json: r.get(12)?,
                    context_hash: r.get(13)?,
                    scanned_at_ms: r.get(14)?,
                    decided_at_ms: r.get(15)?,
                    confirm_nonce: r.get(16)?,
                })
            },
        )
        .optional()?)
}

impl Row {
    /// The state as the outside sees it: a request nobody finished in time is `expired`.
    fn visible_state(&self, now: i64) -> &str {
        match self.state.as_str() {
            "pending" if now > self.expires_at_ms => "expired",
            "scanned" if now > self.decide_deadline() => "expired",
            "approved" if now > self.redeem_deadline() => "expired",
            other => other,
        }
    }

    fn decide_deadline(&self) -> i64 {
        self.scanned_at_ms.map_or(self.expires_at_ms, |s| (s + DECIDE_TTL_MS).min(self.expires_at_ms + DECIDE_TTL_MS))
    }

    fn rotation_due(&self, now: i64) -> bool {
        self.state == "pending" && now >= self.frame_issued_ms + FRAME_ROTATE_MS && now < self.expires_at_ms
    }

    fn redeem_deadline(&self) -> i64 {
        self.decided_at_ms.unwrap_or(self.expires_at_ms) + REDEEM_TTL_MS
    }

    fn check_secret(&self, headers: &HeaderMap, rid: &str) -> Result<(), ApiError> {
        let presented = web::cookie(headers, &secret_cookie(rid)).ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, codes::SECRET_INVALID, "this browser did not start this login")
        })?;
        // Comparing digests, not secrets: the timing tells nothing about the secret.
        if sha256(presented.as_bytes()).as_slice() == self.secret_hash.as_slice() {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, codes::SECRET_INVALID, "this browser did not start this login"))
        }
    }
}

/// `GET /v1/login/{rid}` (browser, with its secret): state, the current frame (rotated
/// when due), and once scanned the number to show.
#[utoipa::path(
    get,
    path = "/v1/login/{rid}",
    operation_id = "loginStatus",
    summary = "Browser (with its cookie): the state, the current frame (text and SVG) while pending, and the number once scanned.",
    params(
        ("rid" = String, Path, description = "Login request id (base64url of 16 bytes)."),
    ),
    responses(
        (status = 200, description = "State.", body = taipei_protocol::login::LoginStatus),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`login_secret_invalid`: this browser did not start the request.", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`login_request_unknown`.", body = taipei_protocol::api::ErrorBody),
    ),
)]
pub async fn status(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(rid): Path<String>,
    headers: HeaderMap,
) -> Result<Json<LoginStatus>, ApiError> {
    let entry = Entry::new(actions::LOGIN_STATUS, "anon").ip(ctx.ip());
    let result = async {
        // A poll is a read; only a frame due for rotation takes the write lock (about
        // one poll in fifty while the page waits), so polling browsers do not queue
        // behind the phones' writes.
        let rid2 = rid.clone();
        let (row, account_name) = state
            .db
            .read(move |conn| {
                let row = load(conn, &rid2)?.ok_or_else(request_unknown)?;
                row.check_secret(&headers, &rid2)?;
                let name = if row.state == "approved" { masked_account(conn, row.user_id.as_deref())? } else { None };
                Ok((row, name))
            })
            .await?;
        let row = if row.rotation_due(now_ms()) { rotate_frame(&state, &rid, row.frame_issued_ms).await? } else { row };
        let now = now_ms();
        let visible = row.visible_state(now).to_owned();
        let (frame, frame_svg) = if visible == "pending" {
            let frame = LoginFrame {
                rid: decode_id(&rid)?,
                fnonce: row.fnonce.as_slice().try_into().map_err(|_| ApiError::internal("stored nonce"))?,
                expires_at_ms: row.frame_expires_ms,
            }
            .encode();
            let svg = web::frame_svg(&frame)?;
            (Some(frame), Some(svg))
        } else {
            (None, None)
        };
        let number = if visible == "scanned" { row.number.clone() } else { None };
        let (account, confirm) = if visible == "approved" {
            (account_name, row.confirm_nonce.clone())
        } else {
            (None, None)
        };
        Ok(Json(LoginStatus {
            rid: rid.clone(),
            state: visible,
            frame,
            frame_svg,
            number,
            account,
            confirm,
            expires_at_ms: row.expires_at_ms,
        }))
    }
    .await;
    audit::unless_refused(&state.db, entry, result).await
}

/// Replaces the frame issued at `issued_ms` with a new one; the frame just replaced
/// still scans until its own expiry. Conditional on that issue time, so two polls
/// racing to rotate replace it once.
async fn rotate_frame(state: &AppState, rid: &str, issued_ms: i64) -> Result<Row, ApiError> {
    let rid = rid.to_owned();
    state
        .db
        .write(move |tx| {
            let now = now_ms();
            let fnonce = random::bytes::<16>()?;
            let rotated = tx.execute(
                "UPDATE login_requests SET prev_fnonce = fnonce, prev_expires_ms = frame_expires_ms, \
                 fnonce = ?2, frame_issued_ms = ?3, frame_expires_ms = CASE WHEN ?4 < expires_at_ms THEN ?4 ELSE expires_at_ms END \
                 WHERE rid = ?1 AND state = 'pending' AND frame_issued_ms = ?5",
                params![rid, fnonce.as_slice(), now, now + FRAME_TTL_MS, issued_ms],
            )?;
            if rotated == 1 {
                tracing::debug!("login frame rotated");
            }
            load(tx, &rid)?.ok_or_else(request_unknown)
        })
        .await
}

/// The approving person's name as the browser may show it before entering.
fn masked_account(conn: &Conn<'_>, user_id: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(user_id) = user_id else { return Ok(None) };
    let name: Option<String> =
        conn.query_row("SELECT display_name FROM users WHERE user_id = ?1", [user_id], |r| r.get(0)).optional()?;
    Ok(name.map(|n| web::mask_name(&n)))
}

fn decode_id(text: &str) -> Result<[u8; 16], ApiError> {
    b64::decode(text)
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
        .ok_or_else(request_unknown)
}

/// Frame checks shared by scan: the frame names this request's current (or just
/// replaced) frame and has not lapsed.
fn check_frame(row: &Row, frame: &LoginFrame, now: i64) -> Result<(), ApiError> {
    let expires = if frame.fnonce.as_slice() == row.fnonce.as_slice() {
        row.frame_expires_ms
    } else if row.prev_fnonce.as_deref() == Some(frame.fnonce.as_slice()) {
        row.prev_expires_ms.unwrap_or(0)
    } else {
        return Err(gone(codes::FRAME_UNKNOWN, "this code was replaced by a newer one; scan the code on the screen now"));
    };
    if now > expires || now > row.expires_at_ms {
        return Err(gone(codes::FRAME_EXPIRED, "this login code has expired; reload the sign-in page"));
    }
    Ok(())
}

/// `POST /v1/login/scan` (phone): moves the request to `scanned` for this device and
/// returns the context to show. The same device scanning again gets the same context.
#[utoipa::path(
    post,
    path = "/v1/login/scan",
    operation_id = "scanLogin",
    summary = "Phone: report a scanned login frame; returns the context to show.",
    description = "Moves the request to `scanned` for this device. The same device scanning again gets the same context.",
    params(
        ("Idempotency-Key" = String, Header),
    ),
    request_body(content = taipei_protocol::login::LoginScan),
    responses(
        (status = 200, description = "The context.", body = taipei_protocol::login::LoginContext),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, response = crate::openapi::DeviceRevoked),
        (status = 404, description = "`login_request_unknown`.", body = taipei_protocol::api::ErrorBody),
        (status = 409, description = "`login_request_used`: the request was scanned, decided or redeemed already.", body = taipei_protocol::api::ErrorBody),
        (status = 410, description = "`login_frame_expired`, `login_frame_unknown` (a replaced frame).", body = taipei_protocol::api::ErrorBody),
        (status = 422, description = "`idempotency_key_reused`.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("dpop" = [])),
)]
pub async fn scan(
    State(state): State<AppState>,
    device: AuthedDevice,
    key: IdempotencyKey,
    body: JsonBody<LoginScan>,
) -> Result<Response, ApiError> {
    let entry = Entry::new(actions::LOGIN_SCAN, &device.user_id).device(&device.device_id).ip(device.ip.clone());
    let frame = LoginFrame::decode(&body.value.frame).map_err(|e| ApiError::bad_request(format!("frame: {e}")));
    let result = match frame {
        Err(e) => Err(e),
        Ok(frame) => {
            let scope = device.device_id.clone();
            let entry2 = entry.clone();
            let settings = Arc::clone(&state.settings);
            idempotency::once(&state.db, scope, key, body.request_hash, StatusCode::OK, move |tx| {
                let context = scan_in(tx, &device, &frame, &settings.city_networks)?;
                audit::record(tx, &entry2)?;
                Ok(context)
            })
            .await
        }
    };
    audit::unless_refused(&state.db, entry, result).await
}

fn scan_in(
    tx: &Conn<'_>,
    device: &AuthedDevice,
    frame: &LoginFrame,
    city_networks: &[ipnet::IpNet],
) -> Result<LoginContext, ApiError> {
    let rid = frame.rid_text();
    let row = load(tx, &rid)?.ok_or_else(request_unknown)?;
    let now = now_ms();
    if row.state == "scanned" && row.device_id.as_deref() == Some(device.device_id.as_str()) && now <= row.decide_deadline() {
        let json = row.context_json.as_deref().ok_or_else(|| ApiError::internal("scanned without context"))?;
        return serde_json::from_str(json).map_err(|_| ApiError::internal("stored context unreadable"));
    }
    if row.state != "pending" {
        return Err(conflict(codes::REQUEST_USED, "this login request was already used; reload the sign-in page"));
    }
    check_frame(&row, frame, now)?;
    let (browser_ip, browser, os, place, started_at_ms): (String, String, String, String, i64) = tx.query_row(
        "SELECT ip, browser, os, place, started_at_ms FROM login_requests WHERE rid = ?1",
        [&rid],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    let mut risk_flags = Vec::new();
    if device.ip.as_deref().is_some_and(|ip| ip != browser_ip) {
        risk_flags.push("network_differs".to_owned());
    }
    if !web::is_city_network(&browser_ip, city_networks) {
        risk_flags.push("outside_city_network".to_owned());
    }
    if now - started_at_ms > REQUEST_TTL_MS / 2 {
        risk_flags.push("old_request".to_owned());
    }
    let number = web::login_number()?;
    let context = LoginContext {
        rid: rid.clone(),
        fnonce: frame.fnonce_text(),
        system: row.system.clone(),
        browser,
        os,
        ip: browser_ip,
        place,
        started_at_ms,
        risk_flags,
        number_digits: web::NUMBER_DIGITS,
        expires_at_ms: (now + DECIDE_TTL_MS).min(row.expires_at_ms + DECIDE_TTL_MS),
    };
    let json = serde_json::to_string(&context).map_err(|_| ApiError::internal("context"))?;
    let changed = tx.execute(
        "UPDATE login_requests SET state = 'scanned', device_id = ?2, user_id = ?3, number = ?4, \
         context_json = ?5, context_hash = ?6, scanned_at_ms = ?7, fnonce = ?8 WHERE rid = ?1 AND state = 'pending'",
        params![rid, device.device_id, device.user_id, number, json, context.hash().as_slice(), now, frame.fnonce.as_slice()],
    )?;
    if changed != 1 {
        return Err(conflict(codes::REQUEST_USED, "this login request was already used"));
    }
    Ok(context)
}

/// `POST /v1/login/decide` (phone): approve with the chosen number, or deny/report.
#[utoipa::path(
    post,
    path = "/v1/login/decide",
    operation_id = "decideLogin",
    summary = "Phone: approve with the chosen number, or deny / report.",
    description = "Signature over login::decision_message(rid, fnonce, device_id, counter, decision, number, context_hash, time_ms) with tag `TPQ-LOGIN-v1`. The counter must exceed every earlier one of the device. A wrong number cancels the request at once (`login_cancelled`); the browser page offers a new code.",
    params(
        ("Idempotency-Key" = String, Header),
    ),
    request_body(content = taipei_protocol::login::LoginDecisionRequest),
    responses(
        (status = 200, description = "Decided.", body = taipei_protocol::login::LoginDecided),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`signature_invalid`, or an authentication refusal (`invalid_token`, `invalid_dpop_proof`, `replayed_proof`, `clock_skew`).", body = taipei_protocol::api::ErrorBody),
        (status = 403, description = "`login_wrong_device`, `device_revoked`.", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`login_request_unknown`.", body = taipei_protocol::api::ErrorBody),
        (status = 409, description = "`login_wrong_number` with `tries_left` (a wrong number: this server cancels the request at once and says `tries_left: 0`; a later decision gets `login_cancelled`), `login_cancelled`, `login_request_used`, `login_context_mismatch`, `login_counter_replayed`.", body = taipei_protocol::api::ErrorBody),
        (status = 410, description = "`login_frame_expired`, `login_frame_unknown`.", body = taipei_protocol::api::ErrorBody),
        (status = 422, description = "`idempotency_key_reused`.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("dpop" = [])),
)]
pub async fn decide(
    State(state): State<AppState>,
    device: AuthedDevice,
    key: IdempotencyKey,
    body: JsonBody<LoginDecisionRequest>,
) -> Result<Response, ApiError> {
    let request = body.value;
    let action = match request.decision {
        Decision::Approve => actions::LOGIN_APPROVE,
        Decision::Deny => actions::LOGIN_DENY,
        Decision::Report => actions::LOGIN_REPORT,
    };
    let entry = Entry::new(action, &device.user_id).device(&device.device_id).ip(device.ip.clone());
    let scope = device.device_id.clone();
    let (entry2, device2, request2) = (entry.clone(), device.clone(), request.clone());
    let result = idempotency::once(&state.db, scope, key, body.request_hash, StatusCode::OK, move |tx| {
        let decided = decide_in(tx, &device2, &request2)?;
        audit::record(tx, &entry2)?;
        Ok(decided)
    })
    .await;
    // A wrong number is judged inside the rolled-back transaction; cancel in its own, so
    // the refusal still ends the request.
    let result = match result {
        Err(e) if e.code == codes::WRONG_NUMBER => Err(cancel_on_wrong_number(&state, &request.rid, &device, request.counter).await?),
        other => other,
    };
    audit::unless_refused(&state.db, entry, result).await
}

fn decide_in(tx: &Conn<'_>, device: &AuthedDevice, request: &LoginDecisionRequest) -> Result<LoginDecided, ApiError> {
    let row = load(tx, &request.rid)?.ok_or_else(request_unknown)?;
    let now = now_ms();
    match row.state.as_str() {
        "scanned" => {}
        "pending" => return Err(conflict(codes::REQUEST_USED, "this login request was not scanned yet")),
        "cancelled" => return Err(conflict(codes::CANCELLED, "this login request was cancelled")),
        _ => return Err(conflict(codes::REQUEST_USED, "this login request was already decided")),
    }
    if now > row.decide_deadline() {
        return Err(gone(codes::FRAME_EXPIRED, "too late to decide; scan the code again"));
    }
    if row.device_id.as_deref() != Some(device.device_id.as_str()) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, codes::WRONG_DEVICE, "another device scanned this code"));
    }
    let rid = decode_id(&request.rid)?;
    let fnonce = b64::decode(&request.fnonce).map_err(|e| ApiError::bad_request(format!("fnonce: {e}")))?;
    if fnonce != row.fnonce {
        return Err(gone(codes::FRAME_UNKNOWN, "the decision names a frame other than the one scanned"));
    }
    let context_hash = b64::decode(&request.context_hash).map_err(|e| ApiError::bad_request(format!("context_hash: {e}")))?;
    let message = taipei_protocol::login::decision_message(
        &rid,
        &fnonce,
        &device.device_id,
        request.counter,
        request.decision,
        &request.number,
        &context_hash,
        request.time_ms,
    );
    let signature = verify_signature(&device.public_key, &message, &request.signature, "login decision")?;
    if Some(context_hash.as_slice()) != row.context_hash.as_deref() {
        return Err(ApiError::new(StatusCode::CONFLICT, codes::CONTEXT_MISMATCH, "the approval is for a context other than the one shown"));
    }
    advance_counter(tx, &device.device_id, request.counter)?;
    let new_state = match request.decision {
        Decision::Approve => {
            if Some(request.number.as_str()) != row.number.as_deref() {
                return Err(conflict(codes::WRONG_NUMBER, "that is not the number on the screen"));
            }
            "approved"
        }
        Decision::Deny | Decision::Report => "denied",
    };
    // What the browser must send back to redeem: it gets it only with the account's
    // masked name, so it cannot enter an account it was not shown.
    let confirm = (new_state == "approved").then(|| random::bytes::<16>().map(b64::encode)).transpose()?;
    let changed = tx.execute(
        "UPDATE login_requests SET state = ?2, decided_at_ms = ?3, signature = ?4, confirm_nonce = ?5 \
         WHERE rid = ?1 AND state = 'scanned'",
        params![request.rid, new_state, now, signature, confirm],
    )?;
    if changed != 1 {
        return Err(conflict(codes::REQUEST_USED, "this login request was already decided"));
    }
    Ok(LoginDecided { rid: request.rid.clone(), state: new_state.into(), system: row.system })
}

/// The device counter must grow with every signed decision: a decision signed earlier
/// (a captured one) cannot be sent again.
fn advance_counter(tx: &Conn<'_>, device_id: &str, counter: u64) -> Result<(), ApiError> {
    let counter = i64::try_from(counter).map_err(|_| ApiError::bad_request("counter out of range"))?;
    let changed = tx.execute("UPDATE devices SET counter = ?2 WHERE device_id = ?1 AND counter < ?2", params![device_id, counter])?;
    if changed != 1 {
        return Err(ApiError::new(StatusCode::CONFLICT, codes::COUNTER_REPLAYED, "the device counter did not increase: a replayed or stale signature"));
    }
    Ok(())
}

async fn cancel_on_wrong_number(state: &AppState, rid: &str, device: &AuthedDevice, counter: u64) -> Result<ApiError, ApiError> {
    let (rid, device_id) = (rid.to_owned(), device.device_id.clone());
    state
        .db
        .write(move |tx| {
            // The signature verified in the refused transaction; keep its counter spent.
            let _ = advance_counter(tx, &device_id, counter);
            tx.execute(
                "UPDATE login_requests SET state = 'cancelled', wrong_answers = wrong_answers + 1, decided_at_ms = ?2 \
                 WHERE rid = ?1 AND state = 'scanned'",
                params![rid, now_ms()],
            )?;
            // Said as a wrong number, with no try left, so the phone can tell the
            // person both facts; a later decision finds the request cancelled.
            Ok(conflict(
                codes::WRONG_NUMBER,
                "that is not the number on the screen: this login request is cancelled; the sign-in page offers a new code",
            )
            .with_tries_left(0))
        })
        .await
}

/// `POST /v1/login/{rid}/redeem` (browser, with its secret and the confirmation it was
/// shown with the account's name): once, within ~30 s of the approval. Sets the web
/// system's session cookie.
#[utoipa::path(
    post,
    path = "/v1/login/{rid}/redeem",
    operation_id = "redeemLogin",
    summary = "Browser (with its cookie): turn an approval into the web system's session, once, within 30 s.",
    description = "Sets the HttpOnly cookie `tp_session`.",
    params(
        ("rid" = String, Path, description = "Login request id (base64url of 16 bytes)."),
    ),
    request_body(content = taipei_protocol::login::LoginConfirm),
    responses(
        (status = 200, description = "Signed in.", body = taipei_protocol::login::LoginRedeemed),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`login_secret_invalid`.", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`login_request_unknown`.", body = taipei_protocol::api::ErrorBody),
        (status = 409, description = "`login_not_approved`, `login_already_redeemed`.", body = taipei_protocol::api::ErrorBody),
        (status = 410, description = "`login_frame_expired`: the approval lapsed.", body = taipei_protocol::api::ErrorBody),
        (status = 403, response = crate::openapi::BadRequest),
    ),
)]
pub async fn redeem(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(rid): Path<String>,
    headers: HeaderMap,
    body: JsonBody<LoginConfirm>,
) -> Result<Response, ApiError> {
    let confirm = sha256(body.value.confirm.as_bytes());
    let entry = Entry::new(actions::LOGIN_REDEEM, "anon").ip(ctx.ip());
    let ip = ctx.ip();
    let session = b64::encode(random::bytes::<32>()?);
    let session_hash = sha256(session.as_bytes());
    let result = state
        .db
        .write(move |tx| {
            let row = load(tx, &rid)?.ok_or_else(request_unknown)?;
            row.check_secret(&headers, &rid)?;
            let now = now_ms();
            match row.visible_state(now) {
                "approved" => {}
                "redeemed" => return Err(conflict(codes::ALREADY_REDEEMED, "this login was already used")),
                "expired" => return Err(gone(codes::FRAME_EXPIRED, "this login has expired; start again")),
                _ => return Err(conflict(codes::NOT_APPROVED, "this login is not approved")),
            }
            // Digests compared, so timing tells nothing about the confirmation.
            let expected = row.confirm_nonce.as_deref().map(|c| sha256(c.as_bytes()));
            if expected != Some(confirm) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    codes::NOT_CONFIRMED,
                    "confirm whose account this is on the sign-in page first",
                ));
            }
            let changed = tx.execute(
                "UPDATE login_requests SET state = 'redeemed', redeemed_at_ms = ?2 WHERE rid = ?1 AND state = 'approved'",
                params![rid, now],
            )?;
            if changed != 1 {
                return Err(conflict(codes::ALREADY_REDEEMED, "this login was already used"));
            }
            let user_id = row.user_id.clone().ok_or_else(|| ApiError::internal("approved without a user"))?;
            tx.execute(
                "INSERT INTO web_sessions (session_hash, user_id, system, rid, created_at_ms, expires_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![session_hash.as_slice(), user_id, row.system, rid, now, now + WEB_SESSION_TTL_MS],
            )?;
            let display_name: String = tx.query_row("SELECT display_name FROM users WHERE user_id = ?1", [&user_id], |r| r.get(0))?;
            let mut entry = Entry::new(actions::LOGIN_REDEEM, &user_id).ip(ip);
            entry.device_id = row.device_id.clone();
            audit::record(tx, &entry)?;
            Ok(LoginRedeemed { user_id, display_name, system: row.system })
        })
        .await;
    let redeemed = audit::unless_refused(&state.db, entry, result).await?;
    let cookie = format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", WEB_SESSION_TTL_MS / 1000);
    let mut response = Json(redeemed).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|_| ApiError::internal("cookie"))?);
    Ok(response)
}

/// `GET /v1/web/session` (browser): who this browser is signed in as.
#[utoipa::path(
    get,
    path = "/v1/web/session",
    operation_id = "webSession",
    summary = "Browser: who the `tp_session` cookie signs in (the web system's side of a redeemed login).",
    responses(
        (status = 200, description = "Signed in.", body = taipei_protocol::login::LoginRedeemed),
        (status = 401, description = "`unauthorized`: not signed in.", body = taipei_protocol::api::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
)]
pub async fn web_session(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<LoginRedeemed>, ApiError> {
    let Some(session) = web::cookie(&headers, SESSION_COOKIE) else {
        return Err(ApiError::unauthorized("not signed in"));
    };
    let hash = sha256(session.as_bytes());
    state
        .db
        .read(move |conn| {
            conn.query_row(
                "SELECT s.user_id, u.display_name, s.system FROM web_sessions s JOIN users u ON u.user_id = s.user_id \
                 WHERE s.session_hash = ?1 AND s.expires_at_ms > ?2",
                params![hash.as_slice(), now_ms()],
                |r| Ok(LoginRedeemed { user_id: r.get(0)?, display_name: r.get(1)?, system: r.get(2)? }),
            )
            .optional()?
            .ok_or_else(|| ApiError::unauthorized("not signed in"))
        })
        .await
        .map(Json)
}

/// A person's finished login requests stay this long for their history, then go.
pub const HISTORY_RETENTION_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// What [`purge`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub login_requests: usize,
    pub web_sessions: usize,
}

/// Deletes what has lapsed: web sessions past expiry; requests nobody scanned once they
/// can no longer be used (they are anonymous: anyone can make them, nothing to keep);
/// scanned ones after [`HISTORY_RETENTION_MS`], unless a live session still names them.
pub fn purge(tx: &Conn<'_>, now: i64) -> Result<Purged, ApiError> {
    let web_sessions = tx.execute("DELETE FROM web_sessions WHERE expires_at_ms < ?1", [now])?;
    let unusable = now - DECIDE_TTL_MS - REDEEM_TTL_MS;
    let login_requests = tx.execute(
        "DELETE FROM login_requests WHERE rid NOT IN (SELECT rid FROM web_sessions) AND \
         ((user_id IS NULL AND expires_at_ms < ?1) OR expires_at_ms < ?2)",
        params![unusable, now - HISTORY_RETENTION_MS],
    )?;
    Ok(Purged { login_requests, web_sessions })
}

/// A revoked device's approvals stop counting at once: every web session it approved
/// ends, and every login it scanned or approved but that was not redeemed yet is
/// cancelled (a stolen phone's last approval must not still open a browser).
/// Returns (web sessions ended, logins cancelled).
pub fn end_for_device(tx: &Conn<'_>, device_id: &str) -> Result<(usize, usize), ApiError> {
    let sessions = tx.execute(
        "DELETE FROM web_sessions WHERE rid IN (SELECT rid FROM login_requests WHERE device_id = ?1)",
        [device_id],
    )?;
    let logins = tx.execute(
        "UPDATE login_requests SET state = 'cancelled', decided_at_ms = COALESCE(decided_at_ms, ?2) \
         WHERE device_id = ?1 AND state IN ('scanned', 'approved')",
        params![device_id, now_ms()],
    )?;
    Ok((sessions, logins))
}

/// `GET /v1/login/history` (phone): the person's login requests, newest first.
#[utoipa::path(
    get,
    path = "/v1/login/history",
    operation_id = "loginHistory",
    summary = "Phone: the person's own login requests, newest first (at most 50).",
    responses(
        (status = 200, description = "History.", body = taipei_protocol::login::LoginHistory),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, response = crate::openapi::DeviceRevoked),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("dpop" = [])),
)]
pub async fn history(State(state): State<AppState>, device: AuthedDevice) -> Result<Json<LoginHistory>, ApiError> {
    let user_id = device.user_id;
    let entries = state
        .db
        .read(move |conn| {
            let now = now_ms();
            let mut stmt = conn.prepare(
                "SELECT rid, system, browser, os, ip, place, state, started_at_ms, decided_at_ms, device_id, \
                 expires_at_ms, scanned_at_ms FROM login_requests WHERE user_id = ?1 \
                 ORDER BY started_at_ms DESC, rowid DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![user_id, HISTORY_LIMIT], |r| {
                let state: String = r.get(6)?;
                let expires_at_ms: i64 = r.get(10)?;
                let scanned_at_ms: Option<i64> = r.get(11)?;
                let decided_at_ms: Option<i64> = r.get(8)?;
                let lapsed = match state.as_str() {
                    "scanned" => now > scanned_at_ms.unwrap_or(0) + DECIDE_TTL_MS,
                    "approved" => now > decided_at_ms.unwrap_or(expires_at_ms) + REDEEM_TTL_MS,
                    _ => false,
                };
                Ok(LoginHistoryEntry {
                    rid: r.get(0)?,
                    system: r.get(1)?,
                    browser: r.get(2)?,
                    os: r.get(3)?,
                    ip: r.get(4)?,
                    place: r.get(5)?,
                    state: if lapsed { "expired".into() } else { state },
                    started_at_ms: r.get(7)?,
                    decided_at_ms,
                    device_id: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(Json(LoginHistory { entries }))
}
