//! `taipei server`: the reference backend on its own, for backend developers and for
//! pointing a real phone build at.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use taipei_server::ops::backup;
use taipei_server::ops::logs::LogFormat;
use taipei_server::sealing::{KEK_ENV, LocalKek};

use crate::runtime;

/// The commands this module adds to `taipei`.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Run the reference backend standalone (Ctrl-C or SIGTERM stops it gracefully)
    #[command(after_help = "The admin token is $TAIPEI_ADMIN_TOKEN if set, else generated and printed once.\nKeys at rest are sealed under $TAIPEI_SERVER_KEK, else the --kek-file, else FILE.kek made beside the database.\nLogs go to stdout; RUST_LOG sets their level (default info), --log-format or $TAIPEI_LOG_FORMAT their format.\nOn Ctrl-C or SIGTERM it stops accepting, finishes the requests in flight (at most 25 s), then exits.")]
    Server {
        /// The address to listen on
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
        bind: SocketAddr,
        /// The server's SQLite file, created if missing, or a postgres:// URL of an existing database
        #[arg(long, value_name = "FILE|URL", default_value = "taipei-server.db")]
        db: PathBuf,
        /// The key-encryption key's file (else $TAIPEI_SERVER_KEK, else FILE.kek made beside the database)
        #[arg(long, value_name = "FILE")]
        kek_file: Option<PathBuf>,
        /// `text` (default) or `json`, one object per line (else $TAIPEI_LOG_FORMAT)
        #[arg(long, value_name = "FORMAT")]
        log_format: Option<LogFormat>,
    },
    /// Back up a server's database while it runs, into a new owner-only file
    #[command(after_help = "Uses SQLite's online backup API: a consistent copy of everything committed, without stopping the server.\nThe copy holds keys sealed under the server's key-encryption key: keep that key (apart from the backups) to restore.")]
    ServerBackup {
        /// The server's SQLite database
        #[arg(long, value_name = "FILE", default_value = "taipei-server.db")]
        db: PathBuf,
        /// The backup file to create (never overwritten)
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Restore a backup into a new database file for a fresh server
    #[command(after_help = "The backup is checked (SQLite integrity check, a schema this build knows) and copied to --db, which must not exist.\nStart the server on it with the key-encryption key the backed-up server used.")]
    ServerRestore {
        /// The backup to restore
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// The new database file (must not exist)
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
    },
}

/// The key-encryption key: `$TAIPEI_SERVER_KEK`, else `--kek-file`, else `<db>.kek`
/// beside the database, made on first start (owner-only) so a developer's server
/// starts with no set-up. A deployment supplies its own, kept away from the database.
fn load_kek(db: &std::path::Path, kek_file: Option<PathBuf>) -> Result<LocalKek, String> {
    let explicit = kek_file.is_some();
    let path = kek_file.unwrap_or_else(|| {
        let mut p = db.as_os_str().to_owned();
        p.push(".kek");
        PathBuf::from(p)
    });
    let from_env = std::env::var(KEK_ENV).is_ok_and(|v| !v.trim().is_empty());
    if !from_env && !explicit && taipei_server::db::is_postgres_url(&db.to_string_lossy()) {
        // No file "beside" a database server: a deployment brings its own key.
        return Err(format!("a PostgreSQL database needs its key-encryption key supplied: set {KEK_ENV} or --kek-file"));
    }
    if !from_env && !explicit && !path.exists() {
        let text = LocalKek::new_base64().map_err(|e| e.to_string())?;
        write_owner_only(&path, &text).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        eprintln!(
            "made a key-encryption key in {} (set {KEK_ENV} or --kek-file to supply your own; keep it apart from the database)",
            path.display()
        );
    }
    LocalKek::from_env_or_file(&path).map_err(|e| format!("key-encryption key: {e}"))
}

fn write_owner_only(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}


pub fn run(args: Args) -> Result<(), String> {
    let (bind, db, kek_file, log_format) = match args {
        Args::Server { bind, db, kek_file, log_format } => (bind, db, kek_file, log_format),
        Args::ServerBackup { db, to } => {
            let copied = backup::backup(&db, &to).map_err(|e| e.to_string())?;
            eprintln!("backed up {} into {} ({} pages, schema version {})", db.display(), to.display(), copied.pages, copied.schema_version);
            return Ok(());
        }
        Args::ServerRestore { from, db } => {
            let copied = backup::restore(&from, &db).map_err(|e| e.to_string())?;
            eprintln!("restored {} into {} ({} pages, schema version {}); start the server on it with the same key-encryption key", from.display(), db.display(), copied.pages, copied.schema_version);
            return Ok(());
        }
    };
    let mut config = taipei_server::ServerConfig::embedded(db.clone());
    config.bind = bind;
    config.kek = Arc::new(load_kek(&db, kek_file)?);
    config.log_format = match log_format {
        Some(format) => format,
        None => LogFormat::from_env()?,
    };
    match std::env::var("TAIPEI_ADMIN_TOKEN") {
        Ok(token) if !token.is_empty() => config.admin_token = token,
        // The operator needs the generated token once to call the portal and admin
        // endpoints; it goes to the terminal, never into the structured log.
        _ => eprintln!(
            "admin token (set TAIPEI_ADMIN_TOKEN to choose your own): {}",
            config.admin_token
        ),
    }
    // A PostgreSQL URL can carry a password: name the engine, not the location.
    let shown = if taipei_server::db::is_postgres_url(&db.to_string_lossy()) { "PostgreSQL".to_owned() } else { db.display().to_string() };
    eprintln!("reference server on http://{bind}  (database {shown})");
    runtime()?
        .block_on(taipei_server::run_standalone(config))
        .map_err(|e| format!("server stopped: {e}"))
}
