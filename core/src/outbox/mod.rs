//! The outbox: a durable, ordered queue of requests that must reach the server.
//!
//! A capability module writes its local change and its outbox item in ONE SQLite
//! transaction ([`enqueue_in`]), so neither exists without the other. [`Outbox::sync`]
//! sends items oldest first, each with the idempotency key stored beside it: after a
//! crash, resending is safe because the server answers a repeated key with its first
//! reply. An item leaves the queue only with the server's receipt, in the same
//! transaction that hands the receipt to its owner module ([`ReceiptHandler`]). A
//! permanent refusal moves it to `dead`, visible with its reason, never silently dropped.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use rusqlite::{Connection, Row, Transaction, params};
use taipei_protocol::api::{Receipt, codes};

use crate::net::{self, NetError, RetryPolicy};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Delivery stopped: nothing can be sent now (device revoked, signer broken, ...).
    #[error(transparent)]
    Delivery(DeliveryError),
    #[error("the outbox item is invalid: {0}")]
    BadItem(String),
    #[error("the {kind} module could not take its receipt: {message}")]
    Handler { kind: String, message: String },
    #[error("no outbox item {0}")]
    NotFound(String),
}

impl OutboxError {
    pub fn code(&self) -> &str {
        match self {
            Self::Store(e) => e.code(),
            Self::Delivery(e) => e.code(),
            Self::BadItem(_) => "outbox_bad_item",
            Self::Handler { .. } => "outbox_handler",
            Self::NotFound(_) => "outbox_not_found",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    Pending,
    /// Refused for good by the server; kept so the person can see why.
    Dead,
}

/// What a module asks to send.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    /// The owning module's kind, e.g. `report`; selects the receipt handler.
    pub kind: String,
    /// `POST` (the only state-changing method of the API).
    pub method: String,
    pub path: String,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: String,
    pub kind: String,
    pub method: String,
    pub path: String,
    /// JSON text of the request body.
    pub body: String,
    pub idempotency_key: String,
    pub created_at_ms: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The stable code of the last failure (the server's refusal code for a dead item),
    /// kept apart from the words so nobody has to read it back out of them.
    pub last_code: Option<String>,
    pub next_attempt_at_ms: i64,
    pub state: ItemState,
}

/// Why the server refused an item for good: its stable code and words for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: String,
    pub message: String,
}

/// Counts and items, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStatus {
    pub pending: u32,
    pub dead: u32,
    pub items: Vec<OutboxItem>,
}

/// What one sync pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncReport {
    pub sent: u32,
    pub failed: u32,
    pub pending: u32,
    pub dead: u32,
}

/// A pass's result, and the error that stopped it early (the item keeps its place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub report: SyncReport,
    pub stopped_by: Option<DeliveryError>,
}

/// The owner module's side of delivery. Both calls run inside the transaction that
/// removes (or kills) the item: write the module's own consequences there.
pub trait ReceiptHandler: Send + Sync {
    fn on_receipt(&self, tx: &Transaction<'_>, item: &OutboxItem, receipt: &Receipt) -> Result<(), OutboxError>;
    fn on_rejected(&self, tx: &Transaction<'_>, item: &OutboxItem, rejection: &Rejection) -> Result<(), OutboxError>;
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Receipt, DeliveryError>> + Send + 'a>>;

/// Why one delivery failed. The outbox tells only a request that failed on the wire or
/// was refused by the server (retried or killed by its code) from anything else, which
/// stops the pass; the sender's own error rides along unchanged for its caller, so the
/// outbox needs no error type but its own.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Net(NetError),
    /// Nothing can be sent now (no device, a revoked one, a broken signer, closed).
    #[error("{source}")]
    Stop { code: String, source: Arc<dyn std::error::Error + Send + Sync> },
}

impl DeliveryError {
    pub fn code(&self) -> &str {
        match self {
            Self::Net(e) => e.code(),
            Self::Stop { code, .. } => code,
        }
    }
}

impl PartialEq for DeliveryError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Net(a), Self::Net(b)) => a == b,
            (Self::Stop { code: a, source: x }, Self::Stop { code: b, source: y }) => {
                a == b && x.to_string() == y.to_string()
            }
            _ => false,
        }
    }
}

impl Eq for DeliveryError {}

/// Delivers one item (authenticated, with its idempotency key) and returns the receipt.
pub trait ItemSender: Send + Sync {
    fn send<'a>(&'a self, item: &'a OutboxItem) -> SendFuture<'a>;
}

/// Queues `item` inside the caller's transaction; returns the item id.
pub fn enqueue_in(tx: &Transaction<'_>, item: &NewItem, now_ms: i64) -> Result<String, OutboxError> {
    if net::Method::parse(&item.method).is_none() || !item.path.starts_with("/v1/") || item.kind.is_empty() {
        return Err(OutboxError::BadItem(format!(
            "{} {} ({}): needs a kind, GET/POST and a /v1/ path",
            item.method, item.path, item.kind
        )));
    }
    let id = net::new_idempotency_key();
    let key = net::new_idempotency_key();
    let body = serde_json::to_string(&item.body).map_err(|e| OutboxError::BadItem(e.to_string()))?;
    tx.execute(
        "INSERT INTO outbox_item (id, kind, method, path, body, idempotency_key, created_at_ms, next_attempt_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![id, item.kind, item.method, item.path, body, key, now_ms],
    )
    .map_err(StoreError::from)?;
    Ok(id)
}

const COLUMNS: &str = "id, kind, method, path, body, idempotency_key, created_at_ms, attempts, last_error,
                       next_attempt_at_ms, state, last_code";

fn item_from_row(r: &Row<'_>) -> rusqlite::Result<OutboxItem> {
    let state: String = r.get(10)?;
    Ok(OutboxItem {
        id: r.get(0)?,
        kind: r.get(1)?,
        method: r.get(2)?,
        path: r.get(3)?,
        body: r.get(4)?,
        idempotency_key: r.get(5)?,
        created_at_ms: r.get(6)?,
        attempts: r.get(7)?,
        last_error: r.get(8)?,
        last_code: r.get(11)?,
        next_attempt_at_ms: r.get(9)?,
        state: if state == "dead" { ItemState::Dead } else { ItemState::Pending },
    })
}

fn items(conn: &Connection, state: &str) -> Result<Vec<OutboxItem>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM outbox_item WHERE state = ?1 ORDER BY seq"))?;
    let rows = stmt.query_map([state], item_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn counts(conn: &Connection) -> Result<(u32, u32), StoreError> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'dead'), 0) FROM outbox_item",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// How the queue treats one failed delivery.
#[derive(Debug, PartialEq, Eq)]
enum Disposition {
    /// Try again later (keeps its place; later items wait behind it).
    Retry,
    /// The server refuses this item for good.
    Dead,
    /// Nothing can be delivered now (device revoked, bad configuration): stop, report.
    Stop,
}

fn disposition(e: &DeliveryError) -> Disposition {
    match e {
        DeliveryError::Net(e) => net_disposition(e),
        DeliveryError::Stop { .. } => Disposition::Stop,
    }
}

fn net_disposition(e: &NetError) -> Disposition {
    match e {
        NetError::Config(_) => Disposition::Stop,
        NetError::Server { code, .. } if code == codes::DEVICE_REVOKED || code == codes::UNKNOWN_DEVICE => {
            Disposition::Stop
        }
        NetError::Server { status, code, .. } if (400..500).contains(status) => {
            let not_the_items_fault = [
                codes::UNAUTHORIZED,
                codes::INVALID_TOKEN,
                codes::INVALID_DPOP_PROOF,
                codes::REPLAYED_PROOF,
                codes::CLOCK_SKEW,
                codes::REQUEST_IN_PROGRESS,
            ];
            if not_the_items_fault.contains(&code.as_str()) || *status == 408 || *status == 429 {
                Disposition::Retry
            } else {
                Disposition::Dead
            }
        }
        _ => Disposition::Retry,
    }
}

/// The queue of one profile.
pub struct Outbox {
    store: Arc<Store>,
    handlers: Arc<RwLock<HashMap<String, Arc<dyn ReceiptHandler>>>>,
    backoff: RetryPolicy,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("backoff", &self.backoff).finish_non_exhaustive()
    }
}

impl Outbox {
    /// `backoff` spaces out the retries of a failing item (its `max_attempts` is unused:
    /// an item is never given up for transient failures).
    pub fn new(store: Arc<Store>, backoff: RetryPolicy) -> Self {
        Self { store, handlers: Arc::default(), backoff }
    }

    pub fn register_handler(&self, kind: &str, handler: Arc<dyn ReceiptHandler>) {
        self.handlers.write().unwrap_or_else(|p| p.into_inner()).insert(kind.to_owned(), handler);
    }

    fn handler(&self, kind: &str) -> Option<Arc<dyn ReceiptHandler>> {
        self.handlers.read().unwrap_or_else(|p| p.into_inner()).get(kind).cloned()
    }

    pub async fn status(&self) -> Result<OutboxStatus, OutboxError> {
        self.store
            .call(|s| {
                s.read(|c| {
                    let (pending, dead) = counts(c)?;
                    let mut all = items(c, "pending")?;
                    all.extend(items(c, "dead")?);
                    Ok::<_, OutboxError>(OutboxStatus { pending, dead, items: all })
                })
            })
            .await
    }

    /// Removes a dead item the person has seen; pending items cannot be discarded.
    pub async fn discard_dead(&self, id: String) -> Result<(), OutboxError> {
        self.store
            .call(move |s| {
                s.write(|tx| {
                    let n = tx
                        .execute("DELETE FROM outbox_item WHERE id = ?1 AND state = 'dead'", [&id])
                        .map_err(StoreError::from)?;
                    if n == 0 { Err(OutboxError::NotFound(id.clone())) } else { Ok(()) }
                })
            })
            .await
    }

    /// One pass over the pending items, oldest first. `force` ignores back-off times
    /// (the person asked to sync now). Stops at the first item that must wait, so
    /// items always reach the server in the order they were made.
    pub async fn sync(&self, sender: &dyn ItemSender, now_ms: &(dyn Fn() -> i64 + Sync), force: bool) -> Result<SyncOutcome, OutboxError> {
        let queue = self.store.call(|s| s.read(|c| items(c, "pending"))).await?;
        let mut report = SyncReport::default();
        let mut stop: Option<OutboxError> = None;
        let mut stopped_by = None;
        for item in queue {
            if !force && item.next_attempt_at_ms > now_ms() {
                break;
            }
            match sender.send(&item).await {
                Ok(receipt) => {
                    self.settle(item, Ok(receipt)).await?;
                    report.sent += 1;
                }
                Err(e) => {
                    report.failed += 1;
                    let d = disposition(&e);
                    tracing::info!(kind = %item.kind, error = %e, disposition = ?d, "outbox delivery failed");
                    match d {
                        Disposition::Dead => {
                            let rejection = Rejection { code: e.code().to_owned(), message: e.to_string() };
                            self.settle(item, Err(rejection)).await?;
                        }
                        Disposition::Retry | Disposition::Stop => {
                            let next = now_ms().saturating_add(
                                i64::try_from(self.backoff.delay_ms(item.attempts + 1, net::jitter_unit())).unwrap_or(i64::MAX),
                            );
                            let (id, text, code) = (item.id.clone(), e.to_string(), e.code().to_owned());
                            self.store
                                .call(move |s| {
                                    s.write(|tx| {
                                        tx.execute(
                                            "UPDATE outbox_item SET attempts = attempts + 1, last_error = ?2,
                                                 next_attempt_at_ms = ?3, last_code = ?4 WHERE id = ?1",
                                            params![id, text, next, code],
                                        )
                                        .map_err(StoreError::from)
                                    })
                                })
                                .await?;
                            if d == Disposition::Stop {
                                stop = Some(OutboxError::Delivery(e));
                            } else {
                                stopped_by = Some(e);
                            }
                            break;
                        }
                    }
                }
            }
        }
        let (pending, dead) = self.store.call(|s| s.read(counts)).await?;
        report.pending = pending;
        report.dead = dead;
        match stop {
            Some(e) => Err(e),
            None => Ok(SyncOutcome { report, stopped_by }),
        }
    }

    /// Hands the outcome to the owner module and removes (or kills) the item, atomically.
    async fn settle(&self, item: OutboxItem, outcome: Result<Receipt, Rejection>) -> Result<(), OutboxError> {
        let handler = self.handler(&item.kind);
        self.store
            .call(move |s| {
                s.write(|tx| {
                    match &outcome {
                        Ok(receipt) => {
                            if let Some(h) = &handler {
                                h.on_receipt(tx, &item, receipt)?;
                            }
                            tx.execute("DELETE FROM outbox_item WHERE id = ?1", [&item.id])
                                .map_err(StoreError::from)?;
                        }
                        Err(rejection) => {
                            if let Some(h) = &handler {
                                h.on_rejected(tx, &item, rejection)?;
                            }
                            tx.execute(
                                "UPDATE outbox_item SET state = 'dead', attempts = attempts + 1, last_error = ?2,
                                     last_code = ?3 WHERE id = ?1",
                                params![item.id, rejection.message, rejection.code],
                            )
                            .map_err(StoreError::from)?;
                        }
                    }
                    Ok::<_, OutboxError>(())
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::FileSecretStore;
    use std::sync::Mutex;

    fn open(dir: &std::path::Path) -> Arc<Store> {
        Arc::new(Store::open(&dir.join("p.db"), &FileSecretStore::new(dir.join("s")).unwrap(), "k").unwrap())
    }

    fn item(n: u32) -> NewItem {
        NewItem { kind: "test".into(), method: "POST".into(), path: "/v1/things".into(), body: serde_json::json!({ "n": n }) }
    }

    fn enqueue(store: &Store, n: u32) -> String {
        store.write(|tx| enqueue_in(tx, &item(n), 1_000)).unwrap()
    }

    fn receipt(id: &str) -> Receipt {
        Receipt { id: id.into(), server_time_ms: 5, status: "accepted".into(), reason: None, code: None, late: false }
    }

    fn server(status: u16, code: &str) -> NetError {
        NetError::Server { status, code: code.into(), message: "m".into(), tries_left: None }
    }

    /// Answers from a script, one entry per send; records what it saw.
    struct Script {
        answers: Mutex<Vec<Result<Receipt, DeliveryError>>>,
        seen: Mutex<Vec<(String, String)>>,
    }

    impl Script {
        fn new(answers: Vec<Result<Receipt, NetError>>) -> Self {
            let mut answers: Vec<_> = answers.into_iter().map(|a| a.map_err(DeliveryError::Net)).collect();
            answers.reverse();
            Self { answers: Mutex::new(answers), seen: Mutex::new(Vec::new()) }
        }
        fn bodies(&self) -> Vec<String> {
            self.seen.lock().unwrap().iter().map(|(b, _)| b.clone()).collect()
        }
    }

    impl ItemSender for Script {
        fn send<'a>(&'a self, item: &'a OutboxItem) -> SendFuture<'a> {
            self.seen.lock().unwrap().push((item.body.clone(), item.idempotency_key.clone()));
            let answer = self.answers.lock().unwrap().pop().unwrap_or_else(|| Ok(receipt("r")));
            Box::pin(async move { answer })
        }
    }

    #[derive(Default)]
    struct Ledger(Mutex<Vec<String>>);

    impl ReceiptHandler for Ledger {
        fn on_receipt(&self, tx: &Transaction<'_>, item: &OutboxItem, r: &Receipt) -> Result<(), OutboxError> {
            // Proves the handler runs inside the deleting transaction.
            let n: i64 = tx
                .query_row("SELECT count(*) FROM outbox_item WHERE id = ?1", [&item.id], |r| r.get(0))
                .map_err(StoreError::from)?;
            assert_eq!(n, 1);
            self.0.lock().unwrap().push(format!("ok {} {}", item.body, r.id));
            Ok(())
        }
        fn on_rejected(&self, _tx: &Transaction<'_>, item: &OutboxItem, r: &Rejection) -> Result<(), OutboxError> {
            self.0.lock().unwrap().push(format!("rejected {} {}", item.body, r.code));
            Ok(())
        }
    }

    fn clock() -> impl Fn() -> i64 + Sync {
        || 2_000
    }

    #[tokio::test]
    async fn items_go_in_order_and_leave_only_with_a_receipt() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for n in 0..3 {
            enqueue(&store, n);
        }
        let outbox = Outbox::new(store.clone(), RetryPolicy::default());
        let ledger = Arc::new(Ledger::default());
        outbox.register_handler("test", ledger.clone());
        let script = Script::new(vec![Ok(receipt("a")), Err(NetError::Unreachable("down".into()))]);
        let outcome = outbox.sync(&script, &clock(), false).await.unwrap();
        assert_eq!(outcome.report, SyncReport { sent: 1, failed: 1, pending: 2, dead: 0 });
        assert_eq!(outcome.stopped_by.unwrap().code(), "unreachable");
        assert_eq!(script.bodies(), vec![r#"{"n":0}"#, r#"{"n":1}"#], "stops at the failing item");
        let status = outbox.status().await.unwrap();
        assert_eq!(status.items[0].attempts, 1);
        assert!(status.items[0].last_error.as_deref().unwrap().contains("down"));
        assert!(status.items[0].next_attempt_at_ms > 2_000, "backs off");

        // Not yet due: a background pass sends nothing; a forced one sends all, with the
        // same idempotency key as before.
        let idle = Script::new(vec![]);
        assert_eq!(outbox.sync(&idle, &clock(), false).await.unwrap().report.sent, 0);
        let all = Script::new(vec![]);
        let report = outbox.sync(&all, &clock(), true).await.unwrap().report;
        assert_eq!(report, SyncReport { sent: 2, failed: 0, pending: 0, dead: 0 });
        assert_eq!(script.seen.lock().unwrap()[1].1, all.seen.lock().unwrap()[0].1);
        assert_eq!(ledger.0.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn permanent_refusals_become_visible_dead_items() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        enqueue(&store, 0);
        enqueue(&store, 1);
        let outbox = Outbox::new(store.clone(), RetryPolicy::default());
        let ledger = Arc::new(Ledger::default());
        outbox.register_handler("test", ledger.clone());
        let script = Script::new(vec![Err(server(400, "bad_request")), Ok(receipt("b"))]);
        let outcome = outbox.sync(&script, &clock(), false).await.unwrap();
        assert_eq!(outcome.report, SyncReport { sent: 1, failed: 1, pending: 0, dead: 1 });
        assert_eq!(outcome.stopped_by, None, "a dead item does not stop the pass");
        let status = outbox.status().await.unwrap();
        assert_eq!(status.items.len(), 1);
        assert_eq!(status.items[0].state, ItemState::Dead);
        assert_eq!(status.items[0].last_code.as_deref(), Some("bad_request"), "the code is a column of its own");
        assert!(status.items[0].last_error.as_deref().unwrap().contains("refused"), "{:?}", status.items[0].last_error);
        assert_eq!(ledger.0.lock().unwrap()[0], r#"rejected {"n":0} bad_request"#);
        // Dead items are not resent; the person can discard one they have seen.
        assert_eq!(outbox.sync(&Script::new(vec![]), &clock(), true).await.unwrap().report.sent, 0);
        outbox.discard_dead(status.items[0].id.clone()).await.unwrap();
        assert!(matches!(outbox.discard_dead("nope".into()).await, Err(OutboxError::NotFound(_))));
    }

    #[tokio::test]
    async fn auth_and_clock_trouble_retry_and_revocation_stops() {
        for code in [codes::INVALID_TOKEN, codes::CLOCK_SKEW, codes::REQUEST_IN_PROGRESS] {
            assert_eq!(net_disposition(&server(401, code)), Disposition::Retry);
        }
        assert_eq!(net_disposition(&server(500, "internal")), Disposition::Retry);
        assert_eq!(net_disposition(&server(503, "http_503")), Disposition::Retry);
        assert_eq!(net_disposition(&server(422, "signature_invalid")), Disposition::Dead);
        assert_eq!(net_disposition(&NetError::MalformedReply("x".into())), Disposition::Retry);
        let signer = crate::identity::IdentityError::BadSigner("x".into());
        let broken = DeliveryError::Stop { code: signer.code().to_owned(), source: Arc::new(signer) };
        assert_eq!(disposition(&broken), Disposition::Stop);

        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        enqueue(&store, 0);
        let outbox = Outbox::new(store, RetryPolicy::default());
        let script = Script::new(vec![Err(server(403, codes::DEVICE_REVOKED))]);
        let err = outbox.sync(&script, &clock(), true).await.unwrap_err();
        assert_eq!(err.code(), codes::DEVICE_REVOKED);
        assert_eq!(outbox.status().await.unwrap().pending, 1, "kept, not killed");
    }

    #[tokio::test]
    async fn enqueue_is_part_of_the_callers_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let failed: Result<(), OutboxError> = store.write(|tx| {
            enqueue_in(tx, &item(1), 0)?;
            Err(OutboxError::BadItem("the caller's own change failed".into()))
        });
        assert!(failed.is_err());
        let outbox = Outbox::new(store.clone(), RetryPolicy::default());
        assert_eq!(outbox.status().await.unwrap().pending, 0, "rolled back together");
        let bad = NewItem { path: "http://elsewhere".into(), ..item(1) };
        assert!(matches!(store.write(|tx| enqueue_in(tx, &bad, 0)), Err(OutboxError::BadItem(_))));
    }
}
