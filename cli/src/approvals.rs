//! `taipei approvals`: mobile approval from the command-line phone — sync and list the
//! inbox (offline from the phone's store), read one item, act on one or several.

use taipei_core::Client;
use taipei_core::approval::{ActRequest, ActionRecord, ActionState, InboxFilter, InboxPage, ItemView};
use taipei_protocol::approval::{Action, CosignMode, Kind, ReturnTo};

use crate::login::taipei_time;
use crate::phone::{Phone, with_client};

/// The commands this module adds to `taipei`.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Mobile approval: the inbox, reading an item, signed actions
    #[command(subcommand)]
    Approvals(Approvals),
}

#[derive(Debug, clap::Subcommand)]
pub enum Approvals {
    /// Sync the inbox from the server (unless --offline) and list it, due first
    List {
        /// Only this kind
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// Also items you can no longer act on
        #[arg(long)]
        all: bool,
        /// Show what the phone holds without asking the server
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        phone: Phone,
    },
    /// Read one item (kept on the phone for offline reading and acting)
    Show {
        #[arg(value_name = "ITEM")]
        item: String,
        #[command(flatten)]
        phone: Phone,
    },
    /// Act on items read before: sign, queue, send; prints each verdict
    Act {
        /// The items (one, or up to 50 for a batch)
        #[arg(value_name = "ITEM", required = true, num_args = 1..=50)]
        items: Vec<String>,
        #[arg(long, value_enum)]
        action: ActionArg,
        /// The opinion (批示, 會辦意見) or, for a return, the reason
        #[arg(long, default_value = "")]
        opinion: String,
        /// 陳會 / 加會: a co-signer (repeat for more, in order)
        #[arg(long = "cosigner", value_name = "USER")]
        cosigners: Vec<String>,
        /// 陳會 one after another instead of all at once
        #[arg(long)]
        sequential: bool,
        /// 退回 to the drafter instead of the previous holder
        #[arg(long)]
        to_drafter: bool,
        #[command(flatten)]
        phone: Phone,
    },
    /// Name who acts for you while you are away (職務代理), from now for DAYS days
    Proxy {
        /// The colleague's user id
        #[arg(long, value_name = "USER")]
        to: String,
        #[arg(long, value_name = "DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        #[command(flatten)]
        phone: Phone,
    },
    /// Your actions and their verdicts, newest first
    History {
        #[arg(long, value_name = "ITEM")]
        item: Option<String>,
        #[command(flatten)]
        phone: Phone,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    Document,
    Form,
    Leave,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ActionArg {
    /// 暫存
    SaveDraft,
    /// 陳核
    Forward,
    /// 陳會
    RequestCosign,
    /// 會辦 (with --cosigner: 加會)
    Cosign,
    /// 決行
    Approve,
    /// 退回
    Return,
    /// 取回
    Recall,
}

impl From<ActionArg> for Action {
    fn from(a: ActionArg) -> Self {
        match a {
            ActionArg::SaveDraft => Self::SaveDraft,
            ActionArg::Forward => Self::Forward,
            ActionArg::RequestCosign => Self::RequestCosign,
            ActionArg::Cosign => Self::Cosign,
            ActionArg::Approve => Self::Approve,
            ActionArg::Return => Self::Return,
            ActionArg::Recall => Self::Recall,
        }
    }
}

pub fn run(args: Args) -> Result<(), String> {
    let Args::Approvals(command) = args;
    match command {
        Approvals::List { kind, all, offline, phone } => with_client(&phone, |client| async move {
            if !offline {
                let r = client.approvals().sync_inbox().await?;
                println!("synced: {} changed{}", r.changed, if r.more { " (more wait)" } else { "" });
            }
            let kind = kind.map(|k| match k {
                KindArg::Document => Kind::Document,
                KindArg::Form => Kind::Form,
                KindArg::Leave => Kind::Leave,
            });
            let page = client.approvals().inbox(InboxFilter { kind, include_inactive: all, limit: 100, ..InboxFilter::default() }).await?;
            print_inbox(&page);
            Ok(())
        }),
        Approvals::Show { item, phone } => with_client(&phone, |client| async move {
            print_item(&client.approvals().open(&item).await?);
            Ok(())
        }),
        Approvals::Act { items, action, opinion, cosigners, sequential, to_drafter, phone } => with_client(&phone, |client| async move {
            let requests: Vec<ActRequest> = items
                .iter()
                .map(|id| ActRequest {
                    cosigners: cosigners.clone(),
                    cosign_mode: (!cosigners.is_empty() && action == ActionArg::RequestCosign)
                        .then_some(if sequential { CosignMode::Sequential } else { CosignMode::Parallel }),
                    return_to: (action == ActionArg::Return).then_some(if to_drafter { ReturnTo::Drafter } else { ReturnTo::Previous }),
                    ..ActRequest::new(id, action.into(), &opinion)
                })
                .collect();
            act(&client, requests).await
        }),
        Approvals::Proxy { to, days, phone } => with_client(&phone, |client| async move {
            let from_ms = client.server_now_ms();
            let until_ms = from_ms + i64::from(days) * 24 * 3600 * 1000;
            client.approvals().set_proxy(&to, from_ms, until_ms).await?;
            println!("      {to} acts for you (代) for the next {days} day(s)");
            Ok(())
        }),
        Approvals::History { item, phone } => with_client(&phone, |client| async move {
            for r in client.approvals().actions(item.as_deref(), 50).await? {
                print_record(&r);
            }
            Ok(())
        }),
    }
}

/// Acts on each request (a batch when more than one) and prints each verdict.
pub async fn act(client: &Client, mut requests: Vec<ActRequest>) -> Result<(), taipei_core::Error> {
    if requests.len() == 1
        && let Some(one) = requests.pop()
    {
        print_record(&client.approvals().act(one).await?);
        return Ok(());
    }
    let ids: Vec<String> = requests.iter().map(|r| r.item_id.clone()).collect();
    for (id, result) in ids.iter().zip(client.approvals().act_batch(requests).await?) {
        match result {
            Ok(r) => print_record(&r),
            Err(e) => println!("      {id}: not sent — [{}] {e}", e.code()),
        }
    }
    Ok(())
}

pub fn print_inbox(page: &InboxPage) {
    let c = &page.counts;
    println!("      公文 {} · 表單 {} · 請假 {} · overdue {}", c.document, c.form, c.leave, c.overdue);
    for e in &page.entries {
        let s = &e.summary;
        let subject = s.subject.as_deref().unwrap_or("(機密: open at your desk)");
        let proxy = s.acting_for.as_deref().map(|p| format!(" 代 {p}")).unwrap_or_default();
        let pending = e.pending.map(|a| format!(" [queued: {}]", a.as_str())).unwrap_or_default();
        println!(
            "      {} {:<8} {:<6} due {} v{} {subject}{proxy}{pending}",
            s.item_id,
            s.kind.as_str(),
            s.urgency.as_str(),
            taipei_date(s.due_at_ms),
            s.version
        );
    }
    if page.entries.is_empty() {
        println!("      nothing waits for you");
    }
}

pub fn print_item(v: &ItemView) {
    let d = &v.detail;
    let s = &d.summary;
    println!("      {} — {} ({}, {}, v{})", s.item_id, s.subject.as_deref().unwrap_or("(機密)"), s.kind.as_str(), s.urgency.as_str(), s.version);
    if v.offline {
        println!("      (offline: the copy kept on this phone{})", if v.stale { "; it changed since" } else { "" });
    }
    let chain: Vec<String> = d.chain.iter().enumerate().map(|(i, c)| {
        let here = if i == d.step as usize { "▶" } else { "" };
        format!("{here}{} {}", c.title, c.display_name)
    }).collect();
    println!("      chain: {}", chain.join(" → "));
    if let Some(l) = &d.leave {
        println!("      leave: {} {} h, covered by {}", l.leave_type, l.hours, l.cover_user_id);
    }
    for f in &d.fields {
        println!("      {}: {}", f.label, f.value);
    }
    if !v.body.is_empty() {
        println!("      body ({}, {} bytes): {}", d.body_type, v.body.len(), String::from_utf8_lossy(&v.body).chars().take(120).collect::<String>());
    }
    for a in &d.attachments {
        println!("      attachment {}: {} ({}, {} bytes)", a.index, a.name, a.content_type, a.size);
    }
    for h in &d.history {
        let proxy = h.acting_for.as_deref().map(|p| format!(" (代 {p})")).unwrap_or_default();
        println!("      v{} {} by {}{proxy}: {}", h.version, h.action, h.actor, h.opinion);
    }
    let actions: Vec<&str> = d.actions.iter().map(|a| a.as_str()).collect();
    println!("      you can: {}", if actions.is_empty() { "nothing now".to_owned() } else { actions.join(", ") });
}

pub fn print_record(r: &ActionRecord) {
    let verdict = match r.state {
        ActionState::Queued => "queued (sent at the next sync)".to_owned(),
        ActionState::Done => "done".to_owned(),
        ActionState::Conflict => format!("CONFLICT — {} [{}]; your opinion is kept: {:?}", r.message.as_deref().unwrap_or(""), r.code.as_deref().unwrap_or(""), r.opinion),
        ActionState::Refused => format!("refused — {} [{}]", r.message.as_deref().unwrap_or(""), r.code.as_deref().unwrap_or("")),
    };
    println!("      {} {} on v{}: {verdict}", r.item_id, r.action.as_str(), r.version);
}

/// A Taipei calendar date and time, as a deadline is read.
fn taipei_date(ms: i64) -> String {
    let day = taipei_protocol::attendance::workday(ms, 0);
    format!("{} {}", taipei_protocol::attendance::date_text(day), taipei_time(ms))
}
