//! `taipei wallet …`: the certificate wallet of the command-line phone, and the
//! EU DCC conformance runner (`conformance DIR`, which checks the certificate pipeline
//! against dgc-testdata's cases).

mod conformance;

use std::path::Path;

use taipei_core::wallet::{Filter, Item};
use taipei_protocol::cert::format_rfc3339;
use taipei_protocol::cert::verdict::Verdict;

use crate::args::{Args, runtime};
use crate::phone::{self, Phone};

pub const USAGE: &str = "\
    taipei wallet sync|list|show|verify|pickup|contracts|backup|restore|conformance
        sync                          fetch the signed lists, certificates and contracts
        list [--type T] [--issuer I] [--search TEXT]
        show ID [--png FILE]          one certificate, its verdict now and its QR
        verify IMAGE|--text QR        verify a certificate offline (TPC1: or HC1:)
        pickup ID                     a one-time kiosk pickup code
        contracts                     contracts with their signature history
        backup FILE --passphrase P    export a passphrase-sealed backup; restore FILE --passphrase P
        conformance DIR               check the pipeline against EU DCC test cases
      (--server URL, --data DIR as for bind; --root-key KEY or $TAIPEI_ROOT_KEY: the city root key)";

pub fn run(argv: Vec<String>) -> Result<(), String> {
    let mut args = Args::new(argv);
    let command = args.positional_first().ok_or_else(|| format!("usage:\n{USAGE}"))?;
    if command == "conformance" {
        let [dir] = args.positional()?.try_into().map_err(|_| "usage: taipei wallet conformance DIR".to_string())?;
        let run = conformance::run_dir(Path::new(&dir))?;
        println!("{}", run.render());
        return if run.failed() == 0 { Ok(()) } else { Err(format!("{} conformance case(s) failed", run.failed())) };
    }
    let phone = Phone::from_args(&mut args)?;
    runtime()?.block_on(async {
        let client = phone.open().await?;
        let result = command_on(&client, &command, args).await;
        client.close().await.map_err(|e| e.to_string())?;
        result
    })
}

fn fail(e: taipei_core::Error) -> String {
    format!("[{}] {e}", e.code())
}

async fn command_on(client: &taipei_core::Client, command: &str, mut args: Args) -> Result<(), String> {
    let wallet = client.wallet();
    match command {
        "sync" => {
            args.positional()?;
            let r = wallet.sync().await.map_err(fail)?;
            println!("{} new, {} held by the server, {} refused, {} contract(s)", r.added, r.total, r.refused, r.contracts);
            println!("lists as of {} (trust) and {} (status)", when(r.trust_list_as_of_ms), when(r.status_list_as_of_ms));
        }
        "list" => {
            let filter = Filter {
                cert_type: args.value("--type")?,
                issuer: args.value("--issuer")?,
                text: args.value("--search")?,
                limit: 500,
                ..Filter::default()
            };
            args.positional()?;
            let page = wallet.list(filter).await.map_err(fail)?;
            for item in &page.items {
                print_item_line(item);
            }
            println!("{} certificate(s)", page.total);
        }
        "show" => {
            let png = args.value("--png")?;
            let [id] = args.positional()?.try_into().map_err(|_| "usage: taipei wallet show ID [--png FILE]".to_string())?;
            let card = wallet.show(&id).await.map_err(fail)?;
            print_item(&card.item);
            print_verdict(&card.verdict);
            if let Some(file) = png {
                let bytes = wallet.qr_png(&id, 8).await.map_err(fail)?;
                std::fs::write(&file, bytes).map_err(|e| format!("{file}: {e}"))?;
                println!("QR written to {file}");
            }
        }
        "verify" => {
            let text = phone::scanned_text(&mut args)?;
            print_verdict(&wallet.verify_text(&text).await.map_err(fail)?);
        }
        "pickup" => {
            let [id] = args.positional()?.try_into().map_err(|_| "usage: taipei wallet pickup ID".to_string())?;
            let code = wallet.pickup_code(&id, None).await.map_err(fail)?;
            println!("pickup code {} (once, until {})", code.code, when(code.expires_at_ms));
        }
        "contracts" => {
            args.positional()?;
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
        "backup" | "restore" => {
            let passphrase = args.value("--passphrase")?.ok_or("--passphrase is required")?;
            let [file] = args.positional()?.try_into().map_err(|_| format!("usage: taipei wallet {command} FILE --passphrase P"))?;
            if command == "backup" {
                let bytes = wallet.export_backup(&passphrase).await.map_err(fail)?;
                std::fs::write(&file, bytes).map_err(|e| format!("{file}: {e}"))?;
                println!("backup written to {file}");
            } else {
                let bytes = std::fs::read(&file).map_err(|e| format!("{file}: {e}"))?;
                let added = wallet.import_backup(&bytes, &passphrase).await.map_err(fail)?;
                println!("{added} certificate(s) restored");
            }
        }
        other => return Err(format!("unknown wallet command `{other}`\n{USAGE}")),
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
