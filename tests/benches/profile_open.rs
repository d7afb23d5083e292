//! Cold open of a profile: how long `Client::open` takes on an existing profile file
//! (a bound device with its sealed software key, a session token and a queued outbox),
//! which is what an app pays at every launch before its first screen can ask the core
//! anything. Run: `cargo bench -p taipei-scenarios --bench profile_open`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use taipei_scenarios::{offer_binding, open_profile, start_server};

fn profile_open(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let server = rt.block_on(async {
        let server = start_server(dir.path()).await;
        let client = open_profile(dir.path(), &server.base_url()).await;
        let qr = offer_binding(&server, "bench-user").await;
        client.bind_device(&qr).await.expect("bind");
        client.sign_in().await.expect("sign in");
        for i in 0..50 {
            client.report("bench", &format!("queued report {i}")).await.expect("report");
        }
        client.close().await.expect("close");
        server
    });
    let url = server.base_url();

    c.bench_function("open existing profile (bound, 50 queued items)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(async {
                    let t = Instant::now();
                    let client = open_profile(dir.path(), &url).await;
                    let spent = t.elapsed();
                    assert!(client.device().is_some(), "the bound device loads with the profile");
                    client.close().await.expect("close");
                    spent
                });
            }
            total
        })
    });

    c.bench_function("create a new profile (migrations, data key)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let fresh = tempfile::tempdir().expect("temp dir");
                total += rt.block_on(async {
                    let t = Instant::now();
                    let client = open_profile(fresh.path(), &url).await;
                    let spent = t.elapsed();
                    client.close().await.expect("close");
                    spent
                });
            }
            total
        })
    });
    rt.block_on(server.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = profile_open
}
criterion_main!(benches);
