//! The database behind the server — an embedded SQLite file or a PostgreSQL server —
//! and how async handlers reach it.
//!
//! The engine is chosen by the database location: `postgres://…` (or `postgresql://…`)
//! is PostgreSQL, anything else a SQLite file path. Both drivers are synchronous, so
//! every use goes through [`Db::read`] / [`Db::write`], which run the closure on tokio's
//! blocking pool and never stall the async runtime (a SQLite read finding the
//! connection free runs in place: see [`Db::read`]). The closures see one [`Conn`]
//! whichever engine is behind it (see `sql.rs`), so every business rule is written once.
//!
//! Writes are serialised on both engines, which is what the stores rely on: a closure
//! that reads "not done yet" and then does the work can never race another writer, in
//! this process or any other. SQLite gets that from `BEGIN IMMEDIATE`; PostgreSQL from a
//! transaction-scoped advisory lock taken first in every write transaction (see
//! [`Db::write`]). Reads run concurrently beside writers on PostgreSQL; on SQLite one
//! `Mutex<Connection>` serves them, deliberately simple for a reference server.

pub mod migrations;
mod pg;
mod sql;
mod sqlite;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, TransactionBehavior};

pub use sql::{Conn, Error, FromValue, OptionalExtension, Params, Result, Row, Rows, Stmt, ToValue, Value};

use crate::error::{ApiError, ServerError};

/// More than the statements of any one request path, so the cache never evicts
/// what the next request of the same kind needs (rusqlite's default is 16).
const STATEMENT_CACHE: usize = 128;

/// The advisory lock every PostgreSQL write transaction holds until it ends: one writer
/// at a time across all server processes on the database, as SQLite's write lock.
const WRITE_LOCK: i64 = 0x7461_6970_6569;

enum Engine {
    Sqlite(Mutex<Connection>),
    Postgres(pg::Pool),
}

/// Whether a database location names a PostgreSQL server rather than a SQLite file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// What a [`Db::run`] closure does: read, write under the write lock, or write with
/// statements that are each safe without it ([`Db::write_atomic`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    Write,
    AtomicWrite,
}

#[derive(Clone)]
pub struct Db {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match *self.engine {
            Engine::Sqlite(_) => "Db(sqlite)",
            Engine::Postgres(_) => "Db(postgres)",
        })
    }
}

/// A database location as it may be shown in messages and logs: a PostgreSQL URL's
/// password (in the user part or as a `password=` parameter) replaced.
pub fn shown_location(location: &str) -> String {
    if !is_postgres_url(location) {
        return location.to_owned();
    }
    let (base, query) = location.split_once('?').map_or((location, None), |(b, q)| (b, Some(q)));
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme && base[scheme + 3..at].contains(':') => {
            let user = base[scheme + 3..at].split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &base[..scheme + 3], &base[at..])
        }
        _ => base.to_owned(),
    };
    match query {
        Some(q) if q.contains("password") => format!("{base}?***"),
        Some(q) => format!("{base}?{q}"),
        None => base,
    }
}

impl Db {
    /// Opens (creating if needed) and migrates the database. A schema newer than this
    /// code is refused before anything is written.
    pub fn open(location: &Path) -> Result<Self, ServerError> {
        let raw = location.to_string_lossy();
        if is_postgres_url(&raw) {
            Self::open_postgres(&raw)
        } else {
            Self::open_sqlite(location)
        }
    }

    fn open_sqlite(path: &Path) -> Result<Self, ServerError> {
        let shown = path.display().to_string();
        let db_err = |source: rusqlite::Error| ServerError::Database {
            path: shown.clone(),
            source: source.into(),
        };
        let mut conn = Connection::open(path).map_err(db_err)?;
        migrations::check_version(migrations::sqlite_version(&conn).map_err(db_err)?, &shown)?;
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
        // The planner's choices do not depend on bound values (the query planner
        // stability guarantee). Without it this build of SQLite (STAT4 compiled in)
        // marks statements whose plan might depend on a parameter — the device lookup
        // every authenticated request makes, a join on the device id — and compiles
        // them again whenever that parameter changes, which is every request from
        // another device: a cached statement was parsed and planned again each time.
        // No ANALYZE statistics are kept, so there is nothing a value could improve.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(db_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        migrations::apply_sqlite(&mut conn, &shown)?;
        Ok(Self {
            engine: Arc::new(Engine::Sqlite(Mutex::new(conn))),
        })
    }

    fn open_postgres(url: &str) -> Result<Self, ServerError> {
        let shown = shown_location(url);
        let pool = pg::Pool::new(url);
        let db_err = |source: Error| ServerError::Database { path: shown.clone(), source };
        {
            let mut lease = pool.lease().map_err(|e| db_err(e.into()))?;
            let pc = &mut *lease;
            let mut tx = pc.client.transaction().map_err(|e| db_err(e.into()))?;
            // Two processes starting together: the second waits, then finds the schema
            // migrated.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).map_err(|e| db_err(e.into()))?;
            let conn = Conn::pg(tx, &mut pc.statements);
            migrations::apply_postgres(&conn, &shown)?;
            if let Some(tx) = conn.into_pg() {
                tx.commit().map_err(|e| db_err(e.into()))?;
            }
            // Statements prepared before the schema changed would describe the old one.
            pc.statements.clear();
        }
        Ok(Self { engine: Arc::new(Engine::Postgres(pool)) })
    }

    /// Which engine this is, for messages and the operator's endpoints.
    pub fn engine_name(&self) -> &'static str {
        match *self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// Runs `f` on the blocking pool, in a transaction on PostgreSQL (taking the write
    /// lock there for [`Mode::Write`]), on the bare connection on SQLite for a read and
    /// in a `BEGIN IMMEDIATE` transaction for either kind of write.
    async fn run<T, F>(&self, mode: Mode, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T, ApiError> + Send + 'static,
    {
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || match &*engine {
            Engine::Sqlite(conn) => {
                // A panic while holding the lock poisons it; the connection itself is
                // still sound (an open transaction was rolled back when it was dropped).
                let mut guard = conn
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if mode != Mode::Read {
                    let tx = guard.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let out = f(&Conn::sqlite(&tx))?;
                    tx.commit()?;
                    Ok(out)
                } else {
                    f(&Conn::sqlite(&guard))
                }
            }
            Engine::Postgres(pool) => {
                let mut lease = pool.lease().map_err(Error::from)?;
                run_pg(&mut lease, mode == Mode::Write, f)
            }
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }

    /// Reads outside any write transaction. On SQLite, when the connection is free,
    /// the read runs right here on the calling task's thread: a read in WAL mode never
    /// waits for the writer nor writes or syncs anything, and an indexed lookup takes
    /// microseconds — less than the two thread wake-ups a trip to the blocking pool
    /// costs (the largest single share of a status poll's CPU). When a write holds the
    /// connection, the read waits for it on the blocking pool as before, so the async
    /// runtime is never stalled behind a commit or a checkpoint's fsync.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T, ApiError> + Send + 'static,
    {
        if let Engine::Sqlite(conn) = &*self.engine {
            let free = match conn.try_lock() {
                Ok(guard) => Some(guard),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            };
            if let Some(guard) = free {
                return f(&Conn::sqlite(&guard));
            }
        }
        self.run(Mode::Read, f).await
    }

    /// One statement on its own, committed as it runs, and its rows: for a write that
    /// is atomic alone and must not queue behind the serialised writers (a shared
    /// rate-limit counter). On PostgreSQL it runs on the pool's asynchronous connection
    /// (`pg::Pipe`): no BEGIN/COMMIT, no write lock, no blocking-pool thread, the
    /// statement prepared once, concurrent callers pipelined — one round trip.
    pub async fn statement(&self, sql: &'static str, params: Vec<Value>) -> Result<Vec<Row>, ApiError> {
        if let Engine::Postgres(pool) = &*self.engine {
            return Ok(pool.pipe.query(sql, &params).await?);
        }
        // Through the blocking pool, not `read`'s in-place path: the statement writes,
        // and a SQLite commit may run a checkpoint and its fsync.
        self.run(Mode::Read, move |c| Ok(c.query_all(sql, params)?)).await
    }

    /// Runs `f` in one write transaction: committed if `f` succeeds, rolled back
    /// otherwise. Only one write transaction runs at a time on the database, so two
    /// writers — even in two processes — can never both read "not done yet" and both do
    /// the work; the second waits and then sees the first's rows. On SQLite that is
    /// `BEGIN IMMEDIATE` (the busy timeout waits); on PostgreSQL an advisory lock taken
    /// as the transaction's first statement, after which each statement (READ
    /// COMMITTED) sees everything committed before it.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T, ApiError> + Send + 'static,
    {
        self.run(Mode::Write, f).await
    }

    /// Runs `f` in one write transaction that does not take the write lock on
    /// PostgreSQL, so such transactions commit side by side rather than one after
    /// another (each holds the lock through its round trips and its commit's flush).
    /// Only for a closure that never reads "not done yet" and then acts on it: each of
    /// its writes must settle a race by itself — an insert a unique key refuses
    /// (`ON CONFLICT DO NOTHING`, its row count read), an update conditional on the row
    /// it changes. On SQLite it is [`Db::write`]: one writer is all SQLite has.
    pub async fn write_atomic<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T, ApiError> + Send + 'static,
    {
        self.run(Mode::AtomicWrite, f).await
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, ApiError> {
        self.read(|conn| Ok(migrations::version(conn)?)).await
    }

    /// Rewrites the storage without its free space, so no stale copy of an overwritten
    /// value survives. On SQLite: VACUUM and an emptied write-ahead log (`secure_delete`
    /// zeroes what this server deletes, but not what an earlier writer without it left
    /// behind). On PostgreSQL: VACUUM, which makes the space of dead rows reusable.
    pub async fn compact(&self) -> Result<(), ApiError> {
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
            match &*engine {
                Engine::Sqlite(conn) => {
                    let conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    conn.execute_batch("VACUUM")?;
                    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
                }
                Engine::Postgres(pool) => {
                    // VACUUM cannot run inside a transaction: straight on the client.
                    pool.lease().map_err(Error::from)?.client.batch_execute("VACUUM").map_err(Error::from)?;
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }
}

/// Runs `f` in one transaction on a connection of its own to the database at
/// `location`, without migrating it: for tools and tests that look at (or doctor) what a
/// server stored. Blocking; on PostgreSQL it must not run on an async runtime's thread.
pub fn with_conn<T>(location: &Path, f: impl FnOnce(&Conn<'_>) -> Result<T>) -> Result<T> {
    let raw = location.to_string_lossy();
    if is_postgres_url(&raw) {
        let mut pc = pg::PgConn { client: postgres::Client::connect(&raw, postgres::NoTls)?, statements: sql::PgStatements::new() };
        let tx = pc.client.transaction()?;
        let conn = Conn::pg(tx, &mut pc.statements);
        let out = f(&conn)?;
        if let Some(tx) = conn.into_pg() {
            tx.commit()?;
        }
        Ok(out)
    } else {
        let mut conn = Connection::open(location)?;
        let tx = conn.transaction()?;
        let out = f(&Conn::sqlite(&tx))?;
        tx.commit()?;
        Ok(out)
    }
}

fn run_pg<T, F>(pc: &mut pg::PgConn, write: bool, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&Conn<'_>) -> Result<T, ApiError>,
{
    let mut tx = pc.client.transaction().map_err(Error::from)?;
    if write {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).map_err(Error::from)?;
    }
    let conn = Conn::pg(tx, &mut pc.statements);
    let out = f(&conn)?;
    if let Some(tx) = conn.into_pg() {
        tx.commit().map_err(Error::from)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::shown_location;

    #[test]
    fn a_postgres_password_is_never_shown() {
        assert_eq!(shown_location("postgres://taipei:s3cret@127.0.0.1:5432/taipei"), "postgres://taipei:***@127.0.0.1:5432/taipei");
        assert_eq!(shown_location("/var/lib/taipei/server.db"), "/var/lib/taipei/server.db");
        assert_eq!(shown_location("postgres://taipei@db/taipei?password=s3cret"), "postgres://taipei@db/taipei?***");
        assert_eq!(shown_location("postgresql://taipei@db/taipei"), "postgresql://taipei@db/taipei");
    }
}
