//! `taipei`: the command-line phone. It drives the core exactly as the apps do, against
//! the reference backend (embedded in-process, or any server you point it at).
//!
//! Each capability gets its own module and subcommand; `main` only dispatches.

mod args;
mod attendance;
mod browser;
mod demo;
mod login;
mod phone;
mod portal;
mod qr;
mod server_cmd;
mod wallet;

use std::process::ExitCode;

const USAGE: &str = "\
taipei — the command-line phone for the Taipei City app core

USAGE:
    taipei demo [--keep]        run the guided demo against an embedded reference server
    taipei server [--bind ADDR] [--db FILE] [--kek-file FILE]
                                run the reference backend standalone (Ctrl-C stops it);
                                keys at rest sealed under $TAIPEI_SERVER_KEK, else the
                                --kek-file, else FILE.kek made beside the database
    taipei qr decode [--json] IMAGE...   read QR codes from PNG/JPEG files
    taipei qr encode TEXT --out FILE     render a QR code (PNG or SVG); `taipei qr` for all options
    taipei bind IMAGE|--text QR            bind this command-line phone (profile in --data DIR)
    taipei login scan IMAGE|--text QR      answer a sign-in page's login code; `taipei login` for all
    taipei meeting scan IMAGE|--text QR    sign in to a meeting from its room display's code
    taipei attendance simulate|manual|week|scan   beacon attendance; `taipei attendance` for all
    taipei wallet list|show|verify IMAGE|--text QR|sync|conformance DIR
                                the certificate wallet; `taipei wallet` for all commands
    taipei help                 show this text

Set RUST_LOG=debug for more detail.";

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let command = argv.remove(0);
    let result = match command.as_str() {
        "demo" => demo::run(argv),
        "server" => server_cmd::run(argv),
        "wallet" => wallet::run(argv),
        "qr" => qr::run(argv),
        "bind" => login::run_bind(argv),
        "login" => login::run_login(argv),
        "meeting" => login::run_meeting(argv),
        "attendance" => attendance::run(argv),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
