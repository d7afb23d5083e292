//! Prometheus metrics (`GET /metrics`, OpenMetrics text) with the official Rust client,
//! `prometheus-client`: one registry per server instance, so several servers in one
//! process (the tests) keep their own counts.
//!
//! Every series is recorded by the outermost middleware (`middleware::around`) from
//! what it already knows — method, route template, status, latency, the error code
//! an [`ApiError`](crate::ApiError) reply carries, whether an idempotent write was new
//! or replayed — so no handler counts anything itself. Labels come only from bounded
//! sets (route templates, the error codes, a fixed list of methods), never from the
//! path or a header, so a flood of odd requests cannot grow the registry.

use std::time::Duration;

use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The media type of the OpenMetrics text Prometheus scrapes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntakeLabels {
    route: String,
    /// `accepted` (done now) or `replayed` (a retry answered from the stored reply).
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectionLabels {
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PushLabels {
    outcome: &'static str,
}

/// 0.5 ms to about 4 s, doubling: a login step takes a few milliseconds, a batch of
/// approvals or a large item upload up to seconds.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 14))
}

/// The server's counters and histograms, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    intake: Family<IntakeLabels, Counter>,
    rejections: Family<RejectionLabels, Counter>,
    push: Family<PushLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("taipei");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let intake = Family::<IntakeLabels, Counter>::default();
        let rejections = Family::<RejectionLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by method, route template and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time from a request's arrival to its reply, by method, route template and status", latency.clone());
        registry.register(
            "outbox_intake",
            "Idempotent writes accepted from phones' outboxes and other callers, by route: accepted now or replayed from the stored reply",
            intake.clone(),
        );
        registry.register("rejections", "Error replies by error code (refusals, rate limits, server faults)", rejections.clone());
        let push = Family::<PushLabels, Counter>::default();
        registry.register(
            "push_requests",
            "Requests this process made to push services, by outcome: delivered, gone (the subscription ended), too_large (sent again as a tickle), retry (429, 5xx or no answer), refused (no retry helps)",
            push.clone(),
        );
        Self { registry, requests, latency, intake, rejections, push }
    }
}

/// The methods the router serves; any other becomes `other`, so a made-up method
/// cannot add a label value.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// One answered request, as the outermost middleware saw it.
#[derive(Debug)]
pub struct Observed<'a> {
    pub method: &'a Method,
    /// The route template, or `(no route)` for a path no route matched.
    pub route: &'a str,
    pub status: u16,
    pub latency: Duration,
    /// The error code of an error reply.
    pub code: Option<&'static str>,
    /// For a request with an `Idempotency-Key` that succeeded: whether it was replayed.
    pub intake: Option<bool>,
}

impl Metrics {
    pub fn observe(&self, seen: &Observed<'_>) {
        let labels = RequestLabels { method: method_label(seen.method), route: seen.route.to_owned(), status: seen.status };
        self.latency.get_or_create(&labels).observe(seen.latency.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
        if let Some(code) = seen.code {
            self.rejections.get_or_create(&RejectionLabels { code }).inc();
        }
        if let Some(replayed) = seen.intake {
            let outcome = if replayed { "replayed" } else { "accepted" };
            self.intake.get_or_create(&IntakeLabels { route: seen.route.to_owned(), outcome }).inc();
        }
    }

    /// One request to a push service and what came of it (a fixed set of outcomes).
    pub fn push_request(&self, outcome: &'static str) {
        self.push.get_or_create(&PushLabels { outcome }).inc();
    }

    /// The whole registry as OpenMetrics text.
    pub fn render(&self) -> Response {
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            return crate::ApiError::internal("the metrics could not be encoded").into_response();
        }
        ([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], text).into_response()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn series_carry_bounded_labels() {
        let metrics = Metrics::default();
        let weird = Method::from_bytes(b"BREW").unwrap();
        for (method, status, code, intake) in
            [(&Method::POST, 200, None, Some(false)), (&Method::POST, 200, None, Some(true)), (&weird, 405, Some("method_not_allowed"), None)]
        {
            metrics.observe(&Observed { method, route: "/v1/login/scan", status, latency: Duration::from_millis(3), code, intake });
        }
        metrics.push_request("delivered");
        let response = metrics.render();
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let text = futures::executor::block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).unwrap();
        let text = String::from_utf8(text.to_vec()).unwrap();
        assert!(text.contains(r#"taipei_http_requests_total{method="POST",route="/v1/login/scan",status="200"} 2"#), "{text}");
        assert!(text.contains(r#"taipei_http_requests_total{method="other",route="/v1/login/scan",status="405"} 1"#), "{text}");
        assert!(!text.contains("BREW"));
        assert!(text.contains(r#"taipei_outbox_intake_total{route="/v1/login/scan",outcome="accepted"} 1"#), "{text}");
        assert!(text.contains(r#"taipei_outbox_intake_total{route="/v1/login/scan",outcome="replayed"} 1"#), "{text}");
        assert!(text.contains(r#"taipei_rejections_total{code="method_not_allowed"} 1"#), "{text}");
        assert!(text.contains(r#"taipei_http_request_duration_seconds_count{method="POST",route="/v1/login/scan",status="200"} 2"#), "{text}");
        assert!(text.contains(r#"taipei_push_requests_total{outcome="delivered"} 1"#), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
