//! The Svix-compatible API, driven with the official Rust `svix` SDK where it covers the call
//! and with raw HTTP where the test is about status codes and error shapes.

mod common;

use common::{spawn_app, Backend};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use svix::api::{ApplicationCreateOptions, ApplicationListOptions, MessageCreateOptions};
use svix::models::{
    ApplicationIn, ApplicationPatch, EndpointIn, EndpointPatch, EndpointSecretRotateIn, EventTypeIn, MessageIn,
};

on_both_backends!(
    health_needs_no_token,
    applications_crud_with_the_sdk,
    lists_paginate_newest_first,
    event_types_crud_and_archive,
    endpoints_crud_and_validation,
    endpoint_secret_get_and_rotate,
    messages_are_accepted_with_svix_fields,
    message_validation_and_conflicts,
    concurrent_publishes_with_one_event_id_accept_one,
    publishes_see_application_changes_at_once,
    idempotency_key_returns_the_first_response,
    tokens_and_scopes,
    portal_links_reach_one_application_until_logged_out_or_expired,
    oversized_bodies_get_413,
);

async fn health_needs_no_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let res = app.http.get(app.url("/api/v1/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.svix.health().get().await.expect("SDK health call");
    app.stop().await;
}

async fn applications_crud_with_the_sdk(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let apps = app.svix.application();
    let mut input = ApplicationIn::new("Acme".into());
    input.uid = Some("acme".into());
    input.metadata = Some([("plan".to_string(), "pro".to_string())].into());
    let created = apps.create(input.clone(), None).await.unwrap();
    assert!(created.id.starts_with("app_"));
    assert_eq!(created.uid.as_deref(), Some("acme"));
    assert_eq!(created.metadata["plan"], "pro");

    // By id and by uid.
    assert_eq!(apps.get(created.id.clone()).await.unwrap().id, created.id);
    assert_eq!(apps.get("acme".into()).await.unwrap().id, created.id);

    // A second create with the same uid conflicts, unless get_if_exists.
    let err = apps.create(input.clone(), None).await.unwrap_err();
    assert!(matches!(err, svix::error::Error::Http(ref e) if e.status == 409), "{err:?}");
    let again = apps.get_or_create(input.clone(), None).await.unwrap();
    assert_eq!(again.id, created.id);
    let raw = app
        .request(Method::POST, "/api/v1/app?get_if_exists=true")
        .json(&json!({"name": "Acme", "uid": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::OK);

    // PUT updates; PUT to an unknown uid creates (201).
    let updated = apps.upsert("acme".into(), ApplicationIn::new("Acme Inc".into())).await.unwrap();
    assert_eq!(updated.name, "Acme Inc");
    assert_eq!(updated.uid.as_deref(), Some("acme"), "PUT without uid keeps it");
    let res = app.request(Method::PUT, "/api/v1/app/beta").json(&json!({"name": "Beta"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap()["uid"], "beta");

    // PATCH changes only what it names; null clears a nullable field.
    let patched = apps
        .patch("acme".into(), ApplicationPatch { name: Some("Acme 2".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(patched.name, "Acme 2");
    assert_eq!(patched.uid.as_deref(), Some("acme"), "PATCH keeps what it does not name");
    let res = app.request(Method::PATCH, "/api/v1/app/acme").json(&json!({"uid": null})).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["uid"], Value::Null);

    apps.delete(created.id.clone()).await.unwrap();
    let err = apps.get(created.id.clone()).await.unwrap_err();
    assert!(matches!(err, svix::error::Error::Http(ref e) if e.status == 404), "{err:?}");
    let res = app.request(Method::GET, &format!("/api/v1/app/{}", created.id)).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "not_found");
    app.stop().await;
}

async fn lists_paginate_newest_first(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut ids = vec![];
    for i in 0..5 {
        ids.push(app.svix.application().create(ApplicationIn::new(format!("app {i}")), None).await.unwrap().id);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let mut seen = vec![];
    let mut iterator = None;
    loop {
        let page = app
            .svix
            .application()
            .list(Some(ApplicationListOptions { limit: Some(2), iterator: iterator.clone(), ..Default::default() }))
            .await
            .unwrap();
        assert!(page.data.len() <= 2);
        seen.extend(page.data.iter().map(|a| a.id.clone()));
        if page.done {
            break;
        }
        iterator = page.iterator;
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each exactly once");

    // prevIterator walks back towards the newest.
    let first = app.get_json("/api/v1/app?limit=2").await;
    let second = app.get_json(&format!("/api/v1/app?limit=2&iterator={}", first["iterator"].as_str().unwrap())).await;
    let back =
        app.get_json(&format!("/api/v1/app?limit=2&iterator={}", second["prevIterator"].as_str().unwrap())).await;
    assert_eq!(back["data"], first["data"]);

    // A concurrent insert does not shift the pages already handed out.
    app.svix.application().create(ApplicationIn::new("late".into()), None).await.unwrap();
    let again = app.get_json(&format!("/api/v1/app?limit=2&iterator={}", first["iterator"].as_str().unwrap())).await;
    assert_eq!(again["data"], second["data"]);

    for bad in ["limit=0", "limit=251", "limit=many"] {
        let res = app.request(Method::GET, &format!("/api/v1/app?{bad}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["query", "limit"]), "{bad}: {body}");
    }
    app.stop().await;
}

async fn event_types_crud_and_archive(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let types = app.svix.event_type();
    let mut input = EventTypeIn::new("invoice.paid".into(), "An invoice was paid".into());
    input.schemas = Some(json!({"1": {"type": "object"}}));
    let created = types.create(input.clone(), None).await.unwrap();
    assert_eq!(created.name, "invoice.paid");
    assert_eq!(created.schemas, Some(json!({"1": {"type": "object"}})));
    assert!(!created.deprecated);
    let err = types.create(input, None).await.unwrap_err();
    assert!(matches!(err, svix::error::Error::Http(ref e) if e.status == 409));

    let res = app
        .request(Method::PATCH, "/api/v1/event-type/invoice.paid")
        .json(&json!({"deprecated": true}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["deprecated"], true);
    assert_eq!(body["description"], "An invoice was paid");

    let res = app
        .request(Method::PUT, "/api/v1/event-type/user.created")
        .json(&json!({"description": "new user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    types.delete("invoice.paid".into(), None).await.unwrap();
    let archived = types.get("invoice.paid".into()).await.unwrap();
    assert_eq!(archived.archived, Some(true));
    let listed = types.list(None).await.unwrap();
    assert_eq!(listed.data.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["user.created"]);
    let all = app.get_json("/api/v1/event-type?include_archived=true").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2);

    let res = app
        .request(Method::POST, "/api/v1/event-type")
        .json(&json!({"name": "bad name", "description": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["detail"][0]["loc"], json!(["body", "name"]));
    app.stop().await;
}

async fn endpoints_crud_and_validation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    app.svix.event_type().create(EventTypeIn::new("user.created".into(), "".into()), None).await.unwrap();
    let eps = app.svix.endpoint();
    let mut input = EndpointIn::new("https://example.com/hook".into());
    input.uid = Some("main".into());
    input.event_types = Some(["user.created".to_string()].into());
    input.channels = Some(["eu".to_string()].into());
    input.description = Some("primary".into());
    input.metadata = Some([("team".to_string(), "core".to_string())].into());
    let ep = eps.create(a.id.clone(), input.clone(), None).await.unwrap();
    assert!(ep.id.starts_with("ep_"));
    assert_eq!(ep.event_types, Some(["user.created".to_string()].into()));
    assert_eq!(ep.description, "primary");
    assert_eq!(eps.get(a.id.clone(), "main".into()).await.unwrap().id, ep.id);

    let err = eps.create(a.id.clone(), input.clone(), None).await.unwrap_err();
    assert!(matches!(err, svix::error::Error::Http(ref e) if e.status == 409), "uid is unique per app: {err:?}");

    let patched = eps
        .patch(a.id.clone(), ep.id.clone(), EndpointPatch { description: Some("changed".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(patched.description, "changed");
    assert_eq!(patched.channels, Some(["eu".to_string()].into()), "PATCH keeps what it does not name");

    let res = app
        .request(Method::PUT, &format!("/api/v1/app/{}/endpoint/second", a.id))
        .json(&json!({"url": "http://example.org/x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(eps.list(a.id.clone(), None).await.unwrap().data.len(), 2);

    let cases = [
        (json!({"url": "ftp://example.com"}), json!(["body", "url"])),
        (json!({"url": "not a url"}), json!(["body", "url"])),
        (json!({"url": "https://example.com", "eventTypes": ["no.such.type"]}), json!(["body", "eventTypes", "0"])),
        (json!({"url": "https://example.com", "uid": "has space"}), json!(["body", "uid"])),
        (json!({"url": "https://example.com", "secret": "whsec_tooshort"}), json!(["body", "secret"])),
        (json!({"url": "https://example.com", "channels": ["ok", "not ok"]}), json!(["body", "channels", "1"])),
        (json!({"url": 5}), json!(["body", "url"])),
        (json!({}), json!(["body"])),
        // A rate limit out of range is named as the caller spelled it.
        (json!({"url": "https://example.com", "rateLimit": 0}), json!(["body", "rateLimit"])),
        (json!({"url": "https://example.com", "throttleRate": 70000}), json!(["body", "throttleRate"])),
        // Headers hookd sets itself: the signature's, and those of the connection.
        (
            json!({"url": "https://example.com", "headers": {"webhook-signature": "v1,x"}}),
            json!(["body", "headers", "webhook-signature"]),
        ),
        (
            json!({"url": "https://example.com", "headers": {"Transfer-Encoding": "chunked"}}),
            json!(["body", "headers", "Transfer-Encoding"]),
        ),
        (json!({"url": "https://example.com", "headers": {"bad name": "x"}}), json!(["body", "headers", "bad name"])),
    ];
    for (body, loc) in cases {
        let res =
            app.request(Method::POST, &format!("/api/v1/app/{}/endpoint", a.id)).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["detail"][0]["loc"], loc, "{body}: {err}");
        assert!(!err["detail"][0]["msg"].as_str().unwrap().is_empty());
    }

    let res = app
        .request(Method::PATCH, &format!("/api/v1/app/{}/endpoint/{}", a.id, ep.id))
        .json(&json!({"rateLimit": -1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["detail"][0]["loc"], json!(["body", "rateLimit"]));
    let res =
        app.request(Method::POST, "/api/v1/app").json(&json!({"name": "R", "rateLimit": 0})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["detail"][0]["loc"], json!(["body", "rateLimit"]));

    eps.delete(a.id.clone(), ep.id.clone()).await.unwrap();
    let res = app.request(Method::GET, &format!("/api/v1/app/{}/endpoint/{}", a.id, ep.id)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.request(Method::GET, "/api/v1/app/app_nope/endpoint").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn endpoint_secret_get_and_rotate(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    let eps = app.svix.endpoint();
    let mut input = EndpointIn::new("https://example.com/hook".into());
    input.secret = Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
    let ep = eps.create(a.id.clone(), input, None).await.unwrap();
    let secret = eps.get_secret(a.id.clone(), ep.id.clone()).await.unwrap();
    assert_eq!(secret.key, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");

    let returned =
        eps.rotate_secret(a.id.clone(), ep.id.clone(), EndpointSecretRotateIn::default(), None).await.unwrap();
    let rotated = eps.get_secret(a.id.clone(), ep.id.clone()).await.unwrap();
    assert_eq!(returned.key, rotated.key);
    assert_ne!(rotated.key, secret.key);
    assert!(rotated.key.starts_with("whsec_"));

    let chosen = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk=";
    let rotate = EndpointSecretRotateIn { key: Some(chosen.into()), ..Default::default() };
    eps.rotate_secret(a.id.clone(), ep.id.clone(), rotate, None).await.unwrap();
    assert_eq!(eps.get_secret(a.id.clone(), ep.id.clone()).await.unwrap().key, chosen);
    app.stop().await;
}

async fn messages_are_accepted_with_svix_fields(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    let mut input = MessageIn::new("invoice.paid".into(), json!({"invoice": 42, "zeta": 1, "alpha": 2}));
    input.event_id = Some("evt-1".into());
    input.channels = Some(["eu".to_string()].into());
    let with_content = MessageCreateOptions { with_content: Some(true), ..Default::default() };
    let msg = app.svix.message().create(a.id.clone(), input, Some(with_content)).await.unwrap();
    assert!(msg.id.starts_with("msg_"));
    assert_eq!(msg.event_type, "invoice.paid");
    assert_eq!(msg.event_id.as_deref(), Some("evt-1"));
    assert_eq!(msg.payload, json!({"invoice": 42, "zeta": 1, "alpha": 2}));
    assert_eq!(msg.channels, Some(["eu".to_string()].into()));

    let res = app
        .request(Method::POST, &format!("/api/v1/app/{}/msg", a.id))
        .json(&json!({"eventType": "x.y", "payload": {"k": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    let got = app.svix.message().get(a.id.clone(), msg.id.clone(), None).await.unwrap();
    assert_eq!(got.id, msg.id);
    assert_eq!(app.svix.message().get(a.id.clone(), "evt-1".into(), None).await.unwrap().id, msg.id, "by eventId");
    let listed = app.svix.message().list(a.id.clone(), None).await.unwrap();
    assert_eq!(listed.data.len(), 2);
    let filtered = app.get_json(&format!("/api/v1/app/{}/msg?channel=eu", a.id)).await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
    // The event-type filter, as the Rust SDK sends it (comma-separated) and as other clients
    // do (the parameter repeated).
    let options = svix::api::MessageListOptions {
        event_types: Some(["invoice.paid".to_string(), "nothing.here".to_string()].into()),
        ..Default::default()
    };
    let by_type = app.svix.message().list(a.id.clone(), Some(options)).await.unwrap();
    assert_eq!(by_type.data.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec![msg.id.as_str()]);
    // `application` creates the application under the path's uid, which must be a valid uid.
    let publish_creating = |path: &str| {
        app.request(Method::POST, &format!("/api/v1/app/{path}/msg"))
            .json(&json!({"eventType": "a.b", "payload": {}, "application": {"name": "Created"}}))
            .send()
    };
    assert_eq!(publish_creating("new-shop").await.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(app.get_json("/api/v1/app/new-shop").await["name"], "Created");
    let res = publish_creating("has%20space").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["detail"][0]["loc"], json!(["body", "uid"]));
    let res = publish_creating("app_00000000000000000000000000").await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "an id cannot be chosen");
    for query in ["event_types=x.y&event_types=invoice.paid", "event_types=x.y,invoice.paid"] {
        let res = app.request(Method::GET, &format!("/api/v1/app/{}/msg?{query}", a.id)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{query}");
        assert_eq!(res.json::<Value>().await.unwrap()["data"].as_array().unwrap().len(), 2, "{query}");
    }
    app.stop().await;
}

async fn message_validation_and_conflicts(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    let path = format!("/api/v1/app/{}/msg", a.id);
    for (body, loc) in [
        (json!({"eventType": "a.b", "payload": [1, 2]}), json!(["body", "payload"])),
        (json!({"eventType": "a.b", "payload": "text"}), json!(["body", "payload"])),
        (json!({"eventType": "bad type!", "payload": {}}), json!(["body", "eventType"])),
        (json!({"payload": {}}), json!(["body"])),
    ] {
        let res = app.request(Method::POST, &path).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(res.json::<Value>().await.unwrap()["detail"][0]["loc"], loc, "{body}");
    }
    let res = app.request(Method::POST, &path).body("{not json").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A struct's fields in an array, which serde alone would take, are refused too.
    let res = app.request(Method::POST, &path).json(&json!(["a.b", {}])).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["detail"][0]["loc"], json!(["body"]));
    // A timestamp that does not parse names the format expected, in the body and in a query.
    let body = json!({"eventType": "a.b", "payload": {}, "deliverAt": "tomorrow"});
    let res = app.request(Method::POST, &path).json(&body).send().await.unwrap();
    let problem = &res.json::<Value>().await.unwrap()["detail"][0];
    assert_eq!(problem["loc"], json!(["body", "deliverAt"]), "{problem}");
    assert!(problem["msg"].as_str().unwrap().contains("RFC 3339"), "{problem}");
    let res = app.request(Method::GET, &format!("{path}?before=2026-13-01")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = &res.json::<Value>().await.unwrap()["detail"][0];
    assert_eq!(problem["loc"], json!(["query", "before"]), "{problem}");
    assert!(problem["msg"].as_str().unwrap().contains("RFC 3339"), "{problem}");

    let first = app
        .request(Method::POST, &path)
        .json(&json!({"eventType": "a.b", "payload": {}, "eventId": "e1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let dup = app
        .request(Method::POST, &path)
        .json(&json!({"eventType": "a.b", "payload": {}, "eventId": "e1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let body: Value = dup.json().await.unwrap();
    assert_eq!(body["code"], "conflict");
    assert!(body["detail"].as_str().unwrap().contains("e1"));
    // eventId is unique per application only.
    let b = app.svix.application().create(ApplicationIn::new("B".into()), None).await.unwrap();
    let other = app
        .request(Method::POST, &format!("/api/v1/app/{}/msg", b.id))
        .json(&json!({"eventType": "a.b", "payload": {}, "eventId": "e1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::ACCEPTED);
    app.stop().await;
}

async fn idempotency_key_returns_the_first_response(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    let path = format!("/api/v1/app/{}/msg", a.id);
    let send = |payload: Value| {
        app.request(Method::POST, &path)
            .header("idempotency-key", "key-1")
            .json(&json!({"eventType": "a.b", "payload": payload}))
            .send()
    };
    let first = send(json!({"n": 1})).await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    let second = send(json!({"n": 2})).await.unwrap();
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    assert_eq!(second.json::<Value>().await.unwrap(), first);
    let listed = app.svix.message().list(a.id.clone(), None).await.unwrap();
    assert_eq!(listed.data.len(), 1, "the repeat created nothing");
    // The key keeps the answer without its payload, which the message row holds already;
    // the repeat read it back from there.
    let kept = common::raw(&app.config.database, "SELECT body FROM idempotency_keys WHERE key = 'key-1'").await;
    let kept: Value = serde_json::from_str(kept[0].as_deref().unwrap()).unwrap();
    assert_eq!((kept["id"].clone(), kept["payload"].clone()), (first["id"].clone(), json!({})));
    assert_eq!(first["payload"], json!({"n": 1}));

    // A refused request is not remembered: it did nothing, so its key serves the corrected one.
    let with_key =
        |body: Value| app.request(Method::POST, &path).header("idempotency-key", "fix-me").json(&body).send();
    let refused = with_key(json!({"eventType": "a.b", "payload": [1]})).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fixed = with_key(json!({"eventType": "a.b", "payload": {"fixed": true}})).await.unwrap();
    assert_eq!(fixed.status(), StatusCode::ACCEPTED);
    assert_eq!(fixed.json::<Value>().await.unwrap()["payload"], json!({"fixed": true}));

    // A publish refused because its eventId is taken is not remembered either.
    let dup = |event_id: &str| {
        app.request(Method::POST, &path)
            .header("idempotency-key", "event-key")
            .json(&json!({"eventType": "a.b", "eventId": event_id, "payload": {}}))
            .send()
    };
    assert_eq!(
        app.request(Method::POST, &path)
            .json(&json!({"eventType": "a.b", "eventId": "evt-1", "payload": {}}))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(dup("evt-1").await.unwrap().status(), StatusCode::CONFLICT);
    let corrected = dup("evt-2").await.unwrap();
    assert_eq!(corrected.status(), StatusCode::ACCEPTED);
    assert_eq!(corrected.json::<Value>().await.unwrap()["eventId"], "evt-2");

    // Concurrent repeats of one publish: one message; every answer is that message's 202, or
    // a 409 while the first is still being written.
    let before = app.svix.message().list(a.id.clone(), None).await.unwrap().data.len();
    let mut repeats = tokio::task::JoinSet::new();
    for i in 0..16 {
        let request = app
            .request(Method::POST, &path)
            .header("idempotency-key", "raced")
            .json(&json!({"eventType": "a.b", "payload": {"try": i}}));
        repeats.spawn(async move {
            let res = request.send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap())
        });
    }
    let mut ids = std::collections::HashSet::new();
    while let Some(answer) = repeats.join_next().await {
        match answer.unwrap() {
            (StatusCode::ACCEPTED, body) => {
                ids.insert(body["id"].as_str().unwrap().to_owned());
            }
            (StatusCode::CONFLICT, _) => {}
            (other, body) => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "one message answered: {ids:?}");
    let after = app.svix.message().list(a.id.clone(), None).await.unwrap().data.len();
    assert_eq!(after, before + 1, "one message stored");

    // Through the SDK too.
    let opts = || Some(MessageCreateOptions { idempotency_key: Some("sdk-key".into()), with_content: None });
    let m1 = app.svix.message().create(a.id.clone(), MessageIn::new("a.b".into(), json!({})), opts()).await.unwrap();
    let m2 = app.svix.message().create(a.id.clone(), MessageIn::new("a.b".into(), json!({})), opts()).await.unwrap();
    assert_eq!(m1.id, m2.id);
    let created = app
        .svix
        .application()
        .create(
            ApplicationIn::new("C".into()),
            Some(ApplicationCreateOptions { idempotency_key: Some("app-key".into()) }),
        )
        .await
        .unwrap();
    let repeated = app
        .svix
        .application()
        .create(
            ApplicationIn::new("C".into()),
            Some(ApplicationCreateOptions { idempotency_key: Some("app-key".into()) }),
        )
        .await
        .unwrap();
    assert_eq!(created.id, repeated.id);

    // A key that cannot be kept is refused rather than ignored: going ahead without the
    // protection asked for could create twice.
    let before = app.svix.application().list(None).await.unwrap().data.len();
    for bad_key in ["k".repeat(257), String::new()] {
        let res = app
            .request(Method::POST, "/api/v1/app")
            .header("idempotency-key", &bad_key)
            .json(&json!({"name": "D"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["header", "idempotency-key"]), "{body}");
    }
    assert_eq!(app.svix.application().list(None).await.unwrap().data.len(), before, "nothing created");
    app.stop().await;
}

async fn tokens_and_scopes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mine = app.svix.application().create(ApplicationIn::new("Mine".into()), None).await.unwrap();
    let other = app.svix.application().create(ApplicationIn::new("Other".into()), None).await.unwrap();

    let res = app.http.get(app.url("/api/v1/app")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "authentication_failed");
    let res = app.http.get(app.url("/api/v1/app")).bearer_auth("sk_wrong_token").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // An application token, as `hookd token create --app` makes it.
    let token = hookd_server::generate_token("sk_app_");
    let store = hookd::app::open_store(&app.config.database, 2).await.unwrap();
    store
        .create_app_token(&hookd_core::ApplicationId::parse(&mine.id).unwrap(), &hookd_server::hash_token(&token), None)
        .await
        .unwrap();
    store.close().await;

    let scoped = app.svix_with_token(&token);
    assert_eq!(scoped.application().get(mine.id.clone()).await.unwrap().id, mine.id);
    scoped.endpoint().create(mine.id.clone(), EndpointIn::new("https://example.com".into()), None).await.unwrap();
    scoped.message().create(mine.id.clone(), MessageIn::new("a.b".into(), json!({})), None).await.unwrap();
    for path in [
        format!("/api/v1/app/{}", other.id),
        format!("/api/v1/app/{}/endpoint", other.id),
        format!("/api/v1/app/{}/msg", other.id),
        "/api/v1/app/app_doesnotexist".to_string(),
        "/api/v1/app".to_string(),
        "/api/v1/event-type".to_string(),
        "/metrics".to_string(),
    ] {
        let res = app.http.get(app.url(&path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(res.json::<Value>().await.unwrap()["code"], "forbidden");
    }
    let res =
        app.http.post(app.url("/api/v1/app")).bearer_auth(&token).json(&json!({"name": "x"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

async fn oversized_bodies_get_413(backend: Backend) {
    let Some(app) = common::spawn_app_with(backend, |c| c.max_body_size = 4096).await else {
        return;
    };
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    let big = "x".repeat(5000);
    let res = app
        .request(Method::POST, &format!("/api/v1/app/{}/msg", a.id))
        .json(&json!({"eventType": "a.b", "payload": {"big": big}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large");
    assert!(body["detail"].as_str().unwrap().contains("4096"));
    assert!(app.svix.message().list(a.id.clone(), None).await.unwrap().data.is_empty());
    app.stop().await;
}

/// Concurrent publishes are committed together; a taken `eventId` fails only its own publish.
async fn concurrent_publishes_with_one_event_id_accept_one(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let a = app.svix.application().create(ApplicationIn::new("A".into()), None).await.unwrap();
    let path = format!("/api/v1/app/{}/msg", a.id);
    let mut publishes = tokio::task::JoinSet::new();
    for i in 0..20 {
        let event_id = if i % 2 == 0 { "same".to_owned() } else { format!("own-{i}") };
        let request = app
            .request(Method::POST, &path)
            .json(&json!({"eventType": "a.b", "payload": {"i": i}, "eventId": event_id}));
        publishes.spawn(async move { (i, request.send().await.unwrap().status()) });
    }
    let mut accepted_same = 0;
    while let Some(done) = publishes.join_next().await {
        let (i, status) = done.unwrap();
        if i % 2 == 0 {
            assert!(status == StatusCode::ACCEPTED || status == StatusCode::CONFLICT, "{status}");
            accepted_same += usize::from(status == StatusCode::ACCEPTED);
        } else {
            assert_eq!(status, StatusCode::ACCEPTED, "publish {i} has an eventId of its own");
        }
    }
    assert_eq!(accepted_same, 1, "exactly one publish with eventId 'same' is accepted");
    let listed: Value = app.get_json(&path).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 11);
    app.stop().await;
}

/// Publishes resolve their application through a short-lived cache; changes made through
/// the API apply to the very next publish.
async fn publishes_see_application_changes_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let publish = |uid: &str| {
        app.request(Method::POST, &format!("/api/v1/app/{uid}/msg")).json(&json!({"eventType": "a.b", "payload": {}}))
    };
    let res =
        app.request(Method::POST, "/api/v1/app").json(&json!({"name": "Shop", "uid": "shop"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(publish("shop").send().await.unwrap().status(), StatusCode::ACCEPTED);
    let res = app.request(Method::PATCH, "/api/v1/app/shop").json(&json!({"uid": "store"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(publish("shop").send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(publish("store").send().await.unwrap().status(), StatusCode::ACCEPTED);
    let res = app.request(Method::DELETE, "/api/v1/app/store").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(publish("store").send().await.unwrap().status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

/// The route templates the server's source registers (`.route("…", …)`), read from its files.
fn registered_routes() -> std::collections::BTreeSet<String> {
    fn walk(dir: &std::path::Path, found: &mut std::collections::BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                for (at, _) in source.match_indices(".route(") {
                    let rest = &source[at..];
                    let start = rest.find('"').unwrap() + 1;
                    let end = start + rest[start..].find('"').unwrap();
                    found.insert(rest[start..end].to_owned());
                }
            }
        }
    }
    let mut found = std::collections::BTreeSet::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src"), &mut found);
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_names_exactly_the_routes_served() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let res = app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "no token needed");
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();

    // Every route is documented, except the HTML pages and the capture URL's sub-path forms.
    let pages = ["/", "/inbox/{inbox_id}", "/in/{inbox_id}/", "/in/{inbox_id}/{*rest}"];
    let registered = registered_routes();
    assert!(registered.len() > 25, "{registered:?}");
    for route in registered.iter().filter(|r| !pages.contains(&r.as_str())) {
        assert!(paths.contains_key(route), "{route} is served but not documented");
    }
    // And every documented operation is served, with exactly the documented methods: a path
    // the router knows answers 405 to a method it does not serve.
    for (path, item) in paths {
        assert!(registered.contains(path), "{path} is documented but not served");
        let concrete: String = path
            .split('/')
            .map(|part| if part.starts_with('{') { "unknown_0" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        // HEAD is answered wherever GET is (by the GET handler); it is documented where a
        // client calls it: the health checks.
        if item.get("head").is_some() {
            let res = app.request(Method::HEAD, &concrete).send().await.unwrap();
            assert_ne!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "HEAD {path}");
        }
        for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let documented = item.get(method.as_str().to_lowercase()).is_some();
            let res = app.request(method.clone(), &concrete).json(&json!({})).send().await.unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            if documented {
                let unserved = status == StatusCode::METHOD_NOT_ALLOWED || body.contains("no such route");
                assert!(!unserved, "{method} {path} is documented but answers {status} {body}");
            } else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is served but not documented");
            }
        }
    }
    app.stop().await;
}

async fn portal_links_reach_one_application_until_logged_out_or_expired(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mine = app.svix.application().create(ApplicationIn::new("Mine".into()), None).await.unwrap();
    let other = app.svix.application().create(ApplicationIn::new("Other".into()), None).await.unwrap();
    let access = svix::models::AppPortalAccessIn::new();
    let link = app.svix.authentication().app_portal_access(mine.id.clone(), access, None).await.unwrap();
    assert!(link.url.starts_with(&format!("http://{}/#key=", app.addr)), "{}", link.url);
    assert!(link.url.ends_with(&format!("{}&app={}", link.token, mine.id)), "{}", link.url);

    // The token reaches that application only.
    let get = |path: String, token: String| app.http.get(app.url(&path)).bearer_auth(token).send();
    let res = get(format!("/api/v1/app/{}", mine.id), link.token.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = get(format!("/api/v1/app/{}", other.id), link.token.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let scoped = app.svix_with_token(&link.token);
    let again =
        scoped.authentication().app_portal_access(mine.id.clone(), svix::models::AppPortalAccessIn::new(), None).await;
    assert!(again.is_err(), "only the admin token makes links");

    // An expiry outside 1 hour to 7 days is refused; a missing application can be created.
    let path = format!("/api/v1/auth/app-portal-access/{}", mine.id);
    let res = app.request(Method::POST, &path).json(&json!({"expiry": 60})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["detail"][0]["loc"], json!(["body", "expiry"]));
    let res = app
        .request(Method::POST, "/api/v1/auth/app-portal-access/portal-made")
        .json(&json!({"application": {"name": "Made for the portal"}, "expiry": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.get_json("/api/v1/app/portal-made").await["name"], "Made for the portal");

    // Logging out ends the token at once; the admin token cannot be logged out.
    scoped.authentication().logout(None).await.unwrap();
    let res = get(format!("/api/v1/app/{}", mine.id), link.token.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.request(Method::POST, "/api/v1/auth/logout").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // An expired token is refused.
    let expired = hookd_server::generate_token("sk_app_");
    let store = hookd::app::open_store(&app.config.database, 2).await.unwrap();
    let past = chrono::Utc::now().timestamp_millis() - 1;
    store
        .create_app_token(
            &hookd_core::ApplicationId::parse(&mine.id).unwrap(),
            &hookd_server::hash_token(&expired),
            Some(past),
        )
        .await
        .unwrap();
    store.close().await;
    let res = get(format!("/api/v1/app/{}", mine.id), expired).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
