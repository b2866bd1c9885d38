//! Programmable delivery: what an event type or an endpoint decides about its own deliveries
//! (their retry schedule so far).

mod common;

use std::time::Duration;

use common::{eventually, spawn_app, Backend, Receiver, Reply, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(event_types_follow_their_own_retry_schedule);

/// How many attempts a message had, once its delivery failed for good.
async fn attempts_when_failed(app: &TestApp, app_id: &str, msg_id: &str) -> usize {
    let path = format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint");
    eventually(Duration::from_secs(15), "the delivery failed for good", || async {
        let page = app.get_json(&path).await;
        (page["data"][0]["statusText"] == "fail").then_some(())
    })
    .await;
    let attempts = app.get_json(&format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}")).await;
    attempts["data"].as_array().unwrap().len()
}

async fn event_types_follow_their_own_retry_schedule(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Every attempt fails. The server's schedule (tests: 100ms,100ms) gives 3 attempts.
    let receiver = Receiver::start_with(vec![Reply::Status(500); 20]).await;
    for name in ["short", "plain"] {
        app.send_json(Method::POST, "/api/v1/event-type", &json!({"name": name, "description": ""})).await;
    }
    let path = "/api/v1/event-type/short/retry-schedule";
    assert_eq!(app.get_json(path).await, json!({"retrySchedule": null}), "the server's until set");
    let one_retry = json!({"retrySchedule": [{"secs": 0, "nanos": 50_000_000}]});
    let (status, set) = app.send_json(Method::PUT, path, &one_retry).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set, one_retry);
    assert_eq!(app.get_json(path).await, one_retry);

    let (app_id, _) = app.app_and_endpoint(json!({"url": receiver.url("/hook")})).await;
    let short = app.publish(&app_id, json!({"eventType": "short", "payload": {}})).await;
    let plain = app.publish(&app_id, json!({"eventType": "plain", "payload": {}})).await;
    // Not registered: the server's schedule.
    let unknown = app.publish(&app_id, json!({"eventType": "not.registered", "payload": {}})).await;
    assert_eq!(attempts_when_failed(&app, &app_id, &short).await, 2, "one attempt and its one retry");
    assert_eq!(attempts_when_failed(&app, &app_id, &plain).await, 3);
    assert_eq!(attempts_when_failed(&app, &app_id, &unknown).await, 3);

    // Back to the server's.
    let (status, cleared) = app.send_json(Method::PUT, path, &json!({"retrySchedule": null})).await;
    assert_eq!((status, cleared), (StatusCode::OK, json!({"retrySchedule": null})));

    // What cannot be a schedule is refused, naming where.
    let cases: [(Value, Value); 3] = [
        (
            json!({"retrySchedule": [{"secs": 1, "nanos": 1_000_000_000}]}),
            json!(["body", "retrySchedule", "0", "nanos"]),
        ),
        (json!({"retrySchedule": [{"secs": 8 * 24 * 3600, "nanos": 0}]}), json!(["body", "retrySchedule", "0"])),
        (json!({"retrySchedule": vec![json!({"secs": 1, "nanos": 0}); 51]}), json!(["body", "retrySchedule"])),
    ];
    for (body, loc) in cases {
        let (status, answer) = app.send_json(Method::PUT, path, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{answer}");
    }
    let (status, _) = app.send_json(Method::PUT, "/api/v1/event-type/nope/retry-schedule", &one_retry).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}
