//! Svix's official Python and JavaScript SDKs, unmodified but for the server URL, against a
//! real node on each backend. Each runs a script (`tests/sdk/`) that drives the routes and
//! query parameters of Svix's API with that SDK and asserts on the answers; this side then
//! checks what the endpoints received. (The Rust SDK drives `api.rs` and `compat.rs`.)
//!
//! `scripts/test.sh` installs the SDKs (pinned versions, under `target/sdks`) and points
//! `HOOKD_SDK_PYTHON` at a Python with `svix` and `HOOKD_SDK_NODE_PATH` at a `node_modules`
//! holding `svix`.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use common::{skip, spawn_app, Backend};

on_both_backends!(the_python_sdk_drives_every_route_and_filter, the_javascript_sdk_drives_every_route_and_filter);

/// What an endpoint got: path, content type, body.
type Got = Arc<Mutex<Vec<(String, String, Bytes)>>>;

/// A real HTTP server: 500 under `/fail`, 200 elsewhere, each with a short body; records
/// everything.
async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let record = got.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let record = record.clone();
        async move {
            let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
            record.lock().unwrap().push((uri.path().to_owned(), content_type.to_owned(), body));
            if uri.path().starts_with("/fail") {
                (StatusCode::INTERNAL_SERVER_ERROR, "not now")
            } else {
                (StatusCode::OK, "thanks")
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk").join(name)
}

/// Runs an SDK script against a fresh node and checks the deliveries it caused.
async fn run_sdk(backend: Backend, program: &str, args: &[String], env: &[(&str, String)]) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (receiver_url, got) = receiver().await;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env("HOOKD_URL", format!("http://{}", app.addr))
        .env("HOOKD_TOKEN", &app.token)
        .env("RECEIVER_URL", &receiver_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .expect("the SDK script finishes within 2 minutes")
        .expect("the SDK script starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{program} {args:?} failed:\n{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    let checks: usize = last.strip_prefix("ok ").and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(checks >= 30, "the script's checks did not all run: {stdout}");

    // What the endpoints received, as the script's messages should have been delivered.
    let handle = got.clone();
    let got = got.lock().unwrap().clone();
    let raw = got.iter().find(|(path, _, body)| path == "/ok" && body.as_ref() == b"<n>3</n>");
    let (_, content_type, _) = raw.expect("the raw payload, byte for byte");
    assert_eq!(content_type, "application/xml");
    let example = got.iter().any(|(path, _, body)| path == "/ok" && body.as_ref() == br#"{"order":2}"#);
    assert!(example, "the example went to its endpoint: {got:?}");
    // Only the blue message is for the failing endpoint (it filters on that channel).
    assert!(got.iter().filter(|(path, _, _)| path == "/fail").all(|(_, _, body)| body.as_ref() == br#"{"n":1}"#));
    if args.iter().any(|a| a.ends_with(".py")) {
        // The webhook the script posted to its source, passed on below the source endpoint's URL.
        let ingested = common::eventually(std::time::Duration::from_secs(10), "the ingested webhook arrived", || {
            let found = handle.lock().unwrap().iter().find(|(path, _, _)| path == "/ingested/push").cloned();
            async move { found }
        })
        .await;
        assert_eq!(ingested.2.as_ref(), br#"{"ref":"refs/heads/main"}"#);
    }
    app.stop().await;
}

async fn the_python_sdk_drives_every_route_and_filter(backend: Backend) {
    let Some(python) = std::env::var_os("HOOKD_SDK_PYTHON") else {
        return skip("HOOKD_SDK_PYTHON (a Python with the svix package) is not set; scripts/test.sh sets it");
    };
    let python = python.to_string_lossy().into_owned();
    run_sdk(backend, &python, &[script("python_sdk.py").display().to_string()], &[]).await;
}

async fn the_javascript_sdk_drives_every_route_and_filter(backend: Backend) {
    let Some(modules) = std::env::var_os("HOOKD_SDK_NODE_PATH") else {
        return skip("HOOKD_SDK_NODE_PATH (a node_modules with the svix package) is not set; scripts/test.sh sets it");
    };
    let env = [("NODE_PATH", modules.to_string_lossy().into_owned())];
    run_sdk(backend, "node", &[script("js_sdk.mjs").display().to_string()], &env).await;
}
