//! The capability context: the parts of a profile a capability (login, meetings,
//! attendance, wallet, …) is built from, and the error they share.
//!
//! `client.rs` opens the profile, builds one [`Ctx`] and hands it to each capability's
//! `new`; a capability keeps only the parts it uses and registers there what it owns
//! (its outbox kinds with their receipt handlers, what it announces after a sync).
//! Nothing here knows any capability, and no capability reaches into the client:
//!
//! | part | type | what it gives |
//! |---|---|---|
//! | `store` | [`Store`] | the profile database; a capability touches only its own tables |
//! | `account` | [`Account`] | the active device and its key, authenticated calls (signs in when needed, records a revocation), the server clock |
//! | `outbox` | [`Queue`] | register outbox kinds and after-sync hooks; tell that the queue changed; ask for a sync now or soon |
//! | `events` | [`EventBus`] | events for the app's listener |
//! | `clock` | [`ElapsedClock`] | elapsed time that counts through suspend |

mod account;
mod error;
mod queue;

use std::sync::Arc;

pub(crate) use account::{Account, Active};
pub use account::SessionInfo;
pub use error::CommonError;
pub(crate) use error::common_error;
#[cfg_attr(
    not(any(feature = "attendance", feature = "approval", feature = "push")),
    allow(unused_imports, reason = "only attendance, approval and push act after a sync so far")
)]
pub(crate) use queue::AfterSync;
pub(crate) use queue::Queue;

use crate::clock::ElapsedClock;
use crate::events::EventBus;
use crate::store::Store;

/// What a capability is built from. Cheap to clone: every part is shared.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub store: Arc<Store>,
    pub account: Arc<Account>,
    pub outbox: Arc<Queue>,
    pub events: Arc<EventBus>,
    #[cfg_attr(not(feature = "attendance"), allow(dead_code, reason = "only punches stamp elapsed time so far"))]
    pub clock: Arc<dyn ElapsedClock>,
}

/// Runs blocking work (SQLite, signing) on tokio's blocking pool. A task that died
/// (a panic inside `f`) becomes `E`'s internal error.
pub(crate) async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<CommonError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(CommonError::Internal(format!("blocking task failed: {e}"))))?
}
