//! The log format: text for a person at a terminal, or one JSON object per line for a
//! log pipeline (`TAIPEI_LOG_FORMAT=json`, `taipei server --log-format json`).
//!
//! Both formats carry the same events and fields; what a line may hold is decided
//! where it is written (`middleware::around`: method, route template, status, latency,
//! device id — never a header, a path's values or a body), so neither format can leak
//! more than the other. JSON lines are flat (`timestamp`, `level`, `target`, then the
//! event's fields, `message` among them) and name no span, so nothing a span captured
//! is copied into every line.

use std::str::FromStr;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::{EnvFilter, Layer};

/// The environment variable that picks the format of a standalone server's log.
pub const LOG_FORMAT_ENV: &str = "TAIPEI_LOG_FORMAT";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (tracing's default format, no colours).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
    }
}

impl LogFormat {
    /// `$TAIPEI_LOG_FORMAT`, else text. A value that is neither is an error, not a
    /// silent fallback: a pipeline expecting JSON should not get text.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(LOG_FORMAT_ENV) {
            Ok(v) if !v.trim().is_empty() => v.parse().map_err(|e| format!("{LOG_FORMAT_ENV}: {e}")),
            _ => Ok(Self::Text),
        }
    }
}

/// A formatting layer in `format` writing to `writer`.
pub fn layer<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(writer);
    // The PostgreSQL driver logs each statement's parameter values at debug level —
    // tokens' hashes, sealed keys, request data: never below info, whatever RUST_LOG says.
    let driver = LevelFilter::INFO;
    let quiet = Targets::new().with_default(LevelFilter::TRACE).with_target("tokio_postgres", driver).with_target("postgres", driver);
    match format {
        LogFormat::Text => base.with_filter(quiet).boxed(),
        LogFormat::Json => base.json().flatten_event(true).with_current_span(false).with_span_list(false).with_filter(quiet).boxed(),
    }
}

/// Installs the process's subscriber: `RUST_LOG` (default `info`) and `format` on
/// stdout. A subscriber installed already (by an embedding program) is kept.
pub fn init(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry().with(filter).with(layer(format, std::io::stdout)).try_init();
}

#[cfg(test)]
mod tests {
    use super::LogFormat;

    #[test]
    fn formats_parse_and_others_are_refused() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(" TEXT ".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("xml".parse::<LogFormat>().unwrap_err().contains("text or json"));
    }
}
