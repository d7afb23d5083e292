//! Beacon attendance (issue 5): the office and beacon registry, the rules per office,
//! EID resolution, punch intake with receipts, and the weekly report.
//!
//! A punch is judged inside the idempotency transaction, and the verdict — accepted
//! or rejected with a code and words for the person — is the stored reply: a retry
//! after a lost reply gets the same receipt, and the audit row commits with it.
//! Refusals that are not about the punch's evidence (bad signature, unknown office,
//! malformed JSON) stay ordinary error replies.

pub mod eid;
pub mod judge;
pub mod report;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use crate::db::{Conn, OptionalExtension};
use crate::params;
use serde::Deserialize;
use taipei_protocol::api::Receipt;
use taipei_protocol::limits;
use taipei_protocol::push::message::{MAX_TEXT_LEN, PushContent, PushKind, Urgency};
use taipei_protocol::attendance::{
    Assignment, EidWindow, NewBeacon, NewOffice, OfficeConfig, Punch, WeekReport, codes, punch_message, refusal_reason, workday,
};

use crate::AppState;
use crate::audit::{self, Entry, actions};
use crate::auth::AuthedDevice;
use crate::credentials::{Hr, Reports};
use crate::error::ApiError;
use crate::extract::{JsonBody, check_len, path_of, query_of, verify_signature};
use crate::idempotency::{self, IdempotencyKey};
use crate::{push, random};
use crate::sealing::{self, Kek, labels};
use crate::time::now_ms;
use eid::EidBeacon;
use judge::Office;

/// Phones get the EIDs of this long ahead, so they can judge offline through a working day.
const EID_HORIZON_MS: i64 = 12 * 60 * 60 * 1000;

fn unknown_office() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN_OFFICE, "no such office")
}

fn load_office(conn: &Conn<'_>, kek: &Kek, office_id: &str) -> Result<Office, ApiError> {
    let rules: String = conn
        .query_row("SELECT rules FROM attendance_offices WHERE office_id = ?1", [office_id], |r| r.get(0))
        .optional()?
        .ok_or_else(unknown_office)?;
    let rules: NewOffice =
        serde_json::from_str(&rules).map_err(|e| ApiError::internal(format!("stored office rules: {e}")))?;
    let mut stmt = conn.prepare(
        "SELECT beacon_id, identity_key, rotation_exponent, epoch_ms FROM attendance_beacons WHERE office_id = ?1 ORDER BY id",
    )?;
    let mut office = Office { rules, static_ids: Vec::new(), eid_beacons: Vec::new() };
    let rows = stmt.query_map([office_id], |r| {
        Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<Vec<u8>>>(1)?, r.get::<_, Option<u8>>(2)?, r.get::<_, Option<i64>>(3)?))
    })?;
    for row in rows {
        match row? {
            (Some(id), ..) => office.static_ids.push(id),
            (None, Some(sealed), Some(k), Some(epoch_ms)) => {
                let key = kek.open(&labels::beacon_key(office_id), &sealed)?;
                let identity_key = <[u8; 16]>::try_from(key.as_slice())
                    .map_err(|_| ApiError::internal("stored identity key is not 16 bytes"))?;
                office.eid_beacons.push(EidBeacon { identity_key, k, epoch_ms });
            }
            _ => return Err(ApiError::internal("an attendance beacon row is neither static nor EID")),
        }
    }
    Ok(office)
}

/// `POST /v1/admin/offices` (HR credential): creates or replaces an office's rules.
#[utoipa::path(
    post,
    path = "/v1/admin/offices",
    operation_id = "putOffice",
    summary = "HR (its own credential): create or replace an office and its attendance rules.",
    description = "Anti-spoofing `level`: `static` (a registered beacon id), `eid` (a rotating Eddystone-EID valid at the punch time), `beacon_plus` (a beacon plus an office network or a location inside the geofence). `presence` tunes the phone's enter/exit detection.",
    request_body(content = taipei_protocol::attendance::NewOffice),
    responses(
        (status = 201, description = "The office as stored.", body = taipei_protocol::attendance::NewOffice),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`unauthorized`: missing or wrong HR credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    ),
    security(("hr" = [])),
)]
pub async fn put_office(State(state): State<AppState>, hr: Hr, body: JsonBody<NewOffice>) -> Result<(StatusCode, Json<NewOffice>), ApiError> {
    let office = body.value;
    check_len("office_id", &office.office_id, 1, 64)?;
    check_len("name", &office.name, 1, 200)?;
    let p = &office.presence;
    let day = taipei_protocol::attendance::DAY_MS;
    if !(1..=100).contains(&p.smoothing_pct)
        || !(0..=day).contains(&p.dwell_ms)
        || !(1..=day).contains(&p.exit_timeout_ms)
        || !(0..=day).contains(&office.min_interval_ms)
        || office.day_start_min >= 24 * 60
    {
        return Err(ApiError::bad_request(
            "presence: smoothing_pct 1-100, dwell_ms 0 to a day, exit_timeout_ms 1 ms to a day; min_interval_ms 0 to a day; day_start_min < 1440",
        ));
    }
    let rules = serde_json::to_string(&office).map_err(|e| ApiError::internal(e.to_string()))?;
    let stored = office.clone();
    state
        .db
        .write(move |tx| {
            tx.execute(
                "INSERT INTO attendance_offices (office_id, rules, created_at_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (office_id) DO UPDATE SET rules = excluded.rules",
                params![stored.office_id, rules, now_ms()],
            )?;
            audit::record(tx, &Entry::new(actions::ATTENDANCE_OFFICE, format!("hr:{}", hr.id)).ip(hr.ip))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(office)))
}

/// `POST /v1/admin/offices/{office_id}/beacons` (HR credential): registers a static id or
/// an EID beacon.
#[utoipa::path(
    post,
    path = "/v1/admin/offices/{office_id}/beacons",
    operation_id = "addBeacon",
    summary = "HR (its own credential): register a beacon of an office: a static id, or an EID beacon's identity key.",
    description = "EID beacons: `identity_key` (32 hex digits), `rotation_exponent` K (an EID lasts 2^K s), `epoch_ms` (server time when the beacon's time counter was 0). Keys never leave the server.",
    params(
        ("office_id" = String, Path, description = "Office id."),
    ),
    request_body(content = taipei_protocol::attendance::NewBeacon),
    responses(
        (status = 201, description = "Registered (again: no change). The identity key is not echoed.", body = BeaconRegistered),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`unauthorized`: missing or wrong HR credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`attendance_unknown_office`.", body = taipei_protocol::api::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    ),
    security(("hr" = [])),
)]
pub async fn add_beacon(
    State(state): State<AppState>,
    hr: Hr,
    office_id: Result<Path<String>, PathRejection>,
    body: JsonBody<NewBeacon>,
) -> Result<(StatusCode, Json<BeaconRegistered>), ApiError> {
    let office_id = path_of(office_id)?;
    let beacon = body.value;
    let (beacon_id, key, k, epoch) = match &beacon {
        NewBeacon::Static { beacon_id } => {
            check_len("beacon_id", beacon_id, 3, 200)?;
            (Some(beacon_id.clone()), None, None, None)
        }
        NewBeacon::Eid { identity_key, rotation_exponent, epoch_ms } => {
            let key = unhex16(identity_key).ok_or_else(|| ApiError::bad_request("identity_key must be 32 hex digits"))?;
            if *rotation_exponent > eid::MAX_ROTATION_EXPONENT {
                return Err(ApiError::bad_request("rotation_exponent must be 0 to 15 (Eddystone-EID)"));
            }
            if !(0..taipei_protocol::attendance::MAX_TIME_MS).contains(epoch_ms) {
                return Err(ApiError::bad_request("epoch_ms must be a time from 1970 to 2100"));
            }
            (None, Some(key.to_vec()), Some(*rotation_exponent), Some(*epoch_ms))
        }
    };
    let kek = state.settings.kek.clone();
    state
        .db
        .write(move |tx| {
            load_office(tx, &kek, &office_id)?;
            // Sealed, with an HMAC id so registering the same key twice stays harmless.
            let (key, key_id) = match key {
                Some(key) => (Some(kek.seal(&labels::beacon_key(&office_id), &key)?), Some(sealing::mac(tx, &kek, sealing::BEACON_KEY_ID, &key)?)),
                None => (None, None),
            };
            tx.execute(
                "INSERT INTO attendance_beacons (office_id, beacon_id, identity_key, rotation_exponent, epoch_ms, identity_key_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                params![office_id, beacon_id, key, k, epoch, key_id],
            )?;
            audit::record(tx, &Entry::new(actions::ATTENDANCE_BEACON, format!("hr:{}", hr.id)).ip(hr.ip))?;
            // The identity key is not echoed: it stays in this table.
            Ok(BeaconRegistered { office_id, kind: if beacon_id.is_some() { "static" } else { "eid" } })
        })
        .await
        .map(|reply| (StatusCode::CREATED, Json(reply)))
}

/// `POST /v1/admin/offices/{office_id}/beacons` reply.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BeaconRegistered {
    pub office_id: String,
    /// `static` or `eid`.
    #[schema(value_type = String)]
    pub kind: &'static str,
}

fn unhex16(text: &str) -> Option<[u8; 16]> {
    let bytes = text.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// `POST /v1/hr/offices/{office_id}/assignments` (HR credential): assigns a person to
/// the office, or ends it (`assigned: false`).
#[utoipa::path(
    post,
    path = "/v1/hr/offices/{office_id}/assignments",
    operation_id = "assignToOffice",
    summary = "HR (its own credential): assign a person to an office, or end it with `assigned: false`. Only assigned people are given an EID office's rotating ids.",
    params(
        ("office_id" = String, Path),
    ),
    request_body(content = taipei_protocol::attendance::Assignment),
    responses(
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`unauthorized`: missing or wrong HR credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
        (status = 200, description = "Done (repeating it is harmless).", body = taipei_protocol::attendance::Assignment),
        (status = 404, description = "`attendance_unknown_office`.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("hr" = [])),
)]
pub async fn assign(
    State(state): State<AppState>,
    hr: Hr,
    office_id: Result<Path<String>, PathRejection>,
    body: JsonBody<Assignment>,
) -> Result<(StatusCode, Json<Assignment>), ApiError> {
    let office_id = path_of(office_id)?;
    let change = body.value;
    check_len("user_id", &change.user_id, 1, 128)?;
    let reply = change.clone();
    let entry = Entry::new(actions::ATTENDANCE_ASSIGN, format!("hr:{}", hr.id)).ip(hr.ip);
    state
        .db
        .write(move |tx| {
            let known: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM attendance_offices WHERE office_id = ?1)", [&office_id], |r| r.get(0))?;
            if !known {
                return Err(unknown_office());
            }
            if change.assigned {
                tx.execute(
                    "INSERT INTO attendance_assignments (office_id, user_id, created_at_ms) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![office_id, change.user_id, now_ms()],
                )?;
            } else {
                tx.execute("DELETE FROM attendance_assignments WHERE office_id = ?1 AND user_id = ?2", params![office_id, change.user_id])?;
            }
            audit::record(tx, &entry)
        })
        .await?;
    Ok((StatusCode::OK, Json(reply)))
}

/// `GET /v1/attendance/offices/{office_id}` (phone): rules, beacon ids, and the EIDs
/// valid from the previous window to the horizon — never a key.
#[utoipa::path(
    get,
    path = "/v1/attendance/offices/{office_id}",
    operation_id = "getOfficeConfig",
    summary = "Phone: an office's rules, static beacon ids and the EIDs valid for the next hours. The EIDs are listed only to people HR assigned to the office.",
    params(
        ("office_id" = String, Path, description = "Office id."),
    ),
    responses(
        (status = 200, description = "The configuration; fetch again before `refresh_before_ms`.", body = taipei_protocol::attendance::OfficeConfig),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "An authentication refusal (`invalid_token`, `invalid_dpop_proof`, `replayed_proof`, `clock_skew`), or `signature_invalid` for a punch whose signature does not verify.", body = taipei_protocol::api::ErrorBody),
        (status = 403, response = crate::openapi::DeviceRevoked),
        (status = 404, description = "`attendance_unknown_office`.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("dpop" = [])),
)]
pub async fn office_config(
    State(state): State<AppState>,
    device: AuthedDevice,
    office_id: Result<Path<String>, PathRejection>,
) -> Result<Json<OfficeConfig>, ApiError> {
    let office_id = path_of(office_id)?;
    let kek = state.settings.kek.clone();
    state
        .db
        .read(move |conn| {
            let office = load_office(conn, &kek, &office_id)?;
            let now = now_ms();
            // The rotating ids go to the people who work here, no one else: with the
            // schedule, anyone could quote tomorrow's EID from home.
            let assigned: bool = conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM attendance_assignments WHERE office_id = ?1 AND user_id = ?2)",
                params![office_id, device.user_id],
                |r| r.get(0),
            )?;
            let beacons = if assigned { office.eid_beacons.as_slice() } else { &[] };
            let mut eids: Vec<EidWindow> =
                beacons.iter().flat_map(|b| b.windows(now - (1_i64 << b.k) * 1000, now + EID_HORIZON_MS)).collect();
            eids.sort_by_key(|w| w.valid_from_ms);
            let r = office.rules;
            Ok(Json(OfficeConfig {
                office_id: r.office_id,
                name: r.name,
                level: r.level,
                presence: r.presence,
                min_interval_ms: r.min_interval_ms,
                day_start_min: r.day_start_min,
                beacons: office.static_ids,
                eids,
                networks: r.networks,
                geofence: r.geofence,
                server_time_ms: now,
                refresh_before_ms: now + EID_HORIZON_MS / 2,
            }))
        })
        .await
}

/// The shape rules the phone checks too (`protocol::limits`); a bad manual reason is
/// the judge's refusal instead, so the person sees it on the punch.
fn check_shape(p: &Punch) -> Result<(), ApiError> {
    let shape = || {
        limits::PUNCH_ID.check(&p.punch_id)?;
        limits::OFFICE_ID.check(&p.office_id)?;
        limits::check_evidence(&p.evidence)
    };
    shape().map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `POST /v1/attendance/punches` (phone, through its outbox): a signed punch in, a
/// receipt out.
#[utoipa::path(
    post,
    path = "/v1/attendance/punches",
    operation_id = "punch",
    summary = "Phone (through its outbox): a signed clock-in or clock-out. At an EID office the evidence must quote an EID valid at the punch time with a sighting (sightings > 0, RSSI -127 to 20 dBm); times outside 2000-2100 are refused as clock skew.",
    description = "Signature over attendance::punch_message (tag `TPQ-PUNCH-v1`). The receipt is the verdict: `accepted` (reason lists flags such as `manual`, `late`) or `rejected` with reason `code: message`, code one of `attendance_evidence`, `attendance_eid_invalid`, `attendance_clock_skew`, `attendance_replayed`, `attendance_too_old`, `attendance_too_soon`. The receipt is stored under the Idempotency-Key.",
    params(
        ("Idempotency-Key" = String, Header),
    ),
    request_body(content = taipei_protocol::attendance::Punch),
    responses(
        (status = 200, description = "Receipt.", body = taipei_protocol::api::Receipt),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "An authentication refusal (`invalid_token`, `invalid_dpop_proof`, `replayed_proof`, `clock_skew`), or `signature_invalid` for a punch whose signature does not verify.", body = taipei_protocol::api::ErrorBody),
        (status = 403, response = crate::openapi::DeviceRevoked),
        (status = 404, description = "`attendance_unknown_office`.", body = taipei_protocol::api::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    ),
    security(("dpop" = [])),
)]
pub async fn punch(
    State(state): State<AppState>,
    device: AuthedDevice,
    key: IdempotencyKey,
    body: JsonBody<Punch>,
) -> Result<Response, ApiError> {
    let entry = Entry::new(actions::ATTENDANCE_PUNCH, &device.user_id).device(&device.device_id).ip(device.ip.clone());
    let checked = check_shape(&body.value).and_then(|()| {
        let message = punch_message(&device.device_id, &body.value);
        verify_signature(&device.public_key, &message, &body.value.signature, "punch")
    });
    let signature = match checked {
        Ok(s) => s,
        Err(e) => return audit::unless_refused(&state.db, entry, Err(e)).await,
    };
    let p = body.value;
    let scope = device.device_id.clone();
    let entry2 = entry.clone();
    let kek = state.settings.kek.clone();
    let result = idempotency::once(&state.db, scope, key, body.request_hash, StatusCode::OK, move |tx| {
        let office = load_office(tx, &kek, &p.office_id)?;
        let now = now_ms();
        let id = random::id()?;
        let reject = |code: &'static str, message: &str| -> Result<Receipt, ApiError> {
            let mut e = entry2.clone();
            e.outcome = code.to_owned();
            audit::record(tx, &e)?;
            let receipt = Receipt {
                id: id.clone(),
                server_time_ms: now,
                status: "rejected".into(),
                reason: Some(refusal_reason(code, message)),
                code: Some(code.to_owned()),
                late: false,
            };
            push::notify(tx, &kek, punch_notice(&device.user_id, &receipt), now)?;
            Ok(receipt)
        };
        let replayed: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM attendance_punches WHERE signature = ?1 OR (device_id = ?2 AND punch_id = ?3))",
            params![signature, device.device_id, p.punch_id],
            |r| r.get(0),
        )?;
        if replayed {
            return reject(codes::REPLAYED, "this punch was already received; a copy is not a new punch");
        }
        let previous: Option<i64> = tx
            .query_row(
                "SELECT time_ms FROM attendance_punches WHERE user_id = ?1 AND office_id = ?2 AND kind = ?3 \
                 ORDER BY abs(time_ms - ?4) LIMIT 1",
                params![device.user_id, p.office_id, p.kind.as_str(), p.time_ms],
                |r| r.get(0),
            )
            .optional()?;
        let verdict = match judge::judge(&office, &p, now, previous) {
            Ok(v) => v,
            Err(r) => return reject(r.code, &r.message),
        };
        let evidence = serde_json::to_string(&p.evidence).map_err(|e| ApiError::internal(e.to_string()))?;
        tx.execute(
            "INSERT INTO attendance_punches (id, punch_id, user_id, device_id, office_id, kind, time_ms, workday, \
             received_at_ms, manual, manual_reason, late, evidence, signature) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![id, p.punch_id, device.user_id, device.device_id, p.office_id, p.kind.as_str(), p.time_ms,
                    workday(p.time_ms, office.rules.day_start_min), now, p.manual_reason.is_some(), p.manual_reason,
                    verdict.late, evidence, signature],
        )?;
        audit::record(tx, &entry2)?;
        let reason = (!verdict.flags.is_empty()).then(|| verdict.flags.join(","));
        let receipt = Receipt { id, server_time_ms: now, status: "accepted".into(), reason, code: None, late: verdict.late };
        push::notify(tx, &kek, punch_notice(&device.user_id, &receipt), now)?;
        Ok(receipt)
    })
    .await;
    state.settings.push.wake();
    audit::unless_refused(&state.db, entry, result).await
}

/// The push for a punch verdict: the person's other devices learn it, and a phone
/// that queued the punch offline hears the verdict without opening the app. Only the
/// newest verdict matters, so they share one collapse key.
fn punch_notice(user_id: &str, receipt: &Receipt) -> push::Notice {
    let accepted = receipt.status == "accepted";
    push::Notice {
        user_id: user_id.to_owned(),
        kind: PushKind::PunchSettled,
        collapse_key: Some("punch".into()),
        ttl_ms: 86_400_000,
        urgency: if accepted { Urgency::Low } else { Urgency::High },
        content: PushContent::Body {
            title: if accepted { "打卡成功".into() } else { "打卡未受理".into() },
            text: push::reminders::truncate(receipt.reason.as_deref().unwrap_or(if accepted { "已記錄" } else { "" }), MAX_TEXT_LEN),
            route: format!("attendance/punches/{}", receipt.id),
        },
    }
}

#[derive(Debug, Deserialize)]
pub struct WeekQuery {
    /// Any time in the week wanted; now when absent.
    pub at_ms: Option<i64>,
}

fn at_of(q: Result<Query<WeekQuery>, QueryRejection>) -> Result<i64, ApiError> {
    Ok(query_of(q)?.at_ms.unwrap_or_else(now_ms))
}

/// `GET /v1/attendance/week` (phone): the person's own week as the server has it.
#[utoipa::path(
    get,
    path = "/v1/attendance/week",
    operation_id = "getMyWeek",
    summary = "Phone: the person's accepted punches of a week, per day.",
    params(
        ("at_ms" = Option<i64>, Query, description = "Any UTC ms in the wanted week (Monday-Sunday, Asia/Taipei); now when absent."),
    ),
    responses(
        (status = 200, description = "The week.", body = taipei_protocol::attendance::WeekReport),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "An authentication refusal (`invalid_token`, `invalid_dpop_proof`, `replayed_proof`, `clock_skew`), or `signature_invalid` for a punch whose signature does not verify.", body = taipei_protocol::api::ErrorBody),
        (status = 403, response = crate::openapi::DeviceRevoked),
    ),
    security(("dpop" = [])),
)]
pub async fn my_week(
    State(state): State<AppState>,
    device: AuthedDevice,
    q: Result<Query<WeekQuery>, QueryRejection>,
) -> Result<Json<WeekReport>, ApiError> {
    let at = at_of(q)?;
    state.db.read(move |conn| report::week(conn, &device.user_id, at)).await.map(Json)
}

async fn user_week(state: &AppState, reader: Reports, user_id: String, at: i64) -> Result<WeekReport, ApiError> {
    let entry = Entry::new(actions::ATTENDANCE_REPORT, reader.actor()).ip(reader.ip);
    state
        .db
        .write(move |tx| {
            let week = report::week(tx, &user_id, at)?;
            audit::record(tx, &entry)?;
            Ok(week)
        })
        .await
}

/// `GET /v1/admin/attendance/{user_id}/week` (reports credential): a person's week, JSON.
#[utoipa::path(
    get,
    path = "/v1/admin/attendance/{user_id}/week",
    operation_id = "getUserWeek",
    summary = "HR: a person's week (first in, last out, hours, flags per day).",
    params(
        ("user_id" = String, Path, description = "User id."),
        ("at_ms" = Option<i64>, Query, description = "Any UTC ms in the wanted week (Monday-Sunday, Asia/Taipei); now when absent."),
    ),
    responses(
        (status = 200, description = "The week.", body = taipei_protocol::attendance::WeekReport),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`unauthorized`: missing or wrong reports credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such user.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("reports" = [])),
)]
pub async fn admin_week(
    State(state): State<AppState>,
    reader: Reports,
    user_id: Result<Path<String>, PathRejection>,
    q: Result<Query<WeekQuery>, QueryRejection>,
) -> Result<Json<WeekReport>, ApiError> {
    let (user_id, at) = (path_of(user_id)?, at_of(q)?);
    user_week(&state, reader, user_id, at).await.map(Json)
}

/// `GET /v1/admin/attendance/{user_id}/week.html` (reports credential): the same week as a page.
#[utoipa::path(
    get,
    path = "/v1/admin/attendance/{user_id}/week.html",
    operation_id = "getUserWeekPage",
    summary = "HR: the same week as a simple HTML page.",
    params(
        ("user_id" = String, Path, description = "User id."),
        ("at_ms" = Option<i64>, Query, description = "Any UTC ms in the wanted week (Monday-Sunday, Asia/Taipei); now when absent."),
    ),
    responses(
        (status = 200, description = "The page.", body = String, content_type = "text/html"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 500, response = crate::openapi::Internal),
        (status = 401, description = "`unauthorized`: missing or wrong reports credential (the admin token is not one).", body = taipei_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such user.", body = taipei_protocol::api::ErrorBody),
    ),
    security(("reports" = [])),
)]
pub async fn admin_week_html(
    State(state): State<AppState>,
    reader: Reports,
    user_id: Result<Path<String>, PathRejection>,
    q: Result<Query<WeekQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (user_id, at) = (path_of(user_id)?, at_of(q)?);
    let week = user_week(&state, reader, user_id, at).await?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], report::html(&week)).into_response())
}
