//! Two server processes (the `reference-server` binary) on one database, with the
//! client's requests spread across them: the one-time guarantees are the database's,
//! so they hold whichever process a copy lands on. Runs on the suite's engine — a
//! SQLite file shared by both processes, or PostgreSQL with `TAIPEI_TEST_DATABASE_URL`.
//! (The login, pickup-code and approval races across processes sit with their
//! subjects' tests, which hold the helpers they need: `login.rs`, `wallet.rs`,
//! `approval.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use common::process::three_servers;
use reqwest::StatusCode;
use taipei_server::limits::{Limit, RateLimits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_idempotency_key_across_two_processes_does_the_work_once() {
    let (t, a, b) = three_servers().await;
    common::duplicates_do_the_work_once(&t, &[a.base.clone(), b.base.clone()], "u-proc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_proof_replayed_across_two_processes_is_accepted_once() {
    let (t, a, b) = three_servers().await;
    common::a_proof_is_accepted_once_across(&t, &[a.base.clone(), b.base.clone()], "u-proc2").await;
}

/// One address flooding both processes gets one anonymous budget between them, not
/// one each: the burst plus what the sustained rate refilled while the flood lasted.
/// Every refusal is the usual 429 `rate_limited` with `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_spread_over_two_processes_gets_one_budget_not_two() {
    if common::postgres_only("the rate-limit budget is shared through the database") {
        return;
    }
    let (t, a, b) = three_servers().await;
    let Limit { per_minute, burst } = RateLimits::default().anonymous.unwrap();
    let started = Instant::now();
    let sends = (0..2 * burst as usize + 80).map(|i| {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        t.http.get(format!("{base}/v1/time")).send()
    });
    let responses: Vec<reqwest::Response> = futures::future::join_all(sends).await.into_iter().map(Result::unwrap).collect();
    let elapsed = started.elapsed();
    let mut accepted = 0;
    for response in responses {
        if response.status() == StatusCode::OK {
            accepted += 1;
            continue;
        }
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
        assert_eq!(common::error_of(response).await, (StatusCode::TOO_MANY_REQUESTS, "rate_limited".to_owned()));
    }
    // The readiness polls drew on the same budget, so fewer may be accepted, never more.
    let refilled = (elapsed.as_secs_f64() * f64::from(per_minute) / 60.0).ceil() as u32;
    eprintln!("{accepted} accepted in {elapsed:?} (burst {burst}, {refilled} refilled meanwhile)");
    assert!(accepted > 0, "the budget was not spent before the flood");
    assert!(accepted <= burst + refilled, "{accepted} accepted in {elapsed:?}: more than one budget of {burst} + {refilled}");
}

/// A flood of made-up keys leaves no rows in the shared budget: a key's row is deleted
/// once its budget is full again, so the table holds only the keys of the last moments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_budget_keeps_no_row_of_a_key_whose_budget_is_full_again() {
    if common::postgres_only("the rate-limit budget is shared through the database") {
        return;
    }
    let t = TestServer::start_with(|c| {
        c.purge_interval = Duration::from_millis(100);
        // A device key's row is a full budget again one interval (1 s) after its request.
        c.rate_limits = RateLimits { device: Some(Limit { per_minute: 60, burst: 5 }), anonymous: Some(Limit { per_minute: 60_000, burst: 1_000 }), admin: None };
    })
    .await;
    // Guessed tokens on a guessable device route: each is a key of its own.
    let sends = (0..200).map(|i| t.http.post(t.url("/v1/login/scan")).header("authorization", format!("DPoP guess{i}")).json(&serde_json::json!({"frame": "x"})).send());
    for response in futures::future::join_all(sends).await {
        assert_eq!(response.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let device_rows = || t.count("SELECT COUNT(*) FROM rate_limits WHERE key LIKE 'd%'");
    assert!(device_rows() > 0, "the flood drew on the shared budget");
    // Any limited request lets the process purge when it is due.
    for _ in 0..100 {
        assert_eq!(t.http.get(t.url("/v1/time")).send().await.unwrap().status(), StatusCode::OK);
        if device_rows() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} rows of full budgets are still kept", device_rows());
}
