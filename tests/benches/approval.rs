//! Mobile approval on loopback (closing-note figures of the approval issue): the first
//! inbox sync of N items into the profile and the first inbox page read from the store
//! afterwards; act → receipt latency (read, sign, queue, send, settle) p50/p95; a batch
//! of 50 approvals. Items are filed through the back-office route first (not timed).
//!
//! Phone and server share this machine's cores. Run:
//! `cargo bench -p taipei-scenarios --bench approval` (`-- --quick`: 500 items).

use std::time::{Duration, Instant};

use taipei_core::approval::{ActRequest, ActionState, InboxFilter};
use taipei_core::Client;
use taipei_protocol::approval::Action;
use taipei_scenarios::{approval_item, approval_person, offer_binding, profile_config, software_platform, start_server_with};

const ACTS: usize = 200;
const BATCH: usize = 50;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let items: usize = if quick { 500 } else { 5_000 };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    rt.block_on(async {
        // Filing thousands of items from one address is the bench's setup, not traffic.
        let server = start_server_with(dir.path(), |c| c.rate_limits = taipei_server::limits::RateLimits::off()).await;
        let url = server.base_url();
        approval_person(&server, "clerk", 5).await;
        approval_person(&server, "director", 2).await;
        let t = Instant::now();
        let mut ids = Vec::with_capacity(items);
        for n in 0..items {
            ids.push(approval_item(&server, &format!("公文 {n}"), &["clerk", "director"], "document").await);
        }
        eprintln!("filed {items} items in {:.1} s", t.elapsed().as_secs_f64());
        let client = Client::open(profile_config(dir.path(), &url), software_platform(dir.path())).await.expect("open");
        client.bind_device(&offer_binding(&server, "director").await).await.expect("bind");
        let approvals = client.approvals();

        let t = Instant::now();
        let report = approvals.sync_inbox().await.expect("sync");
        let synced = t.elapsed();
        assert_eq!(report.changed as usize, items);
        let mut firsts = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let page = approvals.inbox(InboxFilter::default()).await.expect("inbox");
            firsts.push(t.elapsed());
            assert_eq!((page.entries.len(), page.counts.document as usize), (20, items));
        }
        firsts.sort();

        // Act → receipt: each item read first (untimed), then one act() timed to its verdict.
        let mut acts = Vec::with_capacity(ACTS);
        for id in &ids[..ACTS] {
            approvals.open(id).await.expect("open");
            let t = Instant::now();
            let record = approvals.act(ActRequest::new(id, Action::Approve, "如擬")).await.expect("act");
            acts.push(t.elapsed());
            assert_eq!(record.state, ActionState::Done);
        }
        acts.sort();

        let batch_ids = &ids[ACTS..ACTS + BATCH];
        for id in batch_ids {
            approvals.open(id).await.expect("open");
        }
        let t = Instant::now();
        let results = approvals.act_batch(batch_ids.iter().map(|id| ActRequest::new(id, Action::Approve, "同意")).collect()).await.expect("batch");
        let batch = t.elapsed();
        assert!(results.iter().all(|r| r.as_ref().is_ok_and(|a| a.state == ActionState::Done)));

        println!(
            "approval: inbox sync of {items} items {:.0} ms; first inbox page from the store p50 {:.2} ms (max {:.2}); act → receipt p50 {:.2} ms, p95 {:.2} ms ({ACTS} acts); batch of {BATCH} {:.0} ms",
            synced.as_secs_f64() * 1e3,
            percentile(&firsts, 0.5),
            percentile(&firsts, 1.0),
            percentile(&acts, 0.5),
            percentile(&acts, 0.95),
            batch.as_secs_f64() * 1e3
        );
        client.close().await.expect("close");
        server.shutdown().await;
    });
}
