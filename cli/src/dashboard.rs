//! `taipei dashboard`: the day at a glance from the phone's store alone — approvals
//! waiting, today's punches and meetings, the wallet, the push inbox — as text or JSON.

use taipei_core::dashboard::DashboardView;

use crate::login::taipei_time;
use crate::phone::{Phone, with_client};

/// The commands this module adds to `taipei`.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// The day at a glance, offline: approvals, today's punches and meetings, the wallet, the inbox
    Dashboard {
        /// Items in each "newest" list (1-20)
        #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
        newest: u32,
        /// Print the record as JSON (the shape the apps get, field for field)
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        phone: Phone,
    },
}

pub fn run(args: Args) -> Result<(), String> {
    let Args::Dashboard { newest, json, phone } = args;
    with_client(&phone, |client| async move {
        let view = client.dashboard().get(newest).await?;
        if json {
            match serde_json::to_string_pretty(&view) {
                Ok(text) => println!("{text}"),
                Err(e) => return Err(taipei_core::Error::Internal(e.to_string())),
            }
        } else {
            print!("{}", text(&view));
        }
        Ok(())
    })
}

fn date_of(ms: i64) -> String {
    taipei_protocol::attendance::date_text(taipei_protocol::attendance::workday(ms, 0))
}

/// The dashboard as the person reads it.
pub fn text(v: &DashboardView) -> String {
    let mut out = format!("Dashboard for {} (Taipei time {})\n", v.date, taipei_time(v.at_ms));
    if let Some(a) = &v.approvals {
        out += &format!(
            "  approvals  {} waiting ({} documents, {} forms, {} leave); {} urgent, {} overdue\n",
            a.waiting, a.counts.document, a.counts.form, a.counts.leave, a.urgent, a.counts.overdue
        );
        for l in &a.newest {
            let subject = l.summary.subject.as_deref().unwrap_or("(classified: open it at your desk)");
            let flags = [(l.overdue, " overdue"), (l.pending, " pending")].iter().filter(|f| f.0).map(|f| f.1).collect::<String>();
            out += &format!("             {} {} [{}] due {}{flags}\n", l.summary.item_id, subject, l.summary.urgency.as_str(), date_of(l.summary.due_at_ms));
        }
        if a.synced_at_ms.is_none() {
            out += "             (never synced: `taipei approvals list`)\n";
        }
    }
    if let Some(p) = &v.punches {
        let at = |ms: Option<i64>| ms.map_or_else(|| "--:--:--".to_owned(), taipei_time);
        out += &format!(
            "  punches    in {}  out {}  worked {} min; {} punches, {} pending, {} rejected{}\n",
            at(p.day.first_in_ms),
            at(p.day.last_out_ms),
            p.day.worked_ms / 60_000,
            p.punches.len(),
            p.pending,
            p.rejected,
            if p.day.flags.is_empty() { String::new() } else { format!(" ({})", p.day.flags.join(", ")) }
        );
    }
    if let Some(m) = &v.meetings {
        out += &format!("  meetings   {} today; {} sign-ins ({} pending)\n", m.count, m.sign_ins, m.pending);
        if let Some(n) = &m.next {
            out += &format!(
                "             next: {} {}-{} in {}{}\n",
                n.info.title,
                taipei_time(n.info.starts_at_ms),
                taipei_time(n.info.ends_at_ms),
                n.info.room,
                n.sign_in.as_deref().map(|s| format!(" (sign-in {s})")).unwrap_or_default()
            );
        }
    }
    if let Some(w) = &v.wallet {
        out += &format!("  wallet     {} certificates, {} new, {} expiring within 30 days\n", w.total, w.new_since_seen, w.expiring_soon);
        for l in &w.newest {
            out += &format!("             new  {} ({}) from {}\n", l.certificate.title.zh, l.certificate.title.en, l.certificate.issuer);
        }
        for l in &w.expiring {
            let until = l.certificate.expires_at.map(|s| date_of(s.saturating_mul(1000))).unwrap_or_default();
            out += &format!("             ends {} {} ({})\n", until, l.certificate.title.zh, l.certificate.title.en);
        }
    }
    if let Some(i) = &v.inbox {
        out += &format!("  inbox      badge {} ({})\n", i.badge, crate::push::unread_text(&i.unread_by_kind));
        for m in &i.newest {
            out += &format!("             {} {} — {} → {}\n", if m.read { " " } else { "●" }, m.title, m.text, m.route);
        }
    }
    out
}
