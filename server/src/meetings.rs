//! Meetings (protocol.md, "Meeting sign-in"): an organizer's meeting with a room
//! display whose QR changes every 10 s, and one signed sign-in per person.
//!
//! The display holds the meeting key only through its display token: the server
//! computes each frame's HMAC tag for it. A sign-in is judged by the slot of the
//! server-clock time the phone signed: one that arrives at once must carry the
//! current or the previous slot; one that waited in an offline phone's outbox is
//! judged by its signed time (its frame must be the one shown then), accepted only
//! within the meeting's late window (default 15 min), and marked late on the roster.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use crate::db::{Conn, OptionalExtension};
use crate::params;
use taipei_protocol::api::{Receipt, headers};
use taipei_protocol::b64;
use taipei_protocol::meeting::{
    DisplayFrame, MeetingCreated, MeetingFrame, MeetingInfo, MeetingSignIn, NewMeeting,
    RosterEntry, SLOT_MS, codes, sign_in_message, slot_of, verify_frame_tag,
};

use crate::AppState;
use crate::audit::{self, Entry, actions};
use crate::auth::{AuthedDevice, sha256};
use crate::credentials::Organizer;
use crate::error::ApiError;
use crate::extract::{JsonBody, check_len, verify_signature};
use crate::idempotency::{self, IdempotencyKey};
use crate::middleware::Ctx;
use crate::random;
use crate::sealing::{Kek, labels};
use crate::time::now_ms;
use crate::web;

/// Sign-in opens this long before the meeting starts.
const OPENS_BEFORE_MS: i64 = 15 * 60 * 1000;
/// A sign-in whose signed time is within this of the server's arrival time counts as
/// live and is judged against the server's own current slot.
const LIVE_WINDOW_MS: i64 = 60_000;
/// Signed times ahead of the server clock by more than this are refused.
const MAX_AHEAD_MS: i64 = 60_000;
const MAX_INVITEES: usize = 2_000;
/// How long an offline sign-in may take to arrive unless the meeting says otherwise: a
/// phone that lost signal in the lift still gets in; a frame photographed at the door
/// cannot be signed with its old time and sent in at the end of the meeting.
pub const DEFAULT_LATE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// The longest late window a meeting may set.
const MAX_LATE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

fn unknown() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN, "no such meeting")
}

fn mid_bytes(mid: &str) -> Result<[u8; 16], ApiError> {
    b64::decode(mid)
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
        .ok_or_else(unknown)
}

/// `POST /v1/admin/meetings` (organizer's system, with its own credential).
#[utoipa::path(
    post,
    path = "/v1/admin/meetings",
    operation_id = "createMeeting",
    summary = "Organizer: create a meeting; returns its id and the room display's token.",
    request_body(content = taipei_protocol::meeting::NewMeeting),
    responses(
        (status = 201, description = "Created.", body = taipei_protocol::meeting::MeetingCreated),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`unauthorized`: missing or wrong organizer credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
    ),
    security(("organizer" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    organizer: Organizer,
    body: JsonBody<NewMeeting>,
) -> Result<(StatusCode, Json<MeetingCreated>), ApiError> {
    let m = body.value;
    check_len("title", &m.title, 1, 200)?;
    check_len("room", &m.room, 1, 100)?;
    check_len("organizer", &m.organizer, 1, 100)?;
    if m.ends_at_ms <= m.starts_at_ms {
        return Err(ApiError::bad_request("ends_at_ms must be after starts_at_ms"));
    }
    if m.invitees.len() > MAX_INVITEES {
        return Err(ApiError::bad_request(format!("at most {MAX_INVITEES} invitees")));
    }
    for user in &m.invitees {
        check_len("invitees[]", user, 1, 128)?;
    }
    let late_window_ms = m.late_window_ms.unwrap_or(DEFAULT_LATE_WINDOW_MS);
    if !(0..=MAX_LATE_WINDOW_MS).contains(&late_window_ms) {
        return Err(ApiError::bad_request(format!("late_window_ms must be 0 to {MAX_LATE_WINDOW_MS}")));
    }
    let mid = b64::encode(random::bytes::<16>()?);
    let key = random::bytes::<32>()?;
    let token = b64::encode(random::bytes::<32>()?);
    let created = MeetingCreated {
        mid: mid.clone(),
        display_token: token.clone(),
        display_path: format!("/meetings/{mid}/display"),
    };
    let kek = state.settings.kek.clone();
    state
        .db
        .write(move |tx| {
            let key = kek.seal(&labels::meeting_key(&mid), &key)?;
            tx.execute(
                "INSERT INTO meetings (mid, meeting_key, display_token_hash, title, room, organizer, starts_at_ms, \
                 ends_at_ms, created_at_ms, late_window_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![mid, key.as_slice(), sha256(token.as_bytes()).as_slice(), m.title, m.room, m.organizer,
                        m.starts_at_ms, m.ends_at_ms, now_ms(), late_window_ms],
            )?;
            for user in &m.invitees {
                tx.execute("INSERT INTO meeting_invitees (mid, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING", params![mid, user])?;
            }
            audit::record(tx, &Entry::new(actions::MEETING_CREATE, organizer.actor()).ip(organizer.ip))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

struct Meeting {
    /// The HMAC key of the room frames, sealed (`Meeting::key` opens it).
    sealed_key: Vec<u8>,
    token_hash: Vec<u8>,
    title: String,
    room: String,
    organizer: String,
    starts_at_ms: i64,
    ends_at_ms: i64,
    late_window_ms: i64,
}

impl Meeting {
    fn key(&self, kek: &Kek, mid: &str) -> Result<Vec<u8>, ApiError> {
        Ok(kek.open(&labels::meeting_key(mid), &self.sealed_key)?)
    }
}

fn load(conn: &Conn<'_>, mid: &str) -> Result<Meeting, ApiError> {
    conn.query_row(
        "SELECT meeting_key, display_token_hash, title, room, organizer, starts_at_ms, ends_at_ms, late_window_ms \
         FROM meetings WHERE mid = ?1",
        [mid],
        |r| {
            Ok(Meeting {
                sealed_key: r.get(0)?,
                token_hash: r.get(1)?,
                title: r.get(2)?,
                room: r.get(3)?,
                organizer: r.get(4)?,
                starts_at_ms: r.get(5)?,
                ends_at_ms: r.get(6)?,
                late_window_ms: r.get(7)?,
            })
        },
    )
    .optional()?
    .ok_or_else(unknown)
}

/// `GET /v1/meetings/{mid}` (phone): what to show before the tap.
#[utoipa::path(
    get,
    path = "/v1/meetings/{mid}",
    operation_id = "meetingInfo",
    summary = "Phone: the meeting as shown before the one tap, and whether this person signed in.",
    params(
        ("mid" = String, Path, description = "Meeting id (base64url of 16 bytes)."),
    ),
    responses(
        (status = 200, description = "The meeting.", body = taipei_protocol::meeting::MeetingInfo),
        (status = 401, response = crate::openapi::AuthRefused),
        (status = 403, response = crate::openapi::DeviceRevoked),
        (status = 404, description = "`meeting_unknown`.", body = taipei_protocol::api::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("dpop" = [])),
)]
pub async fn info(
    State(state): State<AppState>,
    device: AuthedDevice,
    Path(mid): Path<String>,
) -> Result<Json<MeetingInfo>, ApiError> {
    let user_id = device.user_id;
    state
        .db
        .read(move |conn| {
            let m = load(conn, &mid)?;
            let signed_in_at_ms = conn
                .query_row(
                    "SELECT time_ms FROM meeting_sign_ins WHERE mid = ?1 AND user_id = ?2",
                    params![mid, user_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(Json(MeetingInfo {
                mid,
                title: m.title,
                room: m.room,
                organizer: m.organizer,
                starts_at_ms: m.starts_at_ms,
                ends_at_ms: m.ends_at_ms,
                signed_in_at_ms,
            }))
        })
        .await
}

/// `POST /v1/meetings/{mid}/sign-ins` (phone, via its outbox).
#[utoipa::path(
    post,
    path = "/v1/meetings/{mid}/sign-ins",
    operation_id = "signInToMeeting",
    summary = "Phone (through its outbox): sign in with a scanned room frame.",
    description = "Tag = HMAC-SHA256(K_m, `TPQ-MEET-v1` ‖ mid ‖ slot)[..16]; signature over meeting::sign_in_message(mid, slot, tag, device_id, time_ms). A sign-in signed within 60 s of arrival must carry the server's current or previous slot; an older one (queued offline) is judged by its signed time and marked late. One per person.",
    params(
        ("Idempotency-Key" = String, Header),
        ("mid" = String, Path, description = "Meeting id (base64url of 16 bytes)."),
    ),
    request_body(content = taipei_protocol::meeting::MeetingSignIn),
    responses(
        (status = 201, description = "Receipt; `late` is true for an offline sign-in judged late.", body = taipei_protocol::api::Receipt),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`signature_invalid`, or an authentication refusal (`invalid_token`, `invalid_dpop_proof`, `replayed_proof`, `clock_skew`).", body = taipei_protocol::api::ErrorBody),
        (status = 403, description = "`meeting_forged_frame`, `meeting_not_invited`, `device_revoked`.", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`meeting_unknown`.", body = taipei_protocol::api::ErrorBody),
        (status = 409, description = "`meeting_already_signed_in`, `meeting_closed`.", body = taipei_protocol::api::ErrorBody),
        (status = 410, description = "`meeting_frame_expired`: neither the current nor the previous slot (of the signed time, for an offline sign-in); `meeting_sign_in_too_late`: signed offline longer ago than the meeting's `late_window_ms`.", body = taipei_protocol::api::ErrorBody),
        (status = 422, description = "`idempotency_key_reused`.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("dpop" = [])),
)]
pub async fn sign_in(
    State(state): State<AppState>,
    device: AuthedDevice,
    key: IdempotencyKey,
    Path(mid): Path<String>,
    body: JsonBody<MeetingSignIn>,
) -> Result<Response, ApiError> {
    let entry = Entry::new(actions::MEETING_SIGN_IN, &device.user_id).device(&device.device_id).ip(device.ip.clone());
    let scope = device.device_id.clone();
    let request = body.value;
    let entry2 = entry.clone();
    let kek = state.settings.kek.clone();
    let result = idempotency::once(&state.db, scope, key, body.request_hash, StatusCode::CREATED, move |tx| {
        let m = load(tx, &mid)?;
        let mid_raw = mid_bytes(&mid)?;
        let tag = b64::decode(&request.tag).map_err(|e| ApiError::bad_request(format!("tag: {e}")))?;
        if !verify_frame_tag(&m.key(&kek, &mid)?, &mid_raw, request.slot, &tag) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, codes::FORGED_FRAME, "this meeting code was not made by the room display"));
        }
        let message = sign_in_message(&mid_raw, request.slot, &tag, &device.device_id, request.time_ms);
        let signature = verify_signature(&device.public_key, &message, &request.signature, "meeting sign-in")?;
        let now = now_ms();
        if request.time_ms > now + MAX_AHEAD_MS {
            return Err(ApiError::bad_request(format!(
                "the signed time is ahead of the server clock; correct the clock from the {} header",
                headers::SERVER_TIME_MS
            )));
        }
        // Live: judged by the server's clock. Late (queued offline): by the signed time,
        // and only within the meeting's late window — an old frame with an old time is
        // otherwise exactly what a photo of the door's screen would produce.
        let late = now - request.time_ms > LIVE_WINDOW_MS;
        if late && now - request.time_ms > m.late_window_ms {
            return Err(ApiError::new(
                StatusCode::GONE,
                codes::TOO_LATE,
                format!(
                    "this sign-in was signed {} min ago; the meeting accepts offline sign-ins for {} min",
                    (now - request.time_ms) / 60_000,
                    m.late_window_ms / 60_000
                ),
            ));
        }
        let judge = if late { request.time_ms } else { now };
        let current = slot_of(judge);
        if request.slot != current && request.slot + 1 != current {
            return Err(ApiError::new(
                StatusCode::GONE,
                codes::FRAME_EXPIRED,
                "this meeting code is no longer current; scan the code on the room screen now",
            ));
        }
        if request.time_ms < m.starts_at_ms - OPENS_BEFORE_MS || request.time_ms > m.ends_at_ms {
            return Err(ApiError::new(StatusCode::CONFLICT, codes::CLOSED, "sign-in for this meeting is closed"));
        }
        let has_invitees: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM meeting_invitees WHERE mid = ?1)", [&mid], |r| r.get(0))?;
        if has_invitees {
            let invited: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM meeting_invitees WHERE mid = ?1 AND user_id = ?2)",
                params![mid, device.user_id],
                |r| r.get(0),
            )?;
            if !invited {
                return Err(ApiError::new(StatusCode::FORBIDDEN, codes::NOT_INVITED, "you are not on this meeting's list"));
            }
        }
        let id = random::id()?;
        let inserted = tx.execute(
            "INSERT INTO meeting_sign_ins (id, mid, user_id, device_id, slot, time_ms, received_at_ms, late, signature) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
            params![id, mid, device.user_id, device.device_id, i64::try_from(request.slot).unwrap_or(i64::MAX),
                    request.time_ms, now, late, signature],
        )?;
        if inserted == 0 {
            return Err(ApiError::new(StatusCode::CONFLICT, codes::ALREADY_SIGNED_IN, "you are already signed in to this meeting"));
        }
        audit::record(tx, &entry2)?;
        Ok(Receipt {
            id,
            server_time_ms: now,
            status: "accepted".into(),
            reason: late.then(|| "late: signed offline".into()),
            code: None,
            late,
        })
    })
    .await;
    audit::unless_refused(&state.db, entry, result).await
}

/// `GET /v1/meetings/{mid}/display` (room display, `Authorization: Bearer <display token>`).
#[utoipa::path(
    get,
    path = "/v1/meetings/{mid}/display",
    operation_id = "meetingDisplay",
    summary = "Room display (`Authorization: Bearer <display token>`): the frame to show now and the roster.",
    params(
        ("mid" = String, Path, description = "Meeting id (base64url of 16 bytes)."),
    ),
    responses(
        (status = 200, description = "Frame and roster.", body = taipei_protocol::meeting::DisplayFrame),
        (status = 401, description = "`meeting_display_token_invalid`.", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`meeting_unknown`.", body = taipei_protocol::api::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
)]
pub async fn display(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(mid): Path<String>,
    headers: HeaderMap,
) -> Result<Json<DisplayFrame>, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| sha256(t.trim().as_bytes()));
    let entry = Entry::new(actions::MEETING_DISPLAY, "display").ip(ctx.ip());
    let kek = state.settings.kek.clone();
    let result = state
        .db
        .read(move |conn| {
            let m = load(conn, &mid)?;
            // Digests compared, as for the admin token: timing says nothing of the token.
            let ok = presented.is_some_and(|p| p.as_slice() == m.token_hash.as_slice());
            if !ok {
                return Err(ApiError::new(StatusCode::UNAUTHORIZED, codes::DISPLAY_TOKEN_INVALID, "this display's token is missing or wrong"));
            }
            let mut stmt = conn.prepare(
                "SELECT u.display_name, s.time_ms, s.late FROM meeting_sign_ins s JOIN users u ON u.user_id = s.user_id \
                 WHERE s.mid = ?1 ORDER BY s.time_ms, s.rowid",
            )?;
            let roster = stmt
                .query_map([&mid], |r| Ok(RosterEntry { display_name: r.get(0)?, signed_in_at_ms: r.get(1)?, late: r.get(2)? }))?
                .collect::<Result<Vec<_>, _>>()?;
            let now = now_ms();
            let slot = slot_of(now);
            let frame = MeetingFrame::new(&m.key(&kek, &mid)?, mid_bytes(&mid)?, slot).encode();
            let frame_svg = web::qr_svg(&frame)?;
            let next_change_ms = (i64::try_from(slot).unwrap_or(0) + 1) * SLOT_MS;
            Ok(DisplayFrame { title: m.title, room: m.room, frame, frame_svg, slot, next_change_ms, roster })
        })
        .await;
    audit::unless_refused(&state.db, entry, result).await.map(Json)
}
