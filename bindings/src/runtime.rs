//! The one tokio runtime every exported call runs on, and the guards that turn a
//! panic into the call's own error enum (variant `Internal`, code `panic`) instead of
//! letting it cross the FFI.
//!
//! Why our own runtime rather than `#[uniffi::export(async_runtime = "tokio")]`: that
//! attribute wraps each future in `async_compat::Compat`, which polls it on the foreign
//! caller's thread (a Kotlin dispatcher, possibly the UI thread) with only the reactor
//! on a hidden single-thread runtime. The core does SQLite work and owns background
//! tasks that outlive a call, so every call is spawned onto this multi-thread runtime
//! and the foreign side only awaits the join handle, which needs no runtime at all.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use crate::error::FfiError;

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

pub(crate) fn runtime<E: FfiError>() -> Result<&'static tokio::runtime::Runtime, E> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                // Phones have many cores but the core's work is light; two workers keep
                // its footprint small while a slow call never starves the others.
                .worker_threads(2)
                .thread_name("taipei-core")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| E::internal("internal", format!("cannot start the core's runtime: {e}")))
}

/// Runs `fut` on the core's runtime. A panic inside it becomes `E::Internal`; if the
/// caller stops waiting (a cancelled coroutine or Task), the work is aborted.
pub(crate) async fn run<T, E, F>(fut: F) -> Result<T, E>
where
    T: Send + 'static,
    E: FfiError,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    let handle = runtime::<E>()?.spawn(fut);
    let _abort = AbortOnDrop(handle.abort_handle());
    match handle.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(from_panic(e.into_panic())),
        Err(_) => Err(E::internal("internal", "the call was cancelled".to_owned())),
    }
}

/// Runs a synchronous call, turning a panic into `E::Internal`.
pub(crate) fn guard<T, E: FfiError>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(from_panic(payload)))
}

/// A caught panic as the call's error: `Internal`, code `panic`, logged once here.
pub(crate) fn from_panic<E: FfiError>(payload: Box<dyn Any + Send>) -> E {
    let text = panic_text(payload.as_ref());
    tracing::error!(panic = %text, "a panic was caught at the FFI boundary");
    E::internal("panic", format!("the library hit a bug (panic: {text})"))
}

/// The text of a panic payload (`panic!` gives `&str` or `String`).
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        // Aborting a finished task is a no-op, so this only matters on cancellation.
        self.0.abort();
    }
}
