//! Programmable delivery: what an event type or an endpoint decides about its own deliveries:
//! their retry schedule, how they are signed, how long an attempt may take.

mod common;

use std::time::Duration;

use common::{eventually, spawn_app, Backend, Receiver, Reply, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    event_types_follow_their_own_retry_schedule,
    ed25519_endpoints_sign_v1a_that_the_receiver_verifies,
    an_endpoint_can_give_up_sooner_than_the_server,
);

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

/// The `v1a` signature of a delivery, checked with the public key by ed25519-dalek, an
/// implementation independent of the one hookd signs with (ring).
fn verify_v1a(public_key: &str, got: &common::Received) -> Result<(), String> {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;
    let public: [u8; 32] = B64
        .decode(public_key.strip_prefix("whpk_").ok_or("not a whpk_ key")?)
        .map_err(|e| e.to_string())?
        .try_into()
        .map_err(|_| "not 32 bytes")?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public).map_err(|e| e.to_string())?;
    let content = [got.header("webhook-id"), ".", got.header("webhook-timestamp"), "."].concat();
    let content = [content.as_bytes(), &got.body].concat();
    let signatures: Vec<&str> =
        got.header("webhook-signature").split(' ').filter_map(|s| s.strip_prefix("v1a,")).collect();
    for signature in &signatures {
        let bytes: [u8; 64] =
            B64.decode(signature).map_err(|e| e.to_string())?.try_into().map_err(|_| "not 64 bytes")?;
        if key.verify_strict(&content, &ed25519_dalek::Signature::from_bytes(&bytes)).is_ok() {
            return Ok(());
        }
    }
    Err(format!("no v1a signature verifies: {signatures:?}"))
}

async fn ed25519_endpoints_sign_v1a_that_the_receiver_verifies(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    // A key pair made outside hookd (the receiver's side), given as the endpoint's secret.
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let secret = {
        use base64::Engine;
        let bytes = [signing.to_bytes(), signing.verifying_key().to_bytes()].concat();
        format!("whsk_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    let (app_id, endpoint_id) = app.app_and_endpoint(json!({"url": receiver.url("/hook"), "secret": secret})).await;
    // hookd shows the public key, never the secret one.
    let shown = app.get_json(&format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret")).await;
    let public = shown["key"].as_str().unwrap().to_owned();
    assert!(public.starts_with("whpk_"), "{shown}");
    {
        use base64::Engine;
        let expected = base64::engine::general_purpose::STANDARD.encode(signing.verifying_key().to_bytes());
        assert_eq!(public, format!("whpk_{expected}"));
    }
    app.publish(&app_id, json!({"eventType": "a", "payload": {"n": 1}})).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(got[0].header("webhook-signature").starts_with("v1a,"), "{}", got[0].header("webhook-signature"));
    verify_v1a(&public, &got[0]).unwrap();

    // Rotating without a key keeps it ed25519; during the grace period both keys sign.
    let path = format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate");
    let (status, rotated) = app.send_json(Method::POST, &path, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_public = rotated["key"].as_str().unwrap().to_owned();
    assert!(new_public.starts_with("whpk_") && new_public != public, "{rotated}");
    app.publish(&app_id, json!({"eventType": "a", "payload": {"n": 2}})).await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].header("webhook-signature").matches("v1a,").count(), 2, "{}", got[1].header("webhook-signature"));
    verify_v1a(&new_public, &got[1]).unwrap();
    verify_v1a(&public, &got[1]).unwrap();

    // A receiver holding only the public key: a tester inbox given it verifies the delivery.
    let (status, inbox) = app.send_json(Method::POST, "/api/v1/inbox", &json!({"name": "v1a", "secret": public})).await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    let mut replay = app.http.post(inbox["url"].as_str().unwrap()).body(got[0].body.clone());
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"] {
        replay = replay.header(name, got[0].header(name));
    }
    assert!(replay.send().await.unwrap().status().is_success());
    let captured = app.get_json(&format!("/api/v1/inbox/{}/request", inbox["id"].as_str().unwrap())).await;
    assert_eq!(captured["data"][0]["signature"], json!({"verified": true, "error": null}), "{captured}");

    // A public key cannot sign: refused, saying so.
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/app/{app_id}/endpoint"),
            &json!({"url": receiver.url("/x"), "secret": public}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["detail"][0]["msg"].as_str().unwrap().contains("public key"), "{body}");
    app.stop().await;
}

async fn an_endpoint_can_give_up_sooner_than_the_server(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // The tests' server gives an attempt 2 s; this endpoint, 300 ms.
    let receiver = Receiver::start_with(vec![Reply::Hang]).await;
    let body = json!({"url": receiver.url("/slow"), "requestTimeoutMs": 300});
    let (app_id, endpoint_id) = app.app_and_endpoint(body).await;
    let endpoint = app.get_json(&format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}")).await;
    assert_eq!(endpoint["requestTimeoutMs"], 300);
    let msg_id = app.publish(&app_id, json!({"eventType": "a", "payload": {}})).await;
    let path = format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}");
    let attempt = eventually(Duration::from_secs(10), "the first attempt recorded", || async {
        let page = app.get_json(&path).await;
        page["data"].as_array().unwrap().last().cloned()
    })
    .await;
    assert_eq!(attempt["error"], "timed out after 300 ms", "{attempt}");
    assert!(attempt["responseDurationMs"].as_i64().unwrap() < 2000, "{attempt}");
    receiver.release();

    // At most the server's own timeout; null goes back to it.
    let endpoint_path = format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}");
    let (status, answer) = app.send_json(Method::PATCH, &endpoint_path, &json!({"requestTimeoutMs": 5000})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["detail"][0]["loc"], json!(["body", "requestTimeoutMs"]));
    let (status, answer) = app.send_json(Method::PATCH, &endpoint_path, &json!({"requestTimeoutMs": null})).await;
    assert_eq!((status, answer["requestTimeoutMs"].clone()), (StatusCode::OK, Value::Null));
    app.stop().await;
}
