//! Online backup and restore of the server's SQLite file, with SQLite's backup API.
//!
//! A backup is taken while the server runs, from a connection of its own (this process
//! or another: `taipei server-backup`): the whole database is copied in ONE backup
//! step, which reads inside one read transaction. In WAL mode that snapshot does not
//! stop the server's writers, and it is consistent — every transaction the server
//! committed before the step began is in it, none that began after. (Copying in small
//! steps would let each write by the server restart the copy from the beginning, so a
//! busy server might never be backed up.) A raw `cp` of the file is not a backup: the
//! last commits may still be in the `-wal` file beside it.
//!
//! The copy holds what the database holds: sealed keys (useless without the server's
//! key-encryption key, which is kept apart and must be kept for a restore), hashed
//! tokens and the audit log. It is created owner-only and never over an existing file.
//!
//! Restore copies a backup into a path where no database exists yet, after checking it
//! is whole (`PRAGMA integrity_check`) and of a schema this build can serve; a server
//! started on that path with the same key-encryption key serves the backed-up state.

use std::path::Path;

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use crate::db::migrations;
use crate::error::ServerError;

/// What a backup or restore wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Database pages copied.
    pub pages: i64,
    /// The schema version of the copy.
    pub schema_version: i64,
}

fn db_error(path: &Path) -> impl Fn(rusqlite::Error) -> ServerError + '_ {
    move |source| ServerError::Database { path: path.display().to_string(), source: source.into() }
}

fn backup_error(path: &Path, message: impl Into<String>) -> ServerError {
    ServerError::Backup { path: path.display().to_string(), message: message.into() }
}

/// Creates `path` empty and owner-only, refusing one that exists (with its `-wal`).
fn create_owner_only(path: &Path) -> Result<(), ServerError> {
    for existing in [path.to_path_buf(), sidecar(path, "-wal")] {
        if existing.exists() {
            return Err(backup_error(path, format!("{} exists already; a backup or restore never overwrites a file", existing.display())));
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop).map_err(|e| backup_error(path, format!("cannot create it: {e}")))
}

fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Opens an existing database without creating one where a path was mistyped.
fn open_existing(path: &Path) -> Result<Connection, ServerError> {
    if !path.is_file() {
        return Err(backup_error(path, "no database file there"));
    }
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(db_error(path))
}

/// Copies all of `from` into the new file `to` in one backup step, then checks the copy.
fn copy(from: &Connection, from_path: &Path, to: &Path) -> Result<Copied, ServerError> {
    create_owner_only(to)?;
    let result = (|| {
        let mut dest = Connection::open(to).map_err(db_error(to))?;
        {
            let backup = Backup::new(from, &mut dest).map_err(db_error(to))?;
            // -1: every page in one step, inside one read transaction (see the module doc).
            backup.step(-1).map_err(db_error(from_path))?;
        }
        let check: String = dest.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(db_error(to))?;
        if check != "ok" {
            return Err(backup_error(to, format!("the copy fails SQLite's integrity check: {check}")));
        }
        let pages = dest.query_row("PRAGMA page_count", [], |r| r.get(0)).map_err(db_error(to))?;
        let schema_version = dest.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db_error(to))?;
        Ok(Copied { pages, schema_version })
    })();
    if result.is_err() {
        // A half-written copy must not be mistaken for a backup later.
        for leftover in [to.to_path_buf(), sidecar(to, "-wal"), sidecar(to, "-shm")] {
            let _ = std::fs::remove_file(leftover);
        }
    }
    result
}

/// Backs the database at `db` up into the new file `to`, while a server may be
/// serving it (from this process or another).
pub fn backup(db: &Path, to: &Path) -> Result<Copied, ServerError> {
    let source = open_existing(db)?;
    copy(&source, db, to)
}

/// Restores the backup `from` into `db`, where no database may exist yet. The backup
/// must pass SQLite's integrity check and have a schema this build knows (an older one
/// is migrated when the server starts on it).
pub fn restore(from: &Path, db: &Path) -> Result<Copied, ServerError> {
    let source = open_existing(from)?;
    let check: String = source.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|_| backup_error(from, "not a readable SQLite database"))?;
    if check != "ok" {
        return Err(backup_error(from, format!("the backup fails SQLite's integrity check: {check}")));
    }
    let found = migrations::sqlite_version(&source).map_err(db_error(from))?;
    migrations::check_version(found, &from.display().to_string())?;
    copy(&source, from, db)
}
