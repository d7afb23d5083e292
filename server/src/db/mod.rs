//! The one SQLite file behind the server, and how async handlers reach it.
//!
//! rusqlite is synchronous, so every use goes through [`Db::read`] / [`Db::write`],
//! which run the closure on tokio's blocking pool and never stall the async runtime.
//! A single `Mutex<Connection>` is deliberate for a reference server: it keeps the
//! code obvious, and SQLite allows one writer at a time anyway. A city backend with
//! heavy read traffic would use a pool of read connections beside one writer.

pub mod migrations;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Params, Row, Transaction, TransactionBehavior};

use crate::error::{ApiError, ServerError};

/// Statements the hot paths run on every request (authentication, idempotency, audit,
/// login) go through the connection's prepared-statement cache: compiling a statement
/// costs more than running most of them — on the login load, SQLite's parser took an
/// eighth of the server's CPU before these were cached.
pub trait Cached {
    /// `execute`, with the statement compiled once per connection.
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    /// `query_row`, with the statement compiled once per connection.
    fn row<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// More than the statements of any one request path, so the cache never evicts
/// what the next request of the same kind needs (rusqlite's default is 16).
const STATEMENT_CACHE: usize = 128;

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

impl Db {
    /// Opens (creating if needed) and migrates the database. A schema newer than this
    /// code is refused before anything is written to the file.
    pub fn open(path: &Path) -> Result<Self, ServerError> {
        let shown = path.display().to_string();
        let db_err = |source| ServerError::Database {
            path: shown.clone(),
            source,
        };
        let mut conn = Connection::open(path).map_err(db_err)?;
        migrations::check_version(&conn, &shown)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err)?;
        // A secret overwritten in place (a key sealed at start, a pickup code's row
        // purged) is zeroed rather than left readable in the file's free space.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        migrations::apply(&mut conn, &shown)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ApiError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the connection itself is still
            // sound (an open transaction was rolled back when it was dropped).
            let mut guard = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }

    /// Reads outside any explicit transaction.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
    {
        self.run(move |conn| f(conn)).await
    }

    /// Rewrites the file without its free space and empties the write-ahead log, so
    /// no stale copy of an overwritten value survives anywhere in the file's pages.
    /// `secure_delete` zeroes what this server deletes, but not what an earlier
    /// writer without it left behind in free space.
    pub async fn compact(&self) -> Result<(), ApiError> {
        self.run(|conn| {
            conn.execute_batch("VACUUM")?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if `f` succeeds, rolled
    /// back otherwise. IMMEDIATE takes SQLite's write lock up front, so two writers —
    /// even in two processes sharing the file — can never both read "not done yet" and
    /// both do the work; the second waits (busy timeout) and then sees the first's rows.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, ApiError> + Send + 'static,
    {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}
