//! Programmable delivery: what an event type or an endpoint decides about its own deliveries:
//! their retry schedule, how they are signed, how long an attempt may take, which messages
//! it receives at all (payload filters), how hookd proves itself to it (OAuth 2.0, mTLS),
//! what it receives (transformations).

mod common;

use std::time::Duration;

use common::{eventually, spawn_app, Backend, Receiver, Reply, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    event_types_follow_their_own_retry_schedule,
    ed25519_endpoints_sign_v1a_that_the_receiver_verifies,
    an_endpoint_can_give_up_sooner_than_the_server,
    payload_filters_choose_what_an_endpoint_receives,
    oauth_endpoints_get_a_bearer_token_and_a_new_one_on_401,
    mtls_endpoints_get_the_client_certificate,
    transformations_rewrite_or_cancel_deliveries,
    failing_transformations_fail_their_attempt_alone,
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
    let attempt = first_attempt_of(&app, &app_id, &msg_id).await;
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

async fn payload_filters_choose_what_an_endpoint_receives(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let big_eu = Receiver::start().await;
    let everything = Receiver::start().await;
    let filter = "payload.amount > 1000 && 'eu' in channels";
    let (app_id, filtered_id) = app.app_and_endpoint(json!({"url": big_eu.url("/big"), "filter": filter})).await;
    let (status, plain) = app
        .send_json(Method::POST, &format!("/api/v1/app/{app_id}/endpoint"), &json!({"url": everything.url("/all")}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    let endpoint_path = format!("/api/v1/app/{app_id}/endpoint/{filtered_id}");
    assert_eq!(app.get_json(&endpoint_path).await["filter"], filter);

    let publish = |amount: Value, channel: &str| {
        let body = json!({"eventType": "invoice.paid", "payload": {"amount": amount}, "channels": [channel]});
        app.publish(&app_id, body)
    };
    let passes = publish(json!(1500), "eu").await;
    let too_small = publish(json!(10), "eu").await;
    let elsewhere = publish(json!(5000), "us").await;
    // `amount` is a string: `>` between a string and an int fails, which keeps it back too.
    let fails = publish(json!("lots"), "eu").await;

    let all = everything.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(all.len(), 4);
    let got = big_eu.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].header("webhook-id"), passes);
    // Kept back means no delivery at all: the messages list only the other endpoint.
    for msg_id in [&too_small, &elsewhere, &fails] {
        let deliveries = app.get_json(&format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint")).await;
        let endpoints: Vec<&str> =
            deliveries["data"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(endpoints, [plain["id"].as_str().unwrap()], "{msg_id}: {deliveries}");
    }
    let stats = eventually(Duration::from_secs(10), "the filtered endpoint's delivery succeeded", || async {
        let stats = app.get_json(&format!("{endpoint_path}/stats")).await;
        (stats["success"] == 1).then_some(stats)
    })
    .await;
    assert_eq!((stats["filtered"].clone(), stats["filterErrors"].clone()), (json!(3), json!(1)), "{stats}");
    let unfiltered =
        app.get_json(&format!("/api/v1/app/{app_id}/endpoint/{}/stats", plain["id"].as_str().unwrap())).await;
    assert_eq!(unfiltered["filtered"], 0, "{unfiltered}");
    // A window that ended before these hours counts none of them.
    let old = app.get_json(&format!("{endpoint_path}/stats?until=2020-01-01T00:00:00Z")).await;
    assert_eq!(old["filtered"], 0, "{old}");

    // Mistakes are refused when saved, with where and why.
    let cases = [
        ("payload.amount >", "line 1, column"),
        ("eventType == 'a' &&\n  paylod.amount > 1", "line 2, column 3: unknown variable 'paylod'"),
        ("", "may not be empty"),
    ];
    for (bad, why) in cases {
        let (status, answer) = app.send_json(Method::PATCH, &endpoint_path, &json!({"filter": bad})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body", "filter"]), "{answer}");
        assert!(answer["detail"][0]["msg"].as_str().unwrap().contains(why), "{bad}: {answer}");
    }

    // Filters over tags and comprehensions; null removes the filter.
    let (status, answer) = app
        .send_json(Method::PATCH, &endpoint_path, &json!({"filter": "'vip' in tags || payload.items.exists(i, i > 2)"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let tagged = app.publish(&app_id, json!({"eventType": "a", "payload": {"items": []}, "tags": ["vip"]})).await;
    let listed = app.publish(&app_id, json!({"eventType": "a", "payload": {"items": [1, 3]}})).await;
    let neither = app.publish(&app_id, json!({"eventType": "a", "payload": {"items": [1]}})).await;
    let (status, answer) = app.send_json(Method::PATCH, &endpoint_path, &json!({"filter": null})).await;
    assert_eq!((status, answer["filter"].clone()), (StatusCode::OK, Value::Null));
    let unfiltered = app.publish(&app_id, json!({"eventType": "a", "payload": {"amount": 1}})).await;
    everything.wait_for(8, Duration::from_secs(10)).await;
    let got = big_eu.wait_for(4, Duration::from_secs(10)).await;
    let mut ids: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort_unstable();
    let mut want = [passes.as_str(), tagged.as_str(), listed.as_str(), unfiltered.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    let deliveries = app.get_json(&format!("/api/v1/app/{app_id}/msg/{neither}/endpoint")).await;
    assert_eq!(deliveries["data"].as_array().unwrap().len(), 1, "only the unfiltered endpoint: {deliveries}");
    app.stop().await;
}

/// An OAuth authorization server and a resource (the endpoint) that wants its tokens. Tokens
/// are `tok-1`, `tok-2`, …; the resource accepts only the latest one, so revoking means
/// issuing a new one.
#[derive(Default)]
struct AuthServer {
    issued: std::sync::atomic::AtomicUsize,
    /// The token requests' bodies and `Authorization` headers.
    token_requests: std::sync::Mutex<Vec<(String, String)>>,
    /// Their `x-tenant` headers (set by the settings' `extraHeaders`).
    tenants: std::sync::Mutex<Vec<String>>,
    /// The bearer tokens deliveries came with.
    bearers: std::sync::Mutex<Vec<String>>,
    /// Answer token requests with this status instead.
    fail_with: std::sync::Mutex<Option<u16>>,
}

async fn start_auth_server(state: std::sync::Arc<AuthServer>) -> String {
    use axum::extract::State;
    use axum::http::HeaderMap;
    use std::sync::atomic::Ordering;
    async fn token(
        State(s): State<std::sync::Arc<AuthServer>>,
        headers: HeaderMap,
        body: String,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        s.token_requests.lock().unwrap().push((body, auth));
        let tenant = headers.get("x-tenant").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        s.tenants.lock().unwrap().push(tenant);
        if let Some(code) = *s.fail_with.lock().unwrap() {
            return (axum::http::StatusCode::from_u16(code).unwrap(), r#"{"error":"invalid_client"}"#).into_response();
        }
        let n = s.issued.fetch_add(1, Ordering::SeqCst) + 1;
        axum::Json(json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}))
            .into_response()
    }
    async fn hook(State(s): State<std::sync::Arc<AuthServer>>, headers: HeaderMap) -> axum::http::StatusCode {
        let bearer = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        s.bearers.lock().unwrap().push(bearer.clone());
        let latest = format!("Bearer tok-{}", s.issued.load(Ordering::SeqCst));
        if bearer == latest {
            axum::http::StatusCode::NO_CONTENT
        } else {
            axum::http::StatusCode::UNAUTHORIZED
        }
    }
    let router = axum::Router::new()
        .route("/token", axum::routing::post(token))
        .route("/hook", axum::routing::post(hook))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn oauth_endpoints_get_a_bearer_token_and_a_new_one_on_401(backend: Backend) {
    use std::sync::atomic::Ordering;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let server = std::sync::Arc::new(AuthServer::default());
    let base = start_auth_server(server.clone()).await;
    let (app_id, endpoint_id) = app.app_and_endpoint(json!({"url": format!("{base}/hook")})).await;
    let oauth_path = format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}/oauth");
    let (status, _) = app.send_json(Method::GET, &oauth_path, &json!(null)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no settings yet");
    let config = json!({
        "grantType": "clientCredentials",
        "authMethod": "clientSecretBasic",
        "clientId": "hookd client",
        "clientSecret": "s3cret&more",
        "tokenUrl": format!("{base}/token"),
        "scopes": ["webhooks.write", "audit"],
        "extraParams": {"audience": "https://api.example"},
        "extraHeaders": {"x-tenant": "acme"},
    });
    let (status, answer) = app.send_json(Method::PUT, &oauth_path, &config).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    // Read back without the secret.
    let shown = app.get_json(&oauth_path).await;
    assert_eq!(shown["clientId"], "hookd client");
    assert_eq!(shown["authMethod"], "clientSecretBasic");
    assert!(!shown.to_string().contains("s3cret"), "{shown}");
    let enabled = app.get_json(&format!("{oauth_path}-config")).await;
    assert_eq!(enabled["enabled"], true, "{enabled}");

    let delivered = |n: usize| {
        let server = server.clone();
        eventually(Duration::from_secs(10), "the deliveries arrived", move || {
            let server = server.clone();
            async move { (server.bearers.lock().unwrap().len() >= n).then_some(()) }
        })
    };
    let first = app.publish(&app_id, json!({"eventType": "a", "payload": {}})).await;
    delivered(1).await;
    let second = app.publish(&app_id, json!({"eventType": "a", "payload": {}})).await;
    delivered(2).await;
    assert_eq!(server.issued.load(Ordering::SeqCst), 1, "the token is kept between deliveries");
    {
        let requests = server.token_requests.lock().unwrap();
        let (body, auth) = &requests[0];
        assert!(body.contains("grant_type=client_credentials"), "{body}");
        assert!(
            body.contains("scope=webhooks.write+audit") && body.contains("audience=https%3A%2F%2Fapi.example"),
            "{body}"
        );
        assert!(!body.contains("s3cret"), "the secret goes in the header with clientSecretBasic: {body}");
        // RFC 6749 2.3.1: form-encoded, then base64: "hookd+client:s3cret%26more".
        assert_eq!(auth, "Basic aG9va2QrY2xpZW50OnMzY3JldCUyNm1vcmU=");
        assert_eq!(server.tenants.lock().unwrap()[0], "acme");
    }
    assert_eq!(server.bearers.lock().unwrap()[..2], ["Bearer tok-1", "Bearer tok-1"]);

    // The server revokes tok-1: the next delivery's 401 makes hookd fetch tok-2 and try again
    // within the same attempt, which succeeds.
    server.issued.fetch_add(1, Ordering::SeqCst);
    let third = app.publish(&app_id, json!({"eventType": "a", "payload": {}})).await;
    delivered(4).await;
    assert_eq!(server.bearers.lock().unwrap()[2..4], ["Bearer tok-1", "Bearer tok-3"]);
    for msg_id in [&first, &second, &third] {
        let path = format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}");
        let attempts = eventually(Duration::from_secs(10), "the attempt recorded", || async {
            let page = app.get_json(&path).await;
            (page["data"].as_array().unwrap().len() == 1).then_some(page)
        })
        .await;
        assert_eq!(attempts["data"][0]["responseStatusCode"], 204, "{attempts}");
    }

    // A token endpoint that refuses: the attempt fails, says why, and nothing reaches the
    // endpoint without a token.
    *server.fail_with.lock().unwrap() = Some(400);
    let config_post = json!({
        "grantType": "clientCredentials",
        "authMethod": "clientSecretPost",
        "clientId": "other",
        "clientSecret": "x",
        "tokenUrl": format!("{base}/token"),
    });
    let (status, _) = app.send_json(Method::PUT, &oauth_path, &config_post).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let refused = app.publish(&app_id, json!({"eventType": "a", "payload": {}})).await;
    let attempt = first_attempt_of(&app, &app_id, &refused).await;
    let error = attempt["error"].as_str().unwrap();
    assert!(error.starts_with("OAuth: token request to") && error.contains("answered 400"), "{error}");
    assert_eq!(attempt["responseStatusCode"], 0);
    assert_eq!(server.bearers.lock().unwrap().len(), 4, "no delivery went out without a token");
    let (body, auth) = server.token_requests.lock().unwrap().last().cloned().unwrap();
    assert!(body.contains("client_id=other") && body.contains("client_secret=x") && auth.is_empty(), "{body}");

    // The token request goes through the SSRF guard like a delivery (the tests allow only
    // loopback).
    let mut private = config_post.clone();
    private["tokenUrl"] = json!("http://10.1.2.3/token");
    assert_eq!(app.send_json(Method::PUT, &oauth_path, &private).await.0, StatusCode::NO_CONTENT);
    let guarded = app.publish(&app_id, json!({"eventType": "a", "payload": {}})).await;
    let attempt = first_attempt_of(&app, &app_id, &guarded).await;
    let error = attempt["error"].as_str().unwrap();
    assert!(error.starts_with("OAuth: token URL: ") && error.contains("SSRF"), "{error}");

    // What hookd cannot do is refused by name; DELETE turns it off.
    let cases = [
        (json!({"grantType": "refreshToken"}), json!(["body", "grantType"])),
        (json!({"authMethod": "clientSecretJwt"}), json!(["body", "authMethod"])),
        (json!({"tokenUrl": "ftp://x/"}), json!(["body", "tokenUrl"])),
        (json!({"clientSecret": null}), json!(["body", "clientSecret"])),
        (json!({"extraHeaders": {"bad name": "x"}}), json!(["body", "extraHeaders", "bad name"])),
    ];
    for (change, loc) in cases {
        let mut body = config_post.clone();
        body.as_object_mut().unwrap().extend(change.as_object().unwrap().clone());
        let (status, answer) = app.send_json(Method::PUT, &oauth_path, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{answer}");
    }
    let (status, _) = app.send_json(Method::DELETE, &oauth_path, &json!(null)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get_json(&format!("{oauth_path}-config")).await, json!({"enabled": false, "config": null}));
    app.stop().await;
}

/// Certificates for an mTLS exchange: a CA for the server's certificate, a CA for clients,
/// and a client identity (key and certificate, PEM) signed by the latter.
struct Pki {
    server_ca_pem: String,
    server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    server_key: rustls::pki_types::PrivateKeyDer<'static>,
    client_ca: rustls::pki_types::CertificateDer<'static>,
    client_identity_pem: String,
}

fn make_pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let ca = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        (params.self_signed(&key).unwrap(), key)
    };
    let (server_ca, server_ca_key) = ca("test server CA");
    let (client_ca, client_ca_key) = ca("test client CA");
    let server_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = params.signed_by(&server_key, &server_ca, &server_ca_key).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "hookd sender");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = params.signed_by(&client_key, &client_ca, &client_ca_key).unwrap();
    Pki {
        server_ca_pem: server_ca.pem(),
        server_chain: vec![server_cert.der().clone()],
        server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        client_ca: client_ca.der().clone(),
        client_identity_pem: format!("{}{}", client_key.serialize_pem(), client_cert.pem()),
    }
}

/// An HTTPS receiver that completes a handshake only with a client certificate signed by the
/// client CA, and answers 200 to each request; returns its URL and the number of requests.
async fn start_mtls_receiver(pki: &Pki) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.client_ca.clone()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone()).build().unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hook", listener.local_addr().unwrap());
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, count) = (acceptor.clone(), count.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let mut stream = BufReader::new(tls);
                loop {
                    let (mut line, mut length) = (String::new(), 0);
                    while stream.read_line(&mut line).await.unwrap_or(0) > 2 {
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        line.clear();
                    }
                    if line.is_empty() {
                        return;
                    }
                    let mut body = vec![0; length];
                    if stream.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.get_mut().write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, served)
}

async fn mtls_endpoints_get_the_client_certificate(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let pki = make_pki();
    let (url, served) = start_mtls_receiver(&pki).await;
    let (app_id, endpoint_id) = app.app_and_endpoint(json!({"url": url})).await;
    let mtls_path = format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}/mtls");

    // Without the private CA, the server's certificate is not trusted.
    let msg = app.publish(&app_id, json!({"eventType": "a", "payload": {}})).await;
    let attempt = first_attempt_of(&app, &app_id, &msg).await;
    assert_eq!(attempt["responseStatusCode"], 0, "{attempt}");
    assert!(attempt["error"].as_str().unwrap().contains("certificate"), "{attempt}");

    // The CA alone: hookd trusts the server, but the server wants a client certificate.
    let ca_only = json!({"identity": "not pem", "serverCaCert": pki.server_ca_pem});
    let (status, answer) = app.send_json(Method::PUT, &mtls_path, &ca_only).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["detail"][0]["loc"], json!(["body", "identity"]), "{answer}");
    let bad_ca = json!({"identity": pki.client_identity_pem, "serverCaCert": "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n"});
    let (status, answer) = app.send_json(Method::PUT, &mtls_path, &bad_ca).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["detail"][0]["loc"], json!(["body", "serverCaCert"]), "{answer}");

    let config = json!({"identity": pki.client_identity_pem, "serverCaCert": pki.server_ca_pem});
    let (status, answer) = app.send_json(Method::PUT, &mtls_path, &config).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let shown = app.get_json(&mtls_path).await;
    assert_eq!(shown, json!({"serverCaCert": pki.server_ca_pem}), "the identity is never shown");
    assert_eq!(app.get_json(&format!("{mtls_path}-config")).await["enabled"], true);
    let msg = app.publish(&app_id, json!({"eventType": "a", "payload": {}})).await;
    let attempt = first_attempt_of(&app, &app_id, &msg).await;
    assert_eq!(attempt["responseStatusCode"], 200, "{attempt}");
    // The receiver completes no handshake without a client certificate, so whatever it
    // served came with one. (The first message's retries may be among them: they pick up the
    // new settings.)
    assert!(served.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    let (status, _) = app.send_json(Method::DELETE, &mtls_path, &json!(null)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.send_json(Method::GET, &mtls_path, &json!(null)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

/// The first attempt of a message, once recorded.
async fn first_attempt_of(app: &TestApp, app_id: &str, msg_id: &str) -> Value {
    let path = format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}");
    eventually(Duration::from_secs(10), "the first attempt recorded", || async {
        let page = app.get_json(&path).await;
        page["data"].as_array().unwrap().last().cloned()
    })
    .await
}

const TRANSFORMATION: &str = r#"function handler(webhook) {
    if (webhook.payload.drop) {
        webhook.cancel = true;
        return webhook;
    }
    if (webhook.payload.goto) {
        webhook.url = webhook.payload.goto;
    }
    webhook.payload = { wrapped: webhook.payload, type: webhook.eventType };
    webhook.method = webhook.payload.wrapped.put ? "PUT" : "POST";
    webhook.headers["x-transformed"] = "yes";
    return webhook;
}"#;

async fn transformations_rewrite_or_cancel_deliveries(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (app_id, endpoint_id) = app.app_and_endpoint(json!({"url": receiver.url("/hook")})).await;
    let path = format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation");
    let unset = app.get_json(&path).await;
    assert_eq!((unset["code"].clone(), unset["enabled"].clone()), (Value::Null, json!(false)), "{unset}");

    // Code that does not compile, or defines no handler, is refused when saved.
    for bad in ["function handler(webhook) {", "const notAHandler = 1;"] {
        let (status, answer) = app.send_json(Method::PATCH, &path, &json!({"code": bad, "enabled": true})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body", "code"]), "{answer}");
    }
    let (status, answer) =
        app.send_json(Method::PATCH, &path, &json!({"code": TRANSFORMATION, "variables": {"a": "b"}})).await;
    assert_eq!(
        (status, answer["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "variables"]))
    );

    // Simulate runs it without sending anything, and without it being saved or enabled.
    let simulate = format!("{path}/simulate");
    let (status, out) = app
        .send_json(
            Method::POST,
            &simulate,
            &json!({"code": TRANSFORMATION, "eventType": "order.paid", "payload": {"put": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["url"], receiver.url("/hook"));
    assert_eq!(out["method"], "PUT");
    assert_eq!(out["cancel"], false);
    assert_eq!(out["headers"]["x-transformed"], "yes");
    let body: Value = serde_json::from_str(out["payload"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"wrapped": {"put": true}, "type": "order.paid"}));
    let with_channels = json!({"code": TRANSFORMATION, "eventType": "a", "payload": {}, "channels": ["eu"]});
    let (status, out) = app.send_json(Method::POST, &simulate, &with_channels).await;
    assert_eq!(
        (status, out["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "channels"]))
    );
    let (status, out) = app
        .send_json(
            Method::POST,
            &simulate,
            &json!({"code": "function handler(w) { throw new Error('boom'); }", "eventType": "a", "payload": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{out}");
    assert!(out["detail"][0]["msg"].as_str().unwrap().contains("Error: boom"), "{out}");
    assert!(receiver.received().is_empty());

    let (status, answer) = app.send_json(Method::PATCH, &path, &json!({"code": TRANSFORMATION, "enabled": true})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let saved = app.get_json(&path).await;
    assert_eq!((saved["code"].as_str(), saved["enabled"].clone()), (Some(TRANSFORMATION), json!(true)));
    assert!(saved["updatedAt"].is_string(), "{saved}");

    // Rewritten, signed over what was sent.
    let rewritten = app.publish(&app_id, json!({"eventType": "order.paid", "payload": {"n": 1}})).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].json(), json!({"wrapped": {"n": 1}, "type": "order.paid"}));
    assert_eq!(got[0].header("x-transformed"), "yes");
    assert_eq!(got[0].header("webhook-id"), rewritten);
    let secret = app.get_json(&format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret")).await;
    got[0].verify(secret["key"].as_str().unwrap()).expect("the signature covers the transformed body");

    // Canceled: nothing is sent and the delivery says so.
    let dropped = app.publish(&app_id, json!({"eventType": "order.paid", "payload": {"drop": true}})).await;
    let destinations = format!("/api/v1/app/{app_id}/msg/{dropped}/endpoint");
    let canceled = eventually(Duration::from_secs(10), "the delivery was canceled", || async {
        let page = app.get_json(&destinations).await;
        (page["data"][0]["statusText"] == "canceled").then_some(page)
    })
    .await;
    assert_eq!(canceled["data"][0]["id"], endpoint_id, "{canceled}");

    // A new URL still goes through the SSRF guard (the tests allow only loopback).
    let elsewhere =
        app.publish(&app_id, json!({"eventType": "order.paid", "payload": {"goto": "http://10.1.2.3/internal"}})).await;
    let attempt = first_attempt_of(&app, &app_id, &elsewhere).await;
    assert!(attempt["error"].as_str().unwrap().contains("SSRF"), "{attempt}");
    assert_eq!(attempt["url"], "http://10.1.2.3/internal", "the attempt records where it was sent");
    assert_eq!(receiver.received().len(), 1, "only the rewritten message arrived");

    // Disabled: deliveries go out as published.
    let (status, _) = app.send_json(Method::PATCH, &path, &json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get_json(&path).await["code"], TRANSFORMATION, "disabling keeps the code");
    app.stop().await;
}

async fn failing_transformations_fail_their_attempt_alone(backend: Backend) {
    // A budget of its own (--transformation-cpu), to show it is the one applied.
    let Some(app) = common::spawn_app_with(backend, |c| c.transformation.cpu = Duration::from_millis(20)).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let cases = [
        ("function handler(w) { while (true) {} }", "CPU budget of 20 ms"),
        ("function handler(w) { const a = []; for (;;) a.push('x'.repeat(65536)); }", "out of memory"),
        ("function handler(w) { throw new RangeError('no such customer'); }", "threw: RangeError: no such customer"),
        ("function handler(w) { w.method = 'DELETE'; return w; }", "method 'DELETE'"),
        ("function handler(w) { w.headers['webhook-signature'] = 'forged'; return w; }", "is set by hookd"),
    ];
    let mut published = Vec::new();
    for (code, _) in cases {
        let (app_id, endpoint_id) = app.app_and_endpoint(json!({"url": receiver.url("/hook")})).await;
        let path = format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation");
        let (status, answer) = app.send_json(Method::PATCH, &path, &json!({"code": code, "enabled": true})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{code}: {answer}");
        published.push((app_id.clone(), app.publish(&app_id, json!({"eventType": "a", "payload": {}})).await));
    }
    // A healthy endpoint beside them delivers as usual.
    let (healthy_app, _) = app.app_and_endpoint(json!({"url": receiver.url("/healthy")})).await;
    app.publish(&healthy_app, json!({"eventType": "a", "payload": {}})).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    for ((app_id, msg_id), (code, why)) in published.iter().zip(cases) {
        let attempt = first_attempt_of(&app, app_id, msg_id).await;
        let error = attempt["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{code}: {attempt}");
        assert_eq!(attempt["responseStatusCode"], 0, "{code}: {attempt}");
    }
    let arrived: Vec<String> = receiver.received().iter().map(|r| r.path.clone()).collect();
    assert!(arrived.iter().all(|p| p == "/healthy"), "{arrived:?}");
    app.stop().await;
}
