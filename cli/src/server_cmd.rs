//! `taipei server`: the reference backend on its own, for backend developers and for
//! pointing a real phone build at.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::args::{Args, runtime};

pub fn run(argv: Vec<String>) -> Result<(), String> {
    let mut args = Args::new(argv);
    let bind: SocketAddr = args
        .value("--bind")?
        .unwrap_or_else(|| "127.0.0.1:8787".into())
        .parse()
        .map_err(|e| format!("--bind: {e}"))?;
    let db: PathBuf = args.value("--db")?.unwrap_or_else(|| "taipei-server.db".into()).into();
    args.positional()?.first().map_or(Ok(()), |extra| Err(format!("unexpected argument {extra}")))?;

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
