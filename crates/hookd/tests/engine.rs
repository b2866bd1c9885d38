//! The delivery engine on bad days: rate limits, FIFO order, 410/429 handling, disabling
//! endpoints that keep failing, recovery, and leases.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, spawn_app, spawn_app_with, Backend, Receiver, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use svix::models::RecoverIn;

on_both_backends!(
    rate_limit_spaces_deliveries_and_fails_none,
    an_application_rate_limit_paces_its_endpoints_without_one,
    fifo_endpoint_delivers_in_publish_order_through_retries,
    an_endpoint_switched_to_fifo_delivers_what_was_pending_in_order,
    a_fifo_endpoint_gets_messages_from_before_it_existed_by_resend,
    a_resend_made_while_the_delivery_is_in_flight_is_sent,
    gone_410_disables_at_once_and_keeps_messages,
    too_many_requests_slows_the_endpoint_down,
    a_hanging_endpoint_ties_up_one_connection_not_its_cap,
    endpoint_failing_for_too_long_is_disabled,
    recover_requeues_failed_deliveries,
    expired_leases_make_work_claimable_again,
    claims_made_at_once_each_get_their_endpoints_earliest_due_deliveries,
    operational_webhooks_report_endpoint_and_delivery_events,
    an_endpoint_deleted_mid_attempt_loses_its_result_and_nothing_else,
    a_trickle_to_one_endpoint_does_not_keep_another_from_the_only_lane,
    deliveries_claimed_behind_a_hanging_attempt_are_given_back_not_left_leased,
    publishes_gathered_behind_a_wide_fan_out_are_each_stored_whole,
);

const WAIT: Duration = Duration::from_secs(15);

/// Publishes an `e.t` message with this payload.
async fn publish(app: &TestApp, app_id: &str, payload: Value) -> String {
    app.publish(app_id, json!({"eventType": "e.t", "payload": payload})).await
}

async fn endpoint_json(app: &TestApp, app_id: &str, ep_id: &str) -> Value {
    app.get_json(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}")).await
}

async fn rate_limit_spaces_deliveries_and_fails_none(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start().await;
    let (app_id, ep_id) = app.app_and_endpoint(json!({"url": receiver.url("/"), "rateLimit": 20})).await;
    assert_eq!(endpoint_json(&app, &app_id, &ep_id).await["rateLimit"], 20);
    for i in 0..30 {
        publish(&app, &app_id, json!({"i": i})).await;
    }
    let got = receiver.wait_for(30, WAIT).await;
    let span = got[29].at - got[0].at;
    println!("30 deliveries in {span:?}: {:.1}/s", 29.0 / span.as_secs_f64());
    // The limit holds in every window of 10 consecutive arrivals: 9 gaps at 20/s take 450 ms
    // (10 % allowed for arrival jitter). Only an upper bound on the rate: a slower machine may
    // deliver below the limit, never above it.
    for (i, window) in got.windows(10).enumerate() {
        let took = window[9].at - window[0].at;
        assert!(took >= Duration::from_millis(405), "arrivals {i}..{} took {took:?}: faster than 20/s", i + 9);
    }
    let stats = eventually(WAIT, "all recorded", || async {
        let s = app.svix.endpoint().get_stats(app_id.clone(), ep_id.clone(), None).await.unwrap();
        (s.pending == 0 && s.sending == 0).then_some(s)
    })
    .await;
    assert_eq!((stats.success, stats.fail), (30, 0), "waiting deliveries are never failed");
    app.stop().await;
}

/// An application's `rateLimit` applies to each of its endpoints that has none of its own
/// (the lane reads both in one query).
async fn an_application_rate_limit_paces_its_endpoints_without_one(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start().await;
    let (status, a) = app
        .send_json(Method::POST, "/api/v1/app", &json!({"name": "Limited", "uid": "limited", "rateLimit": 20}))
        .await;
    assert_eq!(status, 201, "{a}");
    let app_id = a["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .send_json(Method::POST, &format!("/api/v1/app/{app_id}/endpoint"), &json!({"url": receiver.url("/")}))
        .await;
    assert_eq!(status, 201);
    for i in 0..12 {
        publish(&app, &app_id, json!({"i": i})).await;
    }
    let got = receiver.wait_for(12, WAIT).await;
    // As above: 10 consecutive arrivals at 20/s take at least 450 ms (10 % for jitter).
    for (i, window) in got.windows(10).enumerate() {
        let took = window[9].at - window[0].at;
        assert!(took >= Duration::from_millis(405), "arrivals {i}..{} took {took:?}: faster than 20/s", i + 9);
    }
    app.stop().await;
}

async fn fifo_endpoint_delivers_in_publish_order_through_retries(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.retry_schedule = common::schedule("50ms,50ms,50ms")).await else {
        return;
    };
    // Fails now and then, so retries interleave with later messages unless order is enforced.
    let script = [500, 200, 500, 500, 200, 200, 503, 200, 200, 500, 200, 200, 200, 200, 200];
    let receiver = Receiver::start_with(script.iter().map(|c| Reply::Status(*c)).collect()).await;
    let (app_id, ep_id) = app.app_and_endpoint(json!({"url": receiver.url("/"), "fifo": true})).await;
    assert_eq!(endpoint_json(&app, &app_id, &ep_id).await["fifo"], true);
    let mut published = vec![];
    for i in 0..10 {
        published.push(publish(&app, &app_id, json!({"i": i})).await);
    }
    let expected_arrivals = 10 + script.iter().filter(|c| **c != 200).count();
    let got = receiver.wait_for(expected_arrivals, WAIT).await;
    let order: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    // Each message arrives as one run of attempts; runs are in publish order.
    let mut runs: Vec<&str> = order.clone();
    runs.dedup();
    assert_eq!(runs, published, "arrival order {order:?}");
    app.stop().await;
}

/// Deliveries pending when an endpoint turns FIFO are delivered, oldest message first: a
/// FIFO endpoint's claims read an index that (on SQLite) holds only the deliveries of FIFO
/// endpoints, so the switch must bring the endpoint's pending deliveries into it.
async fn an_endpoint_switched_to_fifo_delivers_what_was_pending_in_order(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.retry_schedule = common::schedule("2s")).await else { return };
    let receiver = Receiver::start_with(vec![Reply::Status(500); 5]).await;
    let (app_id, ep_id) = app.app_and_endpoint(json!({"url": receiver.url("/")})).await;
    let mut published = vec![];
    for i in 0..5 {
        published.push(publish(&app, &app_id, json!({"i": i})).await);
    }
    // Each failed once; their retries are due in 2 s, long after the switch.
    receiver.wait_for(5, WAIT).await;
    let (status, body) =
        app.send_json(Method::PATCH, &format!("/api/v1/app/{app_id}/endpoint/{ep_id}"), &json!({"fifo": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fifo"], true);
    published.push(publish(&app, &app_id, json!({"i": 5})).await);
    let got = receiver.wait_for(11, WAIT).await;
    let retried: Vec<&str> = got[5..].iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(retried, published, "after the switch, in publish order");
    app.stop().await;
}

/// A FIFO endpoint created after some messages were published gets each by a resend, in
/// order: the deliveries a resend stores are FIFO ones too.
async fn a_fifo_endpoint_gets_messages_from_before_it_existed_by_resend(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start().await;
    let (status, created) = app.send_json(Method::POST, "/api/v1/app", &json!({"name": "late endpoint"})).await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["id"].as_str().unwrap().to_owned();
    let mut published = vec![];
    for i in 0..4 {
        published.push(publish(&app, &app_id, json!({"i": i})).await);
    }
    let (status, ep) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/app/{app_id}/endpoint"),
            &json!({"url": receiver.url("/"), "fifo": true}),
        )
        .await;
    assert_eq!(status, 201, "{ep}");
    let ep_id = ep["id"].as_str().unwrap();
    for msg_id in &published {
        let (status, out) = app
            .send_json(Method::POST, &format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{ep_id}/resend"), &json!({}))
            .await;
        assert_eq!(status, 202, "{out}");
    }
    let got = receiver.wait_for(4, WAIT).await;
    let order: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(order, published);
    app.stop().await;
}

async fn a_resend_made_while_the_delivery_is_in_flight_is_sent(backend: Backend) {
    // The in-flight attempt's answer must not overwrite the resend queued meanwhile (it was
    // lost so: the answer's record marked the delivery succeeded, resend included). A FIFO
    // endpoint makes one attempt at a time, so the resend can only start once the first
    // attempt's answer is in.
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start_with(vec![Reply::Hang]).await;
    let (app_id, ep_id) = app.app_and_endpoint(json!({"url": receiver.url("/"), "fifo": true})).await;
    let msg_id = publish(&app, &app_id, json!({"n": 1})).await;
    receiver.wait_for(1, WAIT).await;
    let path = format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{ep_id}/resend");
    let (status, out) = app.send_json(Method::POST, &path, &json!({})).await;
    assert_eq!(status, 202, "{out}");
    receiver.release();
    let got = receiver.wait_for(2, WAIT).await;
    assert!(got.iter().all(|r| r.header("webhook-id") == msg_id));
    let attempts = eventually(WAIT, "both attempts logged", || async {
        let page = app.get_json(&format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}")).await;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        (data.len() == 2).then_some(data)
    })
    .await;
    assert!(attempts.iter().all(|a| a["responseStatusCode"] == 200), "{attempts:?}");
    app.stop().await;
}

async fn gone_410_disables_at_once_and_keeps_messages(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start_with(vec![Reply::Status(410)]).await;
    let (app_id, ep_id) = app.app_and_endpoint(json!({"url": receiver.url("/")})).await;
    let first = publish(&app, &app_id, json!({"n": 1})).await;
    receiver.wait_for(1, WAIT).await;
    eventually(WAIT, "endpoint disabled", || async {
        (endpoint_json(&app, &app_id, &ep_id).await["disabled"] == true).then_some(())
    })
    .await;
    let second = publish(&app, &app_id, json!({"n": 2})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 1, "nothing is sent to a disabled endpoint");
    let stats = app.svix.endpoint().get_stats(app_id.clone(), ep_id.clone(), None).await.unwrap();
    assert_eq!((stats.pending, stats.fail), (1, 0), "the first message waits; the second was not routed");

    let (status, _) = app
        .send_json(Method::PATCH, &format!("/api/v1/app/{app_id}/endpoint/{ep_id}"), &json!({"disabled": false}))
        .await;
    assert_eq!(status, 200);
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got[1].header("webhook-id"), first);
    assert_ne!(got[1].header("webhook-id"), second);
    app.stop().await;
}

async fn too_many_requests_slows_the_endpoint_down(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start_with(vec![Reply::WithHeaders(429, vec![("retry-after", "2".into())])]).await;
    let (app_id, ep_id) = app.app_and_endpoint(json!({"url": receiver.url("/")})).await;
    publish(&app, &app_id, json!({"n": 1})).await;
    receiver.wait_for(1, WAIT).await;
    eventually(WAIT, "the 429 recorded", || async {
        let list = app.svix.message_attempt().list_by_endpoint(app_id.clone(), ep_id.clone(), None).await.unwrap();
        (!list.data.is_empty()).then_some(())
    })
    .await;
    publish(&app, &app_id, json!({"n": 2})).await;
    let got = receiver.wait_for(2, WAIT).await;
    let pause = got[1].at - got[0].at;
    assert!(pause >= Duration::from_millis(1900), "the endpoint was paused for its Retry-After, got {pause:?}");
    receiver.wait_for(3, WAIT).await;
    app.stop().await;
}

/// A lane opens up to the endpoint's cap (8) only as answers come back: while the first
/// attempt hangs, nothing else is sent; once answers flow, the rest follow.
async fn a_hanging_endpoint_ties_up_one_connection_not_its_cap(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start_with(vec![Reply::Hang]).await;
    let (app_id, _) = app.app_and_endpoint(json!({"url": receiver.url("/")})).await;
    for n in 0..10 {
        publish(&app, &app_id, json!({"n": n})).await;
    }
    receiver.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1, "one attempt in flight while the endpoint hangs");
    // The hang ends with the 2 s request timeout; the other nine then arrive.
    let got = receiver.wait_for(10, WAIT).await;
    let mut delivered: Vec<i64> = got[1..].iter().map(|r| r.json()["n"].as_i64().unwrap()).collect();
    delivered.sort();
    delivered.dedup();
    assert!(delivered.len() >= 9, "the rest were delivered after the hang: {delivered:?}");
    app.stop().await;
}

async fn endpoint_failing_for_too_long_is_disabled(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.disable_after = Duration::from_millis(300);
        c.retry_schedule = common::schedule("100ms,100ms,100ms,100ms,100ms,100ms");
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start_with(vec![Reply::Status(500); 100]).await;
    let (app_id, ep_id) = app.app_and_endpoint(json!({"url": receiver.url("/")})).await;
    let msg = publish(&app, &app_id, json!({})).await;
    eventually(WAIT, "endpoint disabled", || async {
        (endpoint_json(&app, &app_id, &ep_id).await["disabled"] == true).then_some(())
    })
    .await;
    let dest = app.get_json(&format!("/api/v1/app/{app_id}/msg/{msg}/endpoint")).await;
    assert_eq!(dest["data"][0]["statusText"], "pending", "kept, not dropped: {dest}");
    app.stop().await;
}

async fn recover_requeues_failed_deliveries(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.retry_schedule = common::schedule("")).await else { return };
    let receiver = Receiver::start_with(vec![Reply::Status(500); 3]).await;
    let (app_id, ep_id) = app.app_and_endpoint(json!({"url": receiver.url("/")})).await;
    for i in 0..3 {
        publish(&app, &app_id, json!({"i": i})).await;
    }
    eventually(WAIT, "three failures", || async {
        let s = app.svix.endpoint().get_stats(app_id.clone(), ep_id.clone(), None).await.unwrap();
        (s.fail == 3).then_some(())
    })
    .await;
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let out = app.svix.endpoint().recover(app_id.clone(), ep_id.clone(), RecoverIn::new(since), None).await.unwrap();
    assert_eq!(out.task, svix::models::BackgroundTaskType::EndpointRecover);
    receiver.wait_for(6, WAIT).await;
    eventually(WAIT, "recovered", || async {
        let s = app.svix.endpoint().get_stats(app_id.clone(), ep_id.clone(), None).await.unwrap();
        (s.success == 3 && s.fail == 0).then_some(())
    })
    .await;
    // A window that excludes the messages recovers nothing.
    let until = since + chrono::Duration::minutes(1);
    let (status, out) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/app/{app_id}/endpoint/{ep_id}/recover"),
            &json!({"since": since.to_rfc3339(), "until": until.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(out["recovered"], 0);
    app.stop().await;
}

async fn expired_leases_make_work_claimable_again(backend: Backend) {
    // A node with no worker, so that only this test claims.
    let Some(app) = spawn_app_with(backend, |c| c.role = hookd::config::Role::Api).await else { return };
    let (app_id, ep_id) = app.app_and_endpoint(json!({"url": "https://example.com/"})).await;
    let ep_id = hookd_core::EndpointId::parse(&ep_id).unwrap();
    publish(&app, &app_id, json!({})).await;
    let store = hookd::app::open_store(&app.config.database, 2).await.unwrap();
    assert_eq!(store.claim_endpoints(10, 300, "node-a").await.unwrap(), vec![ep_id.clone()]);
    assert!(store.claim_endpoints(10, 300, "node-b").await.unwrap().is_empty(), "leased by node-a");
    let claim = store.claim_endpoint_deliveries(&ep_id, 10, 300, false).await.unwrap();
    assert_eq!(claim.deliveries.len(), 1);
    assert!(store.claim_endpoint_deliveries(&ep_id, 10, 300, false).await.unwrap().deliveries.is_empty());
    // node-a dies: after the leases run out, node-b gets the endpoint and the delivery.
    let started = Instant::now();
    let taken = eventually(WAIT, "endpoint lease expiry", || async {
        let got = store.claim_endpoints(10, 300, "node-b").await.unwrap();
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(taken, vec![ep_id.clone()]);
    assert!(!store.renew_endpoint_lease(&ep_id, "node-a", 300).await.unwrap(), "node-a lost it");
    let reclaimed = eventually(WAIT, "delivery lease expiry", || async {
        let claim = store.claim_endpoint_deliveries(&ep_id, 10, 300, false).await.unwrap();
        (!claim.deliveries.is_empty()).then_some(claim.deliveries)
    })
    .await;
    assert_eq!(reclaimed[0].msg_id, claim.deliveries[0].msg_id);
    store.close().await;
    app.stop().await;
}

async fn claims_made_at_once_each_get_their_endpoints_earliest_due_deliveries(backend: Backend) {
    // Claims of several lanes made at the same moment run as one transaction (`claim.rs`):
    // each must get its own endpoint's due deliveries, no more than its limit, and a claim
    // that took all there were learns when the endpoint's next delivery is due.
    let Some(app) = spawn_app_with(backend, |c| c.role = hookd::config::Role::Api).await else { return };
    let mut endpoints = Vec::new();
    for published in [3, 1, 0] {
        let (app_id, ep_id) = app.app_and_endpoint(json!({"url": "https://example.com/"})).await;
        let mut messages = Vec::new();
        for n in 0..published {
            messages.push(publish(&app, &app_id, json!({"n": n})).await);
        }
        endpoints.push((hookd_core::EndpointId::parse(&ep_id).unwrap(), messages));
    }
    let store = hookd::app::open_store(&app.config.database, 4).await.unwrap();
    let [(a, a_msgs), (b, b_msgs), (c, _)] = &endpoints[..] else { unreachable!() };
    let lease_ms = 60_000;
    let before = hookd_core::time::now_ms();
    let (claim_a, claim_b, claim_c) = tokio::join!(
        store.claim_endpoint_deliveries(a, 2, lease_ms, false),
        store.claim_endpoint_deliveries(b, 5, lease_ms, false),
        store.claim_endpoint_deliveries(c, 5, lease_ms, false),
    );
    let (claim_a, claim_b, claim_c) = (claim_a.unwrap(), claim_b.unwrap(), claim_c.unwrap());
    let ids = |claim: &hookd_store::DeliveryClaim, endpoint: &hookd_core::EndpointId| -> Vec<String> {
        assert!(claim.deliveries.iter().all(|d| &d.endpoint_id == endpoint), "only its own endpoint's");
        claim.deliveries.iter().map(|d| d.msg_id.to_string()).collect()
    };
    let first_a = ids(&claim_a, a);
    assert_eq!(first_a.len(), 2, "as many as its limit");
    assert!(first_a.iter().all(|m| a_msgs.contains(m)) && first_a[0] != first_a[1]);
    assert_eq!(claim_a.next_due, None, "a full claim does not look further");
    assert_eq!(ids(&claim_b, b), b_msgs.clone());
    assert!(claim_b.next_due.is_some_and(|due| due >= before + lease_ms), "its next: the lease's end");
    assert!(claim_c.deliveries.is_empty());
    assert_eq!(claim_c.next_due, None, "nothing pending");
    // The rest of the first endpoint's, and nothing twice.
    let rest = store.claim_endpoint_deliveries(a, 5, lease_ms, false).await.unwrap();
    let rest = ids(&rest, a);
    assert_eq!(rest.len(), 1);
    assert!(a_msgs.contains(&rest[0]) && !first_a.contains(&rest[0]));
    store.close().await;
    app.stop().await;
}

async fn operational_webhooks_report_endpoint_and_delivery_events(backend: Backend) {
    let ops = Receiver::start().await;
    let Some(app) = spawn_app_with(backend, |c| {
        c.operational_webhook_url = Some(ops.url("/ops"));
        c.retry_schedule = common::schedule("50ms,50ms,50ms,50ms");
    })
    .await
    else {
        return;
    };
    let secret = app.get_json("/api/v1/app/hookd.operational/endpoint/operational-webhook-url/secret").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let failing = Receiver::start_with(vec![Reply::Status(500); 5]).await;
    let (app_id, ep_id) = app.app_and_endpoint(json!({"url": failing.url("/"), "uid": "flaky"})).await;
    let msg = publish(&app, &app_id, json!({})).await;

    let events = eventually(WAIT, "operational webhooks", || async {
        let got = ops.received();
        let types: Vec<String> = got.iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect();
        types.contains(&"message.attempt.exhausted".to_string()).then_some(got)
    })
    .await;
    let types: Vec<String> = events.iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["endpoint.created", "message.attempt.failing", "message.attempt.exhausted"], "{types:?}");
    for event in &events {
        event.verify(&secret).expect("operational webhooks are signed like any other");
    }
    let created = events[0].json();
    assert_eq!(created["data"]["endpointId"], ep_id.as_str());
    assert_eq!(created["data"]["endpointUid"], "flaky");
    let exhausted = events[2].json();
    assert_eq!(exhausted["data"]["msgId"], msg.as_str());
    assert_eq!(exhausted["data"]["lastAttempt"]["responseStatusCode"], 500);

    // A 410 disables the endpoint, which is reported too.
    let gone = Receiver::start_with(vec![Reply::Status(410)]).await;
    let (status, _) = app
        .send_json(Method::PATCH, &format!("/api/v1/app/{app_id}/endpoint/{ep_id}"), &json!({"url": gone.url("/")}))
        .await;
    assert_eq!(status, 200);
    publish(&app, &app_id, json!({})).await;
    let disabled = eventually(WAIT, "endpoint.disabled", || async {
        ops.received().into_iter().map(|r| r.json()).find(|e| e["type"] == "endpoint.disabled")
    })
    .await;
    assert_eq!(disabled["data"]["endpointId"], ep_id.as_str());
    assert!(ops.received().iter().any(|r| r.json()["type"] == "endpoint.updated"));
    app.stop().await;
}

/// An endpoint deleted while an attempt to it is in flight takes its deliveries with it, so
/// the attempt's result has nothing left to be recorded against (a foreign-key failure in the
/// group commit). That result is dropped; the results committed alongside it are not.
async fn an_endpoint_deleted_mid_attempt_loses_its_result_and_nothing_else(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let hanging = Receiver::start_with(vec![Reply::Hang]).await;
    let ok = Receiver::start().await;
    let (app_id, hanging_id) = app.app_and_endpoint(json!({"url": hanging.url("/")})).await;
    let res = app
        .request(Method::POST, &format!("/api/v1/app/{app_id}/endpoint"))
        .json(&json!({"url": ok.url("/")}))
        .send()
        .await
        .unwrap();
    let ok_id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let first = publish(&app, &app_id, json!({"n": 0})).await;
    hanging.wait_for(1, WAIT).await;
    let res = app.request(Method::DELETE, &format!("/api/v1/app/{app_id}/endpoint/{hanging_id}")).send().await;
    assert_eq!(res.unwrap().status(), 204);
    // Publishes all through the hang's end (the 2 s request timeout), so that results to the
    // healthy endpoint are written while the orphaned one fails.
    for n in 1..=30 {
        publish(&app, &app_id, json!({"n": n})).await;
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    let got = ok.wait_for(31, WAIT).await;
    let mut seen: Vec<i64> = got.iter().map(|r| r.json()["n"].as_i64().unwrap()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 31, "each message arrived once");
    let attempts = eventually(WAIT, "every healthy attempt recorded", || async {
        let page = app.get_json(&format!("/api/v1/app/{app_id}/attempt/endpoint/{ok_id}?limit=250")).await;
        let data = page["data"].as_array().unwrap().clone();
        (data.len() == 31).then_some(data)
    })
    .await;
    assert!(attempts.iter().all(|a| a["status"] == 0), "{attempts:?}");
    let destinations = app.get_json(&format!("/api/v1/app/{app_id}/msg/{first}/endpoint")).await;
    let destinations = destinations["data"].as_array().unwrap();
    assert_eq!(destinations.len(), 1, "the deleted endpoint's delivery went with it: {destinations:?}");
    assert_eq!(destinations[0]["id"], ok_id.as_str());
    assert_eq!(destinations[0]["status"], 0);
    // And the node goes on.
    publish(&app, &app_id, json!({"n": 31})).await;
    ok.wait_for(32, WAIT).await;
    app.stop().await;
}

async fn a_trickle_to_one_endpoint_does_not_keep_another_from_the_only_lane(backend: Backend) {
    // One lane on this node. Endpoint A gets a message every 100 ms, so its lane is never
    // idle for the second it would otherwise hold on for more; B's one message must still get
    // the lane while the trickle goes on, not after it ends.
    let Some(app) = spawn_app_with(backend, |c| c.max_active_endpoints = 1).await else { return };
    let receiver = Receiver::start().await;
    let (app_a, _) = app.app_and_endpoint(json!({"url": receiver.url("/a")})).await;
    let (app_b, _) = app.app_and_endpoint(json!({"url": receiver.url("/b")})).await;
    publish(&app, &app_a, json!({"n": 0})).await;
    receiver.wait_for(1, WAIT).await; // A holds the lane
    publish(&app, &app_b, json!({})).await;
    let mut trickled = 1;
    while !receiver.received().iter().any(|r| r.path == "/b") {
        assert!(trickled < 150, "B waited through {trickled} messages to A for the only lane");
        publish(&app, &app_a, json!({"n": trickled})).await;
        trickled += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A loses nothing by sharing.
    eventually(WAIT, "every message to A", || async {
        let to_a = receiver.received().iter().filter(|r| r.path == "/a").count();
        (to_a == trickled).then_some(())
    })
    .await;
    app.stop().await;
}

async fn deliveries_claimed_behind_a_hanging_attempt_are_given_back_not_left_leased(backend: Backend) {
    // One attempt at a time; a claim may wait 1 s in the lane (its lease, 22 s, less the
    // request timeout, 20 s, less 1 s) before it is too late to start. The first attempt
    // hangs for 3 s, so the three claimed behind it go stale; they must be due again when
    // the endpoint answers, not held by their leases for another 19 s.
    let Some(app) = spawn_app_with(backend, |c| {
        c.endpoint_concurrency = 1;
        c.request_timeout = Duration::from_secs(20);
        c.lease = Duration::from_secs(22);
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start_with(vec![Reply::Hang]).await;
    let (app_id, _) = app.app_and_endpoint(json!({"url": receiver.url("/")})).await;
    for n in 0..4 {
        publish(&app, &app_id, json!({"n": n})).await;
    }
    receiver.wait_for(1, WAIT).await; // the first attempt hangs
    tokio::time::sleep(Duration::from_secs(3)).await;
    receiver.release();
    // Well within the 19 s their leases had left: `wait_for` fails the test past 10 s.
    let got = receiver.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 4);
    app.stop().await;
}

async fn publishes_gathered_behind_a_wide_fan_out_are_each_stored_whole(backend: Backend) {
    // A node with no worker: every delivery waits in the database, so each publish to this
    // application leaves 40 behind it, and on SQLite the commit thread gathers the publishes
    // that follow (`commit.rs`, `GATHER_WIDE`). Every publish must still be answered, and
    // every message stored to every endpoint exactly once.
    let Some(app) = spawn_app_with(backend, |c| c.role = hookd::config::Role::Api).await else { return };
    let (app_id, first) = app.app_and_endpoint(json!({"url": "https://example.com/0"})).await;
    let mut endpoints = vec![first];
    for n in 1..40 {
        let path = format!("/api/v1/app/{app_id}/endpoint");
        let (status, ep) =
            app.send_json(Method::POST, &path, &json!({"url": format!("https://example.com/{n}")})).await;
        assert_eq!(status, 201, "{ep}");
        endpoints.push(ep["id"].as_str().unwrap().to_owned());
    }
    let mut published = vec![publish(&app, &app_id, json!({"n": 0})).await];
    let together = futures_util::future::join_all((1..30).map(|n| publish(&app, &app_id, json!({"n": n})))).await;
    published.extend(together);
    published.sort();
    published.dedup();
    assert_eq!(published.len(), 30, "30 messages, each its own");
    let store = hookd::app::open_store(&app.config.database, 2).await.unwrap();
    for ep_id in &endpoints {
        let ep_id = hookd_core::EndpointId::parse(ep_id).unwrap();
        let claim = store.claim_endpoint_deliveries(&ep_id, 100, 60_000, false).await.unwrap();
        let mut got: Vec<String> = claim.deliveries.iter().map(|d| d.msg_id.to_string()).collect();
        got.sort();
        assert_eq!(got, published, "endpoint {ep_id} has each message once");
    }
    store.close().await;
    app.stop().await;
}
