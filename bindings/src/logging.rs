//! Forwards the core's `tracing` output to the app's [`Logger`] (Logcat, os_log).
//!
//! A minimal global subscriber of our own rather than tracing-subscriber: the library
//! the apps load stays small, and all it must do is hand each event's level, target
//! and text to one callback. Spans are not tracked. The core never puts secrets in a
//! log line; this layer forwards only what the core logs.

use std::cell::Cell;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Metadata, Subscriber};

use crate::error::ClientError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// Receives the core's log lines. Called on the core's threads; keep it quick.
#[uniffi::export(with_foreign)]
pub trait Logger: Send + Sync {
    fn log(&self, level: LogLevel, target: String, message: String);
}

/// Sends the core's log lines at `max_level` and more severe to `logger`. May be
/// called again to swap the logger or change the level.
#[uniffi::export]
pub fn set_logger(logger: Arc<dyn Logger>, max_level: LogLevel) -> Result<(), ClientError> {
    crate::runtime::guard(|| {
        *LOGGER.write().unwrap_or_else(|p| p.into_inner()) = Some(logger);
        MAX_LEVEL.store(max_level as usize, Ordering::SeqCst);
        install()?;
        // Callsites cache whether they are enabled; a level change must reach them.
        tracing::callsite::rebuild_interest_cache();
        Ok(())
    })
}

/// A logger that writes to standard error: desktops, the CLI and tests.
#[uniffi::export]
pub fn stderr_logger() -> Arc<dyn Logger> {
    Arc::new(StderrLogger)
}

struct StderrLogger;

impl Logger for StderrLogger {
    fn log(&self, level: LogLevel, target: String, message: String) {
        eprintln!("{level:?} {target}: {message}");
    }
}

static LOGGER: RwLock<Option<Arc<dyn Logger>>> = RwLock::new(None);
static MAX_LEVEL: AtomicUsize = AtomicUsize::new(LogLevel::Info as usize);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

fn install() -> Result<(), ClientError> {
    INSTALLED
        .get_or_init(|| {
            tracing::subscriber::set_global_default(ForeignSubscriber { next_id: AtomicU64::new(1) })
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| <ClientError as crate::error::FfiError>::internal("internal", format!("another log subscriber is already installed: {e}")))
}

fn level_of(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

fn max_level() -> tracing::level_filters::LevelFilter {
    match MAX_LEVEL.load(Ordering::SeqCst) {
        0 => Level::ERROR.into(),
        1 => Level::WARN.into(),
        2 => Level::INFO.into(),
        3 => Level::DEBUG.into(),
        _ => Level::TRACE.into(),
    }
}

thread_local! {
    /// Set while the foreign logger runs: if it calls back into the library and that
    /// logs, the line is dropped instead of recursing.
    static IN_LOGGER: Cell<bool> = const { Cell::new(false) };
}

struct ForeignSubscriber {
    next_id: AtomicU64,
}

impl Subscriber for ForeignSubscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        max_level() >= *metadata.level()
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(max_level())
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        if IN_LOGGER.with(Cell::get) {
            return;
        }
        let Some(logger) = LOGGER.read().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        let metadata = event.metadata();
        let mut text = Text::default();
        event.record(&mut text);
        IN_LOGGER.with(|flag| flag.set(true));
        // A logger that throws must not take down whatever the core was doing.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            logger.log(level_of(metadata.level()), metadata.target().to_owned(), text.finish());
        }));
        IN_LOGGER.with(|flag| flag.set(false));
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// `message key=value key=value`, the usual one-line rendering.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }
}
