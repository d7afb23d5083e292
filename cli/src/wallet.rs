//! `taipei wallet …`: the certificate wallet of the command-line phone, and the
//! EU DCC conformance runner (`conformance DIR`, which checks the certificate pipeline
//! against dgc-testdata's cases).

mod conformance;

use std::path::{Path, PathBuf};

use taipei_core::wallet::{CheckStatus, Filter, Item};
use taipei_protocol::cert::format_rfc3339;
use taipei_protocol::cert::verdict::Verdict;

use crate::phone::{Phone, Scanned};
use crate::runtime;

/// The commands this module adds to `taipei`.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// The certificate wallet, and the EU DCC conformance runner
    #[command(subcommand)]
    Wallet(Wallet),
}

#[derive(Debug, clap::Subcommand)]
pub enum Wallet {
    /// Fetch the signed lists, certificates and contracts
    Sync {
        #[command(flatten)]
        on: OnPhone,
    },
    /// The certificates held, filtered
    List {
        /// Only this certificate type
        #[arg(long = "type", value_name = "T")]
        cert_type: Option<String>,
        /// Only this issuer
        #[arg(long, value_name = "I")]
        issuer: Option<String>,
        /// Only certificates whose text holds TEXT
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        #[command(flatten)]
        on: OnPhone,
    },
    /// One certificate, its verdict now and its QR
    Show {
        /// The certificate's id, as `list` shows it
        id: String,
        /// Also write the certificate's QR code to FILE (PNG)
        #[arg(long, value_name = "FILE")]
        png: Option<String>,
        #[command(flatten)]
        on: OnPhone,
    },
    /// Verify a certificate offline (TPC1: or HC1:), every check with its words
    Verify {
        #[command(flatten)]
        scanned: Scanned,
        /// Print the verdict as JSON, every check included (field names in the wallet README)
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        on: OnPhone,
    },
    /// A one-time kiosk pickup code
    Pickup {
        /// The certificate's id, as `list` shows it
        id: String,
        #[command(flatten)]
        on: OnPhone,
    },
    /// Contracts with their signature history
    Contracts {
        #[command(flatten)]
        on: OnPhone,
    },
    /// Export a passphrase-sealed backup to FILE
    Backup {
        /// The backup file to write
        file: String,
        /// The passphrase that seals the backup
        #[arg(long, value_name = "P")]
        passphrase: String,
        #[command(flatten)]
        on: OnPhone,
    },
    /// Restore certificates from a passphrase-sealed backup FILE
    Restore {
        /// The backup file to read
        file: String,
        /// The passphrase the backup was sealed with
        #[arg(long, value_name = "P")]
        passphrase: String,
        #[command(flatten)]
        on: OnPhone,
    },
    /// Check the certificate pipeline against EU DCC test cases; the last line is `N passed, N failed`
    Conformance {
        /// A folder of dgc-testdata's cases, searched recursively
        dir: PathBuf,
    },
}

/// The phone a wallet command runs on, and the key its lists are checked against.
#[derive(Debug, clap::Args)]
pub struct OnPhone {
    #[command(flatten)]
    phone: Phone,
    /// The city root key that signs the trust and status lists
    #[arg(long, value_name = "KEY", env = "TAIPEI_ROOT_KEY", hide_env_values = true)]
    root_key: Option<String>,
}

impl Wallet {
    /// The phone the command runs on, or the folder of the conformance run, which needs none.
    fn phone(&self) -> Result<Phone, &Path> {
        match self {
            Self::Sync { on }
            | Self::List { on, .. }
            | Self::Show { on, .. }
            | Self::Verify { on, .. }
            | Self::Pickup { on, .. }
            | Self::Contracts { on }
            | Self::Backup { on, .. }
            | Self::Restore { on, .. } => Ok(on.phone.clone().with_root_key(on.root_key.clone())),
            Self::Conformance { dir } => Err(dir),
        }
    }
}

pub fn run(args: Args) -> Result<(), String> {
    let Args::Wallet(command) = args;
    match command.phone() {
        Err(dir) => conformance(dir),
        Ok(phone) => runtime()?.block_on(async {
            let client = phone.open().await?;
            let result = command_on(&client, command).await;
            client.close().await.map_err(|e| e.to_string())?;
            result
        }),
    }
}

fn fail(e: taipei_core::Error) -> String {
    format!("[{}] {e}", e.code())
}

fn conformance(dir: &Path) -> Result<(), String> {
    let run = conformance::run_dir(dir)?;
    println!("{}", run.render());
    if run.failed() == 0 { Ok(()) } else { Err(format!("{} conformance case(s) failed", run.failed())) }
}

async fn command_on(client: &taipei_core::Client, command: Wallet) -> Result<(), String> {
    let wallet = client.wallet();
    match command {
        Wallet::Sync { .. } => {
            let r = wallet.sync().await.map_err(fail)?;
            println!("{} new, {} held by the server, {} refused, {} contract(s)", r.added, r.total, r.refused, r.contracts);
            println!("lists as of {} (trust) and {} (status)", when(r.trust_list_as_of_ms), when(r.status_list_as_of_ms));
        }
        Wallet::List { cert_type, issuer, search, .. } => {
            let filter = Filter { cert_type, issuer, text: search, limit: 500, ..Filter::default() };
            let page = wallet.list(filter).await.map_err(fail)?;
            for item in &page.items {
                print_item_line(item);
            }
            println!("{} certificate(s)", page.total);
        }
        Wallet::Show { id, png, .. } => {
            let card = wallet.show(&id).await.map_err(fail)?;
            print_item(&card.item);
            print_verdict(&card.verdict);
            if let Some(file) = png {
                let bytes = wallet.qr_png(&id, 8).await.map_err(fail)?;
                std::fs::write(&file, bytes).map_err(|e| format!("{file}: {e}"))?;
                println!("QR written to {file}");
            }
        }
        Wallet::Verify { scanned, json, .. } => {
            let text = scanned.read()?;
            let verdict = wallet.verify_text(&text).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&verdict).map_err(|e| e.to_string())?);
            } else {
                print_verdict(&verdict);
                print_steps(&verdict);
            }
        }
        Wallet::Pickup { id, .. } => {
            let code = wallet.pickup_code(&id, None).await.map_err(fail)?;
            println!("pickup code {} (once, until {})", code.code, when(code.expires_at_ms));
        }
        Wallet::Contracts { .. } => {
            for c in wallet.contracts().await.map_err(fail)? {
                println!("{} — {} [{:?}]", c.id, c.title, c.status);
                for s in &c.signatures {
                    println!("  {}. {} at {}: {}", s.order, s.signer, when(s.signed_at_ms), s.problem.as_deref().unwrap_or("signature verifies"));
                    println!("     subject {} · issuer {} · serial {}", s.subject_dn, s.issuer_dn, s.serial);
                }
                if let Some(reason) = &c.void_reason {
                    println!("  voided: {reason}");
                }
            }
        }
        Wallet::Backup { file, passphrase, .. } => {
            let bytes = wallet.export_backup(&passphrase).await.map_err(fail)?;
            std::fs::write(&file, bytes).map_err(|e| format!("{file}: {e}"))?;
            println!("backup written to {file}");
        }
        Wallet::Restore { file, passphrase, .. } => {
            let bytes = std::fs::read(&file).map_err(|e| format!("{file}: {e}"))?;
            let added = wallet.import_backup(&bytes, &passphrase).await.map_err(fail)?;
            println!("{added} certificate(s) restored");
        }
        Wallet::Conformance { dir } => return conformance(&dir),
    }
    Ok(())
}

pub fn when(ms: i64) -> String {
    format_rfc3339(ms.div_euclid(1000))
}

fn print_item_line(item: &Item) {
    let c = &item.certificate;
    println!("{}  {}  {} / {}  {}  {}", item.id, &format_rfc3339(c.issued_at)[..10], c.title.zh, c.title.en, c.holder, c.issuer);
}

/// A certificate as the detail screen shows it.
pub fn print_item(item: &Item) {
    let c = &item.certificate;
    println!("      {} · {}", c.title.zh, c.title.en);
    println!("      holder {} · issuer {} · type {}", c.holder, c.issuer, c.cert_type);
    for f in &c.fields {
        println!("      {} {}: {}", f.label.zh, f.label.en, f.value);
    }
    let expires = c.expires_at.map_or_else(|| "does not expire".into(), format_rfc3339);
    println!("      issued {} · {expires}", format_rfc3339(c.issued_at));
}

/// A verdict as a verifier shows it.
pub fn print_verdict(v: &Verdict) {
    let mark = if v.is_valid() { "✔" } else { "✘" };
    println!("      {mark} {} — {}", v.kind.code(), v.reason);
    if let Some(c) = &v.certificate {
        println!("        {} ({}) · holder {}", c.title.zh, c.title.en, c.holder);
    }
}

/// Every check of a verdict, one line each in both languages.
fn print_steps(v: &Verdict) {
    for step in &v.steps {
        let mark = match step.status {
            CheckStatus::Passed => "✔",
            CheckStatus::Failed => "✘",
            CheckStatus::NotChecked => "·",
        };
        println!("        {mark} {:<12} {} {}", step.code.code(), step.words.en, step.words.zh);
        if let Some(detail) = &step.detail {
            println!("          {detail}");
        }
    }
}
