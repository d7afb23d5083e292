//! The CLI as a phone outside the demo: one profile in a folder, bound to a person,
//! talking to one server — what `taipei bind`, `taipei login` and `taipei meeting` use.
//!
//! `--data DIR` (default `$TAIPEI_DATA`, else `./taipei-phone`) holds the profile and
//! its file secret store; `--server URL` (default `$TAIPEI_SERVER`, else the standalone
//! server's `http://127.0.0.1:8787`).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use taipei_core::{Client, ClientConfig, FileSecretStore, Platform, qr};

use crate::args::Args;

/// Where the phone keeps its profile and which server it talks to.
#[derive(Debug)]
pub struct Phone {
    data: PathBuf,
    server: String,
    /// The city root key for the wallet (`--root-key`, `$TAIPEI_ROOT_KEY`).
    root_key: Option<String>,
}

impl Phone {
    pub fn from_args(args: &mut Args) -> Result<Self, String> {
        let data = args
            .value("--data")?
            .or_else(|| std::env::var("TAIPEI_DATA").ok())
            .unwrap_or_else(|| "taipei-phone".into());
        let server = args
            .value("--server")?
            .or_else(|| std::env::var("TAIPEI_SERVER").ok())
            .unwrap_or_else(|| "http://127.0.0.1:8787".into());
        let root_key = args.value("--root-key")?.or_else(|| std::env::var("TAIPEI_ROOT_KEY").ok());
        Ok(Self { data: data.into(), server, root_key })
    }

    pub async fn open(&self) -> Result<Client, String> {
        let mut config = ClientConfig::new(self.data.join("profiles"), "cli", &self.server, "command-line phone");
        // A one-shot command: it syncs what it queues itself, no background task.
        config.sync_interval_secs = 0;
        config.wallet_root_key.clone_from(&self.root_key);
        let secrets = FileSecretStore::new(self.data.join("secrets")).map_err(|e| format!("secret store: {e}"))?;
        let platform = Platform { signer: None, secret_store: Arc::new(secrets), listener: None, clock: None };
        Client::open(config, platform).await.map_err(|e| format!("cannot open the phone profile: {e}"))
    }
}

/// The scanned text: `--text QR`, or the first code the QR engine reads in IMAGE.
pub fn scanned_text(args: &mut Args) -> Result<String, String> {
    let text = args.value("--text")?;
    let rest: Vec<String> = std::mem::take(args).positional()?;
    match (text, rest.as_slice()) {
        (Some(text), []) => Ok(text),
        (None, [image]) => {
            let bytes = std::fs::read(image).map_err(|e| format!("cannot read {image}: {e}"))?;
            let codes = qr::decode_image(&bytes).map_err(|e| format!("{image}: {e}"))?;
            codes.into_iter().next().map(|c| c.text).ok_or_else(|| format!("{image}: no QR code found"))
        }
        _ => Err("give one IMAGE or --text QR".into()),
    }
}

/// Asks on the terminal; `None` at end of input.
pub fn ask(question: &str) -> Option<String> {
    print!("{question} ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_owned()),
    }
}
