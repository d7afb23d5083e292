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

/// Where the phone keeps its profile and which server it talks to: the options every
/// phone command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Phone {
    /// The folder holding this phone's profile and its file secret store
    #[arg(long, value_name = "DIR", env = "TAIPEI_DATA", hide_env_values = true, default_value = "taipei-phone")]
    data: PathBuf,
    /// The server this phone talks to (`taipei server` listens on the default)
    #[arg(long, value_name = "URL", env = "TAIPEI_SERVER", hide_env_values = true, default_value = "http://127.0.0.1:8787")]
    server: String,
    /// The city root key for the wallet; only `taipei wallet` sets it.
    #[arg(skip)]
    root_key: Option<String>,
}

impl Phone {
    /// The same phone, verifying certificates against the city root key `key`.
    pub fn with_root_key(self, key: Option<String>) -> Self {
        Self { root_key: key, ..self }
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

/// Opens the phone, runs `f` on it, closes it; the error as `[code] words`.
pub fn with_client<F, Fut>(phone: &Phone, f: F) -> Result<(), String>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<(), taipei_core::Error>>,
{
    crate::runtime()?.block_on(async {
        let client = phone.open().await?;
        let result = f(client.clone()).await;
        client.close().await.map_err(|e| e.to_string())?;
        result.map_err(|e| format!("[{}] {e}", e.code()))
    })
}

/// What the phone's camera saw: a picture of a QR code, or its text.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Scanned {
    /// A PNG or JPEG holding the QR code (the first code found is used)
    #[arg(value_name = "IMAGE")]
    image: Option<PathBuf>,
    /// The QR code's text, as if scanned
    #[arg(long, value_name = "QR")]
    text: Option<String>,
}

impl Scanned {
    /// The scanned text: `--text QR`, or the first code the QR engine reads in IMAGE.
    pub fn read(&self) -> Result<String, String> {
        if let Some(text) = &self.text {
            return Ok(text.clone());
        }
        // The group makes clap refuse a command line with neither.
        let path = self.image.as_ref().ok_or("give one IMAGE or --text QR")?;
        let image = path.display();
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {image}: {e}"))?;
        let codes = qr::decode_image(&bytes).map_err(|e| format!("{image}: {e}"))?;
        codes.into_iter().next().map(|c| c.text).ok_or_else(|| format!("{image}: no QR code found"))
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
