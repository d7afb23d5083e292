//! Child process of the attendance crash scenario: opens a bound profile whose office is
//! stored, records punches (printing each id once its transaction committed) and
//! syncs. The parent SIGKILLs it at random moments.
//!
//! Usage: attendance-child <dir> <server-url> <run> <count>

use taipei_core::PunchKind;
use taipei_scenarios::open_profile;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, url, run, count] = args.as_slice() else {
        eprintln!("usage: attendance-child <dir> <server-url> <run> <count>");
        std::process::exit(2);
    };
    let count: u32 = count.parse().unwrap_or(1);
    let client = open_profile(std::path::Path::new(dir), url).await;
    println!("opened");
    for i in 0..count {
        let kind = if i % 2 == 0 { PunchKind::In } else { PunchKind::Out };
        match client.attendance().manual_punch(kind, &format!("run {run} punch {i}")).await {
            Ok(p) => println!("queued {}", p.punch_id),
            Err(e) => {
                eprintln!("punch failed: {e}");
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
