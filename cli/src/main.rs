//! `taipei`: the command-line phone. It drives the core exactly as the apps do, against
//! the reference backend (embedded in-process, or any server you point it at).
//!
//! Each capability module owns its commands: an `Args` enum (a clap `Subcommand` whose
//! variants are top-level commands, with their options and help) and `run(Args)`.
//! `main` only composes them, one line per module in `capabilities!` below.

mod approvals;
mod attendance;
mod browser;
mod dashboard;
mod demo;
mod login;
mod phone;
mod portal;
mod push;
mod push_service;
mod qr;
mod server_cmd;
mod wallet;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue};
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use clap_complete::Shell;

/// taipei — the command-line phone for the Taipei City app core
#[derive(Debug, Parser)]
#[command(name = "taipei", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The top-level commands: every capability module's, in this order, then `completions`.
macro_rules! capabilities {
    ($($variant:ident => $module:ident),+ $(,)?) => {
        #[derive(Debug, Subcommand)]
        enum Command {
            $(
                #[command(flatten)]
                $variant($module::Args),
            )+
            /// Print a completion script for SHELL, e.g. `source <(taipei completions bash)`
            Completions {
                #[arg(value_enum)]
                shell: Shell,
            },
        }

        fn dispatch(command: Command) -> Result<(), String> {
            match command {
                $(Command::$variant(args) => $module::run(args),)+
                Command::Completions { shell } => {
                    clap_complete::generate(shell, &mut Cli::command(), "taipei", &mut std::io::stdout());
                    Ok(())
                }
            }
        }
    };
}

capabilities! {
    Demo => demo,
    Server => server_cmd,
    Qr => qr,
    Login => login,
    Attendance => attendance,
    Approvals => approvals,
    Wallet => wallet,
    Push => push,
    Dashboard => dashboard,
}

/// Exit codes: 0 done, 1 the command failed (its message on stderr), 2 the command line
/// was wrong (clap prints what and the usage).
fn main() -> ExitCode {
    let cli = parse(std::env::args_os().collect());
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `Cli::parse`, except that every mistake shows the usage of the command it was made
/// in: clap leaves it out of some errors (a bad value, a failed value check).
fn parse(argv: Vec<OsString>) -> Cli {
    let mut command = Cli::command();
    // Built, so that each subcommand's usage line carries its full path.
    command.build();
    let parsed = command
        .try_get_matches_from_mut(&argv)
        .and_then(|matches| Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command)));
    parsed.unwrap_or_else(|mut e| {
        if e.use_stderr() && e.get(ContextKind::Usage).is_none() {
            let mut at = &command;
            for word in argv.iter().skip(1).filter_map(|w| w.to_str()) {
                at = at.find_subcommand(word).unwrap_or(at);
            }
            e.insert(ContextKind::Usage, ContextValue::StyledStr(at.clone().render_usage()));
        }
        e.exit()
    })
}

/// One tokio runtime per CLI invocation.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// clap's own consistency checks over the whole tree (names, groups, conflicts).
    #[test]
    fn command_tree_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
