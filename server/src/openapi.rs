//! `GET /v1/openapi.json`: the normative description of the API, kept as a file
//! (`server/openapi.json`) so city backend teams can read and diff it directly.

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("../openapi.json");

pub async fn get_openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
