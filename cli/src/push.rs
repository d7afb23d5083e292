//! `taipei push`: push from the command-line phone — register a token or endpoint, take
//! in a payload file as the OS would hand it over, list the inbox, mark messages read.

use std::path::PathBuf;

use taipei_core::push::{InboxMessage, KindCount, Outcome, PushPlatform, Received};

use crate::login::taipei_time;
use crate::phone::{Phone, with_client};

/// The commands this module adds to `taipei`.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Push: register, take in a payload, the inbox and its badge, read marks
    #[command(subcommand)]
    Push(Push),
}

#[derive(Debug, clap::Subcommand)]
pub enum Push {
    /// Register this phone's push token (FCM, APNs) or Web Push endpoint with the server
    Register {
        /// The token, or the endpoint URL with --channel web-push
        #[arg(value_name = "TOKEN")]
        token: String,
        #[arg(long, value_enum, default_value = "web-push")]
        channel: ChannelArg,
        #[command(flatten)]
        phone: Phone,
    },
    /// Take in one encrypted payload (the body the push service delivered) from FILE
    Receive {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Then fetch from the server's log whatever push lost
        #[arg(long)]
        sync: bool,
        #[command(flatten)]
        phone: Phone,
    },
    /// Fetch what push lost and read marks from other devices; send this phone's
    Sync {
        #[command(flatten)]
        phone: Phone,
    },
    /// The inbox, newest first, with the badge and unread counts per kind (offline)
    Inbox {
        /// Only unread messages
        #[arg(long)]
        unread: bool,
        #[command(flatten)]
        phone: Phone,
    },
    /// Mark messages read (here at once, on your other devices after the sync it runs)
    Read {
        #[arg(value_name = "ID", required = true, num_args = 1..=500)]
        ids: Vec<String>,
        #[command(flatten)]
        phone: Phone,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChannelArg {
    WebPush,
    Fcm,
    Apns,
}

impl From<ChannelArg> for PushPlatform {
    fn from(c: ChannelArg) -> Self {
        match c {
            ChannelArg::WebPush => Self::WebPush,
            ChannelArg::Fcm => Self::Fcm,
            ChannelArg::Apns => Self::Apns,
        }
    }
}

pub fn run(args: Args) -> Result<(), String> {
    let Args::Push(command) = args;
    match command {
        Push::Register { token, channel, phone } => with_client(&phone, |client| async move {
            let r = client.push().register(channel.into(), &token).await?;
            let what = if r.sent { "registered" } else { "already registered" };
            println!("      {what}; re-verified after {}", taipei_time(r.reverify_after_ms));
            Ok(())
        }),
        Push::Receive { file, sync, phone } => {
            let payload = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            with_client(&phone, |client| async move {
                let r = client.push().receive(payload).await?;
                print_received(&r);
                if sync && r.sync_needed {
                    let s = client.push().sync().await?;
                    println!("      synced: {} new · badge {}", s.new, s.badge);
                }
                Ok(())
            })
        }
        Push::Sync { phone } => with_client(&phone, |client| async move {
            let s = client.push().sync().await?;
            println!(
                "      synced: {} new · {} read elsewhere · {} read marks sent · badge {}{}",
                s.new,
                s.read_elsewhere,
                s.reads_sent,
                s.badge,
                if s.more { " (more wait)" } else { "" }
            );
            Ok(())
        }),
        Push::Inbox { unread, phone } => with_client(&phone, |client| async move {
            let push = client.push();
            let counts = push.unread_by_kind().await?;
            println!("      badge {} · {}", push.badge().await?, unread_text(&counts));
            for m in push.inbox(None, unread, 100).await? {
                print_message(&m);
            }
            Ok(())
        }),
        Push::Read { ids, phone } => with_client(&phone, |client| async move {
            let badge = client.push().mark_read(ids).await?;
            println!("      badge {badge}");
            match client.push().sync().await {
                Ok(s) => println!("      {} read mark(s) sent", s.reads_sent),
                Err(e) => println!("      read marks kept for the next sync — [{}] {e}", e.code()),
            }
            Ok(())
        }),
    }
}

/// Unread per kind, as one line: `approval_item 2 · meeting_reminder 1`.
pub fn unread_text(counts: &[KindCount]) -> String {
    if counts.is_empty() {
        return "nothing unread".into();
    }
    counts.iter().map(|k| format!("{} {}", k.kind.as_str(), k.unread)).collect::<Vec<_>>().join(" · ")
}

pub fn print_received(r: &Received) {
    let outcome = match r.outcome {
        Outcome::New => "new",
        Outcome::Duplicate => "duplicate (already taken in)",
        Outcome::Expired => "expired (remembered, not kept)",
        Outcome::Superseded => "superseded by a newer one",
        Outcome::Tickle => "tickle (the server's log has it)",
    };
    println!("      {outcome} · badge {}{}", r.badge, if r.sync_needed { " · a message is missing: sync" } else { "" });
    match &r.notification {
        Some(n) => println!("      show: {} — {} → {}", n.title, n.text, n.route),
        None if r.outcome == Outcome::New => println!("      kept, not shown (quiet hours or data only)"),
        None => {}
    }
}

pub fn print_message(m: &InboxMessage) {
    println!(
        "      {} #{:<4} {} {:<18} {} — {} → {}",
        if m.read { " " } else { "●" },
        m.seq,
        taipei_time(m.created_ms),
        m.kind.as_str(),
        m.title,
        m.text,
        m.route
    );
    println!("        id {}", m.id);
}
