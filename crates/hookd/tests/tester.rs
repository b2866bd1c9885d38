//! The webhook tester against the real server: inboxes, capture URLs, configured responses,
//! inspection, the live stream, signature checks, replay, the page, and a message published
//! by hookd's own sending side landing in an inbox with a verified signature.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{eventually, spawn_app, spawn_app_with, Backend, Receiver, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use svix::api::MessageCreateOptions;
use svix::models::{ApplicationIn, EndpointIn, EndpointSecretRotateIn, MessageIn};

on_both_backends!(
    inbox_crud_and_validation,
    capture_records_any_method_sub_path_and_body,
    oversized_captures_are_refused_and_recorded,
    configured_response_status_headers_body_and_delay,
    stored_requests_are_capped_oldest_dropped,
    requests_list_get_and_delete,
    stream_pushes_captures_and_resumes_from_last_event_id,
    signatures_are_checked_with_inbox_and_endpoint_secrets,
    replay_sends_the_captured_request_through_the_guard,
    published_messages_land_in_an_inbox_with_a_verified_signature,
    expired_inboxes_answer_404_and_are_swept,
    page_needs_the_token_and_escapes_what_it_shows,
);

/// Creates an inbox; panics unless the server answers 201.
async fn create_inbox(app: &TestApp, body: Value) -> Value {
    let res = app.request(Method::POST, "/api/v1/inbox").json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// The inbox's requests, newest first (first page).
async fn requests(app: &TestApp, inbox_id: &str) -> Vec<Value> {
    let page = app.get_json(&format!("/api/v1/inbox/{inbox_id}/request")).await;
    page["data"].as_array().unwrap().clone()
}

/// The value of the first header `name` of a captured request.
fn header<'a>(request: &'a Value, name: &str) -> Option<&'a str> {
    request["headers"].as_array().unwrap().iter().find(|h| h[0] == name).and_then(|h| h[1].as_str())
}

async fn validation_loc(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    body["detail"][0]["loc"].clone()
}

async fn inbox_crud_and_validation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // No body at all: every default.
    let res = app.request(Method::POST, "/api/v1/inbox").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let first: Value = res.json().await.unwrap();
    let id = id_of(&first);
    assert!(id.starts_with("inb_") && id.len() == 4 + 36, "{id}");
    assert_eq!(first["url"], format!("http://{}/in/{id}", app.addr));
    assert_eq!(first["pageUrl"], format!("http://{}/inbox/{id}", app.addr));
    assert_eq!(first["maxRequests"], 500);
    assert_eq!(first["response"]["status"], 200);
    assert_eq!(first["response"]["delayMs"], 0);
    assert_eq!(first["name"], Value::Null);
    let expires: chrono::DateTime<chrono::Utc> = first["expiresAt"].as_str().unwrap().parse().unwrap();
    let ttl = expires - chrono::Utc::now();
    assert!(
        ttl > chrono::Duration::days(7) - chrono::Duration::minutes(1) && ttl <= chrono::Duration::days(7),
        "default expiry is 7 days: {ttl}"
    );

    let second = create_inbox(
        &app,
        json!({
            "name": "stripe events",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "maxRequests": 20,
            "response": {"status": 202, "body": "queued"}
        }),
    )
    .await;
    assert_eq!(second["name"], "stripe events");
    assert_eq!(second["secret"], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_eq!(second["response"]["status"], 202);
    assert_eq!(second["response"]["body"], "queued");
    assert_eq!(
        second["response"]["headers"]["content-type"], "application/json",
        "fields not given keep their defaults"
    );

    // Listed newest first, paginated like every list.
    let page: Value = app.get_json("/api/v1/inbox?limit=1").await;
    assert_eq!(page["data"][0]["id"], second["id"]);
    assert_eq!(page["done"], false);
    let next: Value =
        app.get_json(&format!("/api/v1/inbox?limit=1&iterator={}", page["iterator"].as_str().unwrap())).await;
    assert_eq!(next["data"][0]["id"], first["id"]);

    // PATCH changes what it names; null clears; response fields merge.
    let patched: Value = app
        .request(Method::PATCH, &format!("/api/v1/inbox/{}", id_of(&second)))
        .json(&json!({"name": null, "secret": null, "response": {"delayMs": 250}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["name"], Value::Null);
    assert_eq!(patched["secret"], Value::Null);
    assert_eq!(patched["response"]["delayMs"], 250);
    assert_eq!(patched["response"]["status"], 202);
    assert_eq!(patched["maxRequests"], 20);
    let got: Value = app.get_json(&format!("/api/v1/inbox/{}", id_of(&second))).await;
    assert_eq!(got["response"], patched["response"]);

    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let cases = [
        (json!({"response": {"status": 99}}), json!(["body", "response", "status"])),
        (json!({"response": {"status": 600}}), json!(["body", "response", "status"])),
        (json!({"response": {"delayMs": 30001}}), json!(["body", "response", "delayMs"])),
        (json!({"response": {"headers": {"bad name": "x"}}}), json!(["body", "response", "headers", "bad name"])),
        (
            json!({"response": {"headers": {"transfer-encoding": "chunked"}}}),
            json!(["body", "response", "headers", "transfer-encoding"]),
        ),
        (json!({"name": "x".repeat(257)}), json!(["body", "name"])),
        (json!({"name": "  "}), json!(["body", "name"])),
        (json!({"maxRequests": 0}), json!(["body", "maxRequests"])),
        (json!({"maxRequests": 10001}), json!(["body", "maxRequests"])),
        (json!({"expiresAt": past}), json!(["body", "expiresAt"])),
        (json!({"secret": "whsec_tooshort"}), json!(["body", "secret"])),
        (json!({"endpointId": "ep_nope"}), json!(["body", "endpointId"])),
        (json!({"response": {"status": "200"}}), json!(["body", "response", "status"])),
        // A 1xx is an interim answer, never a final one.
        (json!({"response": {"status": 101}}), json!(["body", "response", "status"])),
        (json!({"colour": "red"}), json!(["body", "colour"])),
    ];
    for (body, loc) in cases {
        let res = app.request(Method::POST, "/api/v1/inbox").json(&body).send().await.unwrap();
        assert_eq!(validation_loc(res).await, loc, "{body}");
    }
    let res = app
        .request(Method::POST, "/api/v1/inbox")
        .json(&json!({"response": {"status": 600, "delayMs": -1}}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["detail"].as_array().unwrap().len(), 2, "all problems at once: {body}");
    assert!(body["detail"][0]["msg"].as_str().unwrap().contains("between 200 and 599"), "{body}");

    // Admin only.
    let res = app.http.get(app.url("/api/v1/inbox")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    let token = hookd_server::generate_token("sk_app_");
    let store = hookd::app::open_store(&app.config.database, 2).await.unwrap();
    store
        .create_app_token(&hookd_core::ApplicationId::parse(&a.id).unwrap(), &hookd_server::hash_token(&token), None)
        .await
        .unwrap();
    store.close().await;
    let res = app.http.get(app.url("/api/v1/inbox")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Deleted: gone from the API and from its capture URL.
    let res = app.request(Method::DELETE, &format!("/api/v1/inbox/{id}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.request(Method::GET, &format!("/api/v1/inbox/{id}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.http.post(first["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn capture_records_any_method_sub_path_and_body(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let inbox = create_inbox(&app, json!({})).await;
    let id = id_of(&inbox);
    let url = inbox["url"].as_str().unwrap();

    // No auth needed; the default answer is 200 with a small JSON body.
    let res = app.http.post(url).json(&json!({"hello": "world"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"ok": true}));
    let res = app
        .http
        .put(format!("{url}/github/push%20x?b=2&a=1&a=3"))
        .header("x-custom", "one")
        .header("x-custom", "two")
        .body(vec![0xff, 0x00, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for method in ["GET", "DELETE", "PATCH", "OPTIONS"] {
        let res =
            app.http.request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{url}/")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{method}");
    }

    let got = requests(&app, &id).await;
    let methods: Vec<&str> = got.iter().map(|r| r["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["OPTIONS", "PATCH", "DELETE", "GET", "PUT", "POST"], "newest first");
    let post = &got[5];
    assert!(post["id"].as_str().unwrap().starts_with("req_"));
    assert_eq!(post["inboxId"], id.as_str());
    assert_eq!(post["path"], "/");
    assert_eq!(post["query"], "");
    assert_eq!(post["body"], r#"{"hello":"world"}"#);
    assert_eq!(post["bodySize"], 17);
    assert_eq!(header(post, "content-type"), Some("application/json"));
    assert!(post["clientAddr"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(post["signature"], Value::Null, "no secret, nothing checked");
    assert_eq!(post["refused"], Value::Null);
    let ts: chrono::DateTime<chrono::Utc> = post["timestamp"].as_str().unwrap().parse().unwrap();
    assert!((chrono::Utc::now() - ts).num_seconds() < 60);

    let put = &got[4];
    assert_eq!(put["path"], "/github/push%20x");
    assert_eq!(put["query"], "b=2&a=1&a=3");
    assert_eq!(put["body"], Value::Null, "not UTF-8");
    assert_eq!(put["bodyBase64"], "/wD+");
    let custom: Vec<&Value> = put["headers"].as_array().unwrap().iter().filter(|h| h[0] == "x-custom").collect();
    assert_eq!(custom, [&json!(["x-custom", "one"]), &json!(["x-custom", "two"])]);
    assert_eq!(got[3]["path"], "/", "a trailing slash is no sub-path");
    assert_eq!(got[3]["bodySize"], 0);

    // Unknown or malformed ids are 404, whatever the method.
    for path in [
        "/in/inb_0000000000000000000000000000000000".to_string(),
        "/in/nope/x".to_string(),
        format!("/in/{}", &id[..id.len() - 1]),
    ] {
        let res = app.http.post(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    app.stop().await;
}

async fn oversized_captures_are_refused_and_recorded(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_body_size = 4096).await else {
        return;
    };
    let inbox = create_inbox(&app, json!({})).await;
    let url = inbox["url"].as_str().unwrap();
    let res = app.http.post(url).body("x".repeat(5000)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large");
    let res = app.http.post(url).body("y".repeat(4096)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "exactly the limit is fine");

    let got = requests(&app, &id_of(&inbox)).await;
    assert_eq!(got.len(), 2);
    let refused = &got[1];
    assert!(refused["refused"].as_str().unwrap().contains("4096"), "{refused}");
    assert_eq!(refused["bodySize"], 5000);
    assert_eq!(refused["body"], "");
    assert_eq!(got[0]["refused"], Value::Null);
    assert_eq!(got[0]["bodySize"], 4096);
    app.stop().await;
}

async fn configured_response_status_headers_body_and_delay(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let inbox = create_inbox(
        &app,
        json!({"response": {
            "status": 503,
            "headers": {"retry-after": "7", "x-test": "yes", "content-type": "text/plain"},
            "body": "down for maintenance",
            "delayMs": 400
        }}),
    )
    .await;
    let started = Instant::now();
    let res = app.http.post(inbox["url"].as_str().unwrap()).body("{}").send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "7");
    assert_eq!(res.headers()["x-test"], "yes");
    assert_eq!(res.text().await.unwrap(), "down for maintenance");
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    // The request is recorded before the delay, so it is inspectable while the sender waits.
    assert_eq!(requests(&app, &id_of(&inbox)).await.len(), 1);

    // A delay longer than the sender's patience is a timeout on the sender's side.
    app.request(Method::PATCH, &format!("/api/v1/inbox/{}", id_of(&inbox)))
        .json(&json!({"response": {"delayMs": 3000, "status": 200}}))
        .send()
        .await
        .unwrap();
    let err =
        app.http.post(inbox["url"].as_str().unwrap()).timeout(Duration::from_millis(300)).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    app.stop().await;
}

async fn stored_requests_are_capped_oldest_dropped(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let inbox = create_inbox(&app, json!({"maxRequests": 3})).await;
    let id = id_of(&inbox);
    for i in 0..5 {
        app.http.post(inbox["url"].as_str().unwrap()).body(format!("{i}")).send().await.unwrap();
    }
    let bodies =
        |got: Vec<Value>| -> Vec<String> { got.iter().map(|r| r["body"].as_str().unwrap().to_owned()).collect() };
    assert_eq!(bodies(requests(&app, &id).await), ["4", "3", "2"]);
    // Lowering the cap drops the oldest at once.
    app.request(Method::PATCH, &format!("/api/v1/inbox/{id}")).json(&json!({"maxRequests": 2})).send().await.unwrap();
    assert_eq!(bodies(requests(&app, &id).await), ["4", "3"]);

    // Concurrent captures never leave more than the cap.
    let sends = (0..10).map(|i| app.http.post(inbox["url"].as_str().unwrap()).body(format!("c{i}")).send());
    for res in futures_join_all(sends).await {
        assert_eq!(res.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(requests(&app, &id).await.len(), 2);
    app.stop().await;
}

/// Runs futures concurrently (tests avoid pulling in a futures crate just for this).
async fn futures_join_all<F: std::future::Future + Send + 'static>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = vec![];
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn requests_list_get_and_delete(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let inbox = create_inbox(&app, json!({})).await;
    let id = id_of(&inbox);
    for i in 0..5 {
        app.http.post(format!("{}/n/{i}", inbox["url"].as_str().unwrap())).send().await.unwrap();
    }
    let base = format!("/api/v1/inbox/{id}/request");
    let mut seen = vec![];
    let mut iterator = String::new();
    loop {
        let page: Value = app.get_json(&format!("{base}?limit=2&iterator={iterator}")).await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|r| r["path"].as_str().unwrap().to_owned()));
        if page["done"] == true {
            break;
        }
        iterator = page["iterator"].as_str().unwrap().to_owned();
    }
    assert_eq!(seen, ["/n/4", "/n/3", "/n/2", "/n/1", "/n/0"]);

    let all = requests(&app, &id).await;
    let rid = all[2]["id"].as_str().unwrap();
    let one: Value = app.get_json(&format!("{base}/{rid}")).await;
    assert_eq!(one["path"], "/n/2");
    let res = app.request(Method::DELETE, &format!("{base}/{rid}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for path in [format!("{base}/{rid}"), format!("{base}/req_nope")] {
        let res = app.request(Method::GET, &path).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(requests(&app, &id).await.len(), 4);
    let res = app.request(Method::DELETE, &base).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(requests(&app, &id).await.is_empty());
    // Another inbox's request is not reachable through this one.
    let other = create_inbox(&app, json!({})).await;
    app.http.post(other["url"].as_str().unwrap()).send().await.unwrap();
    let theirs = requests(&app, &id_of(&other)).await[0]["id"].clone();
    let res = app.request(Method::GET, &format!("{base}/{}", theirs.as_str().unwrap())).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

/// Reads `request` events from a Server-Sent Events response.
struct Events {
    response: reqwest::Response,
    buf: String,
}

impl Events {
    async fn open(app: &TestApp, path_and_query: &str, last_event_id: Option<&str>) -> Self {
        let mut req = app.http.get(app.url(path_and_query));
        if !path_and_query.contains("token=") {
            req = req.bearer_auth(&app.token);
        }
        if let Some(last) = last_event_id {
            req = req.header("last-event-id", last);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self { response, buf: String::new() }
    }

    /// The next `request` event: its id and data.
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let field =
                    |name: &str| block.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).map(str::to_owned);
                if field("event").as_deref() == Some("request") {
                    let data = serde_json::from_str(&field("data").unwrap()).unwrap();
                    return (field("id").unwrap(), data);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()
                .expect("stream still open");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn stream_pushes_captures_and_resumes_from_last_event_id(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let inbox = create_inbox(&app, json!({})).await;
    let id = id_of(&inbox);
    let url = inbox["url"].as_str().unwrap().to_owned();
    let other = create_inbox(&app, json!({})).await;
    let path = format!("/api/v1/inbox/{id}/stream");
    let mut events = Events::open(&app, &path, None).await;

    let send = |body: &'static str| {
        let (http, url) = (app.http.clone(), url.clone());
        async move { http.post(url).body(body).send().await.unwrap() }
    };
    app.http.post(other["url"].as_str().unwrap()).body("not mine").send().await.unwrap();
    send("one").await;
    send("two").await;
    let (id1, first) = events.next().await;
    let (id2, second) = events.next().await;
    assert_eq!(first["body"], "one", "other inboxes' captures are not sent");
    assert_eq!(first["id"], id1.as_str(), "the event id is the request id");
    assert_eq!(second["body"], "two");
    assert_eq!(second["inboxId"], id.as_str());
    drop(events);

    // Missed while disconnected, caught up from the database on reconnect, in order.
    send("three").await;
    send("four").await;
    let mut events = Events::open(&app, &path, Some(&id2)).await;
    assert_eq!(events.next().await.1["body"], "three");
    assert_eq!(events.next().await.1["body"], "four");
    send("five").await;
    assert_eq!(events.next().await.1["body"], "five", "then live again");

    // `?token=` works where headers cannot be set; `after` resumes like Last-Event-ID.
    let mut by_query = Events::open(&app, &format!("{path}?token={}&after={id1}", app.token), None).await;
    let bodies = [by_query.next().await.1["body"].clone(), by_query.next().await.1["body"].clone()];
    assert_eq!(bodies, [json!("two"), json!("three")]);

    let res = app.http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.http.get(app.url(&format!("{path}?token=wrong-token-123456"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.request(Method::GET, &path).header("last-event-id", "garbage").send().await.unwrap();
    assert_eq!(validation_loc(res).await, json!(["header", "last-event-id"]));
    let res = app.request(Method::GET, "/api/v1/inbox/inb_nope/stream").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

/// Standard Webhooks headers for `body`, signed with `secret` at `timestamp`.
fn signed(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Vec<(&'static str, String)> {
    let signature = svix::webhooks::Webhook::new(secret).unwrap().sign(msg_id, timestamp, body.as_bytes()).unwrap();
    vec![
        ("webhook-id", msg_id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ]
}

async fn post_with(app: &TestApp, url: &str, headers: &[(&str, String)], body: &str) {
    let mut req = app.http.post(url).body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), StatusCode::OK);
}

async fn signatures_are_checked_with_inbox_and_endpoint_secrets(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let inbox = create_inbox(&app, json!({"secret": secret})).await;
    let id = id_of(&inbox);
    let url = inbox["url"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let body = r#"{"type":"invoice.paid"}"#;
    let other = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkhISE=";

    post_with(&app, url, &signed(secret, "msg_1", now, body), body).await;
    post_with(&app, url, &signed(other, "msg_2", now, body), body).await;
    post_with(&app, url, &signed(secret, "msg_3", now - 600, body), body).await;
    post_with(&app, url, &[], body).await;
    let mut tampered = signed(secret, "msg_5", now, body);
    tampered[0].1 = "msg_other".into();
    post_with(&app, url, &tampered, body).await;
    // Svix's own header names are accepted too.
    let svix_named: Vec<(&str, String)> = signed(secret, "msg_6", now, body)
        .into_iter()
        .map(|(k, v)| match k {
            "webhook-id" => ("svix-id", v),
            "webhook-timestamp" => ("svix-timestamp", v),
            _ => ("svix-signature", v),
        })
        .collect();
    post_with(&app, url, &svix_named, body).await;

    let mut got = requests(&app, &id).await;
    got.reverse();
    let verdicts: Vec<Value> = got.iter().map(|r| r["signature"].clone()).collect();
    assert_eq!(verdicts[0], json!({"verified": true, "error": null}));
    let why = |i: usize| verdicts[i]["error"].as_str().unwrap().to_owned();
    assert_eq!(verdicts[1]["verified"], false);
    assert!(why(1).contains("no signature matches"), "{}", why(1));
    assert!(why(2).contains("seconds away from now"), "{}", why(2));
    assert_eq!(why(3), "missing header webhook-id");
    assert!(why(4).contains("no signature matches"), "{}", why(4));
    assert_eq!(verdicts[5]["verified"], true, "{:?}", verdicts[5]);

    // Linked to an endpoint: its current and rotated (still valid) secrets verify.
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    let mut ep_in = EndpointIn::new("https://example.com/hook".into());
    ep_in.secret = Some(other.into());
    let ep = app.svix.endpoint().create(a.id.clone(), ep_in, None).await.unwrap();
    let linked = create_inbox(&app, json!({"endpointId": ep.id})).await;
    assert_eq!(linked["endpointId"], ep.id.as_str());
    let linked_url = linked["url"].as_str().unwrap();
    let mut rotate = EndpointSecretRotateIn::new();
    rotate.key = Some(secret.into());
    app.svix.endpoint().rotate_secret(a.id.clone(), ep.id.clone(), rotate, None).await.unwrap();
    post_with(&app, linked_url, &signed(secret, "msg_7", now, body), body).await;
    post_with(&app, linked_url, &signed(other, "msg_8", now, body), body).await;
    let unknown = "whsec_bm90IGEga2V5IGFueWJvZHkga25vd3MgYXQgYWxs";
    post_with(&app, linked_url, &signed(unknown, "msg_9", now, body), body).await;
    let got = requests(&app, &id_of(&linked)).await;
    assert_eq!(got[2]["signature"]["verified"], true, "current secret");
    assert_eq!(got[1]["signature"]["verified"], true, "rotated secret in its grace period");
    assert_eq!(got[0]["signature"]["verified"], false);
    app.stop().await;
}

async fn replay_sends_the_captured_request_through_the_guard(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver =
        Receiver::start_with(vec![common::Reply::WithHeaders(418, vec![("x-answer", "teapot".into())])]).await;
    let inbox = create_inbox(&app, json!({})).await;
    let id = id_of(&inbox);
    app.http
        .patch(format!("{}/orig/path", inbox["url"].as_str().unwrap()))
        .header("x-custom", "kept")
        .header("content-type", "application/json")
        .body(r#"{"n":1}"#)
        .send()
        .await
        .unwrap();
    let rid = requests(&app, &id).await[0]["id"].as_str().unwrap().to_owned();
    let replay = format!("/api/v1/inbox/{id}/request/{rid}/replay");

    let out: Value = app
        .request(Method::POST, &replay)
        .json(&json!({"url": receiver.url("/replayed")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(out["status"], 418, "{out}");
    assert_eq!(out["body"], "scripted");
    assert_eq!(out["error"], Value::Null);
    assert!(out["headers"].as_array().unwrap().contains(&json!(["x-answer", "teapot"])));
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].path, "/replayed");
    assert_eq!(got[0].header("x-custom"), "kept");
    assert_eq!(got[0].header("content-type"), "application/json");
    assert_eq!(got[0].body.as_ref(), br#"{"n":1}"#);
    assert_eq!(got[0].header("host"), receiver.addr.to_string(), "not the capture's host");

    // The SSRF guard applies (the test server only opens 127.0.0.0/8).
    let out: Value = app
        .request(Method::POST, &replay)
        .json(&json!({"url": "http://169.254.169.254/latest/meta-data"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(out["status"], Value::Null);
    assert!(out["error"].as_str().unwrap().contains("SSRF"), "{out}");
    for bad in [json!({"url": "ftp://x"}), json!({"url": "nope"}), json!({})] {
        let res = app.request(Method::POST, &replay).json(&bad).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    app.stop().await;
}

async fn published_messages_land_in_an_inbox_with_a_verified_signature(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let a = app.svix.application().create(ApplicationIn::new("Shop".into()), None).await.unwrap();
    let inbox = create_inbox(&app, json!({"name": "shop webhooks"})).await;
    let id = id_of(&inbox);
    let ep = app
        .svix
        .endpoint()
        .create(a.id.clone(), EndpointIn::new(format!("{}/shop", inbox["url"].as_str().unwrap())), None)
        .await
        .unwrap();
    app.request(Method::PATCH, &format!("/api/v1/inbox/{id}"))
        .json(&json!({"endpointId": ep.id}))
        .send()
        .await
        .unwrap();
    let msg = app
        .svix
        .message()
        .create(
            a.id.clone(),
            MessageIn::new("invoice.paid".into(), json!({"invoice": 42})),
            Some(MessageCreateOptions::default()),
        )
        .await
        .unwrap();

    let captured = eventually(Duration::from_secs(10), "the message in the inbox", || {
        let app = &app;
        let id = id.clone();
        async move { requests(app, &id).await.into_iter().next() }
    })
    .await;
    assert_eq!(captured["method"], "POST");
    assert_eq!(captured["path"], "/shop");
    assert_eq!(header(&captured, "webhook-id"), Some(msg.id.as_str()));
    assert_eq!(serde_json::from_str::<Value>(captured["body"].as_str().unwrap()).unwrap(), json!({"invoice": 42}));
    assert_eq!(
        captured["signature"],
        json!({"verified": true, "error": null}),
        "checked with the linked endpoint's secret"
    );
    // And the official library agrees on the captured bytes.
    let secret = app.svix.endpoint().get_secret(a.id.clone(), ep.id.clone()).await.unwrap().key;
    let mut headers = http::HeaderMap::new();
    for h in captured["headers"].as_array().unwrap() {
        headers.append(
            http::HeaderName::from_bytes(h[0].as_str().unwrap().as_bytes()).unwrap(),
            h[1].as_str().unwrap().parse().unwrap(),
        );
    }
    svix::webhooks::Webhook::new(&secret)
        .unwrap()
        .verify(captured["body"].as_str().unwrap().as_bytes(), &headers)
        .expect("svix verifies the captured webhook");
    // The inbox answered 200, so the delivery succeeded.
    let attempts = eventually(Duration::from_secs(10), "a successful attempt", || {
        let svix = &app.svix;
        let (app_id, msg_id) = (a.id.clone(), msg.id.clone());
        async move {
            let list = svix.message_attempt().list_by_msg(app_id, msg_id, None).await.ok()?;
            (!list.data.is_empty()).then_some(list.data)
        }
    })
    .await;
    assert_eq!(attempts[0].response_status_code, 200);
    app.stop().await;
}

async fn expired_inboxes_answer_404_and_are_swept(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(2000);
    let inbox = create_inbox(&app, json!({"expiresAt": soon.to_rfc3339()})).await;
    let id = id_of(&inbox);
    let url = inbox["url"].as_str().unwrap().to_owned();
    let res = app.http.post(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let status = eventually(Duration::from_secs(8), "the inbox to expire", || {
        let (http, url) = (app.http.clone(), url.clone());
        async move {
            let status = http.post(url).send().await.unwrap().status();
            (status != StatusCode::OK).then_some(status)
        }
    })
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Not before its time, at the millisecond precision hookd keeps times in.
    assert!(chrono::Utc::now().timestamp_millis() >= soon.timestamp_millis());
    let res = app.request(Method::GET, &format!("/api/v1/inbox/{id}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let listed: Value = app.get_json("/api/v1/inbox").await;
    assert!(listed["data"].as_array().unwrap().is_empty());
    // The sweep deletes the row and its requests.
    let store = hookd::app::open_store(&app.config.database, 2).await.unwrap();
    assert_eq!(store.delete_expired_inboxes(hookd_core::time::now_ms()).await.unwrap(), 1);
    assert!(store.get_inbox_request(&hookd_core::InboxId::parse(&id).unwrap(), "req_x").await.is_err());
    store.close().await;
    app.stop().await;
}

async fn page_needs_the_token_and_escapes_what_it_shows(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let inbox = create_inbox(&app, json!({"name": "<script>alert('x')</script>"})).await;
    let id = id_of(&inbox);
    app.http.post(inbox["url"].as_str().unwrap()).body("</script><b>captured</b>").send().await.unwrap();
    let page = format!("/inbox/{id}");
    let res = app.http.get(app.url(&page)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("?token="));

    let res = app.http.get(app.url(&format!("{page}?token={}", app.token))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let html = res.text().await.unwrap();
    let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).unwrap();
    assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("</script><b>captured"), "embedded JSON is escaped");
    assert!(html.contains(inbox["url"].as_str().unwrap()));

    let res = app
        .http
        .get(app.url(&format!("/inbox/inb_0000000000000000000000000000000000?token={}", app.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_urls_use_the_configured_public_url() {
    let Some(app) =
        spawn_app_with(Backend::Sqlite, |c| c.public_url = Some("https://hooks.example.com/base".into())).await
    else {
        return;
    };
    let inbox = create_inbox(&app, json!({})).await;
    let id = id_of(&inbox);
    assert_eq!(inbox["url"], format!("https://hooks.example.com/base/in/{id}"));
    assert_eq!(inbox["pageUrl"], format!("https://hooks.example.com/base/inbox/{id}"));
    app.stop().await;
}

/// One request the local app got.
#[derive(Debug, Clone)]
struct LocalHit {
    method: String,
    uri: String,
    headers: http::HeaderMap,
    body: String,
}

/// A local app on 127.0.0.1 for `hookd listen` to forward to: records each request and
/// answers 201 with a header and a body of its own.
async fn start_local_app() -> (std::net::SocketAddr, Arc<Mutex<Vec<LocalHit>>>) {
    let hits: Arc<Mutex<Vec<LocalHit>>> = Default::default();
    let recorded = hits.clone();
    let app = axum::Router::new().fallback(
        move |method: http::Method, uri: http::Uri, headers: http::HeaderMap, body: String| {
            let recorded = recorded.clone();
            async move {
                recorded.lock().unwrap().push(LocalHit {
                    method: method.to_string(),
                    uri: uri.to_string(),
                    headers,
                    body,
                });
                (StatusCode::CREATED, [("x-local", "yes")], "hello from the local app")
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

/// A port that was free a moment ago (the server subprocess must come back on the same one).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `hookd serve` as a subprocess, so the test can kill and restart it.
async fn start_server(data_dir: &std::path::Path, port: u16) -> tokio::process::Child {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--admin-token", common::ADMIN_TOKEN])
        .args(["--allow-subnet", "127.0.0.0/8"])
        .env("HOOKD_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("hookd serve starts");
    let health = format!("http://127.0.0.1:{port}/api/v1/health");
    eventually(Duration::from_secs(20), "hookd serve to answer", || {
        let health = health.clone();
        async move {
            let res = reqwest::get(health).await.ok()?;
            (res.status() == StatusCode::NO_CONTENT).then_some(())
        }
    })
    .await;
    child
}

/// `hookd listen` as a subprocess; its stdout lines arrive on the channel.
struct ListenProcess {
    child: tokio::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl ListenProcess {
    fn start(args: &[String]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
            .arg("listen")
            .args(args)
            .env_remove("HOOKD_ADMIN_TOKEN")
            .env("HOOKD_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("hookd listen starts");
        let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next stdout line containing `needle` (earlier lines are skipped).
    async fn line_with(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.lines.recv()).await {
                Ok(Some(line)) if line.contains(needle) => return line,
                Ok(Some(_)) => {}
                Ok(None) => panic!("hookd listen exited before printing '{needle}'"),
                Err(_) => panic!("hookd listen did not print '{needle}' within 20 s"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_relays_to_a_local_app_and_resumes_after_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (local, hits) = start_local_app().await;
    let port = free_port();
    let mut server = start_server(&dir.path().join("server"), port).await;
    let server_url = format!("http://127.0.0.1:{port}");
    let args = |inbox: Option<&str>, forward: String| {
        let mut args: Vec<String> = inbox.map(str::to_owned).into_iter().collect();
        args.extend([
            "--forward".into(),
            forward,
            "--server".into(),
            server_url.clone(),
            "--token".into(),
            common::ADMIN_TOKEN.into(),
            "--state-dir".into(),
            dir.path().join("state").display().to_string(),
        ]);
        args
    };
    let http = reqwest::Client::new();

    // Without an inbox id, `hookd listen` creates one and prints its capture URL.
    let mut listen = ListenProcess::start(&args(None, format!("http://{local}/hooks")));
    let capture_line = listen.line_with("Capture URL:").await;
    let capture_url = capture_line.split_whitespace().last().unwrap().to_owned();
    assert!(capture_url.starts_with(&format!("{server_url}/in/inb_")), "{capture_line}");
    let inbox_id = capture_url.rsplit('/').next().unwrap().to_owned();
    listen.line_with("Ready").await;

    // While attached, the sender gets the local app's response.
    let res = http
        .post(format!("{capture_url}/github/push?x=1&y=two"))
        .header("x-signature", "abc")
        .header("content-type", "application/json")
        .body(r#"{"a":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["x-local"], "yes");
    assert_eq!(res.text().await.unwrap(), "hello from the local app");
    let first = hits.lock().unwrap()[0].clone();
    assert_eq!(first.method, "POST");
    assert_eq!(first.uri, "/hooks/github/push?x=1&y=two");
    assert_eq!(first.headers["x-signature"], "abc");
    assert_eq!(first.headers["content-type"], "application/json");
    assert_eq!(first.headers["host"], local.to_string(), "host is the local app's");
    assert_eq!(first.body, r#"{"a":1}"#);
    let line = listen.line_with("/github/push").await;
    assert!(line.contains("POST /github/push?x=1&y=two") && line.contains("-> 201"), "{line}");
    assert!(line.trim_end().ends_with(" ms"), "latency shown: {line}");

    // The server restarts; what is captured before the listener is back is forwarded on
    // reconnect, in order.
    server.kill().await.unwrap();
    let mut server = start_server(&dir.path().join("server"), port).await;
    for body in ["after-restart-1", "after-restart-2"] {
        let res = http.put(&capture_url).body(body).send().await.unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    }
    // Each line is printed once the request is forwarded and remembered.
    listen.line_with("PUT /").await;
    listen.line_with("PUT /").await;
    assert_eq!(hits.lock().unwrap().len(), 3);

    // The listener stops: the inbox answers with its configured response, and a new
    // listener resumes from the last request the old one forwarded.
    listen.child.kill().await.unwrap();
    let inbox_api = format!("{server_url}/api/v1/inbox/{inbox_id}");
    eventually(Duration::from_secs(10), "the relay to detach", || {
        let req = http.get(&inbox_api).bearer_auth(common::ADMIN_TOKEN);
        async move {
            let inbox: Value = req.send().await.ok()?.json().await.ok()?;
            (inbox["listeners"] == 0).then_some(())
        }
    })
    .await;
    let res = http.post(&capture_url).body("while-away").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"ok": true}));
    let mut listen = ListenProcess::start(&args(Some(&inbox_id), format!("http://{local}/hooks")));
    listen.line_with("Ready").await;
    eventually(Duration::from_secs(20), "the missed request", || {
        let n = hits.lock().unwrap().len();
        async move { (n >= 4).then_some(()) }
    })
    .await;
    let res = http.post(format!("{capture_url}/again")).body("live-again").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let bodies: Vec<String> = hits.lock().unwrap().iter().map(|h| h.body.clone()).collect();
    assert_eq!(
        bodies,
        [r#"{"a":1}"#, "after-restart-1", "after-restart-2", "while-away", "live-again"],
        "each request forwarded exactly once, in order"
    );

    // A local app that cannot be reached is a 502 for the sender, not a long wait.
    let mut unreachable = ListenProcess::start(&args(None, format!("http://127.0.0.1:{}/hooks", free_port())));
    let line = unreachable.line_with("Capture URL:").await;
    let other_capture = line.split_whitespace().last().unwrap().to_owned();
    unreachable.line_with("Ready").await;
    let started = Instant::now();
    let res = http.post(&other_capture).body("x").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert!(res.text().await.unwrap().contains("could not reach"));
    // Refused at once, not waited out: under `hookd listen`'s 10 s request timeout.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    unreachable.line_with("-> error").await;

    listen.child.kill().await.unwrap();
    unreachable.child.kill().await.unwrap();
    server.kill().await.unwrap();
}
