//! One SQLite file per profile: opening, schema migrations, sealed columns.
//!
//! Opening never destroys anything: a file that is not ours, is damaged, is newer than
//! this build, or whose data key does not fit is reported as a typed error and left
//! exactly as it was, so the app can tell the person instead of silently wiping data.

pub mod migrations;
pub mod seal;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension as _, Transaction, TransactionBehavior};

pub use seal::{DataKey, SealContext};

use crate::secrets::{SecretError, SecretStore};

/// `PRAGMA application_id` of a profile database ("TPC1"): tells our files from any
/// other SQLite file a person or another app might leave at the same path.
pub const APPLICATION_ID: i32 = 0x5450_4331;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const KEY_CHECK: &str = "key_check";
const KEY_CHECK_PLAIN: &[u8] = b"taipei-core data key check";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the profile database has schema version {found}, newer than this app knows ({known}); update the app (the file was left untouched)")]
    TooNew { found: u32, known: u32 },
    #[error("the file is not a profile database of this app: {0} (it was left untouched)")]
    NotOurs(String),
    #[error("the profile database is damaged: {0} (it was left untouched)")]
    Corrupt(String),
    #[error("the profile's data key does not open this database: {0} (nothing was deleted)")]
    WrongKey(String),
    #[error("a sealed value cannot be opened: {0}")]
    Unseal(String),
    #[error("encryption failed: {0}")]
    Crypto(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("migration {version} (owner: {owner}) failed: {message}")]
    Migration { version: u32, owner: &'static str, message: String },
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("file error: {0}")]
    Io(String),
    #[error("the store is closed")]
    Closed,
    #[error("a stored row is invalid: {0}")]
    BadRow(String),
    #[error("the profile database {0} is already open in this process; close that client first")]
    InUse(String),
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooNew { .. } => "store_too_new",
            Self::NotOurs(_) => "store_not_ours",
            Self::Corrupt(_) => "store_corrupt",
            Self::WrongKey(_) => "store_wrong_key",
            Self::Unseal(_) => "store_unseal",
            Self::Crypto(_) => "store_crypto",
            Self::Secret(_) => "secret_store",
            Self::Migration { .. } => "store_migration",
            Self::Sqlite(_) => "store_sqlite",
            Self::Io(_) => "store_io",
            Self::Closed => "store_closed",
            Self::BadRow(_) => "store_bad_row",
            Self::InUse(_) => "store_in_use",
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt) => Self::Corrupt(e.to_string()),
            Some(ErrorCode::NotADatabase) => Self::NotOurs(e.to_string()),
            _ => Self::Sqlite(e.to_string()),
        }
    }
}

/// An open profile database. Blocking: async code reaches it through [`Store::call`].
pub struct Store {
    conn: Mutex<Option<Connection>>,
    key: DataKey,
    path: PathBuf,
    claim: Mutex<Option<Claim>>,
}

/// The files open in this process. SQLite would let two connections of one process
/// write the same file, but two `Store`s would each believe their cache (session,
/// presence, counters) is the truth; one writer per file is the rule.
static OPEN_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// This process's hold on one file, given back on close or drop.
#[derive(Debug)]
struct Claim(PathBuf);

impl Claim {
    fn take(path: &Path) -> Result<Self, StoreError> {
        // The file exists by now, so the canonical path names it whatever way it was reached.
        let path = std::fs::canonicalize(path).map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        let mut open = OPEN_FILES.lock().unwrap_or_else(|p| p.into_inner());
        if open.contains(&path) {
            return Err(StoreError::InUse(path.display().to_string()));
        }
        open.push(path.clone());
        Ok(Self(path))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        OPEN_FILES.lock().unwrap_or_else(|p| p.into_inner()).retain(|p| p != &self.0);
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

/// What the first bytes of every SQLite 3 file are.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

fn check_header(path: &Path) -> Result<(), StoreError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::Io(format!("{}: {e}", path.display()))),
    };
    let mut head = Vec::with_capacity(16);
    file.by_ref()
        .take(16)
        .read_to_end(&mut head)
        .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
    if head.is_empty() {
        return Ok(()); // an empty file is what a crash during creation leaves
    }
    if head.as_slice() != SQLITE_MAGIC {
        return Err(StoreError::NotOurs(format!("{} is not an SQLite database", path.display())));
    }
    Ok(())
}

fn pragma_i64(conn: &Connection, name: &str) -> Result<i64, StoreError> {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).map_err(|e| match StoreError::from(e) {
        StoreError::Sqlite(m) => StoreError::Corrupt(m),
        other => other,
    })
}

/// Refuses anything but a fresh file or one of ours at a version we know. Reads only.
fn check_identity(conn: &Connection) -> Result<u32, StoreError> {
    let app_id = pragma_i64(conn, "application_id")?;
    let version = pragma_i64(conn, "user_version")?;
    if app_id == 0 {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if tables != 0 || version != 0 {
            return Err(StoreError::NotOurs("an SQLite database of another application".into()));
        }
    } else if app_id != i64::from(APPLICATION_ID) {
        return Err(StoreError::NotOurs(format!("SQLite application id {app_id:#x} is not ours")));
    }
    let found = u32::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("schema version {version} is out of range")))?;
    let known = migrations::latest();
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    Ok(found)
}

fn migrate(conn: &mut Connection, from: u32) -> Result<(), StoreError> {
    for m in migrations::MIGRATIONS.iter().filter(|m| m.version > from) {
        let fail = |e: rusqlite::Error| StoreError::Migration {
            version: m.version,
            owner: m.owner,
            message: e.to_string(),
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(fail)?;
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(fail)?;
        tx.pragma_update(None, "user_version", m.version).map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::debug!(version = m.version, owner = m.owner, "applied migration");
    }
    Ok(())
}

/// Fetches (or on a fresh database creates) the data key and proves it opens this file.
fn load_key(conn: &Connection, secrets: &dyn SecretStore, key_name: &str) -> Result<DataKey, StoreError> {
    let check: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM store_meta WHERE name = ?1", [KEY_CHECK], |r| r.get(0))
        .optional()?;
    let ctx = SealContext { table: "store_meta", column: "value", row: KEY_CHECK };
    let stored = secrets.get(key_name)?;
    match (stored, check) {
        (Some(bytes), Some(check)) => {
            let key = DataKey::from_bytes(&bytes)?;
            match key.unseal(ctx, &check) {
                Ok(plain) if plain == KEY_CHECK_PLAIN => Ok(key),
                _ => Err(StoreError::WrongKey(format!(
                    "the key named {key_name} in the secret store belongs to another database"
                ))),
            }
        }
        (None, Some(_)) => Err(StoreError::WrongKey(format!(
            "the secret store holds no key named {key_name}; the sealed data cannot be opened"
        ))),
        (stored, None) => {
            let bytes = match stored {
                Some(b) => b,
                None => {
                    let b = DataKey::generate_bytes()?;
                    secrets.put(key_name, &b)?;
                    b
                }
            };
            let key = DataKey::from_bytes(&bytes)?;
            let sealed = key.seal(ctx, KEY_CHECK_PLAIN)?;
            conn.execute("INSERT INTO store_meta (name, value) VALUES (?1, ?2)", rusqlite::params![KEY_CHECK, sealed])?;
            Ok(key)
        }
    }
}

/// Where a profile's database lives and the name of its data key in the secret store:
/// the client and the light push entry point (which opens the store without a client)
/// must agree on both.
/// A profile name is 1-64 of `[A-Za-z0-9_-]` (it names a file); anything else is refused
/// with words for people.
pub fn profile_location(data_dir: &Path, profile: &str) -> Result<(PathBuf, String), String> {
    let ok = !profile.is_empty()
        && profile.len() <= 64
        && profile.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(format!("profile name {profile:?} must be 1-64 of [A-Za-z0-9_-]"));
    }
    Ok((data_dir.join(format!("{profile}.db")), format!("taipei-core.{profile}.data-key")))
}

impl Store {
    /// Opens (creating if absent) the profile database at `path`. Blocking.
    pub fn open(path: &Path, secrets: &dyn SecretStore, key_name: &str) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Io(format!("{}: {e}", parent.display())))?;
        }
        check_header(path)?;
        let mut conn = Connection::open(path)?;
        let claim = Claim::take(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Identity first, before any pragma that writes (WAL changes the header).
        let version = check_identity(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a committed outbox item survives power loss, not only a crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn, version)?;
        let key = load_key(&conn, secrets, key_name)?;
        Ok(Self { conn: Mutex::new(Some(conn)), key, path: path.to_path_buf(), claim: Mutex::new(Some(claim)) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn key(&self) -> &DataKey {
        &self.key
    }

    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        // A panic while holding the lock leaves SQLite itself consistent (transactions
        // roll back on drop), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the connection (reads, or writes that manage their own transaction).
    pub fn read<T, E: From<StoreError>>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E> {
        let guard = self.lock();
        let conn = guard.as_ref().ok_or(StoreError::Closed)?;
        f(conn)
    }

    /// Runs `f` inside one IMMEDIATE transaction, committed only if `f` succeeds.
    pub fn write<T, E: From<StoreError>>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E> {
        let mut guard = self.lock();
        let conn = guard.as_mut().ok_or(StoreError::Closed)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let value = f(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Runs blocking store work on tokio's blocking pool, off the async workers.
    pub async fn call<T, E>(self: &Arc<Self>, f: impl FnOnce(&Store) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| E::from(StoreError::Io(format!("store task failed: {e}"))))?
    }

    /// Closes the connection; later calls fail with [`StoreError::Closed`].
    pub fn close(&self) -> Result<(), StoreError> {
        if let Some(conn) = self.lock().take() {
            conn.close().map_err(|(_, e)| StoreError::from(e))?;
        }
        self.claim.lock().unwrap_or_else(|p| p.into_inner()).take();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::FileSecretStore;

    fn secrets(dir: &Path) -> FileSecretStore {
        FileSecretStore::new(dir.join("secrets")).unwrap()
    }

    fn file_bytes(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    #[test]
    fn a_second_store_on_the_same_file_is_refused_until_the_first_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let first = Store::open(&path, &secrets(dir.path()), "k").unwrap();
        // Another spelling of the same file is the same file.
        let other = dir.path().join(".").join("p.db");
        let err = Store::open(&other, &secrets(dir.path()), "k").unwrap_err();
        assert!(matches!(err, StoreError::InUse(_)), "{err:?}");
        assert_eq!(err.code(), "store_in_use");
        first.close().unwrap();
        let second = Store::open(&path, &secrets(dir.path()), "k").unwrap();
        drop(second);
        Store::open(&path, &secrets(dir.path()), "k").unwrap();
    }

    /// A profile written by a build that knew only the first six steps (the schema
    /// phones had before outbox codes were a column) opens, migrates, and keeps its rows.
    #[test]
    fn a_file_of_an_earlier_schema_migrates_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        {
            let conn = Connection::open(&path).unwrap();
            for m in &migrations::MIGRATIONS[..6] {
                conn.execute_batch(m.sql).unwrap();
            }
            conn.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
            conn.pragma_update(None, "user_version", 6).unwrap();
            conn.execute_batch(
                "INSERT INTO outbox_item (id, kind, method, path, body, idempotency_key, created_at_ms,
                     next_attempt_at_ms, state, last_error)
                 VALUES ('o1', 'meeting_sign_in', 'POST', '/v1/x', '{}', 'k1', 1, 1, 'dead', 'refused');
                 INSERT INTO meetings_sign_in (id, mid, slot, signed_at_ms, state, reason)
                 VALUES ('o1', 'm', 3, 1, 'rejected', 'refused');",
            )
            .unwrap();
        }
        let store = Store::open(&path, &secrets(dir.path()), "k").unwrap();
        store
            .read(|c| {
                assert_eq!(pragma_i64(c, "user_version")?, i64::from(migrations::latest()));
                let (error, code): (String, Option<String>) = c
                    .query_row("SELECT last_error, last_code FROM outbox_item WHERE id = 'o1'", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(StoreError::from)?;
                assert_eq!((error.as_str(), code), ("refused", None));
                let (slot, code): (i64, Option<String>) = c
                    .query_row("SELECT slot, code FROM meetings_sign_in WHERE id = 'o1'", [], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(StoreError::from)?;
                assert_eq!((slot, code), (3, None));
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn fresh_database_is_migrated_in_wal_with_our_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let store = Store::open(&path, &secrets(dir.path()), "k").unwrap();
        store
            .read(|c| {
                assert_eq!(pragma_i64(c, "user_version")?, i64::from(migrations::latest()));
                assert_eq!(pragma_i64(c, "application_id")?, i64::from(APPLICATION_ID));
                let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(StoreError::from)?;
                assert_eq!(mode, "wal");
                Ok::<_, StoreError>(())
            })
            .unwrap();
        store.close().unwrap();
        assert_eq!(store.read(|_| Ok::<_, StoreError>(())), Err(StoreError::Closed));
        // Reopening applies nothing and the same key still fits.
        Store::open(&path, &secrets(dir.path()), "k").unwrap();
    }

    #[test]
    fn migrations_resume_from_a_partial_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            migrate_to(&mut conn, 1);
        }
        let store = Store::open(&path, &secrets(dir.path()), "k").unwrap();
        let n: i64 = store
            .read(|c| c.query_row("SELECT count(*) FROM outbox_item", [], |r| r.get(0)).map_err(StoreError::from))
            .unwrap();
        assert_eq!(n, 0);
    }

    fn migrate_to(conn: &mut Connection, version: u32) {
        let tx = conn.transaction().unwrap();
        for m in migrations::MIGRATIONS.iter().take(version as usize) {
            tx.execute_batch(m.sql).unwrap();
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
        tx.pragma_update(None, "user_version", version).unwrap();
        tx.commit().unwrap();
    }

    #[test]
    fn newer_database_is_refused_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        drop(Store::open(&path, &secrets(dir.path()), "k").unwrap());
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", migrations::latest() + 5).unwrap();
            conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
        }
        let before = file_bytes(&path);
        let err = Store::open(&path, &secrets(dir.path()), "k").unwrap_err();
        assert_eq!(err, StoreError::TooNew { found: migrations::latest() + 5, known: migrations::latest() });
        assert!(err.to_string().contains("untouched"));
        assert_eq!(file_bytes(&path), before);
    }

    #[test]
    fn foreign_files_are_refused_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.db");
        std::fs::write(&text, b"just some notes, definitely not a database").unwrap();
        assert!(matches!(Store::open(&text, &secrets(dir.path()), "k"), Err(StoreError::NotOurs(_))));
        assert_eq!(file_bytes(&text), b"just some notes, definitely not a database");

        let other = dir.path().join("other.db");
        {
            let conn = Connection::open(&other).unwrap();
            conn.execute_batch("CREATE TABLE songs (title TEXT)").unwrap();
        }
        let before = file_bytes(&other);
        assert!(matches!(Store::open(&other, &secrets(dir.path()), "k"), Err(StoreError::NotOurs(_))));
        assert_eq!(file_bytes(&other), before);

        let other_app = dir.path().join("other-app.db");
        {
            let conn = Connection::open(&other_app).unwrap();
            conn.pragma_update(None, "application_id", 42).unwrap();
        }
        assert!(matches!(Store::open(&other_app, &secrets(dir.path()), "k"), Err(StoreError::NotOurs(_))));
    }

    #[test]
    fn damaged_database_is_reported_not_wiped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        {
            let store = Store::open(&path, &secrets(dir.path()), "k").unwrap();
            store.read(|c| c.pragma_update(None, "journal_mode", "DELETE").map_err(StoreError::from)).unwrap();
        }
        let mut bytes = file_bytes(&path);
        // Keep the magic, smash the rest of the header and the schema page.
        for b in bytes.iter_mut().skip(16).take(300) {
            *b = 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();
        let err = Store::open(&path, &secrets(dir.path()), "k").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_) | StoreError::NotOurs(_)), "{err:?}");
        assert_eq!(file_bytes(&path), bytes);
    }

    #[test]
    fn wrong_or_missing_data_key_is_refused_and_nothing_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let s = secrets(dir.path());
        drop(Store::open(&path, &s, "k").unwrap());
        let good = s.get("k").unwrap().unwrap();
        s.put("k", &DataKey::generate_bytes().unwrap()).unwrap();
        let err = Store::open(&path, &s, "k").unwrap_err();
        assert!(matches!(err, StoreError::WrongKey(_)), "{err:?}");
        assert!(path.exists());
        s.delete("k").unwrap();
        assert!(matches!(Store::open(&path, &s, "k"), Err(StoreError::WrongKey(_))));
        s.put("k", &good).unwrap();
        Store::open(&path, &s, "k").unwrap();
    }

    #[tokio::test]
    async fn async_calls_run_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("p.db"), &secrets(dir.path()), "k").unwrap());
        let n = store
            .call(|s| s.write(|tx| tx.execute("INSERT INTO store_meta VALUES ('x', x'01')", []).map_err(StoreError::from)))
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}
