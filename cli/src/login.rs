//! `taipei bind`, `taipei login`, `taipei meeting`: the CLI phone scanning a portal's
//! binding code, a sign-in page's login code, or a room display's meeting code, and
//! showing what the app would show.

use taipei_core::{LoginContext, LoginError};
use taipei_core::meetings::SignInOutcome;

use crate::args::{Args, runtime};
use crate::phone::{self, Phone};

pub const USAGE: &str = "\
    taipei bind IMAGE|--text QR [--server URL] [--data DIR]
                                bind this command-line phone with a portal's binding code
    taipei login scan IMAGE|--text QR [--number NN | --deny | --report] [--server URL] [--data DIR]
                                show a sign-in page's login request and answer it
    taipei login history        this person's login requests
    taipei meeting scan IMAGE|--text QR [--yes] [--server URL] [--data DIR]
                                show a meeting room's code and sign in";

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

pub fn run_bind(argv: Vec<String>) -> Result<(), String> {
    let mut args = Args::new(argv);
    let phone = Phone::from_args(&mut args)?;
    let qr = phone::scanned_text(&mut args)?;
    runtime()?.block_on(async {
        let client = phone.open().await?;
        let result = client.bind_device(&qr).await;
        client.close().await.map_err(|e| e.to_string())?;
        let device = result.map_err(|e| format!("[{}] {e}", e.code()))?;
        println!("bound: device {} for {} ({})", device.device_id, device.display_name, device.user_id);
        Ok(())
    })
}

pub fn run_login(argv: Vec<String>) -> Result<(), String> {
    let mut argv = argv.into_iter();
    let sub = argv.next();
    let mut args = Args::new(argv.collect());
    let phone = Phone::from_args(&mut args)?;
    match sub.as_deref() {
        Some("scan") => {
            let number = args.value("--number")?;
            let (deny, report) = (args.flag("--deny"), args.flag("--report"));
            let qr = phone::scanned_text(&mut args)?;
            runtime()?.block_on(login_scan(&phone, &qr, number, deny, report))
        }
        Some("history") => {
            args.positional()?.first().map_or(Ok(()), |x| Err(format!("unexpected argument {x}")))?;
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
        _ => Err(format!("usage:\n{USAGE}")),
    }
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
        taipei_core::Error::Login(LoginError::WrongNumber(_)) => format!("[{}] {e} — scan again to retry", e.code()),
        e => format!("[{}] {e}", e.code()),
    })
}

pub fn run_meeting(argv: Vec<String>) -> Result<(), String> {
    let mut argv = argv.into_iter();
    if argv.next().as_deref() != Some("scan") {
        return Err(format!("usage:\n{USAGE}"));
    }
    let mut args = Args::new(argv.collect());
    let phone = Phone::from_args(&mut args)?;
    let yes = args.flag("--yes");
    let qr = phone::scanned_text(&mut args)?;
    runtime()?.block_on(async {
        let client = phone.open().await?;
        let result = async {
            // Offline the meeting cannot be looked up; the sign-in still queues.
            match client.meetings().scan(&qr).await {
                Ok(m) => {
                    println!("      {} — room {}, by {}", m.title, m.room, m.organizer);
                    println!("      {} to {} (Taipei time)", taipei_time(m.starts_at_ms), taipei_time(m.ends_at_ms));
                }
                Err(e @ taipei_core::Error::Net(_)) => println!("      (offline: {e})"),
                Err(e) => return Err(e),
            }
            if !yes && phone::ask("sign in? [Y/n]").is_some_and(|a| a.eq_ignore_ascii_case("n")) {
                println!("      not signed in");
                return Ok(());
            }
            match client.meetings().sign_in(&qr).await? {
                SignInOutcome::SignedIn { at_ms, .. } => println!("      signed in at {}", taipei_time(at_ms)),
                SignInOutcome::Queued { reason } => println!("      saved on the phone; it will be sent when online ({reason})"),
            }
            Ok(())
        }
        .await;
        client.close().await.map_err(|e| e.to_string())?;
        result.map_err(|e| format!("[{}] {e}", e.code()))
    })
}
