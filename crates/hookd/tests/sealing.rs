//! Secrets at rest: endpoint secrets (current and rotated), OAuth client secrets, TLS client
//! keys and inbox secrets are sealed in the database under the main key; plaintext from
//! before is sealed at start; `hookd main-key rotate` re-seals under a new key while a node
//! serves; a node with the wrong key refuses to start.

mod common;

use std::time::Duration;

use common::{raw, spawn_app, spawn_app_with, Backend, Receiver, TestApp};
use hookd::config::{Database, MainKeySource};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_backends!(secrets_are_sealed_at_rest);

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ROTATED: &str = "whsec_dGhpcyBpcyB0aGUgcm90YXRlZCBrZXkgb2YgMzI=";

/// Every value of the endpoint and inbox secret columns, none missing.
async fn secret_columns(database: &Database) -> Vec<String> {
    let mut values = Vec::new();
    for sql in [
        "SELECT secret FROM endpoints",
        "SELECT old_secrets FROM endpoints",
        "SELECT oauth FROM endpoints",
        "SELECT mtls FROM endpoints",
        "SELECT secret FROM inboxes",
    ] {
        let column = raw(database, sql).await;
        assert!(!column.is_empty() && column.iter().all(Option::is_some), "{sql}: {column:?}");
        values.extend(column.into_iter().flatten());
    }
    values
}

fn client_identity() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap().self_signed(&key).unwrap();
    format!("{}{}", key.serialize_pem(), cert.pem())
}

/// An endpoint with every kind of secret, and an inbox with one; returns (app, endpoint).
async fn endpoint_with_secrets(app: &TestApp, receiver: &Receiver) -> (String, String) {
    let (app_id, endpoint_id) = app.app_and_endpoint(json!({"url": receiver.url("/hook"), "secret": SECRET})).await;
    let base = format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}");
    let (status, _) = app.send_json(Method::POST, &format!("{base}/secret/rotate"), &json!({"key": ROTATED})).await;
    assert_eq!(status, StatusCode::OK);
    let oauth = json!({"grantType": "clientCredentials", "authMethod": "clientSecretPost", "clientId": "c",
        "clientSecret": "oauth-s3cret-value", "tokenUrl": "https://auth.example.com/token"});
    assert_eq!(app.send_json(Method::PUT, &format!("{base}/oauth"), &oauth).await.0, StatusCode::NO_CONTENT);
    let (status, _) =
        app.send_json(Method::PUT, &format!("{base}/mtls"), &json!({"identity": client_identity()})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, inbox) = app.send_json(Method::POST, "/api/v1/inbox", &json!({"secret": SECRET})).await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    (app_id, endpoint_id)
}

async fn secrets_are_sealed_at_rest(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (app_id, endpoint_id) = endpoint_with_secrets(&app, &receiver).await;
    for value in secret_columns(&app.config.database).await {
        assert!(value.starts_with("sealed:v1:"), "{value}");
        for plain in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "dGhpcyBpcyB0aGUgcm90YXRlZCBrZXkgb2YgMzI",
            "oauth-s3cret",
            "PRIVATE KEY",
        ] {
            assert!(!value.contains(plain), "{value}");
        }
    }
    assert_eq!(raw(&app.config.database, "SELECT value FROM settings WHERE name = 'main_key_id'").await.len(), 1);

    // Through the API everything reads as it was given: the secret, and the signatures of a
    // delivery (by the current and the rotated-out secret).
    let base = format!("/api/v1/app/{app_id}/endpoint/{endpoint_id}");
    assert_eq!(app.get_json(&format!("{base}/secret")).await["key"], ROTATED);
    assert_eq!(app.get_json(&format!("{base}/oauth")).await["clientId"], "c");
    app.send_json(Method::DELETE, &format!("{base}/oauth"), &json!(null)).await;
    app.send_json(Method::DELETE, &format!("{base}/mtls"), &json!(null)).await;
    app.publish(&app_id, json!({"eventType": "a", "payload": {"n": 1}})).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    got[0].verify(ROTATED).expect("signed with the current secret");
    got[0].verify(SECRET).expect("and with the one in its grace period");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_secrets_from_before_are_sealed_at_start() {
    // A database written by a hookd without sealing: its secrets are plaintext.
    let dir = tempfile::tempdir().unwrap();
    let database = Database::Sqlite(dir.path().join("old.db"));
    let store = hookd::app::open_store(&database, 2).await.unwrap();
    let app_row = store
        .create_application(
            &hookd_core::ApplicationId::parse("app_01M8PQ0000000000000000000A").unwrap(),
            &hookd_store::ApplicationData { name: "old".into(), ..Default::default() },
        )
        .await
        .unwrap();
    let data = hookd_store::EndpointData { url: "https://example.com/hook".into(), ..Default::default() };
    let endpoint_id = hookd_core::EndpointId::parse("ep_01M8PQ0000000000000000000A").unwrap();
    store.create_endpoint(&app_row.id, &endpoint_id, &data, SECRET).await.unwrap();
    store.close().await;
    assert_eq!(raw(&database, "SELECT secret FROM endpoints").await, [Some(SECRET.to_owned())]);

    let db = database.clone();
    let app = spawn_app_with(Backend::Sqlite, move |c| c.database = db).await.unwrap();
    let sealed = raw(&database, "SELECT secret FROM endpoints").await;
    assert!(sealed[0].as_deref().unwrap().starts_with("sealed:v1:"), "{sealed:?}");
    let path = format!("/api/v1/app/{}/endpoint/ep_01M8PQ0000000000000000000A/secret", app_row.id);
    assert_eq!(app.get_json(&path).await["key"], SECRET);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_reseals_while_serving_and_a_wrong_key_is_refused() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let receiver = Receiver::start().await;
    let (app_id, _) = endpoint_with_secrets(&app, &receiver).await;
    let database = app.config.database.clone();
    let MainKeySource::File { path, .. } = app.config.main_key.clone() else { panic!("a key file") };
    let before = raw(&database, "SELECT value FROM settings WHERE name = 'main_key_id'").await;

    // Rotate while the node serves.
    let (new_id, sealed) = hookd::app::rotate_main_key(&path, &database).await.unwrap();
    assert_eq!(sealed, 5, "the endpoint's secret, old secrets, OAuth and mTLS settings, and the inbox's secret");
    let after = raw(&database, "SELECT value FROM settings WHERE name = 'main_key_id'").await;
    assert_eq!(after, [Some(new_id.clone())]);
    assert_ne!(before, after);
    for value in secret_columns(&database).await {
        assert!(value.starts_with(&format!("sealed:v1:{new_id}:")), "{value}");
    }
    let file = std::fs::read_to_string(&path).unwrap();
    assert_eq!(file.lines().filter(|l| !l.trim().is_empty()).count(), 2, "the new key, then the old one");

    // The running node meets the new key, reads its file again, and delivers as before.
    let base = format!("/api/v1/app/{app_id}/endpoint");
    let endpoint = app.get_json(&base).await["data"][0].clone();
    let endpoint_path = format!("{base}/{}", endpoint["id"].as_str().unwrap());
    app.send_json(Method::DELETE, &format!("{endpoint_path}/oauth"), &json!(null)).await;
    app.send_json(Method::DELETE, &format!("{endpoint_path}/mtls"), &json!(null)).await;
    app.publish(&app_id, json!({"eventType": "a", "payload": {}})).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    got[0].verify(ROTATED).expect("signed after the rotation");

    // A node with another key refuses to start on this database.
    let mut config = app.config.clone();
    config.main_key = MainKeySource::Inline(hookd_core::sealing::new_main_key());
    let refused = hookd::build(config).await.err().expect("a wrong key is refused").to_string();
    assert!(refused.contains("sealed with main key"), "{refused}");
    app.stop().await;
}
