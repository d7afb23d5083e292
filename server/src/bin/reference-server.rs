//! The reference server as a process of its own, configured from the environment — what
//! a container runs, and what `tests/processes.rs` starts twice on one database:
//!
//! - `TAIPEI_DATABASE`: a SQLite file path or a `postgres://` URL (required)
//! - `TAIPEI_BIND`: the address to listen on (default `127.0.0.1:8787`)
//! - `TAIPEI_ADMIN_TOKEN`: the admin token (required: every process of one deployment
//!   shares it)
//! - `TAIPEI_SERVER_KEK`: the key-encryption key, base64 (required, the same in every
//!   process)
//! - `RUST_LOG`, `TAIPEI_LOG_FORMAT`: as for `taipei server`.
//!
//! The command-line phone's `taipei server` is the developer's way to run it.

use std::process::ExitCode;
use std::sync::Arc;

use taipei_server::ServerConfig;
use taipei_server::ops::logs::LogFormat;
use taipei_server::sealing::LocalKek;

fn required(name: &str) -> Result<String, String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).ok_or_else(|| format!("{name} is required"))
}

fn config() -> Result<ServerConfig, String> {
    let mut config = ServerConfig::embedded(required("TAIPEI_DATABASE")?.into());
    config.bind = std::env::var("TAIPEI_BIND")
        .unwrap_or_else(|_| "127.0.0.1:8787".into())
        .parse()
        .map_err(|e| format!("TAIPEI_BIND: {e}"))?;
    config.admin_token = required("TAIPEI_ADMIN_TOKEN")?;
    config.kek = Arc::new(LocalKek::from_base64(&required("TAIPEI_SERVER_KEK")?).map_err(|e| format!("TAIPEI_SERVER_KEK: {e}"))?);
    config.log_format = LogFormat::from_env()?;
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("reference-server: {e}");
            return ExitCode::from(2);
        }
    };
    match taipei_server::run_standalone(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reference-server: {e}");
            ExitCode::FAILURE
        }
    }
}
