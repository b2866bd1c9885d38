//! A slow or dead endpoint never delays the others: 100 endpoints that hang until the request
//! timeout and one healthy endpoint, all subscribed to every message, published at 200 msg/s.
//! The healthy endpoint's publish-to-arrival p99 must stay under 100 ms, on each backend.
//!
//! One test binary with one test, running the backends one after the other, so that nothing
//! else loads the machine while it measures.
//!
//! What keeps the healthy endpoint fast, besides each endpoint having its own lane: a lane
//! that gets no answers keeps one attempt in flight rather than its whole cap (so 100 dead
//! endpoints tie up 100 connections, not 800, and do not open 700 more at once when the
//! load starts); fresh deliveries reach the healthy lane straight from the publish; attempt
//! results are committed in bounded batches behind publishes; and SQLite's log is
//! checkpointed in the background instead of inside a commit.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{spawn_app_with, Backend, Receiver, Reply};
use reqwest::Method;
use serde_json::json;

const DEAD_ENDPOINTS: usize = 100;
const RATE: u64 = 200;
const MESSAGES: usize = 400;
/// The p99 asserted: the engine issue's goal. Measured on the 2-core CI machine: SQLite
/// 11–15 ms, PostgreSQL 5–15 ms (fifth session); the figures are printed with `--nocapture`.
/// Runs after the PostgreSQL-heavy test binaries once measured 512 ms there (an earlier
/// session), which is why `measure` first has the kernel and PostgreSQL write out what those
/// left dirty.
const P99_GOAL: Duration = Duration::from_millis(100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_endpoints_do_not_delay_a_healthy_one() {
    let _ = tracing_subscriber::fmt().with_env_filter("error").try_init();
    let mut measured = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if let Some(p99) = measure(backend).await {
            measured.push((backend, p99));
        }
    }
    for (backend, p99) in measured {
        assert!(p99 < P99_GOAL, "{backend:?}: p99 {p99:?}, the goal is {P99_GOAL:?}");
    }
}

async fn measure(backend: Backend) -> Option<Duration> {
    // The test binaries before this one leave hundreds of MB of dirty pages (PostgreSQL
    // databases created and dropped, SQLite files) and PostgreSQL a checkpoint to make; the
    // kernel writing them back would slow this test's syncs to disk. Flushed first, so the
    // measurement is of this load alone.
    let synced = std::process::Command::new("sync").status();
    assert!(synced.as_ref().is_ok_and(|s| s.success()), "sync failed: {synced:?}");
    if backend == Backend::Postgres {
        common::checkpoint_postgres().await;
    }
    // The dead endpoints hang until the 2 s request timeout; their retries follow hookd's
    // default schedule (the first after 5 s), as in production.
    let app = spawn_app_with(backend, |c| c.retry_schedule = common::schedule("5s,5m")).await?;
    let healthy = Receiver::start().await;
    let dead = Receiver::start_with(vec![Reply::Hang; DEAD_ENDPOINTS * MESSAGES * 2]).await;
    let res = app.request(Method::POST, "/api/v1/app").json(&json!({"name": "A", "uid": "a"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    for i in 0..DEAD_ENDPOINTS {
        let res = app
            .request(Method::POST, "/api/v1/app/a/endpoint")
            .json(&json!({"url": dead.url(&format!("/dead/{i}"))}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let res = app
        .request(Method::POST, "/api/v1/app/a/endpoint")
        .json(&json!({"url": healthy.url("/ok")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // Warm-up: one message to all, so that every lane runs and the dead endpoints already
    // hang when the measurement starts (the state this test is about).
    let res = app
        .request(Method::POST, "/api/v1/app/a/msg")
        .json(&json!({"eventType": "warm-up", "payload": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    healthy.wait_for(1, Duration::from_secs(10)).await;
    dead.wait_for(DEAD_ENDPOINTS, Duration::from_secs(10)).await;

    let published: Arc<Mutex<HashMap<u64, Instant>>> = Default::default();
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let mut publishers = tokio::task::JoinSet::new();
    for i in 0..MESSAGES as u64 {
        ticker.tick().await;
        let (request, published) = (app.request(Method::POST, "/api/v1/app/a/msg"), published.clone());
        publishers.spawn(async move {
            published.lock().unwrap().insert(i, Instant::now());
            let res = request.json(&json!({"eventType": "load", "payload": {"i": i}})).send().await.unwrap();
            let status = res.status();
            assert_eq!(status, 202, "{}", res.text().await.unwrap());
        });
    }
    while publishers.join_next().await.is_some() {}
    let got = healthy.wait_for(MESSAGES + 1, Duration::from_secs(30)).await;
    let got: Vec<_> = got.into_iter().filter(|r| r.json().get("i").is_some()).collect();
    assert_eq!(got.len(), MESSAGES);
    let mut latencies: Vec<Duration> = {
        let published = published.lock().unwrap();
        got.iter().map(|r| r.at - published[&r.json()["i"].as_u64().unwrap()]).collect()
    };
    latencies.sort();
    let quantile = |q: usize| latencies[(latencies.len() * q / 100).min(latencies.len() - 1)];
    println!(
        "{backend:?}: healthy endpoint publish-to-arrival p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        quantile(50),
        quantile(90),
        quantile(99),
        latencies.last().unwrap()
    );
    let p99 = quantile(99);
    assert!(dead.received().len() >= DEAD_ENDPOINTS, "the dead endpoints were tried too");
    app.stop().await;
    Some(p99)
}
