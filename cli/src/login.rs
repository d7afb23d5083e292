//! `taipei bind`, `taipei login`, `taipei meeting`: the CLI phone scanning a portal's
//! binding code, a sign-in page's login code, or a room display's meeting code, and
//! showing what the app would show.

use taipei_core::ctx::CommonError;
use taipei_core::{LoginContext, LoginError};
use taipei_core::meetings::SignInOutcome;

use crate::phone::{self, Phone, Scanned};
use crate::runtime;

/// The commands this module adds to `taipei`.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Bind this command-line phone with a portal's binding code
    Bind {
        #[command(flatten)]
        scanned: Scanned,
        #[command(flatten)]
        phone: Phone,
    },
    /// QR-key login: answer a sign-in page's login code
    #[command(subcommand)]
    Login(Login),
    /// Sign in to a meeting from its room display's code
    #[command(subcommand)]
    Meeting(Meeting),
}

#[derive(Debug, clap::Subcommand)]
pub enum Login {
    /// Show a sign-in page's login request and answer it (asks for the number unless told)
    Scan {
        #[command(flatten)]
        scanned: Scanned,
        /// Approve with the number the sign-in page shows
        #[arg(long, value_name = "NN", conflicts_with_all = ["deny", "report"])]
        number: Option<String>,
        /// Deny the request
        #[arg(long)]
        deny: bool,
        /// Deny the request and report it: this was not me
        #[arg(long)]
        report: bool,
        #[command(flatten)]
        phone: Phone,
    },
    /// This person's login requests
    History {
        #[command(flatten)]
        phone: Phone,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum Meeting {
    /// Show a meeting room's code and sign in
    Scan {
        #[command(flatten)]
        scanned: Scanned,
        /// Sign in without asking
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        phone: Phone,
    },
}

pub fn run(args: Args) -> Result<(), String> {
    match args {
        Args::Bind { scanned, phone } => run_bind(&phone, &scanned.read()?),
        Args::Login(Login::Scan { scanned, number, deny, report, phone }) => {
            let qr = scanned.read()?;
            runtime()?.block_on(login_scan(&phone, &qr, number, deny, report))
        }
        Args::Login(Login::History { phone }) => login_history(&phone),
        Args::Meeting(Meeting::Scan { scanned, yes, phone }) => run_meeting(&phone, &scanned.read()?, yes),
    }
}

/// A time in Taipei (UTC+8, no daylight saving) as people read it.
pub fn taipei_time(ms: i64) -> String {
    let s = ms.div_euclid(1000) + 8 * 3600;
    let (h, m, sec) = (s.rem_euclid(86_400) / 3600, s.rem_euclid(3600) / 60, s.rem_euclid(60));
    format!("{h:02}:{m:02}:{sec:02}")
}

/// The login screen of the app, as text.
pub fn print_prompt(p: &LoginContext) {
    println!("      Log in to {} ?", p.system);
    println!("        on   {} / {}", p.browser, p.os);
    println!("        from {} ({})", p.place, p.ip);
    println!("        at   {} (Taipei time)", taipei_time(p.started_at_ms));
    for flag in &p.risk_flags {
        println!("        ⚠ {}", risk_text(flag));
    }
    println!("      Type the {}-digit number shown on that screen: __", p.number_digits);
    println!("      [Deny]  [Report: this was not me]");
}

fn risk_text(flag: &str) -> String {
    match flag {
        "network_differs" => "the computer is on a different network from this phone".into(),
        "outside_city_network" => "the computer is outside the city network".into(),
        "old_request" => "this sign-in page has been open for a while".into(),
        other => other.to_owned(),
    }
}

fn run_bind(phone: &Phone, qr: &str) -> Result<(), String> {
    runtime()?.block_on(async {
        let client = phone.open().await?;
        let result = client.bind_device(qr).await;
        client.close().await.map_err(|e| e.to_string())?;
        let device = result.map_err(|e| format!("[{}] {e}", e.code()))?;
        println!("bound: device {} for {} ({})", device.device_id, device.display_name, device.user_id);
        Ok(())
    })
}

fn login_history(phone: &Phone) -> Result<(), String> {
    runtime()?.block_on(async {
        let client = phone.open().await?;
        let history = client.login().history().await;
        client.close().await.map_err(|e| e.to_string())?;
        for e in history.map_err(|e| format!("[{}] {e}", e.code()))? {
            println!("{}  {:<9} {}  ({} / {}, {})", taipei_time(e.started_at_ms), e.state, e.system, e.browser, e.os, e.place);
        }
        Ok(())
    })
}

async fn login_scan(phone: &Phone, qr: &str, number: Option<String>, deny: bool, report: bool) -> Result<(), String> {
    let client = phone.open().await?;
    let result = async {
        let prompt = client.login().scan(qr).await?;
        print_prompt(&prompt);
        let answer = if deny || report {
            None
        } else {
            match number {
                Some(n) => Some(n),
                None => phone::ask("number (or 'deny')>").filter(|a| a != "deny"),
            }
        };
        let outcome = match answer {
            Some(n) => client.login().approve(&prompt, &n).await?,
            None => client.login().deny(&prompt, report).await?,
        };
        println!("      {} — {}", outcome.state, outcome.system);
        Ok::<_, taipei_core::Error>(())
    }
    .await;
    client.close().await.map_err(|e| e.to_string())?;
    result.map_err(|e| match e {
        taipei_core::Error::Login(LoginError::WrongNumber { tries_left: 1.. }) => format!("[{}] {e} — scan again to retry", e.code()),
        e => format!("[{}] {e}", e.code()),
    })
}

fn run_meeting(phone: &Phone, qr: &str, yes: bool) -> Result<(), String> {
    runtime()?.block_on(async {
        let client = phone.open().await?;
        let result = async {
            // Offline the meeting cannot be looked up; the sign-in still queues.
            match client.meetings().scan(qr).await {
                Ok(m) => {
                    println!("      {} — room {}, by {}", m.title, m.room, m.organizer);
                    println!("      {} to {} (Taipei time)", taipei_time(m.starts_at_ms), taipei_time(m.ends_at_ms));
                }
                Err(e @ LoginError::Common(CommonError::Net(_))) => println!("      (offline: {e})"),
                Err(e) => return Err(e.into()),
            }
            if !yes && phone::ask("sign in? [Y/n]").is_some_and(|a| a.eq_ignore_ascii_case("n")) {
                println!("      not signed in");
                return Ok(());
            }
            match client.meetings().sign_in(qr).await? {
                SignInOutcome::SignedIn { at_ms, .. } => println!("      signed in at {}", taipei_time(at_ms)),
                SignInOutcome::Queued { reason } => println!("      saved on the phone; it will be sent when online ({reason})"),
            }
            Ok::<_, taipei_core::Error>(())
        }
        .await;
        client.close().await.map_err(|e| e.to_string())?;
        result.map_err(|e| format!("[{}] {e}", e.code()))
    })
}
