//! Child process of the approval crash scenario: opens a bound profile, syncs the inbox,
//! then for each of `count` items it can act on (and has no action waiting for) reads
//! it and queues a signed approval (printing the action id once its transaction
//! committed), then syncs. The parent SIGKILLs it at random moments.
//!
//! Usage: approval-child <dir> <server-url> <run> <count>

use taipei_core::approval::{ActRequest, InboxFilter};
use taipei_protocol::approval::Action;
use taipei_scenarios::open_profile;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, url, run, count] = args.as_slice() else {
        eprintln!("usage: approval-child <dir> <server-url> <run> <count>");
        std::process::exit(2);
    };
    let count: u32 = count.parse().unwrap_or(1);
    let client = open_profile(std::path::Path::new(dir), url).await;
    println!("opened");
    let approvals = client.approvals();
    if let Err(e) = approvals.sync_inbox().await {
        eprintln!("inbox sync failed: {e}");
        std::process::exit(1);
    }
    let page = match approvals.inbox(InboxFilter { limit: 100, ..InboxFilter::default() }).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("inbox failed: {e}");
            std::process::exit(1);
        }
    };
    let free = page.entries.iter().filter(|e| e.summary.actionable && e.pending.is_none());
    for entry in free.take(count as usize) {
        let id = &entry.summary.item_id;
        let queued = async {
            approvals.open(id).await?;
            approvals.enqueue(ActRequest::new(id, Action::Approve, &format!("run {run}"))).await
        };
        match queued.await {
            Ok(a) => println!("queued {}", a.action_id),
            Err(e) => {
                eprintln!("act failed: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("syncing");
    match client.sync().await {
        Ok(_) => println!("synced"),
        Err(e) => eprintln!("sync failed: {e}"),
    }
    let _ = client.close().await;
}
