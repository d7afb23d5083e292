//! What wraps every request: the server clock header, the one log line and the
//! metrics, panic containment, JSON replies for unknown routes and methods.

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;
use ipnet::IpNet;

use taipei_protocol::api::{codes, headers};

use crate::error::{ApiError, ErrorCode};
use crate::idempotency::REPLAYED;
use crate::ops::metrics::{Metrics, Observed};
use crate::time::now_ms;

/// What the outermost layer needs besides the request.
#[derive(Debug, Default)]
pub struct Edge {
    /// Reverse proxies whose forwarding headers are believed (`client_ip`).
    pub proxies: Vec<IpNet>,
    pub metrics: Arc<Metrics>,
}

/// `X-Server-Time-Ms` (taipei_protocol::api::headers::SERVER_TIME_MS), lower-cased
/// as HTTP/2 requires.
pub static SERVER_TIME: HeaderName = HeaderName::from_static("x-server-time-ms");

/// Per-request facts shared between the middleware and the extractors.
#[derive(Debug, Default)]
pub struct RequestContext {
    /// Set by the auth extractors as soon as the device is known, for the log line and
    /// for audit rows of refusals.
    pub device_id: OnceLock<String>,
    /// The route template that matched (`/v1/login/{rid}`), set by [`note_route`]: the
    /// log names it rather than the path, whose segments can be secrets (a pickup code).
    pub route: OnceLock<String>,
    /// The client address: the socket peer, or behind a trusted proxy the right-most
    /// address its forwarding headers name that is not itself a trusted proxy.
    pub ip: Option<String>,
}

/// Extractor for the [`RequestContext`] the middleware attached.
#[derive(Debug, Clone)]
pub struct Ctx(pub Arc<RequestContext>);

impl Ctx {
    pub fn device_id(&self) -> Option<String> {
        self.0.device_id.get().cloned()
    }

    pub fn ip(&self) -> Option<String> {
        self.0.ip.clone()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Arc<RequestContext>>()
            .cloned()
            .map(Ctx)
            .ok_or_else(|| ApiError::internal("request context missing"))
    }
}

/// Outermost layer: every reply, error or panic included, carries the server clock,
/// and every request gets one log line and its metrics. The line holds method, route
/// template (never the path's values or the query), status, latency and device id —
/// never a header value, so no token, proof, key or code.
pub async fn around(State(edge): State<Arc<Edge>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let idempotent = req.headers().contains_key(headers::IDEMPOTENCY_KEY);
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_ip(c.0.ip(), req.headers(), &edge.proxies).to_string());
    let ctx = Arc::new(RequestContext {
        device_id: OnceLock::new(),
        route: OnceLock::new(),
        ip,
    });
    req.extensions_mut().insert(Arc::clone(&ctx));

    let response = match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(%method, route = route_of(&ctx), "handler panicked");
            ApiError::internal("the server failed while handling this request").into_response()
        }
    };
    let mut response = json_errors(response).await;
    response
        .headers_mut()
        .insert(SERVER_TIME.clone(), HeaderValue::from(now_ms()));
    let (status, latency) = (response.status(), started.elapsed());
    edge.metrics.observe(&Observed {
        method: &method,
        route: route_of(&ctx),
        status: status.as_u16(),
        latency,
        code: response.extensions().get::<ErrorCode>().map(|c| c.0),
        intake: (idempotent && status.is_success()).then(|| response.headers().contains_key(&REPLAYED)),
    });
    tracing::info!(
        %method,
        route = route_of(&ctx),
        status = status.as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        device = ctx.device_id.get().map(String::as_str).unwrap_or("-"),
        "request"
    );
    response
}

fn route_of(ctx: &RequestContext) -> &str {
    ctx.route.get().map_or("(no route)", String::as_str)
}

/// Route layer on every endpoint: notes the matched template for the log line.
pub async fn note_route(req: Request, next: Next) -> Response {
    if let (Some(ctx), Some(matched)) =
        (req.extensions().get::<Arc<RequestContext>>(), req.extensions().get::<axum::extract::MatchedPath>())
    {
        let _ = ctx.route.set(matched.as_str().to_owned());
    }
    next.run(req).await
}

/// The client's address. The peer is the client unless it is a trusted proxy; then the
/// hops its headers list (`X-Forwarded-For`, else `Forwarded: for=`) are walked from the
/// right, skipping trusted proxies, and the first other one is the client. A hop that
/// does not parse stops the walk at the last trusted address: a client cannot name
/// itself anything by sending the header, only the proxies' own appends count.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<String> = if headers.contains_key("x-forwarded-for") {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_owned())
            .collect()
    } else {
        headers
            .get_all(axum::http::header::FORWARDED)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.eq_ignore_ascii_case("for").then(|| v.trim().trim_matches('"').to_owned())
                })
            })
            .collect()
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    hop.strip_prefix('[').and_then(|h| h.split_once(']')).and_then(|(ip, _)| ip.parse().ok())
}

/// Largest plain-text rejection read back to become the JSON message.
const REJECTION_TEXT_LIMIT: usize = 1024;

/// Every failure the HTTP layer produces itself (axum's extractor rejections: a path
/// segment that is not valid percent-encoding, a bad query, …) arrives as plain text;
/// callers get `{code, message}` for every error, so those are rewritten here.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), REJECTION_TEXT_LIMIT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let code = match status {
        StatusCode::NOT_FOUND => codes::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED => codes::METHOD_NOT_ALLOWED,
        StatusCode::PAYLOAD_TOO_LARGE => codes::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => codes::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::UNAUTHORIZED => codes::UNAUTHORIZED,
        StatusCode::FORBIDDEN => codes::FORBIDDEN,
        s if s.is_server_error() => codes::INTERNAL,
        _ => codes::BAD_REQUEST,
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { text };
    ApiError::new(status, code, message).into_response()
}

pub async fn unknown_route(req: Request) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", req.uri().path()))
}

pub async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::Router;
    use axum::routing::get;

    #[test]
    fn forwarded_headers_count_only_behind_a_trusted_proxy() {
        use super::client_ip;
        let proxy: std::net::IpAddr = "10.0.0.5".parse().unwrap();
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.9".parse().unwrap());
        // Not trusted: the header is anyone's to write.
        assert_eq!(client_ip(proxy, &h, &[]), proxy);
        // Right-most untrusted hop: the client's own claim (6.6.6.6) is skipped.
        assert_eq!(client_ip(proxy, &h, &trusted).to_string(), "203.0.113.7");
        let direct: std::net::IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(direct, &h, &trusted), direct);
        let mut f = axum::http::HeaderMap::new();
        f.insert("forwarded", r#"for=192.0.2.60;proto=http, for="[2001:db8::1]:443""#.parse().unwrap());
        assert_eq!(client_ip(proxy, &f, &trusted).to_string(), "2001:db8::1");
        let mut junk = axum::http::HeaderMap::new();
        junk.insert("x-forwarded-for", "203.0.113.7, unknown".parse().unwrap());
        assert_eq!(client_ip(proxy, &junk, &trusted), proxy);
    }

    async fn boom() -> &'static str {
        panic!("handler bug")
    }

    #[tokio::test]
    async fn a_handler_panic_becomes_an_internal_json_error() {
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(axum::middleware::from_fn_with_state(std::sync::Arc::new(super::Edge::default()), super::around));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let response = reqwest::Client::new()
            .get(format!("http://{addr}/boom"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        assert!(response.headers().contains_key("x-server-time-ms"));
        let body: taipei_protocol::api::ErrorBody = response.json().await.unwrap();
        assert_eq!(body.code, taipei_protocol::api::codes::INTERNAL);
        server.abort();
    }
}
