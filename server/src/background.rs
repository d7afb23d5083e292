//! The server's own loops (the purge timer, the push sender): started with the server,
//! stopped by its shutdown between two steps. Stopping waits for the step under way
//! rather than aborting it: a step's transaction runs on the blocking pool, where an
//! abort would only stop waiting for it, so it could still hold the write lock after
//! the server said it had stopped.

use std::future::Future;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A loop running on the runtime until [`Background::stop`].
#[derive(Debug)]
pub struct Background {
    name: &'static str,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Resolves once the loop is asked to stop: the loop selects on it between steps.
#[derive(Debug)]
pub struct Stopping(watch::Receiver<bool>);

impl Stopping {
    pub async fn requested(&mut self) {
        // A dropped sender means the server is gone: stop too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

impl Background {
    /// Runs `body` (named in logs by `name`) on the runtime.
    pub fn spawn<F, Fut>(name: &'static str, body: F) -> Self
    where
        F: FnOnce(Stopping) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopping) = watch::channel(false);
        Self { name, stop, task: tokio::spawn(body(Stopping(stopping))) }
    }

    /// Asks the loop to stop and waits until the step under way has finished.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, task = self.name, "background task failed");
        }
    }
}
