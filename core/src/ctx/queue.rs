//! [`Queue`]: the outbox as the capabilities and the client share it — receipt
//! handlers and after-sync hooks registered by their owners, and one sync at a time
//! delivering items as authenticated requests.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use taipei_protocol::api::Receipt;
use tokio::sync::Notify;

use super::{Account, CommonError};
use crate::events::{Event, EventBus};
use crate::net::{Method, parse_json};
use crate::outbox::{DeliveryError, ItemSender, Outbox, OutboxItem, OutboxStatus, ReceiptHandler, SendFuture, SyncReport};

/// Work a capability does after every sync pass (also one stopped by an error), e.g.
/// telling the person about items that settled.
pub(crate) trait AfterSync: Send + Sync {
    fn after_sync<'a>(&'a self, outbox: &'a Outbox) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

pub(crate) struct Queue {
    outbox: Outbox,
    account: Arc<Account>,
    events: Arc<EventBus>,
    kick: Arc<Notify>,
    sync_lock: tokio::sync::Mutex<()>,
    after_sync: RwLock<Vec<Arc<dyn AfterSync>>>,
}

impl Queue {
    pub(crate) fn new(outbox: Outbox, account: Arc<Account>, events: Arc<EventBus>) -> Self {
        Self {
            outbox,
            account,
            events,
            kick: Arc::new(Notify::new()),
            sync_lock: tokio::sync::Mutex::new(()),
            after_sync: RwLock::new(Vec::new()),
        }
    }

    /// Items of `kind` settle through `handler`, in the transaction that removes them.
    #[cfg_attr(
        not(any(feature = "attendance", feature = "meetings", feature = "approval")),
        allow(dead_code, reason = "the capabilities with outbox kinds of their own are features")
    )]
    pub(crate) fn register(&self, kind: &str, handler: Arc<dyn ReceiptHandler>) {
        self.outbox.register_handler(kind, handler);
    }

    #[cfg_attr(
        not(any(feature = "attendance", feature = "approval", feature = "push")),
        allow(dead_code, reason = "only attendance, approval and push act after a sync so far")
    )]
    pub(crate) fn on_after_sync(&self, hook: Arc<dyn AfterSync>) {
        self.after_sync.write().unwrap_or_else(|p| p.into_inner()).push(hook);
    }

    /// What wakes the background sync early.
    pub(crate) fn kicker(&self) -> Arc<Notify> {
        Arc::clone(&self.kick)
    }

    /// Asks the background sync to run soon.
    pub(crate) fn kick(&self) {
        self.kick.notify_one();
    }

    pub(crate) async fn status(&self) -> Result<OutboxStatus, CommonError> {
        Ok(self.outbox.status().await?)
    }

    /// Removes a dead item the person has seen.
    pub(crate) async fn discard_dead(&self, item_id: &str) -> Result<(), CommonError> {
        self.outbox.discard_dead(item_id.to_owned()).await?;
        self.changed().await;
        Ok(())
    }

    /// Tells the app the queue's counts (after an item was added or removed).
    pub(crate) async fn changed(&self) {
        if let Ok(s) = self.outbox.status().await {
            self.events.emit(Event::OutboxChanged { pending: s.pending, dead: s.dead });
        }
    }

    /// Waits for a running sync to finish (the client closing).
    pub(crate) async fn quiesce(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.sync_lock.lock().await
    }

    /// One pass over the queue. `force` ignores back-off times. If delivery stopped on
    /// an error (offline, server down), that error is returned and the items stay.
    pub(crate) async fn sync(&self, force: bool) -> Result<SyncReport, CommonError> {
        self.account.check_open()?;
        let _guard = self.sync_lock.lock().await;
        self.account.active()?;
        self.events.emit(Event::SyncStarted);
        let clock = || self.account.server_now_ms();
        let result = self.outbox.sync(&Deliver(&self.account), &clock, force).await;
        // Whatever settled before an error is told now.
        let hooks = self.after_sync.read().unwrap_or_else(|p| p.into_inner()).clone();
        for hook in hooks {
            hook.after_sync(&self.outbox).await;
        }
        let (report, stopped_by) = match result {
            Ok(o) => (o.report, o.stopped_by),
            Err(e) => {
                self.changed().await;
                return Err(e.into());
            }
        };
        self.events.emit(Event::SyncFinished {
            sent: report.sent,
            failed: report.failed,
            pending: report.pending,
            dead: report.dead,
        });
        if report.sent + report.failed > 0 {
            self.events.emit(Event::OutboxChanged { pending: report.pending, dead: report.dead });
        }
        match stopped_by {
            Some(e) => Err(e.into()),
            None => Ok(report),
        }
    }
}

/// Delivers outbox items as authenticated requests with their stored idempotency key.
struct Deliver<'a>(&'a Account);

impl ItemSender for Deliver<'_> {
    fn send<'a>(&'a self, item: &'a OutboxItem) -> SendFuture<'a> {
        Box::pin(async move {
            let method = Method::parse(&item.method).ok_or_else(|| {
                CommonError::Internal(format!("outbox item {} has method {}", item.id, item.method)).into_delivery()
            })?;
            let body = self
                .0
                .authed(method, &item.path, Some(item.body.clone().into_bytes()), Some(item.idempotency_key.clone()))
                .await
                .map_err(CommonError::into_delivery)?;
            parse_json::<Receipt>(&body, "Receipt").map_err(DeliveryError::Net)
        })
    }
}
