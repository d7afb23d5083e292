//! `GET /v1/openapi.json`: the API description, generated from the code. Each handler
//! carries a `#[utoipa::path]` attribute (method, path, parameters, body, every status
//! it answers); the wire types in `taipei-protocol` derive `ToSchema` (feature
//! `openapi`), so a field's doc comment is its description. What every route shares
//! (security schemes, `X-Server-Time-Ms` on each reply, the `Idempotency-Key` and
//! `DPoP` headers, the common error replies) is added once here by [`Conventions`].
//!
//! `server/openapi.json` is the same document committed for city backend teams to read
//! and diff; `tests/openapi.rs` fails when it is stale and rewrites it with
//! `TAIPEI_WRITE_OPENAPI=1 cargo test -p taipei-server --test openapi`.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use taipei_protocol::api::headers;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Components, Content, Header, HeaderBuilder, ObjectBuilder, OpenApi as Document, Ref, RefOr, Required, Response,
    ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi, ToResponse};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Taipei core protocol", version = "1.0.0", description = include_str!("openapi.md")),
    servers((url = "/")),
    paths(
        crate::ops::healthz,
        crate::ops::readyz,
        crate::ops::get_metrics,
        crate::time::get_time,
        crate::openapi::get_openapi,
        crate::devices::create_binding,
        crate::devices::register_device,
        crate::auth::issue_token,
        crate::devices::me,
        crate::reports::file_report,
        crate::reports::list_reports,
        crate::devices::revoke_device,
        crate::pages::login_page,
        crate::login::start,
        crate::login::status,
        crate::login::redeem,
        crate::login::scan,
        crate::login::decide,
        crate::login::history,
        crate::login::web_session,
        crate::meetings::create,
        crate::meetings::info,
        crate::meetings::sign_in,
        crate::meetings::display,
        crate::pages::meeting_display_page,
        crate::wallet::root_key,
        crate::wallet::get_trust_list,
        crate::wallet::get_status_list,
        crate::wallet::list,
        crate::wallet::issue,
        crate::wallet::revoke,
        crate::wallet::pickup::create,
        crate::wallet::pickup::revoke,
        crate::wallet::pickup::redeem,
        crate::wallet::contracts::create,
        crate::wallet::contracts::void,
        crate::wallet::contracts::list,
        crate::wallet::verify::verify,
        crate::wallet::verify::page,
        crate::attendance::put_office,
        crate::attendance::add_beacon,
        crate::attendance::assign,
        crate::attendance::office_config,
        crate::attendance::punch,
        crate::attendance::my_week,
        crate::attendance::admin_week,
        crate::attendance::admin_week_html,
        crate::credentials::mint,
        crate::web_systems::post,
        crate::approval::admin::people,
        crate::approval::admin::proxies,
        crate::approval::admin::calendar,
        crate::approval::admin::items,
        crate::approval::admin::edit,
        crate::approval::admin::history_html,
        crate::approval::inbox,
        crate::approval::changes,
        crate::approval::item,
        crate::approval::attachment,
        crate::approval::act,
        crate::approval::batch,
        crate::approval::set_proxy,
        crate::push::routes::put_subscription,
        crate::push::routes::delete_subscription,
        crate::push::routes::messages,
        crate::push::routes::read
    ),
    components(responses(BadRequest, PayloadTooLarge, Internal, RateLimited, UnsupportedMediaType, DeviceRevoked, IdempotencyKeyReused, AuthRefused, AdminUnauthorized)),
    modifiers(&Conventions),
)]
pub struct ApiDoc;

/// The document as served and committed: pretty JSON with a final newline.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        // Serialising types this crate builds cannot fail; an empty object would only
        // hide it, so the failure is spelled out in the body instead.
        let mut text = ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"OpenAPI document: {e}\"}}"));
        text.push('\n');
        text
    })
}

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "getOpenApi",
    summary = "This document.",
    responses(
        (status = 200, description = "OpenAPI 3.1 document.", body = serde_json::Value),
    ),
)]
pub async fn get_openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}

const SERVER_TIME: &str = "ServerTime";
const IDEMPOTENT_REPLAYED: &str = "IdempotentReplayed";
const IDEMPOTENT_REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// Bearer credentials, each minted for one job (`POST /v1/admin/credentials`).
const BEARER_SCHEMES: [(&str, &str); 8] = [
    ("admin", "`Authorization: Bearer <admin token>` (the operator: minting credentials, revoking devices, approval's back office)."),
    ("kiosk", "`Authorization: Bearer <kiosk credential>`, minted by the operator with `POST /v1/admin/credentials` (kind `kiosk`)."),
    ("hr", "`Authorization: Bearer <HR credential>`, minted by the operator with `POST /v1/admin/credentials` (kind `hr`)."),
    ("issuer", "`Authorization: Bearer <issuer credential>`, minted by the operator with `POST /v1/admin/credentials` (kind `issuer`, scope = the agency). It issues and revokes for that agency only."),
    ("portal", "`Authorization: Bearer <portal credential>`, minted by the operator with `POST /v1/admin/credentials` (kind `portal`). The city portal: binding offers."),
    ("organizer", "`Authorization: Bearer <organizer credential>`, minted by the operator with `POST /v1/admin/credentials` (kind `organizer`). A meeting organizer's system."),
    ("contracts", "`Authorization: Bearer <contracts credential>`, minted by the operator with `POST /v1/admin/credentials` (kind `contracts`). The contracts desk: records and voids contracts."),
    ("reports", "`Authorization: Bearer <reports credential>`, minted by the operator with `POST /v1/admin/credentials` (kind `reports`). Reads people's weekly attendance reports."),
];

/// What every route shares, added once instead of repeated in each attribute.
#[derive(Debug)]
pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Components::new);
        for (name, description) in BEARER_SCHEMES {
            let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build();
            components.security_schemes.insert(name.into(), RefOr::T(SecurityScheme::Http(scheme)));
        }
        components.security_schemes.insert(
            "dpop".into(),
            RefOr::T(SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                headers::AUTHORIZATION,
                "`Authorization: DPoP <access token>` together with a `DPoP` proof header whose `ath` is base64url(SHA-256(token)).",
            )))),
        );
        components.headers.insert(
            SERVER_TIME.into(),
            RefOr::T(header(
                ObjectBuilder::new().schema_type(Type::Integer).format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64))),
                "The server clock when it answered (UTC ms). On every reply.",
            )),
        );
        components.headers.insert(
            IDEMPOTENT_REPLAYED.into(),
            RefOr::T(header(
                ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["true"])),
                "`true` when the reply is the stored reply of an earlier request with the same Idempotency-Key.",
            )),
        );
        components.parameters.insert(
            "IdempotencyKey".into(),
            RefOr::T(header_parameter(
                headers::IDEMPOTENCY_KEY,
                ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(128)),
                "1-128 printable ASCII characters, unique per logical request; a retry reuses it. Missing: `idempotency_key_required` (400). Scope: the device (or anonymous before registration). Stored replies are kept 24 h.",
            )),
        );
        components.parameters.insert(
            "DPoP".into(),
            RefOr::T(header_parameter(
                headers::DPOP,
                ObjectBuilder::new().schema_type(Type::String).max_length(Some(4096)),
                "Compact JWS, header {typ: dpop+jwt, alg: ES256, jwk: EC P-256}, claims {jti, htm, htu, iat, ath?}. At most 4096 bytes.",
            )),
        );
        let limited = crate::rate_limited_routes();
        for (path, item) in &mut doc.paths.paths {
            let methods = [("GET", &mut item.get), ("PUT", &mut item.put), ("POST", &mut item.post), ("DELETE", &mut item.delete)];
            for (method, operation) in methods {
                let Some(operation) = operation else { continue };
                apply_conventions(operation);
                if limited.contains(&(method, path.as_str())) {
                    operation.responses.responses.insert("429".into(), response_ref::<RateLimited>());
                }
            }
        }
    }
}

/// A route secured by `dpop` takes the `DPoP` header; shared header parameters become
/// references to their one description; every reply
/// names `X-Server-Time-Ms`, and the success replies of an idempotent route
/// `Idempotent-Replayed`.
fn apply_conventions(operation: &mut Operation) {
    // utoipa tags an operation with its handler's module path; readers group by the
    // capability, the module's first segment (`approval`, `wallet`, `login`, …).
    for tag in operation.tags.iter_mut().flatten() {
        let capability = tag.trim_start_matches("crate::").split("::").next().unwrap_or_default();
        *tag = capability.to_owned();
    }
    // Every route a device's access token opens takes a fresh proof.
    let dpop = operation.security.iter().flatten().any(|s| serde_json::to_value(s).is_ok_and(|v| v.get("dpop").is_some()));
    if dpop {
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        if !parameters.iter().any(|p| matches!(p, RefOr::T(p) if p.name == headers::DPOP)) {
            parameters.insert(0, RefOr::T(header_parameter(headers::DPOP, ObjectBuilder::new(), "")));
        }
    }
    let mut idempotent = false;
    for parameter in operation.parameters.iter_mut().flatten() {
        let RefOr::T(p) = parameter else { continue };
        let shared = match (&p.parameter_in, p.name.as_str()) {
            (ParameterIn::Header, headers::IDEMPOTENCY_KEY) => "IdempotencyKey",
            (ParameterIn::Header, headers::DPOP) => "DPoP",
            _ => continue,
        };
        idempotent |= shared == "IdempotencyKey";
        *parameter = RefOr::Ref(Ref::new(format!("#/components/parameters/{shared}")));
    }
    // Conventions of the HTTP layer that hold on every route of their kind: a body that
    // is not JSON is refused before the handler, a token of a revoked device is told so
    // on every device route, and an idempotency key reused for another request is
    // refused on every route that takes one.
    let responses = &mut operation.responses.responses;
    if operation.request_body.is_some() {
        responses.entry("415".into()).or_insert_with(response_ref::<UnsupportedMediaType>);
    }
    if dpop {
        responses.entry("403".into()).or_insert_with(response_ref::<DeviceRevoked>);
    }
    if idempotent {
        responses.entry("422".into()).or_insert_with(response_ref::<IdempotencyKeyReused>);
    }
    for (status, response) in &mut operation.responses.responses {
        let RefOr::T(response) = response else { continue };
        response.headers.insert(headers::SERVER_TIME_MS.into(), header_ref(SERVER_TIME));
        if idempotent && status.starts_with('2') {
            response.headers.insert(IDEMPOTENT_REPLAYED_HEADER.into(), header_ref(IDEMPOTENT_REPLAYED));
        }
    }
}

fn response_ref<'s, R: ToResponse<'s>>() -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(R::response().0))
}

fn header(schema: ObjectBuilder, description: &str) -> Header {
    HeaderBuilder::new().schema(Some(schema.build())).description(Some(description)).build()
}

fn header_ref(name: &str) -> RefOr<Header> {
    RefOr::Ref(Ref::new(format!("#/components/headers/{name}")))
}

fn header_parameter(name: &str, schema: ObjectBuilder, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema.build()))
        .build()
}

/// An error reply: `ErrorBody`, with the server clock like every reply.
fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .header_ref(headers::SERVER_TIME_MS, Ref::new(format!("#/components/headers/{SERVER_TIME}")))

        .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))))
}

macro_rules! error_responses {
    ($($name:ident: $description:literal,)*) => {$(
        #[doc = $description]
        #[derive(Debug)]
        pub struct $name;

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                (stringify!($name), error_response($description).build().into())
            }
        }
    )*};
}

error_responses! {
    BadRequest: "`bad_request` (malformed JSON, bad field), or `idempotency_key_required`.",
    PayloadTooLarge: "`payload_too_large`: body over 64 KiB.",
    Internal: "`internal`: the server failed; retry later.",
    UnsupportedMediaType: "`unsupported_media_type`: the body was not sent as `Content-Type: application/json` (or a `+json` type).",
    DeviceRevoked: "`device_revoked`: the device was revoked; its tokens are gone and it must be bound again.",
    IdempotencyKeyReused: "`idempotency_key_reused`: the key was used for a different request (another method, path or body).",
    AuthRefused: "An authentication refusal (`invalid_token`, `invalid_dpop_proof`, `replayed_proof`, `clock_skew`).",
    AdminUnauthorized: "`unauthorized`: missing or wrong admin token.",
}

/// 429, on the routes that draw on a rate-limit budget.
#[derive(Debug)]
pub struct RateLimited;

impl<'s> ToResponse<'s> for RateLimited {
    fn response() -> (&'s str, RefOr<Response>) {
        let response = error_response(
            "`rate_limited`: over this route's budget (anonymous routes by client address, admin routes by address with a larger budget, the guessable device routes by access token).",
        )
        .header(
            "Retry-After",
            header(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)), "Seconds until the budget allows another request."),
        );
        ("RateLimited", response.build().into())
    }
}
