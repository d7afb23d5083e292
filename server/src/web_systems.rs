//! The city web systems a QR-key login can enter, registered by id with the name the
//! phone shows and the origins whose pages may start a login for them.
//!
//! A login names its system by id; the name the person reads on the phone comes from
//! here, never from the browser, so a phishing page cannot make a request read
//! "公文系統". A page on another origin cannot start one either (its browser sends
//! `Origin`); a non-browser caller can, but it has no victim's browser to sign in.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use crate::db::{Conn, OptionalExtension as _};
use crate::params;
use serde::{Deserialize, Serialize};
use taipei_protocol::login::codes;

use crate::AppState;
use crate::audit::{self, Entry, actions};
use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{JsonBody, check_len};
use crate::time::now_ms;

/// At most this many origins per system.
pub const MAX_ORIGINS: usize = 20;

/// `POST /v1/admin/web-systems` body, and an entry of `ServerConfig::web_systems`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebSystem {
    /// 1-40 of `[a-z0-9-]`: what a sign-in page passes as `system_id`.
    #[schema(pattern = "^[a-z0-9-]{1,40}$")]
    pub id: String,
    /// What the phone shows: "Log in to <name>?".
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `scheme://host[:port]` of the system's own pages that may start a login (the
    /// server's own `/login` page is always allowed); at most 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub origins: Vec<String>,
}

impl WebSystem {
    pub fn new(id: &str, name: &str) -> Self {
        Self { id: id.to_owned(), name: name.to_owned(), origins: Vec::new() }
    }

    fn check(&self) -> Result<(), ApiError> {
        let id_ok = (1..=40).contains(&self.id.len())
            && self.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(ApiError::bad_request(format!("web system id {:?} must be 1-40 of [a-z0-9-]", self.id)));
        }
        check_len("name", &self.name, 1, 100)?;
        if self.origins.len() > MAX_ORIGINS {
            return Err(ApiError::bad_request(format!("at most {MAX_ORIGINS} origins per web system")));
        }
        for origin in &self.origins {
            if !is_origin(origin) {
                return Err(ApiError::bad_request(format!("{origin:?} is not an origin (https://host[:port], no path)")));
            }
        }
        Ok(())
    }
}

/// `https://host[:port]` (or `http://` for development), nothing after the authority.
fn is_origin(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")) else {
        return false;
    };
    s.len() <= 200
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Registers `system`, or updates its name and origins (logins already started keep
/// the name they were started with).
pub fn register(tx: &Conn<'_>, system: &WebSystem) -> Result<(), ApiError> {
    system.check()?;
    let origins = serde_json::to_string(&system.origins).map_err(|e| ApiError::internal(format!("origins: {e}")))?;
    tx.execute(
        "INSERT INTO web_systems (id, name, origins, registered_at_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, origins = excluded.origins",
        params![system.id, system.name, origins, now_ms()],
    )?;
    Ok(())
}

/// The system registered as `id`.
pub fn find(conn: &Conn<'_>, id: &str) -> Result<Option<WebSystem>, ApiError> {
    let row: Option<(String, String)> = conn
        .query_row("SELECT name, origins FROM web_systems WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((name, origins)) = row else { return Ok(None) };
    let origins = serde_json::from_str(&origins).map_err(|e| ApiError::internal(format!("stored origins: {e}")))?;
    Ok(Some(WebSystem { id: id.to_owned(), name, origins }))
}

/// Whether the page that sent `headers` may start a login for `system`: no `Origin`
/// (not a browser's cross-origin call), the server's own origin, or a registered one.
pub fn origin_allowed(system: &WebSystem, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let own = headers.get(header::HOST).and_then(|v| v.to_str().ok()).is_some_and(|host| {
        origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) == Some(host)
    });
    own || system.origins.iter().any(|o| o == origin)
}

pub fn unknown(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN_SYSTEM, format!("no web system is registered as {id:?}"))
}

pub fn origin_refused(origin: &str, system: &WebSystem) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        codes::ORIGIN_NOT_ALLOWED,
        format!("a page on {origin} may not start a login for {} ({})", system.name, system.id),
    )
}

/// `POST /v1/admin/web-systems`: registers a web system or updates it.
#[utoipa::path(
    post,
    path = "/v1/admin/web-systems",
    operation_id = "registerWebSystem",
    summary = "Operator: register a city web system (or update its name and origins).",
    request_body(content = WebSystem),
    responses(
        (status = 201, description = "Registered; the body echoes the system."),
        (status = 400, description = "A malformed id, name or origin."),
        (status = 401, description = "Not the admin token."),
    ),
    security(("admin" = [])),
)]
pub async fn post(State(state): State<AppState>, admin: Admin, body: JsonBody<WebSystem>) -> Result<(StatusCode, Json<WebSystem>), ApiError> {
    let system = body.value;
    let stored = system.clone();
    state
        .db
        .write(move |tx| {
            register(tx, &stored)?;
            audit::record(tx, &Entry::new(actions::WEB_SYSTEM, "admin").ip(admin.ip))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(system)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_authority_only() {
        assert!(is_origin("https://doc.gov.taipei"));
        assert!(is_origin("http://127.0.0.1:8080"));
        assert!(!is_origin("https://doc.gov.taipei/login"));
        assert!(!is_origin("doc.gov.taipei"));
        assert!(!is_origin("https://"));
        assert!(!is_origin("javascript:alert(1)"));
    }

    #[test]
    fn ids_are_short_lowercase_slugs() {
        assert!(WebSystem::new("doc", "公文系統").check().is_ok());
        assert!(WebSystem::new("Doc", "公文系統").check().is_err());
        assert!(WebSystem::new("", "公文系統").check().is_err());
        assert!(WebSystem::new("doc", "").check().is_err());
        assert!(WebSystem::new(&"a".repeat(41), "x").check().is_err());
    }
}
