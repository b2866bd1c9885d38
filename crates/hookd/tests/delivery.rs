//! Delivery end to end: real receivers on 127.0.0.1, signatures checked with the official
//! `svix` library, retries on short schedules.

mod common;

use std::time::Duration;

use common::{eventually, spawn_app, spawn_app_with, Backend, Receiver, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use svix::models::{ApplicationIn, EndpointIn, EndpointSecretRotateIn, EventTypeIn, MessageIn};

on_both_backends!(
    delivers_signed_json_that_svix_verifies,
    routes_by_event_type_and_channel,
    retries_until_success_and_records_every_attempt,
    fails_after_the_schedule_is_exhausted,
    non_2xx_timeouts_and_redirects_are_failures,
    manual_resend_is_one_unretried_attempt,
    rotated_secrets_sign_in_parallel,
    ssrf_guard_refuses_private_destinations,
    disabled_endpoints_keep_their_messages,
    scheduled_delivery_waits_for_deliver_at,
    metrics_count_publishes_attempts_and_requests,
    retention_deletes_finished_messages_and_old_idempotency_keys,
    messages_to_many_endpoints_reach_each_once,
    deleting_an_endpoint_or_an_application_takes_its_deliveries_and_attempts,
    endpoints_deleted_while_messages_are_published_leave_nothing_behind,
    deliveries_stay_in_order_with_an_endpoint_whose_fifo_changes_during_publishes,
    an_endpoint_that_is_behind_gets_every_message_once_it_answers,
    a_backlog_is_routed_as_published_when_its_endpoint_changes,
    a_backlog_survives_a_restart,
    backlogged_messages_outlive_retention_and_expunged_ones_are_not_sent,
    a_resend_of_a_backlogged_message_keeps_its_retries,
    a_lane_whose_endpoint_hangs_holds_only_what_it_can_start,
    an_endpoint_gone_while_behind_keeps_its_backlog_and_nothing_published_after,
);

const WAIT: Duration = Duration::from_secs(10);

/// An application with one endpoint at `url`; returns (app id, endpoint id, secret).
async fn app_with_endpoint(app: &TestApp, url: String, event_types: Option<&[&str]>) -> (String, String, String) {
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    let mut input = EndpointIn::new(url);
    if let Some(types) = event_types {
        for t in types {
            let _ = app.svix.event_type().create(EventTypeIn::new(t.to_string(), String::new()), None).await;
        }
        input.event_types = Some(types.iter().map(|t| t.to_string()).collect());
    }
    let ep = app.svix.endpoint().create(a.id.clone(), input, None).await.unwrap();
    let secret = app.svix.endpoint().get_secret(a.id.clone(), ep.id.clone()).await.unwrap().key;
    (a.id, ep.id, secret)
}

async fn attempts(app: &TestApp, app_id: &str, msg_id: &str) -> Vec<Value> {
    let res = app.request(Method::GET, &format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}")).send().await.unwrap();
    res.json::<Value>().await.unwrap()["data"].as_array().unwrap().clone()
}

/// Waits until the message's delivery to its (only) endpoint has the given status text.
async fn wait_status(app: &TestApp, app_id: &str, msg_id: &str, want: &str) -> Value {
    eventually(WAIT, &format!("delivery status {want}"), || async {
        let res =
            app.request(Method::GET, &format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint")).send().await.unwrap();
        let body: Value = res.json().await.unwrap();
        let dest = body["data"][0].clone();
        (dest["statusText"] == want).then_some(dest)
    })
    .await
}

async fn delivers_signed_json_that_svix_verifies(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (app_id, ep_id, secret) = app_with_endpoint(&app, receiver.url("/hooks"), None).await;
    let msg = app
        .svix
        .message()
        .create(app_id.clone(), MessageIn::new("user.created".into(), json!({"user": "ada", "n": [1, 2]})), None)
        .await
        .unwrap();

    let got = receiver.wait_for(1, WAIT).await;
    let req = &got[0];
    assert_eq!(req.path, "/hooks");
    assert_eq!(req.json(), json!({"user": "ada", "n": [1, 2]}));
    assert_eq!(req.header("content-type"), "application/json");
    assert!(req.header("user-agent").starts_with("hookd/"));
    assert_eq!(req.header("webhook-id"), msg.id);
    req.verify(&secret).expect("official svix verifier accepts the signature");
    let ts: i64 = req.header("webhook-timestamp").parse().unwrap();
    assert!((ts - chrono::Utc::now().timestamp()).abs() < 30);

    let dest = wait_status(&app, &app_id, &msg.id, "success").await;
    assert_eq!(dest["id"], ep_id.as_str());
    // (Svix's SDKs ask for the response bodies only when told to.)
    let with_content = svix::api::MessageAttemptListByMsgOptions { with_content: Some(true), ..Default::default() };
    let list = app.svix.message_attempt().list_by_msg(app_id.clone(), msg.id.clone(), Some(with_content)).await;
    let list = list.unwrap();
    assert_eq!(list.data.len(), 1);
    let attempt = &list.data[0];
    assert_eq!(attempt.response_status_code, 200);
    assert_eq!(attempt.response, "receiver says hi");
    assert_eq!(attempt.endpoint_id, ep_id);
    let by_endpoint = app.svix.message_attempt().list_by_endpoint(app_id.clone(), ep_id.clone(), None).await.unwrap();
    assert_eq!(by_endpoint.data[0].id, attempt.id);
    let one = app.svix.message_attempt().get(app_id.clone(), msg.id.clone(), attempt.id.clone(), None).await.unwrap();
    assert_eq!(one.id, attempt.id);
    app.stop().await;
}

async fn routes_by_event_type_and_channel(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (all, typed, chan) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    app.svix.event_type().create(EventTypeIn::new("user.created".into(), String::new()), None).await.unwrap();
    app.svix.endpoint().create(a.id.clone(), EndpointIn::new(all.url("/")), None).await.unwrap();
    let mut t = EndpointIn::new(typed.url("/"));
    t.event_types = Some(["user.created".to_string()].into());
    app.svix.endpoint().create(a.id.clone(), t, None).await.unwrap();
    let mut c = EndpointIn::new(chan.url("/"));
    c.channels = Some(["eu".to_string()].into());
    app.svix.endpoint().create(a.id.clone(), c, None).await.unwrap();
    let mut disabled = EndpointIn::new(all.url("/disabled"));
    disabled.disabled = Some(true);
    app.svix.endpoint().create(a.id.clone(), disabled, None).await.unwrap();

    app.publish(&a.id, json!({"eventType": "user.created", "payload": {"n": 1}})).await;
    app.publish(&a.id, json!({"eventType": "user.deleted", "payload": {"n": 2}})).await;
    app.publish(&a.id, json!({"eventType": "user.deleted", "payload": {"n": 3}, "channels": ["eu"]})).await;

    let got_all = all.wait_for(3, WAIT).await;
    typed.wait_for(1, WAIT).await;
    chan.wait_for(1, WAIT).await;
    // Give stray deliveries a chance to show up before checking there were none.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(got_all.iter().all(|r| r.path == "/"), "the disabled endpoint got nothing");
    assert_eq!(all.received().len(), 3);
    assert_eq!(typed.received().iter().map(|r| r.json()["n"].clone()).collect::<Vec<_>>(), [json!(1)]);
    assert_eq!(chan.received().iter().map(|r| r.json()["n"].clone()).collect::<Vec<_>>(), [json!(3)]);
    app.stop().await;
}

async fn retries_until_success_and_records_every_attempt(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start_with(vec![Reply::Status(500), Reply::Status(503)]).await;
    let (app_id, _, secret) = app_with_endpoint(&app, receiver.url("/"), None).await;
    let msg_id = app.publish(&app_id, json!({"eventType": "a.b", "payload": {"k": "v"}})).await;
    let got = receiver.wait_for(3, WAIT).await;
    for r in &got {
        assert_eq!(r.header("webhook-id"), msg_id, "retries carry the same webhook-id");
        r.verify(&secret).unwrap();
    }
    // 100 ms ± 20 % between attempts.
    assert!(got[1].at - got[0].at >= Duration::from_millis(80), "{:?}", got[1].at - got[0].at);
    wait_status(&app, &app_id, &msg_id, "success").await;
    let list = attempts(&app, &app_id, &msg_id).await;
    let codes: Vec<i64> = list.iter().map(|a| a["responseStatusCode"].as_i64().unwrap()).collect();
    assert_eq!(codes, [200, 503, 500], "newest first");
    assert_eq!(list[2]["statusText"], "fail");
    assert_eq!(list[0]["statusText"], "success");
    assert!(list.iter().all(|a| a["triggerType"] == 0));
    app.stop().await;
}

async fn fails_after_the_schedule_is_exhausted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start_with(vec![Reply::Status(500); 10]).await;
    let (app_id, _, _) = app_with_endpoint(&app, receiver.url("/"), None).await;
    let msg_id = app.publish(&app_id, json!({"eventType": "a.b", "payload": {}})).await;
    let dest = wait_status(&app, &app_id, &msg_id, "fail").await;
    assert_eq!(dest["nextAttempt"], Value::Null);
    // 1 + two retries in the test schedule, then no more.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(attempts(&app, &app_id, &msg_id).await.len(), 3);
    app.stop().await;
}

async fn non_2xx_timeouts_and_redirects_are_failures(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.retry_schedule = common::schedule("");
        c.request_timeout = Duration::from_millis(300);
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start_with(vec![
        Reply::WithHeaders(302, vec![("location", "http://127.0.0.1:1/elsewhere".into())]),
        Reply::Status(404),
        Reply::Hang,
    ])
    .await;
    let (app_id, _, _) = app_with_endpoint(&app, receiver.url("/"), None).await;
    let mut msgs = vec![];
    for i in 0..3 {
        msgs.push(app.publish(&app_id, json!({"eventType": "a.b", "payload": {"i": i}})).await);
        receiver.wait_for(i + 1, WAIT).await;
    }
    let refused_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let a = app.svix.application().create(ApplicationIn::new("B".into()), None).await.unwrap();
    app.svix
        .endpoint()
        .create(a.id.clone(), EndpointIn::new(format!("http://127.0.0.1:{refused_port}/")), None)
        .await
        .unwrap();
    let refused_msg = app.publish(&a.id, json!({"eventType": "a.b", "payload": {}})).await;

    let mut outcomes = vec![];
    for msg in &msgs {
        wait_status(&app, &app_id, msg, "fail").await;
        outcomes.push(attempts(&app, &app_id, msg).await.remove(0));
    }
    assert_eq!(outcomes[0]["responseStatusCode"], 302, "3xx is not followed");
    assert_eq!(outcomes[1]["responseStatusCode"], 404);
    assert_eq!(outcomes[2]["responseStatusCode"], 0);
    assert!(outcomes[2]["error"].as_str().unwrap().contains("timed out"), "{}", outcomes[2]);
    assert_eq!(receiver.received().len(), 3, "the redirect was not followed");

    wait_status(&app, &a.id, &refused_msg, "fail").await;
    let refused = attempts(&app, &a.id, &refused_msg).await.remove(0);
    assert_eq!(refused["responseStatusCode"], 0);
    assert!(!refused["error"].as_str().unwrap().is_empty(), "{refused}");
    app.stop().await;
}

async fn manual_resend_is_one_unretried_attempt(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start_with(vec![Reply::Status(500); 3]).await;
    let (app_id, ep_id, _) = app_with_endpoint(&app, receiver.url("/"), None).await;
    let msg_id = app.publish(&app_id, json!({"eventType": "a.b", "payload": {}})).await;
    wait_status(&app, &app_id, &msg_id, "fail").await;

    app.svix.message_attempt().resend(app_id.clone(), msg_id.clone(), ep_id.clone(), None).await.unwrap();
    receiver.wait_for(4, WAIT).await;
    wait_status(&app, &app_id, &msg_id, "success").await;
    let list = attempts(&app, &app_id, &msg_id).await;
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["triggerType"], 1, "manual");
    assert_eq!(list[0]["responseStatusCode"], 200);

    // A failing manual attempt is not retried.
    receiver.script(vec![Reply::Status(500); 5]);
    app.svix.message_attempt().resend(app_id.clone(), msg_id.clone(), ep_id.clone(), None).await.unwrap();
    receiver.wait_for(5, WAIT).await;
    wait_status(&app, &app_id, &msg_id, "fail").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 5);
    app.stop().await;
}

async fn rotated_secrets_sign_in_parallel(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (app_id, ep_id, old) = app_with_endpoint(&app, receiver.url("/"), None).await;
    let new = app
        .svix
        .endpoint()
        .rotate_secret(app_id.clone(), ep_id.clone(), EndpointSecretRotateIn::default(), None)
        .await
        .unwrap()
        .key;
    app.publish(&app_id, json!({"eventType": "a.b", "payload": {}})).await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("webhook-signature").split(' ').count(), 2);
    got[0].verify(&old).expect("old secret still verifies during the grace period");
    got[0].verify(&new).expect("new secret verifies");

    // With no grace period the old secret stops signing at once.
    let rotate = EndpointSecretRotateIn { grace_period_seconds: Some(0), ..Default::default() };
    let newest = app.svix.endpoint().rotate_secret(app_id.clone(), ep_id.clone(), rotate, None).await.unwrap().key;
    app.publish(&app_id, json!({"eventType": "a.b", "payload": {}})).await;
    let got = receiver.wait_for(2, WAIT).await;
    got[1].verify(&newest).unwrap();
    got[1].verify(&old).expect("the first secret is still in its 24 h grace period");
    assert!(got[1].verify(&new).is_err(), "rotated out with grace 0");
    app.stop().await;
}

async fn ssrf_guard_refuses_private_destinations(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.allow_subnets.clear();
        c.retry_schedule = common::schedule("");
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start().await;
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    let port = receiver.addr.port();
    let urls = [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://10.1.2.3/".to_string(),
    ];
    for url in &urls {
        app.svix.endpoint().create(a.id.clone(), EndpointIn::new(url.clone()), None).await.unwrap();
    }
    let msg_id = app.publish(&a.id, json!({"eventType": "a.b", "payload": {}})).await;
    let list = eventually(WAIT, "all attempts refused", || async {
        let list = attempts(&app, &a.id, &msg_id).await;
        (list.len() == urls.len()).then_some(list)
    })
    .await;
    for attempt in &list {
        let error = attempt["error"].as_str().unwrap();
        assert!(error.contains("SSRF"), "{attempt}");
        assert_eq!(attempt["responseStatusCode"], 0);
    }
    assert!(receiver.received().is_empty(), "nothing reached the loopback receiver");
    app.stop().await;
}

async fn disabled_endpoints_keep_their_messages(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (app_id, ep_id, _) = app_with_endpoint(&app, receiver.url("/"), None).await;
    // Routed while enabled (due a little later), then the endpoint is disabled before the
    // first attempt: the delivery must wait, not fail.
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    let msg_id = app.publish(&app_id, json!({"eventType": "a.b", "payload": {}, "deliverAt": at.to_rfc3339()})).await;
    let (status, _) = app
        .send_json(Method::PATCH, &format!("/api/v1/app/{app_id}/endpoint/{ep_id}"), &json!({"disabled": true}))
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let stats = app.svix.endpoint().get_stats(app_id.clone(), ep_id.clone(), None).await.unwrap();
    assert_eq!((stats.pending, stats.fail, stats.success), (1, 0, 0));
    assert!(receiver.received().is_empty());
    assert!(attempts(&app, &app_id, &msg_id).await.is_empty());

    let (status, _) = app
        .send_json(Method::PATCH, &format!("/api/v1/app/{app_id}/endpoint/{ep_id}"), &json!({"disabled": false}))
        .await;
    assert_eq!(status, 200);
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("webhook-id"), msg_id);
    wait_status(&app, &app_id, &msg_id, "success").await;
    app.stop().await;
}

async fn scheduled_delivery_waits_for_deliver_at(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (app_id, _, _) = app_with_endpoint(&app, receiver.url("/"), None).await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(700);
    let published = std::time::Instant::now();
    app.publish(&app_id, json!({"eventType": "a.b", "payload": {}, "deliverAt": at.to_rfc3339()})).await;
    let got = receiver.wait_for(1, WAIT).await;
    assert!(got[0].at - published >= Duration::from_millis(500), "{:?}", got[0].at - published);
    app.stop().await;
}

/// The value of the series `name` (with its labels, as rendered) in a `/metrics` text.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let res = app.request(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    res.text().await.unwrap()
}

async fn metrics_count_publishes_attempts_and_requests(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.retry_schedule = common::schedule("50ms")).await else { return };
    let res = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 401, "the counts cover every application: a token is needed");

    // Three endpoints: one answers 200; one answers 500 once, then 200; at the third's address
    // nothing listens (no answer), so each of its deliveries exhausts the one-retry schedule.
    let ok = Receiver::start().await;
    let failing = Receiver::start_with(vec![Reply::Status(500)]).await;
    let (app_id, _, _) = app_with_endpoint(&app, ok.url("/"), None).await;
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap() // dropped: nothing listens there any more
    };
    for url in [failing.url("/"), format!("http://{refused}/")] {
        let res = app
            .request(Method::POST, &format!("/api/v1/app/{app_id}/endpoint"))
            .json(&json!({"url": url}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    app.publish(&app_id, json!({"eventType": "a.b", "payload": {"n": 1}})).await;
    app.publish(&app_id, json!({"eventType": "a.b", "payload": {"n": 2}})).await;
    ok.wait_for(2, WAIT).await;

    // Two messages, 9 attempts: 2 successes at the first endpoint; a failure and 2 successes
    // at the second; 2 unanswered attempts per message at the third, which gives up on both.
    let text = eventually(WAIT, "every attempt counted", || async {
        let text = scrape(&app).await;
        let attempts = metric(&text, "hookd_delivery_attempt_duration_seconds_count");
        (attempts == Some(9.0) && metric(&text, "hookd_deliveries_failed_total") == Some(2.0)).then_some(text)
    })
    .await;
    assert_eq!(metric(&text, "hookd_messages_published_total"), Some(2.0), "{text}");
    assert_eq!(metric(&text, r#"hookd_delivery_attempts_total{result="success"}"#), Some(4.0), "{text}");
    assert_eq!(metric(&text, r#"hookd_delivery_attempts_total{result="failure"}"#), Some(1.0), "{text}");
    assert_eq!(metric(&text, r#"hookd_delivery_attempts_total{result="no_response"}"#), Some(4.0), "{text}");
    assert_eq!(metric(&text, "hookd_delivery_attempt_duration_seconds_count"), Some(9.0), "{text}");
    assert_eq!(metric(&text, "hookd_delivery_attempts_in_flight"), Some(0.0), "{text}");
    let publishes = r#"hookd_http_requests_total{method="POST",route="/api/v1/app/{app_id}/msg",status="202"}"#;
    assert_eq!(metric(&text, publishes), Some(2.0), "{text}");
    assert!(text.contains(r#"hookd_build_info{version=""#), "{text}");
    app.stop().await;
}

async fn retention_deletes_finished_messages_and_old_idempotency_keys(backend: Backend) {
    let keep_for = Duration::from_secs(2);
    let Some(app) = spawn_app_with(backend, |c| {
        c.retention = Some(keep_for);
        c.idempotency_key_ttl = keep_for;
        c.retry_schedule = common::schedule("1h");
    })
    .await
    else {
        return;
    };
    // Application a's message is delivered at once; b's endpoint fails, so its message stays
    // pending (next try in an hour) however old it gets.
    let ok = Receiver::start().await;
    let failing = Receiver::start_with(vec![Reply::Status(500)]).await;
    let (a, ok_endpoint, _) = app_with_endpoint(&app, ok.url("/"), None).await;
    let (b, _, _) = app_with_endpoint(&app, failing.url("/"), None).await;
    let publish_once = || async {
        let res = app
            .request(Method::POST, &format!("/api/v1/app/{a}/msg"))
            .header("idempotency-key", "order-7")
            .json(&json!({"eventType": "a.b", "payload": {"order": 7}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    };
    // Published first: the sweep that deletes the later one has looked at it too.
    let pending = app.publish(&b, json!({"eventType": "a.b", "payload": {"order": 8}})).await;
    let delivered = publish_once().await;
    ok.wait_for(1, WAIT).await;
    failing.wait_for(1, WAIT).await;
    assert_eq!(publish_once().await, delivered, "within its lifetime the key answers the first response");

    eventually(WAIT, "the delivered message to be deleted", || async {
        let res = app.request(Method::GET, &format!("/api/v1/app/{a}/msg/{delivered}")).send().await.unwrap();
        (res.status() == 404).then_some(())
    })
    .await;
    // Its attempts and its delivery went with it; the pending message, as old, is kept with
    // its attempt.
    let attempts = app.get_json(&format!("/api/v1/app/{a}/attempt/endpoint/{ok_endpoint}")).await;
    assert_eq!(attempts["data"], json!([]), "{attempts}");
    for table in ["deliveries", "attempts"] {
        let rows =
            common::raw(&app.config.database, &format!("SELECT msg_id FROM {table} WHERE msg_id = '{delivered}'"))
                .await;
        assert!(rows.is_empty(), "{table} of the deleted message: {rows:?}");
    }
    let res = app.request(Method::GET, &format!("/api/v1/app/{b}/msg/{pending}")).send().await.unwrap();
    assert_eq!(res.status(), 200, "a message with a pending delivery is never deleted");
    let attempts = app.get_json(&format!("/api/v1/app/{b}/attempt/msg/{pending}")).await;
    assert_eq!(attempts["data"].as_array().unwrap().len(), 1, "{attempts}");

    // The idempotency key is forgotten too: the same request now publishes anew.
    let again = eventually(WAIT, "the idempotency key to be forgotten", || async {
        let id = publish_once().await;
        (id != delivered).then_some(id)
    })
    .await;
    assert!(again.starts_with("msg_"));
    app.stop().await;
}

/// Messages routed to more endpoints than SQLite keeps multi-row inserts for (`bulk.rs`:
/// deliveries spread over more than 16 endpoints go one row per statement): every endpoint
/// gets every message once, and each message lists every endpoint as a destination.
async fn messages_to_many_endpoints_reach_each_once(backend: Backend) {
    const ENDPOINTS: usize = 40;
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start().await;
    let a = app.svix.application().create(ApplicationIn::new("Many".into()), None).await.unwrap();
    for k in 0..ENDPOINTS {
        app.svix.endpoint().create(a.id.clone(), EndpointIn::new(receiver.url(&format!("/e{k}"))), None).await.unwrap();
    }
    // Published together, so that they share batches.
    let publish = |i: i32| app.publish(&a.id, json!({"eventType": "e.t", "payload": {"i": i}}));
    let (p0, p1, p2, p3, p4) = tokio::join!(publish(0), publish(1), publish(2), publish(3), publish(4));
    let ids = [p0, p1, p2, p3, p4];
    let got = receiver.wait_for(5 * ENDPOINTS, WAIT).await;
    let mut seen: Vec<(String, String)> =
        got.iter().map(|r| (r.path.clone(), r.header("webhook-id").to_owned())).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5 * ENDPOINTS, "each endpoint got each message once");
    for id in &ids {
        assert_eq!(seen.iter().filter(|(_, msg)| msg == id).count(), ENDPOINTS, "{id} reached every endpoint");
        let path = format!("/api/v1/app/{}/msg/{id}/endpoint?limit=250", a.id);
        let destinations = app.get_json(&path).await;
        assert_eq!(destinations["data"].as_array().unwrap().len(), ENDPOINTS, "{destinations}");
    }
    app.stop().await;
}

/// The rows that name an endpoint in `table` (deliveries or attempts), read around hookd.
async fn rows_of(app: &TestApp, table: &str, endpoint_id: &str) -> usize {
    let sql = format!("SELECT msg_id FROM {table} WHERE endpoint_id = '{endpoint_id}'");
    common::raw(&app.config.database, &sql).await.len()
}

/// Deleting an endpoint deletes its deliveries and attempts (and only its own); deleting an
/// application deletes those of all its endpoints. (PostgreSQL keeps no foreign key on them:
/// the store deletes them, see `integrity.rs`.)
async fn deleting_an_endpoint_or_an_application_takes_its_deliveries_and_attempts(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.retry_schedule = common::schedule("1h")).await else { return };
    let ok = Receiver::start().await;
    let failing = Receiver::start_with(vec![Reply::Status(500)]).await;
    let (a, first, _) = app_with_endpoint(&app, ok.url("/"), None).await;
    let second = app.svix.endpoint().create(a.clone(), EndpointIn::new(failing.url("/")), None).await.unwrap().id;
    for i in 0..2 {
        app.publish(&a, json!({"eventType": "a.b", "payload": {"i": i}})).await;
    }
    ok.wait_for(2, WAIT).await;
    failing.wait_for(2, WAIT).await;
    eventually(WAIT, "both endpoints' attempts recorded", || async {
        (rows_of(&app, "attempts", &first).await == 2 && rows_of(&app, "attempts", &second).await == 2).then_some(())
    })
    .await;
    assert_eq!(rows_of(&app, "deliveries", &second).await, 2, "the failing endpoint's deliveries wait for a retry");

    app.svix.endpoint().delete(a.clone(), first.clone()).await.unwrap();
    assert_eq!(rows_of(&app, "deliveries", &first).await, 0, "the deleted endpoint's deliveries");
    assert_eq!(rows_of(&app, "attempts", &first).await, 0, "the deleted endpoint's attempts");
    assert_eq!(rows_of(&app, "deliveries", &second).await, 2, "the other endpoint keeps its deliveries");
    assert_eq!(rows_of(&app, "attempts", &second).await, 2, "and its attempts");

    app.svix.application().delete(a.clone()).await.unwrap();
    assert_eq!(rows_of(&app, "deliveries", &second).await, 0, "the deleted application's deliveries");
    assert_eq!(rows_of(&app, "attempts", &second).await, 0, "the deleted application's attempts");
    let messages = common::raw(&app.config.database, &format!("SELECT id FROM messages WHERE app_id = '{a}'")).await;
    assert!(messages.is_empty(), "the deleted application's messages: {messages:?}");
    app.stop().await;
}

/// Endpoints deleted while their application's messages are being published and delivered
/// (by lanes on this node, which take deliveries straight from the publishes): every publish
/// is accepted, and no delivery or attempt is left naming a deleted endpoint. (On PostgreSQL,
/// where no foreign key checks them, the publishes' application lock and the records' order
/// keep them away; see `integrity.rs`.)
async fn endpoints_deleted_while_messages_are_published_leave_nothing_behind(backend: Backend) {
    const ENDPOINTS: usize = 8;
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start().await;
    let a = app.svix.application().create(ApplicationIn::new("Churn".into()), None).await.unwrap().id;
    let mut endpoints = Vec::new();
    for k in 0..ENDPOINTS {
        let input = EndpointIn::new(receiver.url(&format!("/e{k}")));
        endpoints.push(app.svix.endpoint().create(a.clone(), input, None).await.unwrap().id);
    }
    // Four publishers, while the endpoints are deleted one by one.
    let publishers = (0..4).map(|p| {
        let app = &app;
        let a = &a;
        async move {
            for i in 0..40 {
                let res = app
                    .request(Method::POST, &format!("/api/v1/app/{a}/msg"))
                    .json(&json!({"eventType": "e.t", "payload": {"p": p, "i": i}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
            }
        }
    });
    let deleter = async {
        receiver.wait_for(ENDPOINTS, WAIT).await;
        for ep in &endpoints {
            app.svix.endpoint().delete(a.clone(), ep.clone()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    };
    tokio::join!(futures_util::future::join_all(publishers), deleter);
    // What was in flight when its endpoint went is recorded (or dropped) within milliseconds;
    // an orphan, once made, would stay.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for table in ["deliveries", "attempts"] {
        let sql = format!("SELECT msg_id FROM {table} WHERE endpoint_id NOT IN (SELECT id FROM endpoints)");
        let orphans = common::raw(&app.config.database, &sql).await;
        assert!(orphans.is_empty(), "{table} naming a deleted endpoint: {orphans:?}");
    }
    app.stop().await;
}

/// An endpoint switched between FIFO and not while messages are published to it: every
/// delivery stored says what its endpoint now is (`deliveries.in_order`, which decides the
/// index a FIFO claim reads; on PostgreSQL the publishes' application lock keeps it right,
/// see `integrity.rs`).
async fn deliveries_stay_in_order_with_an_endpoint_whose_fifo_changes_during_publishes(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.retry_schedule = common::schedule("1h")).await else { return };
    // Failing, so that deliveries stay pending (a FIFO endpoint's behind its head).
    let failing = Receiver::start_with(vec![Reply::Status(500)]).await;
    let (a, ep, _) = app_with_endpoint(&app, failing.url("/"), None).await;
    let publishers = (0..4).map(|p| {
        let (app, a) = (&app, &a);
        async move {
            for i in 0..30 {
                app.publish(a, json!({"eventType": "e.t", "payload": {"p": p, "i": i}})).await;
            }
        }
    });
    let switcher = async {
        for k in 0..10 {
            let body = json!({"fifo": k % 2 == 0});
            let (status, _) = app.send_json(Method::PATCH, &format!("/api/v1/app/{a}/endpoint/{ep}"), &body).await;
            assert_eq!(status, 200);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::join!(futures_util::future::join_all(publishers), switcher);
    let stored = rows_of(&app, "deliveries", &ep).await;
    assert_eq!(stored, 120, "every message has its delivery");
    let sql = "SELECT d.msg_id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id WHERE d.in_order <> e.fifo";
    let stale = common::raw(&app.config.database, sql).await;
    assert!(stale.is_empty(), "deliveries whose in_order is not their endpoint's fifo: {stale:?}");
    app.stop().await;
}

/// An endpoint's backlog (`backlog.rs`), read around hookd: where it starts, `None` without.
async fn backlog_of(app: &TestApp, endpoint_id: &str) -> Option<String> {
    let sql = format!("SELECT CAST(backlog_after AS TEXT) FROM endpoint_queues WHERE endpoint_id = '{endpoint_id}'");
    common::raw(&app.config.database, &sql).await.into_iter().next().flatten()
}

/// The `n` payload fields of what a receiver got, sorted.
fn numbers(got: &[common::Received]) -> Vec<i64> {
    let mut seen: Vec<i64> = got.iter().map(|r| r.json()["n"].as_i64().unwrap()).collect();
    seen.sort_unstable();
    seen
}

/// Publishes messages numbered `numbers` (payload `{"n": …}`, event type `event_type(n)`),
/// sixteen at a time.
async fn publish_numbered(
    app: &TestApp,
    a: &str,
    numbers: std::ops::Range<i64>,
    event_type: impl Fn(i64) -> &'static str,
) {
    use futures_util::StreamExt;
    futures_util::stream::iter(numbers)
        .map(|n| app.publish(a, json!({"eventType": event_type(n), "payload": {"n": n}})))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

/// A receiver whose every request hangs until it is released.
async fn hanging_receiver() -> Receiver {
    Receiver::start_with(vec![Reply::Hang; 2000]).await
}

/// An application whose one endpoint hangs until released, with messages `0..messages`
/// published to it: (its receiver, the application's id, the endpoint's id).
async fn endpoint_behind(app: &TestApp, messages: i64) -> (Receiver, String, String) {
    let hanging = hanging_receiver().await;
    let (a, behind) = app.app_and_endpoint(json!({"url": hanging.url("/")})).await;
    publish_numbered(app, &a, 0..messages, |_| "e.t").await;
    (hanging, a, behind)
}

/// An endpoint whose requests hang, next to a healthy one: the healthy one gets every message
/// meanwhile, and once the hanging one answers it gets every message too, each once. The
/// hanging endpoint gets a backlog instead of a delivery row per message (`backlog.rs`), and
/// reading its stats turns the backlog into rows, which count it exactly.
async fn an_endpoint_that_is_behind_gets_every_message_once_it_answers(backend: Backend) {
    // More than a lane holds (up to 8 in flight, 256 handed over and waiting), twice.
    const MESSAGES: i64 = 1000;
    let Some(app) = spawn_app_with(backend, long_requests).await else { return };
    let hanging = hanging_receiver().await;
    let ok = Receiver::start().await;
    let (a, behind) = app.app_and_endpoint(json!({"url": hanging.url("/")})).await;
    let (status, healthy) =
        app.send_json(Method::POST, &format!("/api/v1/app/{a}/endpoint"), &json!({"url": ok.url("/")})).await;
    assert_eq!(status, 201, "{healthy}");
    publish_numbered(&app, &a, 0..MESSAGES / 2, |_| "e.t").await;
    assert_eq!(numbers(&ok.wait_for(MESSAGES as usize / 2, WAIT).await), (0..MESSAGES / 2).collect::<Vec<_>>());
    assert!(backlog_of(&app, &behind).await.is_some(), "the hanging endpoint has a backlog");
    let rows = rows_of(&app, "deliveries", &behind).await;
    assert!(rows < MESSAGES as usize / 2, "{rows} delivery rows for an endpoint that took none");
    // The last message lists the endpoint that is behind among its destinations, waiting.
    let last = app.publish(&a, json!({"eventType": "e.t", "payload": {"n": -1}})).await;
    let destinations = app.get_json(&format!("/api/v1/app/{a}/msg/{last}/endpoint")).await;
    let waiting = destinations["data"].as_array().unwrap().iter().find(|d| d["id"] == behind.as_str());
    assert_eq!(waiting.map(|d| d["statusText"].clone()), Some(json!("pending")), "{destinations}");
    // Its stats count every message as waiting (pending, or sending for those in flight).
    let stats = app.get_json(&format!("/api/v1/app/{a}/endpoint/{behind}/stats")).await;
    let waiting = stats["pending"].as_i64().unwrap() + stats["sending"].as_i64().unwrap();
    assert_eq!(waiting, MESSAGES / 2 + 1, "{stats}");
    assert_eq!(backlog_of(&app, &behind).await, None, "read, the backlog became rows");
    assert_eq!(rows_of(&app, "deliveries", &behind).await, MESSAGES as usize / 2 + 1);
    // A second backlog, then the endpoint answers.
    publish_numbered(&app, &a, MESSAGES / 2..MESSAGES, |_| "e.t").await;
    ok.wait_for(MESSAGES as usize + 1, WAIT).await;
    hanging.release();
    let got = eventually(WAIT, "every message at the endpoint that was behind", || async {
        let got = hanging.received();
        (got.len() > MESSAGES as usize).then_some(got)
    })
    .await;
    let every: Vec<i64> = (-1..MESSAGES).collect();
    assert_eq!(numbers(&got), every, "each message once");
    assert_eq!(numbers(&ok.received()), every, "each message once");
    eventually(WAIT, "every delivery recorded as a success", || async {
        let stats = app.get_json(&format!("/api/v1/app/{a}/endpoint/{behind}/stats")).await;
        (stats["success"] == MESSAGES + 1).then_some(())
    })
    .await;
    assert_eq!(backlog_of(&app, &behind).await, None);
    app.stop().await;
}

/// An endpoint's subscriptions change while it is behind: the messages published before the
/// change go where they were routed then (to it if it subscribed, not if it did not), those
/// after where the new subscriptions say. (With a backlog, routing happens as the lane takes
/// it, so the change first turns the backlog into rows under the old subscriptions.)
async fn a_backlog_is_routed_as_published_when_its_endpoint_changes(backend: Backend) {
    // Half of them for the endpoint: more than its lane holds.
    const BEFORE: i64 = 800;
    let Some(app) = spawn_app_with(backend, long_requests).await else { return };
    let hanging = hanging_receiver().await;
    let ok = Receiver::start().await;
    for t in ["a.x", "b.x"] {
        let (status, _) =
            app.send_json(Method::POST, "/api/v1/event-type", &json!({"name": t, "description": ""})).await;
        assert!(status == 201 || status == 409);
    }
    let (a, behind) = app.app_and_endpoint(json!({"url": hanging.url("/"), "filterTypes": ["a.x"]})).await;
    let (status, _) =
        app.send_json(Method::POST, &format!("/api/v1/app/{a}/endpoint"), &json!({"url": ok.url("/")})).await;
    assert_eq!(status, 201);
    // Before the change: even numbers are a.x (for it), odd ones b.x (not).
    let alternate = |n: i64| if n % 2 == 0 { "a.x" } else { "b.x" };
    publish_numbered(&app, &a, 0..BEFORE, alternate).await;
    ok.wait_for(BEFORE as usize, WAIT).await;
    assert!(backlog_of(&app, &behind).await.is_some(), "the hanging endpoint has a backlog");
    let path = format!("/api/v1/app/{a}/endpoint/{behind}");
    let (status, out) = app.send_json(Method::PATCH, &path, &json!({"filterTypes": ["b.x"]})).await;
    assert_eq!(status, 200, "{out}");
    // After it: the other way round.
    publish_numbered(&app, &a, BEFORE..BEFORE + 40, alternate).await;
    ok.wait_for(BEFORE as usize + 40, WAIT).await;
    hanging.release();
    let want: Vec<i64> =
        (0..BEFORE).filter(|n| n % 2 == 0).chain((BEFORE..BEFORE + 40).filter(|n| n % 2 == 1)).collect();
    let got = eventually(WAIT, "the endpoint's messages", || async {
        let got = hanging.received();
        (got.len() >= want.len()).then_some(got)
    })
    .await;
    // Nothing more arrives after a pause either.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(got.len(), want.len(), "as many as were routed to it");
    assert_eq!(numbers(&hanging.received()), want, "routed as when each was published");
    app.stop().await;
}

/// A node stopped while an endpoint is behind, started again on the same data: the endpoint
/// gets every message, each once (the backlog, like the rows, is in the database).
async fn a_backlog_survives_a_restart(backend: Backend) {
    const MESSAGES: i64 = 500;
    let Some(app) = spawn_app_with(backend, long_requests).await else { return };
    let (hanging, a, behind) = endpoint_behind(&app, MESSAGES).await;
    hanging.wait_for(1, WAIT).await;
    assert!(backlog_of(&app, &behind).await.is_some(), "the hanging endpoint has a backlog");
    // The attempts in flight end with the node (answered, or not: either way they are
    // attempted again, at least once).
    hanging.release();
    let ok = Receiver::start().await;
    let again = app.restart().await;
    let path = format!("/api/v1/app/{a}/endpoint/{behind}");
    let (status, out) = again.send_json(Method::PATCH, &path, &json!({"url": ok.url("/")})).await;
    assert_eq!(status, 200, "{out}");
    let before: Vec<i64> = numbers(&hanging.received());
    let got = eventually(WAIT, "every message after the restart", || async {
        let mut seen = before.clone();
        seen.extend(numbers(&ok.received()));
        seen.sort_unstable();
        seen.dedup();
        (seen.len() == MESSAGES as usize).then_some(seen)
    })
    .await;
    assert_eq!(got, (0..MESSAGES).collect::<Vec<_>>());
    let mut all = numbers(&ok.received());
    all.dedup();
    assert_eq!(all.len(), ok.received().len(), "none twice after the restart");
    again.stop().await;
}

/// Requests that may hang a minute (the lease outlasts them, with room to start them).
/// A lane whose endpoint hangs holds no more claimed deliveries than it can start before
/// their lease runs short: about one, once it has seen an attempt time out. (It used to hold a
/// full queue and a full hand-over, give them all back unstarted at each request timeout and
/// claim as many again: hundreds of row writes per timeout, for one attempt.) The messages wait
/// in the endpoint's backlog instead, and arrive once it answers.
async fn a_lane_whose_endpoint_hangs_holds_only_what_it_can_start(backend: Backend) {
    const MESSAGES: i64 = 300;
    let Some(app) = spawn_app_with(backend, |c| {
        // A claimed delivery must start within lease - timeout - 1 s = 1 s of its claim.
        c.request_timeout = Duration::from_secs(1);
        c.lease = Duration::from_secs(3);
        c.retry_schedule = common::schedule("1h");
    })
    .await
    else {
        return;
    };
    let (hanging, _, behind) = endpoint_behind(&app, MESSAGES).await;
    // Two requests have timed out: the lane knows how long its attempts take.
    hanging.wait_for(3, WAIT).await;
    let leased = format!("SELECT msg_id FROM deliveries WHERE endpoint_id = '{behind}' AND lease_token IS NOT NULL");
    let mut most = 0;
    for _ in 0..25 {
        most = most.max(common::raw(&app.config.database, &leased).await.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(most <= 3, "{most} deliveries leased to a lane that can start one a second");
    assert!(rows_of(&app, "deliveries", &behind).await < MESSAGES as usize, "the rest wait in its backlog");
    // It answers: every message it had not been sent arrives, once.
    let tried: std::collections::HashSet<i64> = numbers(&hanging.received()).into_iter().collect();
    hanging.release();
    let rest: Vec<i64> = (0..MESSAGES).filter(|n| !tried.contains(n)).collect();
    let got = eventually(WAIT, "the messages it had not been sent", || async {
        let got: Vec<i64> = numbers(&hanging.received()).into_iter().filter(|n| !tried.contains(n)).collect();
        (got.len() >= rest.len()).then_some(got)
    })
    .await;
    assert_eq!(got, rest, "each once");
    app.stop().await;
}

/// An endpoint answers 410 Gone while it is behind: it is disabled, and the messages of its
/// backlog are kept (parked) and sent once it is enabled again, while those published while
/// it was disabled are not (a disabled endpoint is not routed to). So the disabling turns the
/// backlog into rows under the settings it was published under, as any routing change does;
/// left as a backlog, its lane would route the later messages too once re-enabled.
async fn an_endpoint_gone_while_behind_keeps_its_backlog_and_nothing_published_after(backend: Backend) {
    const BEFORE: i64 = 600;
    let Some(app) = spawn_app_with(backend, long_requests).await else { return };
    // The first request hangs until released (then 200), the next is told 410, then 200.
    let gone = Receiver::start_with(vec![Reply::Hang, Reply::Status(410)]).await;
    let (a, ep) = app.app_and_endpoint(json!({"url": gone.url("/")})).await;
    publish_numbered(&app, &a, 0..BEFORE, |_| "e.t").await;
    gone.wait_for(1, WAIT).await;
    assert!(backlog_of(&app, &ep).await.is_some(), "the endpoint has a backlog");
    gone.release();
    let path = format!("/api/v1/app/{a}/endpoint/{ep}");
    eventually(WAIT, "the endpoint disabled by its 410", || async {
        (app.get_json(&path).await["disabled"] == true).then_some(())
    })
    .await;
    assert_eq!(backlog_of(&app, &ep).await, None, "disabling turned the backlog into rows");
    // Published while it is disabled: not for it.
    publish_numbered(&app, &a, BEFORE..BEFORE + 20, |_| "e.t").await;
    let (status, out) = app.send_json(Method::PATCH, &path, &json!({"disabled": false})).await;
    assert_eq!(status, 200, "{out}");
    // Published once it is enabled again: for it.
    publish_numbered(&app, &a, BEFORE + 20..BEFORE + 30, |_| "e.t").await;
    let want: Vec<i64> = (0..BEFORE).chain(BEFORE + 20..BEFORE + 30).collect();
    let got = eventually(WAIT, "every message from before and after", || async {
        // Every request but the one told 410 was answered 200.
        let mut got = gone.received();
        got.remove(1);
        (got.len() >= want.len()).then_some(got)
    })
    .await;
    assert_eq!(numbers(&got), want, "each once, none published while it was disabled");
    app.stop().await;
}

fn long_requests(c: &mut hookd::Config) {
    c.request_timeout = Duration::from_secs(60);
    c.lease = Duration::from_secs(75);
}

/// Messages in an endpoint's backlog are undelivered, so retention keeps them however old;
/// one whose payload is expunged meanwhile is not sent (its delivery is canceled, as a pending
/// row's is).
async fn backlogged_messages_outlive_retention_and_expunged_ones_are_not_sent(backend: Backend) {
    const MESSAGES: i64 = 500;
    let keep_for = Duration::from_secs(1);
    let Some(app) = spawn_app_with(backend, |c| {
        long_requests(c);
        c.retention = Some(keep_for);
    })
    .await
    else {
        return;
    };
    let (hanging, a, behind) = endpoint_behind(&app, MESSAGES).await;
    let expunged = app.publish(&a, json!({"eventType": "e.t", "payload": {"n": MESSAGES}})).await;
    assert!(backlog_of(&app, &behind).await.is_some(), "the hanging endpoint has a backlog");
    let res = app.request(Method::DELETE, &format!("/api/v1/app/{a}/msg/{expunged}/content")).send().await.unwrap();
    assert_eq!(res.status(), 204);
    // A message of another application, delivered, is deleted by a sweep: the backlog's
    // messages have been looked at by then, and are as old.
    let ok = Receiver::start().await;
    let (b, _) = app.app_and_endpoint(json!({"url": ok.url("/")})).await;
    tokio::time::sleep(keep_for).await;
    let delivered = app.publish(&b, json!({"eventType": "e.t", "payload": {"n": 0}})).await;
    ok.wait_for(1, WAIT).await;
    eventually(WAIT, "the delivered message to be deleted", || async {
        let res = app.request(Method::GET, &format!("/api/v1/app/{b}/msg/{delivered}")).send().await.unwrap();
        (res.status() == 404).then_some(())
    })
    .await;
    // (The expunged one's delivery is canceled, finished: retention may take it.)
    let sql = format!("SELECT id FROM messages WHERE app_id = '{a}' AND id <> '{expunged}'");
    let kept = common::raw(&app.config.database, &sql).await;
    assert_eq!(kept.len(), MESSAGES as usize, "every undelivered message is kept");
    hanging.release();
    let got = eventually(WAIT, "every message but the expunged one", || async {
        let got = hanging.received();
        (got.len() >= MESSAGES as usize).then_some(got)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(numbers(&hanging.received()), (0..MESSAGES).collect::<Vec<_>>(), "got {}", got.len());
    app.stop().await;
}

/// A resend of a message still in its endpoint's backlog brings its delivery forward, as for
/// any pending delivery: the delivery keeps its retries (not `manual`, the resend's one-off
/// that is never retried, which would leave the message without them if it failed).
async fn a_resend_of_a_backlogged_message_keeps_its_retries(backend: Backend) {
    let Some(app) = spawn_app_with(backend, long_requests).await else { return };
    let (hanging, a, behind) = endpoint_behind(&app, 400).await;
    let last = app.publish(&a, json!({"eventType": "e.t", "payload": {"n": 400}})).await;
    assert!(backlog_of(&app, &behind).await.is_some(), "the hanging endpoint has a backlog");
    let path = format!("/api/v1/app/{a}/msg/{last}/endpoint/{behind}/resend");
    let res = app.request(Method::POST, &path).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let sql = format!(
        "SELECT CASE WHEN manual THEN 'manual' ELSE 'retried' END FROM deliveries \
         WHERE msg_id = '{last}' AND endpoint_id = '{behind}'"
    );
    let kind = common::raw(&app.config.database, &sql).await;
    assert_eq!(kind, vec![Some("retried".to_owned())], "one delivery, with its retries");
    hanging.release();
    let got = eventually(WAIT, "every message", || async {
        let got = hanging.received();
        (numbers(&got).into_iter().collect::<std::collections::HashSet<_>>().len() == 401).then_some(got)
    })
    .await;
    assert!(got.len() >= 401);
    app.stop().await;
}
