//! `taipei server`: the reference backend on its own, for backend developers and for
//! pointing a real phone build at.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::runtime;

/// The commands this module adds to `taipei`.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Run the reference backend standalone (Ctrl-C stops it)
    #[command(after_help = "The admin token is $TAIPEI_ADMIN_TOKEN if set, else generated and printed once.\nLogs go to stdout; RUST_LOG sets their level (default info).")]
    Server {
        /// The address to listen on
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
        bind: SocketAddr,
        /// The server's SQLite database, created if missing
        #[arg(long, value_name = "FILE", default_value = "taipei-server.db")]
        db: PathBuf,
    },
}

pub fn run(args: Args) -> Result<(), String> {
    let Args::Server { bind, db } = args;
    let mut config = taipei_server::ServerConfig::embedded(db.clone());
    config.bind = bind;
    match std::env::var("TAIPEI_ADMIN_TOKEN") {
        Ok(token) if !token.is_empty() => config.admin_token = token,
        // The operator needs the generated token once to call the portal and admin
        // endpoints; it goes to the terminal, never into the structured log.
        _ => eprintln!(
            "admin token (set TAIPEI_ADMIN_TOKEN to choose your own): {}",
            config.admin_token
        ),
    }
    eprintln!("reference server on http://{bind}  (database {})", db.display());
    runtime()?
        .block_on(taipei_server::run_standalone(config))
        .map_err(|e| format!("server stopped: {e}"))
}
