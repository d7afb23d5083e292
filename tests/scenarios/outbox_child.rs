//! Child process of the crash scenario: opens a bound profile, queues reports (printing
//! each once its transaction committed) and syncs. The parent SIGKILLs it at random.
//!
//! Usage: outbox-child <dir> <server-url> <run> <count>

use taipei_scenarios::open_profile;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, url, run, count] = args.as_slice() else {
        eprintln!("usage: outbox-child <dir> <server-url> <run> <count>");
        std::process::exit(2);
    };
    let count: u32 = count.parse().unwrap_or(1);
    let client = open_profile(std::path::Path::new(dir), url).await;
    println!("opened");
    for i in 0..count {
        let text = format!("run {run} report {i}");
        match client.report("crash", &text).await {
            Ok(_) => println!("queued {text}"),
            Err(e) => {
                eprintln!("report failed: {e}");
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
