//! Svix compatibility without holes: every query parameter Svix documents on a route hookd
//! serves is honoured (or refused with a 422), the routes Svix's SDKs call exist, and the
//! message fields beyond the payload (tags, payload retention, raw payloads, deliverAt) work.
//! Driven with the official Rust `svix` SDK where it has the call, raw HTTP otherwise.

mod common;

use std::time::Duration;

use common::{eventually, spawn_app, Backend, Receiver, Reply, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use svix::api::{
    EndpointGetStatsOptions, EndpointListOptions, MessageAttemptListAttemptedMessagesOptions,
    MessageAttemptListByEndpointOptions, MessageAttemptListByMsgOptions, MessageListOptions,
};
use svix::models::{EventExampleIn, MessageIn, MessageStatus, Ordering, StatusCodeClass};

on_both_backends!(
    undocumented_query_parameters_are_refused,
    every_documented_query_parameter_reaches_its_handler,
    attempt_lists_honour_every_filter,
    lists_honour_order,
    endpoint_stats_and_messages_by_time_and_status,
    event_types_fields_schemas_and_expunge,
    expunged_content_is_gone_and_pending_deliveries_are_canceled,
    send_example_reaches_one_endpoint_with_the_schema_example,
    tags_raw_payloads_retention_and_deliver_at,
    older_sdk_routes_and_head_health,
    operational_webhook_endpoints_through_the_sdk_routes,
    header_patches_remove_a_header_set_to_null,
);

/// An application with an endpoint at `receiver`, and a message per `(event type, channel,
/// tag)` delivered to it, in order: each is published once the previous one's delivery has
/// finished (succeeded, or failed every attempt of the test schedule: three), so that each
/// attempt gets the reply scripted for it; (app id, endpoint id, message ids).
async fn delivered(
    app: &TestApp,
    receiver: &Receiver,
    messages: &[(&str, &str, &str)],
) -> (String, String, Vec<String>) {
    let (app_id, endpoint_id) = app.app_and_endpoint(json!({"url": receiver.url("/hook")})).await;
    let mut ids = Vec::new();
    for (i, (event_type, channel, tag)) in messages.iter().enumerate() {
        let body = json!({"eventType": event_type, "payload": {"n": i}, "channels": [channel], "tags": [tag]});
        let id = app.publish(&app_id, body).await;
        let path = format!("/api/v1/app/{app_id}/msg/{id}/endpoint");
        eventually(Duration::from_secs(10), "the delivery finished", || async {
            let page = app.get_json(&path).await;
            matches!(page["data"][0]["statusText"].as_str(), Some("success" | "fail")).then_some(())
        })
        .await;
        ids.push(id);
    }
    (app_id, endpoint_id, ids)
}

/// The `loc` of each problem of a 422.
fn locations(body: &Value) -> Vec<Vec<String>> {
    body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("not a validation error: {body}"))
        .iter()
        .map(|item| item["loc"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect())
        .collect()
}

async fn undocumented_query_parameters_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // A filter that a route does not have is refused, not ignored: ignoring it would answer
    // every item as if it had matched.
    let res = app.request(Method::GET, "/api/v1/app?status=1&limit=5").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(locations(&body), vec![vec!["query", "status"]]);
    let msg = body["detail"][0]["msg"].as_str().unwrap();
    assert!(msg.starts_with("unknown query parameter; this route accepts "), "{msg}");
    assert!(msg.contains("iterator") && msg.contains("order"), "{msg}");

    let (app_id, _) = app.app_and_endpoint(json!({"url": "https://example.com/hook"})).await;
    let res = app.request(Method::GET, &format!("/api/v1/app/{app_id}?with_content=true")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["detail"][0]["msg"], "unknown query parameter; this route takes no query parameters");
    // `order` belongs to the lists Svix gives it to, not to the message list.
    let res = app.request(Method::GET, &format!("/api/v1/app/{app_id}/msg?order=ascending")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // What a route does document passes.
    let res = app.request(Method::GET, &format!("/api/v1/app/{app_id}/msg?limit=1&with_content=false")).send().await;
    assert_eq!(res.unwrap().status(), StatusCode::OK);
    app.stop().await;
}

/// Every query parameter the served document lists for a route is read by that route's
/// handler: a malformed value is refused with a 422 naming it (or, for an endpoint filter, a
/// 404 for the endpoint), never answered as if it were absent.
async fn every_documented_query_parameter_reaches_its_handler(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (app_id, endpoint_id, msg_ids) = delivered(&app, &receiver, &[("a.b", "c", "t")]).await;
    let attempts = app.get_json(&format!("/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}")).await;
    let attempt_id = attempts["data"][0]["id"].as_str().unwrap().to_owned();
    app.send_json(Method::POST, "/api/v1/event-type", &json!({"name": "a.b", "description": "x"})).await;
    let (_, inbox) = app.send_json(Method::POST, "/api/v1/inbox", &json!({"name": "i"})).await;
    let inbox_id = inbox["id"].as_str().unwrap().to_owned();

    let doc = app.get_json("/api/v1/openapi.json").await;
    let accepted = hookd_server::query_check::accepted(&doc);
    let mut checked = 0;
    for ((method, route), params) in accepted {
        // The live stream never ends; its parameters are tested with the tester.
        if route.ends_with("/stream") || method == "HEAD" {
            continue;
        }
        let path = route
            .replace("{app_id}", &app_id)
            .replace("{endpoint_id}", &endpoint_id)
            .replace("{msg_id}", &msg_ids[0])
            .replace("{attempt_id}", &attempt_id)
            .replace("{name}", "a.b")
            .replace("{inbox_id}", &inbox_id)
            .replace("{request_id}", "req_unknown");
        // `iterator` is a position: any value is one (past the end gives an empty page).
        for param in params.iter().filter(|p| *p != "iterator") {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let res = app.request(method.clone(), &format!("{path}?{param}=not%20valid!")).json(&json!({})).send();
            let res = res.await.unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            if param == "endpoint_id" {
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {route} {param}: {body}");
            } else {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {route} {param}: {body}");
                assert!(
                    locations(&body).contains(&vec!["query".to_owned(), param.clone()]),
                    "{method} {route} {param}: {body}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} parameters checked");
    app.stop().await;
}

async fn attempt_lists_honour_every_filter(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // The second message fails all three attempts.
    let replies = [200, 500, 500, 500, 204].map(Reply::Status).to_vec();
    let receiver = Receiver::start_with(replies).await;
    let (app_id, endpoint_id, ids) =
        delivered(&app, &receiver, &[("a.one", "red", "t1"), ("a.two", "blue", "t2"), ("a.one", "blue", "t_x")]).await;
    let attempts = app.svix.message_attempt();
    let by_endpoint = |options: MessageAttemptListByEndpointOptions| {
        let attempts = app.svix.message_attempt();
        let (app_id, endpoint_id) = (app_id.clone(), endpoint_id.clone());
        async move {
            let page = attempts.list_by_endpoint(app_id, endpoint_id, Some(options)).await.unwrap();
            page.data.into_iter().map(|a| a.msg_id).collect::<Vec<_>>()
        }
    };
    // Newest first: message 2, message 1's three attempts, message 0.
    let (m0, m1, m2) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let all = by_endpoint(Default::default()).await;
    assert_eq!(all, [m2.clone(), m1.clone(), m1.clone(), m1.clone(), m0.clone()]);
    let opts = MessageAttemptListByEndpointOptions::default;
    let only = |o: MessageAttemptListByEndpointOptions| by_endpoint(o);
    assert_eq!(
        only(MessageAttemptListByEndpointOptions { status: Some(MessageStatus::Fail), ..opts() }).await,
        [m1.clone(), m1.clone(), m1.clone()]
    );
    assert_eq!(
        only(MessageAttemptListByEndpointOptions { status: Some(MessageStatus::Success), ..opts() }).await,
        [m2.clone(), m0.clone()]
    );
    let class = |c| MessageAttemptListByEndpointOptions { status_code_class: Some(c), ..opts() };
    assert_eq!(only(class(StatusCodeClass::Code5xx)).await, [m1.clone(), m1.clone(), m1.clone()]);
    assert_eq!(only(class(StatusCodeClass::Code2xx)).await, [m2.clone(), m0.clone()]);
    assert!(only(class(StatusCodeClass::CodeNone)).await.is_empty());
    let channel = MessageAttemptListByEndpointOptions { channel: Some("blue".into()), ..opts() };
    assert_eq!(only(channel).await, [m2.clone(), m1.clone(), m1.clone(), m1.clone()]);
    // A tag with `_` matches that tag only, not `_` as a LIKE wildcard would.
    let tag = MessageAttemptListByEndpointOptions { tag: Some("t_x".into()), ..opts() };
    assert_eq!(only(tag).await, [m2.as_str()]);
    let types = MessageAttemptListByEndpointOptions { event_types: Some(["a.two".to_owned()].into()), ..opts() };
    assert_eq!(only(types).await, [m1.clone(), m1.clone(), m1.clone()]);
    // Times are the attempts', strictly before or after.
    let page = attempts.list_by_endpoint(app_id.clone(), endpoint_id.clone(), None).await.unwrap();
    for at in [page.data[0].timestamp, page.data[2].timestamp, page.data[4].timestamp] {
        let after: Vec<_> = page.data.iter().filter(|a| a.timestamp > at).map(|a| a.msg_id.clone()).collect();
        assert_eq!(only(MessageAttemptListByEndpointOptions { after: Some(at), ..opts() }).await, after);
        let before: Vec<_> = page.data.iter().filter(|a| a.timestamp < at).map(|a| a.msg_id.clone()).collect();
        assert_eq!(only(MessageAttemptListByEndpointOptions { before: Some(at), ..opts() }).await, before);
        assert!(after.len() + before.len() < 5, "the attempt at {at} is in neither");
    }
    // Combined, every filter must hold.
    let both = MessageAttemptListByEndpointOptions {
        channel: Some("blue".into()),
        status: Some(MessageStatus::Success),
        ..opts()
    };
    assert_eq!(only(both).await, [m2.as_str()]);

    // Content and message on request.
    let lean = MessageAttemptListByEndpointOptions { with_content: Some(false), with_msg: Some(true), ..opts() };
    let page = attempts.list_by_endpoint(app_id.clone(), endpoint_id.clone(), Some(lean)).await.unwrap();
    assert!(page.data.iter().all(|a| a.response.is_empty()));
    // Each attempt with its own message (read for the whole page at once).
    assert!(page.data.len() > 1 && page.data.iter().all(|a| a.msg.as_ref().is_some_and(|m| m.id == a.msg_id)));
    let msg = page.data[0].msg.as_ref().expect("with_msg");
    assert_eq!(msg.id, m2);
    assert_eq!(msg.tags.as_ref().unwrap().iter().collect::<Vec<_>>(), ["t_x"]);
    assert_eq!(msg.payload, json!({}), "never the payload");
    let full = attempts.list_by_endpoint(app_id.clone(), endpoint_id.clone(), None).await.unwrap();
    assert!(full.data[0].msg.is_none());

    // The list by message takes the same filters.
    let by_msg = |o: MessageAttemptListByMsgOptions| {
        let attempts = app.svix.message_attempt();
        let (app_id, msg_id) = (app_id.clone(), ids[1].clone());
        async move { attempts.list_by_msg(app_id, msg_id, Some(o)).await.unwrap().data.len() }
    };
    let m = MessageAttemptListByMsgOptions::default;
    assert_eq!(by_msg(m()).await, 3);
    assert_eq!(by_msg(MessageAttemptListByMsgOptions { status: Some(MessageStatus::Fail), ..m() }).await, 3);
    assert_eq!(by_msg(MessageAttemptListByMsgOptions { status: Some(MessageStatus::Success), ..m() }).await, 0);
    let class5 = MessageAttemptListByMsgOptions { status_code_class: Some(StatusCodeClass::Code5xx), ..m() };
    assert_eq!(by_msg(class5).await, 3);
    assert_eq!(by_msg(MessageAttemptListByMsgOptions { channel: Some("red".into()), ..m() }).await, 0);
    assert_eq!(by_msg(MessageAttemptListByMsgOptions { endpoint_id: Some(endpoint_id.clone()), ..m() }).await, 3);

    // Out-of-range values are refused.
    for query in ["status=7", "status_code_class=250", "channel=a%20b", "tag=a:b", "event_types=ok,no%20way"] {
        let path = format!("/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}?{query}");
        let res = app.request(Method::GET, &path).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
    }
    app.stop().await;
}

async fn lists_honour_order(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for name in ["first", "second", "third"] {
        app.send_json(Method::POST, "/api/v1/app", &json!({"name": name, "uid": name})).await;
        app.send_json(Method::POST, "/api/v1/event-type", &json!({"name": name, "description": name})).await;
        app.send_json(Method::POST, "/api/v1/app/first/endpoint", &json!({"url": "https://example.com/", "uid": name}))
            .await;
    }
    let names = |page: Value, field: &str| -> Vec<String> {
        page["data"].as_array().unwrap().iter().map(|i| i[field].as_str().unwrap().to_owned()).collect()
    };
    let newest_first = ["third", "second", "first"];
    let oldest_first = ["first", "second", "third"];
    assert_eq!(names(app.get_json("/api/v1/app").await, "uid"), newest_first);
    assert_eq!(names(app.get_json("/api/v1/app?order=descending").await, "uid"), newest_first);
    assert_eq!(names(app.get_json("/api/v1/app?order=ascending").await, "uid"), oldest_first);
    // Pages follow the order.
    let page = app.get_json("/api/v1/app?order=ascending&limit=2").await;
    assert_eq!(names(page.clone(), "uid"), ["first", "second"]);
    let next = format!("/api/v1/app?order=ascending&limit=2&iterator={}", page["iterator"].as_str().unwrap());
    assert_eq!(names(app.get_json(&next).await, "uid"), ["third"]);

    let endpoints = app.svix.endpoint();
    let asc = EndpointListOptions { order: Some(Ordering::Ascending), ..Default::default() };
    let listed = endpoints.list("first".into(), Some(asc)).await.unwrap();
    assert_eq!(listed.data.iter().map(|e| e.uid.clone().unwrap()).collect::<Vec<_>>(), oldest_first);
    let desc = EndpointListOptions { order: Some(Ordering::Descending), ..Default::default() };
    let listed = endpoints.list("first".into(), Some(desc)).await.unwrap();
    assert_eq!(listed.data.iter().map(|e| e.uid.clone().unwrap()).collect::<Vec<_>>(), newest_first);

    // Event types list by name; descending reverses it.
    assert_eq!(names(app.get_json("/api/v1/event-type").await, "name"), ["first", "second", "third"]);
    assert_eq!(names(app.get_json("/api/v1/event-type?order=descending").await, "name"), ["third", "second", "first"]);
    // Svix's application filters: only "first" has endpoints; once they are all disabled,
    // it has only disabled ones.
    let path = "/api/v1/app?exclude_apps_with_no_endpoints=true";
    assert_eq!(names(app.get_json(path).await, "uid"), ["first"]);
    let path = "/api/v1/app?exclude_apps_with_disabled_endpoints=true&exclude_apps_with_svix_play_endpoints=true";
    assert_eq!(names(app.get_json(path).await, "uid"), newest_first, "none is all disabled yet");
    for uid in ["first", "second"] {
        let path = format!("/api/v1/app/first/endpoint/{uid}");
        app.send_json(Method::PATCH, &path, &json!({"disabled": true})).await;
    }
    assert_eq!(names(app.get_json(path).await, "uid"), newest_first, "one endpoint is still enabled");
    app.send_json(Method::PATCH, "/api/v1/app/first/endpoint/third", &json!({"disabled": true})).await;
    assert_eq!(names(app.get_json(path).await, "uid"), ["third", "second"]);
    let res = app.request(Method::GET, "/api/v1/app?order=sideways").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

async fn endpoint_stats_and_messages_by_time_and_status(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // The second message fails every attempt of the test schedule (three).
    let replies = vec![Reply::Status(200), Reply::Status(500), Reply::Status(500), Reply::Status(500)];
    let receiver = Receiver::start_with(replies).await;
    let (app_id, endpoint_id, ids) = delivered(&app, &receiver, &[("a", "c", "t"), ("b", "c", "t")]).await;
    let message = app.svix.message().get(app_id.clone(), ids[1].clone(), None).await.unwrap();
    let stats = app.svix.endpoint();
    let get = |options: EndpointGetStatsOptions| stats.get_stats(app_id.clone(), endpoint_id.clone(), Some(options));
    eventually(Duration::from_secs(10), "the second message failed for good", || async {
        let all = get(Default::default()).await.unwrap();
        ((all.success, all.fail) == (1, 1)).then_some(())
    })
    .await;
    // The second message's deliveries only, then the first's.
    let since = get(EndpointGetStatsOptions { since: Some(message.timestamp), ..Default::default() }).await.unwrap();
    assert_eq!((since.success, since.fail), (0, 1));
    let until = get(EndpointGetStatsOptions { until: Some(message.timestamp), ..Default::default() }).await.unwrap();
    assert_eq!((until.success, until.fail), (1, 0));
    let path = format!(
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z"
    );
    assert_eq!(app.request(Method::GET, &path).send().await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The endpoint's messages with their delivery's state, filtered.
    let listed = |options: MessageAttemptListAttemptedMessagesOptions| {
        let attempts = app.svix.message_attempt();
        let (app_id, endpoint_id) = (app_id.clone(), endpoint_id.clone());
        async move { attempts.list_attempted_messages(app_id, endpoint_id, Some(options)).await.unwrap().data }
    };
    // (The SDK sends with_content=false unless told otherwise, as Svix's v2 SDKs do.)
    let all =
        listed(MessageAttemptListAttemptedMessagesOptions { with_content: Some(true), ..Default::default() }).await;
    assert_eq!(all.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), [ids[1].clone(), ids[0].clone()]);
    assert_eq!(all[0].status, MessageStatus::Fail);
    assert_eq!(all[1].status, MessageStatus::Success);
    assert_eq!(all[1].payload, json!({"n": 0}));
    let failed =
        listed(MessageAttemptListAttemptedMessagesOptions { status: Some(MessageStatus::Fail), ..Default::default() });
    assert_eq!(failed.await.len(), 1);
    let of_a = listed(MessageAttemptListAttemptedMessagesOptions {
        event_types: Some(["a".to_owned()].into()),
        ..Default::default()
    });
    assert_eq!(of_a.await[0].id, ids[0]);
    assert_eq!(listed(Default::default()).await[1].payload, json!({}));
    app.stop().await;
}

async fn event_types_fields_schemas_and_expunge(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Svix's newer fields: a list of feature flags and a group.
    let body =
        json!({"name": "user.signup", "description": "", "featureFlags": ["beta", "new-ui"], "groupName": "user"});
    let (status, created) = app.send_json(Method::POST, "/api/v1/event-type", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (created["featureFlags"].clone(), created["groupName"].clone()),
        (json!(["beta", "new-ui"]), json!("user"))
    );
    let (_, patched) =
        app.send_json(Method::PATCH, "/api/v1/event-type/user.signup", &json!({"groupName": null})).await;
    assert_eq!(
        (patched["featureFlags"].clone(), patched["groupName"].clone()),
        (json!(["beta", "new-ui"]), Value::Null)
    );
    let sdk = app.svix.event_type().get("user.signup".into()).await.unwrap();
    assert_eq!(
        sdk.feature_flags.map(|f| f.into_iter().collect::<Vec<_>>()),
        Some(vec!["beta".to_owned(), "new-ui".to_owned()])
    );
    // Refused, each naming where.
    let cases = [
        (json!({"schemas": {"1": "not a schema"}}), json!(["body", "schemas", "1"])),
        (json!({"schemas": ["v1"]}), json!(["body", "schemas"])),
        (json!({"featureFlags": []}), json!(["body", "featureFlags"])),
        (json!({"featureFlags": ["a", "a"]}), json!(["body", "featureFlags"])),
        (json!({"featureFlags": ["no way"]}), json!(["body", "featureFlags", "0"])),
        (json!({"groupName": "no way"}), json!(["body", "groupName"])),
    ];
    for (extra, loc) in cases {
        let mut body = json!({"name": "bad.one", "description": ""});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (status, answer) = app.send_json(Method::POST, "/api/v1/event-type", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{body}: {answer}");
    }

    let schema = json!({"1": {"type": "object", "examples": [{"id": 1}]}});
    let (status, _) = app
        .send_json(Method::POST, "/api/v1/event-type", &json!({"name": "a", "description": "", "schemas": schema}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Svix leaves the schemas out of a list unless asked.
    assert_eq!(app.get_json("/api/v1/event-type").await["data"][0]["schemas"], Value::Null);
    assert_eq!(app.get_json("/api/v1/event-type?with_content=true").await["data"][0]["schemas"], schema);
    assert_eq!(app.get_json("/api/v1/event-type/a").await["schemas"], schema);
    // Deleting archives; with expunge it is gone.
    let res = app.request(Method::DELETE, "/api/v1/event-type/a").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_json("/api/v1/event-type/a").await["archived"], true);
    let res = app.request(Method::DELETE, "/api/v1/event-type/a?expunge=true").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.request(Method::GET, "/api/v1/event-type/a").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.request(Method::DELETE, "/api/v1/event-type/a?expunge=true").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn expunged_content_is_gone_and_pending_deliveries_are_canceled(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (app_id, endpoint_id, ids) = delivered(&app, &receiver, &[("a", "c", "t")]).await;
    // A message scheduled for later: its delivery waits, pending.
    let body = json!({"eventType": "a", "payload": {"secret": "x"}, "deliverAt": "2099-01-01T00:00:00Z"});
    let msg_id = app.publish(&app_id, body).await;
    let parked_id = endpoint_id.clone();

    app.svix.message().expunge_content(app_id.clone(), msg_id.clone()).await.unwrap();
    let msg = app.get_json(&format!("/api/v1/app/{app_id}/msg/{msg_id}")).await;
    assert_eq!(msg["payload"], json!({}));
    assert_eq!(msg["id"], msg_id.as_str(), "the message stays");
    // The waiting delivery is canceled: nothing is left to send.
    let destinations = app.get_json(&format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint")).await;
    let parked_row = destinations["data"].as_array().unwrap().iter().find(|d| d["id"] == parked_id.as_str()).unwrap();
    assert_eq!(parked_row["status"], 4);
    assert_eq!(parked_row["statusText"], "canceled");
    let path = format!("/api/v1/app/{app_id}/endpoint/{parked_id}/msg");
    assert_eq!(app.get_json(&path).await["data"][0]["status"], 0, "shown as success to older clients");
    assert_eq!(app.get_json(&format!("{path}?expanded_statuses=true")).await["data"][0]["status"], 4);
    let stats = app.get_json(&format!("/api/v1/app/{app_id}/endpoint/{parked_id}/stats")).await;
    assert_eq!((stats["canceled"].as_i64(), stats["pending"].as_i64()), (Some(1), Some(0)));
    // It cannot be resent.
    let path = format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend");
    let (status, body) = app.send_json(Method::POST, &path, &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Expunging again is harmless.
    let res = app.request(Method::DELETE, &format!("/api/v1/app/{app_id}/msg/{msg_id}/content")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // An attempt's response body can be expunged too.
    let attempts = app.get_json(&format!("/api/v1/app/{app_id}/attempt/msg/{}", ids[0])).await;
    let attempt_id = attempts["data"][0]["id"].as_str().unwrap().to_owned();
    assert_ne!(attempts["data"][0]["response"], "");
    app.svix.message_attempt().expunge_content(app_id.clone(), ids[0].clone(), attempt_id.clone()).await.unwrap();
    let attempt = app.get_json(&format!("/api/v1/app/{app_id}/msg/{}/attempt/{attempt_id}", ids[0])).await;
    assert_eq!(attempt["response"], "");
    let res = app.request(Method::DELETE, &format!("/api/v1/app/{app_id}/msg/{}/attempt/atmpt_nope/content", ids[0]));
    assert_eq!(res.send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(receiver.received().len(), 1, "only the first message was sent: {:?}", receiver.received());
    app.stop().await;
}

async fn send_example_reaches_one_endpoint_with_the_schema_example(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    app.send_json(Method::POST, "/api/v1/event-type", &json!({"name": "other.type", "description": ""})).await;
    let (app_id, endpoint_id) =
        app.app_and_endpoint(json!({"url": receiver.url("/one"), "filterTypes": ["other.type"]})).await;
    // Another endpoint that takes every event type gets nothing: the example is for one.
    let path = format!("/api/v1/app/{app_id}/endpoint");
    app.send_json(Method::POST, &path, &json!({"url": receiver.url("/all")})).await;
    let schemas = json!({"1": {"examples": [{"v": 1}]}, "2": {"examples": [{"v": 2}, {"v": 3}]}});
    app.send_json(
        Method::POST,
        "/api/v1/event-type",
        &json!({"name": "order.paid", "description": "", "schemas": schemas}),
    )
    .await;
    let endpoints = app.svix.endpoint();
    let mut example = EventExampleIn::new("order.paid".into());
    example.example_index = Some(1);
    let sent = endpoints.send_example(app_id.clone(), endpoint_id.clone(), example, None).await.unwrap();
    assert_eq!(sent.payload, json!({"v": 3}), "the latest version's second example");
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!((got[0].path.as_str(), got[0].json()), ("/one", json!({"v": 3})));
    // Without examples: the documented default.
    let sent = endpoints.send_example(app_id.clone(), endpoint_id.clone(), EventExampleIn::new("x.y".into()), None);
    assert_eq!(sent.await.unwrap().payload, json!({"type": "x.y", "example": true}));
    receiver.wait_for(2, Duration::from_secs(10)).await;
    let path = format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example");
    let (status, body) =
        app.send_json(Method::POST, &path, &json!({"eventType": "order.paid", "exampleIndex": 5})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "exampleIndex"]));
    // A disabled endpoint is not sent one.
    app.send_json(Method::PATCH, &format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}"), &json!({"disabled": true}))
        .await;
    let (status, body) = app.send_json(Method::POST, &path, &json!({"eventType": "order.paid"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received().iter().all(|r| r.path == "/one"), "{:?}", receiver.received());
    assert_eq!(receiver.received().len(), 2);
    app.stop().await;
}

async fn tags_raw_payloads_retention_and_deliver_at(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (app_id, endpoint_id) = app.app_and_endpoint(json!({"url": receiver.url("/hook")})).await;
    let secret = app.get_json(&format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret")).await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // A raw payload, through the SDK's own helper: sent byte for byte, signed as such.
    let raw = "<order id=\"7\">  spaced  </order>";
    let message =
        MessageIn::new_raw_payload("order.xml".into(), raw.into()).with_content_type("application/xml".into());
    let out = app.svix.message().create(app_id.clone(), message, None).await.unwrap();
    assert_eq!(out.payload, json!({}));
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].body, raw.as_bytes());
    assert_eq!(got[0].header("content-type"), "application/xml");
    got[0].verify(&secret).expect("signed over the raw bytes");
    // Without a content type: JSON's.
    let message = MessageIn::new_raw_payload("order.json".into(), "{ \"a\" : 1 }".into());
    app.svix.message().create(app_id.clone(), message, None).await.unwrap();
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!((got[1].body.as_ref(), got[1].header("content-type")), (&b"{ \"a\" : 1 }"[..], "application/json"));

    // Tags: stored, returned, filterable.
    let id = app.publish(&app_id, json!({"eventType": "a", "payload": {}, "tags": ["team/a", "x#1"]})).await;
    app.publish(&app_id, json!({"eventType": "a", "payload": {}, "tags": ["team/b"]})).await;
    let msg = app.get_json(&format!("/api/v1/app/{app_id}/msg/{id}")).await;
    assert_eq!(msg["tags"], json!(["team/a", "x#1"]));
    let options = MessageListOptions { tag: Some("team/a".into()), ..Default::default() };
    let listed = app.svix.message().list(app_id.clone(), Some(options)).await.unwrap();
    assert_eq!(listed.data.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);

    // deliverAt is returned on a scheduled message.
    let at = "2099-01-01T00:00:00Z";
    let (status, scheduled) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/app/{app_id}/msg"),
            &json!({"eventType": "a", "payload": {}, "deliverAt": at}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(scheduled["deliverAt"], "2099-01-01T00:00:00Z");
    assert!(msg.get("deliverAt").is_none(), "absent on a message sent at once: {msg}");

    // Payload retention: after it, the payload alone is gone, and what still waited is
    // canceled. (The server looks every minute; here the store is asked for a later time.)
    let body = json!({"eventType": "a", "payload": {"card": "4242"}, "payloadRetentionHours": 1, "deliverAt": at});
    let (_, kept) = app.send_json(Method::POST, &format!("/api/v1/app/{app_id}/msg"), &body).await;
    let kept_id = kept["id"].as_str().unwrap().to_owned();
    let store = hookd::app::open_store(&app.config.database, 2).await.unwrap();
    assert_eq!(store.expunge_expired_payloads(hookd_core::time::now_ms()).await.unwrap(), 0, "not yet");
    let later = hookd_core::time::now_ms() + 3_600_000 + 1;
    assert_eq!(store.expunge_expired_payloads(later).await.unwrap(), 1);
    store.close().await;
    let after = app.get_json(&format!("/api/v1/app/{app_id}/msg/{kept_id}")).await;
    assert_eq!(after["payload"], json!({}));
    let destinations = app.get_json(&format!("/api/v1/app/{app_id}/msg/{kept_id}/endpoint")).await;
    assert_eq!(destinations["data"][0]["statusText"], "canceled");
    let other = app.get_json(&format!("/api/v1/app/{app_id}/msg/{id}")).await;
    assert_eq!(other["tags"], json!(["team/a", "x#1"]), "others untouched");

    // What cannot be honoured is refused, naming the field.
    let cases = [
        (json!({"payloadRetentionPeriod": 1, "payloadRetentionHours": 1}), "payloadRetentionHours"),
        (json!({"payloadRetentionPeriod": 91}), "payloadRetentionPeriod"),
        (json!({"payloadRetentionHours": 0}), "payloadRetentionHours"),
        (json!({"tags": ["a:b"]}), "tags"),
        (json!({"tags": ["a", "b", "c", "d", "e", "f"]}), "tags"),
        (json!({"transformationsParams": {"rawPayload": "x", "headers": {"x-other": "1"}}}), "transformationsParams"),
        (json!({"transformationsParams": {"somethingElse": 1}}), "transformationsParams"),
        (json!({"payload": {"a": 1}, "transformationsParams": {"rawPayload": "x"}}), "payload"),
    ];
    for (extra, field) in cases {
        let mut body = json!({"eventType": "a", "payload": {}});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (status, answer) = app.send_json(Method::POST, &format!("/api/v1/app/{app_id}/msg"), &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"][1], field, "{body}: {answer}");
    }
    app.stop().await;
}

async fn older_sdk_routes_and_head_health(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (app_id, endpoint_id, ids) = delivered(&app, &receiver, &[("a", "c", "t")]).await;
    let current = app.get_json(&format!("/api/v1/app/{app_id}/attempt/msg/{}", ids[0])).await;
    let older = app.get_json(&format!("/api/v1/app/{app_id}/msg/{}/attempt", ids[0])).await;
    assert_eq!(older, current);
    let per_endpoint =
        app.get_json(&format!("/api/v1/app/{app_id}/msg/{}/endpoint/{endpoint_id}/attempt", ids[0])).await;
    assert_eq!(per_endpoint["data"], current["data"]);
    let (status, link) =
        app.send_json(Method::POST, &format!("/api/v1/auth/dashboard-access/{app_id}"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert!(link["url"].as_str().unwrap().contains("#key="), "{link}");
    let res = app.http.get(app.url(&format!("/api/v1/app/{app_id}"))).bearer_auth(link["token"].as_str().unwrap());
    assert_eq!(res.send().await.unwrap().status(), StatusCode::OK);
    for path in ["/api/v1/health", "/api/v1/health/ping"] {
        let res = app.http.head(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "HEAD {path}");
    }
    app.stop().await;
}

async fn operational_webhook_endpoints_through_the_sdk_routes(backend: Backend) {
    use svix::models::{
        OperationalWebhookEndpointHeadersIn, OperationalWebhookEndpointIn, OperationalWebhookEndpointSecretIn,
        OperationalWebhookEndpointUpsertIn,
    };
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let ops = app.svix.operational_webhook().endpoint();
    assert!(ops.list(None).await.unwrap().data.is_empty(), "none before the first");

    let mut input = OperationalWebhookEndpointIn::new(receiver.url("/ops"));
    input.uid = Some("ops".into());
    input.event_types = Some(["endpoint.created".to_owned()].into());
    let created = ops.create(input, None).await.unwrap();
    assert_eq!(ops.get("ops".into()).await.unwrap().id, created.id);
    assert_eq!(ops.list(None).await.unwrap().data.len(), 1);
    let secret = ops.get_secret(created.id.clone()).await.unwrap().key;

    // It receives what it subscribed to, signed with its secret.
    let (app_id, _) = app.app_and_endpoint(json!({"url": "https://example.com/hook"})).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    got[0].verify(&secret).expect("signed with the operational endpoint's secret");
    assert_eq!(got[0].json()["type"], "endpoint.created");
    assert_eq!(got[0].json()["data"]["appId"], app_id.as_str());

    // Upsert, headers, rotation, deletion.
    let mut update = OperationalWebhookEndpointUpsertIn::new(receiver.url("/ops2"));
    update.description = Some("all of them".into());
    let updated = ops.upsert(created.id.clone(), update).await.unwrap();
    assert_eq!((updated.url.as_str(), updated.description.as_str()), (receiver.url("/ops2").as_str(), "all of them"));
    ops.set_headers(
        created.id.clone(),
        OperationalWebhookEndpointHeadersIn::new([("x-team".into(), "ops".into())].into()),
    )
    .await
    .unwrap();
    assert_eq!(ops.get_headers(created.id.clone()).await.unwrap().headers["x-team"], "ops");
    ops.rotate_secret(created.id.clone(), OperationalWebhookEndpointSecretIn::new(), None).await.unwrap();
    assert_ne!(ops.get_secret(created.id.clone()).await.unwrap().key, secret);
    ops.delete(created.id.clone()).await.unwrap();
    assert!(ops.get(created.id.clone()).await.is_err());

    // Event types are the operational ones.
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/v1/operational-webhook/endpoint",
            &json!({"url": receiver.url("/x"), "eventTypes": ["order.paid"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "eventTypes", "0"]));
    // Application tokens do not reach them.
    let token = hookd_server::generate_token("sk_app_");
    let store = hookd::app::open_store(&app.config.database, 2).await.unwrap();
    let shop = store.get_application(&app_id).await.unwrap();
    store.create_app_token(&shop.id, &hookd_server::hash_token(&token), None).await.unwrap();
    store.close().await;
    let res = app.http.get(app.url("/api/v1/operational-webhook/endpoint")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

async fn header_patches_remove_a_header_set_to_null(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (app_id, endpoint_id) =
        app.app_and_endpoint(json!({"url": "https://example.com/", "headers": {"x-a": "1", "x-b": "2"}})).await;
    let path = format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers");
    let (status, body) = app.send_json(Method::PATCH, &path, &json!({"headers": {"x-a": null, "x-c": "3"}})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(app.get_json(&path).await["headers"], json!({"x-b": "2", "x-c": "3"}));
    app.stop().await;
}
