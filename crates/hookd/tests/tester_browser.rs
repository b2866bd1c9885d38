//! The inbox page in real headless Chromium, driven over WebDriver (`chromedriver`, plain HTTP):
//! a webhook sent to the capture URL appears on the already open page without a reload, with
//! its method, path, signature verdict and pretty-printed JSON body, and the replay button
//! sends it on.
//!
//! Chromium comes from Debian's `chromium` and `chromium-driver` packages
//! (`scripts/install-browser.sh`). Without them the test is skipped with a message, except
//! under `CI=true`, where that is a failure.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{eventually, spawn_app, Backend, Receiver};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The key WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_executable(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

/// Chromium and chromedriver, or `None` (after saying why) when the test must be skipped.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = find_executable(&["chromium", "chromium-browser"]);
    let driver = find_executable(&["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            let why = "chromium and chromedriver are not installed (run scripts/install-browser.sh)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{why}, and CI=true");
            }
            eprintln!("SKIPPED: browser test: {why}");
            None
        }
    }
}

/// A WebDriver session with chromedriver, spoken over plain HTTP.
struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(chromium: &std::path::Path, driver: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = tokio::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        eventually(Duration::from_secs(20), "chromedriver to be ready", || {
            let req = http.get(format!("{base}/status"));
            async move {
                let status: Value = req.send().await.ok()?.json().await.ok()?;
                (status["value"]["ready"] == true).then_some(())
            }
        })
        .await;
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let res: Value =
            http.post(format!("{base}/session")).json(&capabilities).send().await.unwrap().json().await.unwrap();
        let session =
            res["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {res}")).to_owned();
        Self { http, session, base, _driver: child, _profile: profile }
    }

    async fn command(&self, method: Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let res: Value = self.http.request(method, url).json(&body).send().await.unwrap().json().await.unwrap();
        assert!(res["value"]["error"].is_null(), "WebDriver {path}: {res}");
        res["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.command(Method::POST, "/url", json!({"url": url})).await;
    }

    /// Runs `script` in the page and returns its result.
    async fn eval(&self, script: &str) -> Value {
        self.command(Method::POST, "/execute/sync", json!({"script": script, "args": []})).await
    }

    async fn find(&self, css: &str) -> String {
        let found = self.command(Method::POST, "/element", json!({"using": "css selector", "value": css})).await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn type_into(&self, element: &str, text: &str) {
        self.command(Method::POST, &format!("/element/{element}/value"), json!({"text": text})).await;
    }

    async fn click(&self, element: &str) {
        self.command(Method::POST, &format!("/element/{element}/click"), json!({})).await;
    }

    async fn quit(self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = self.http.delete(url).send().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_webhooks_appear_live_on_the_inbox_page() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let res = app
        .request(Method::POST, "/api/v1/inbox")
        .json(&json!({"name": "orders", "secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let inbox: Value = res.json().await.unwrap();
    let id = inbox["id"].as_str().unwrap().to_owned();

    let browser = Browser::start(&chromium, &driver).await;
    browser.goto(&format!("{}?token={}", inbox["pageUrl"].as_str().unwrap(), app.token)).await;
    eventually(Duration::from_secs(20), "the page to go live", || async {
        let state = browser.eval("return document.body.dataset.state;").await;
        (state == "live").then_some(())
    })
    .await;
    assert_eq!(browser.eval("return document.title;").await, "orders · hookd inbox");
    // A marker that a reload would wipe out.
    browser.eval("window.__sameDocument = 42; return null;").await;

    // A signed webhook, sent while the page is open.
    let body = r#"{"invoice":42,"lines":[{"sku":"A-1"}]}"#;
    let now = chrono::Utc::now().timestamp();
    let signature = svix::webhooks::Webhook::new(secret).unwrap().sign("msg_browser", now, body.as_bytes()).unwrap();
    let res = app
        .http
        .post(format!("{}/orders/paid?attempt=1", inbox["url"].as_str().unwrap()))
        .header("content-type", "application/json")
        .header("webhook-id", "msg_browser")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let listed: Value =
        app.request(Method::GET, &format!("/api/v1/inbox/{id}/request")).send().await.unwrap().json().await.unwrap();
    let request_id = listed["data"][0]["id"].as_str().unwrap().to_owned();

    let shown = eventually(Duration::from_secs(20), "the request on the page", || async {
        let cards = browser
            .eval(
                "return Array.from(document.querySelectorAll('.request')).map(function (c) {
                   return {id: c.dataset.id,
                           method: c.querySelector('.method').textContent,
                           path: c.querySelector('.path').textContent,
                           signature: c.querySelector('.signature').textContent,
                           body: c.querySelector('pre.body').textContent,
                           headers: c.querySelector('.headers').textContent};
                 });",
            )
            .await;
        let cards = cards.as_array().unwrap().clone();
        (!cards.is_empty()).then_some(cards)
    })
    .await;
    assert_eq!(shown.len(), 1);
    let card = &shown[0];
    assert_eq!(card["id"], request_id.as_str());
    assert_eq!(card["method"], "POST");
    assert_eq!(card["path"], "/orders/paid?attempt=1");
    assert!(card["signature"].as_str().unwrap().contains("signature verified"), "{card}");
    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(body).unwrap()).unwrap();
    assert_eq!(card["body"], pretty.as_str(), "pretty-printed JSON");
    assert!(card["headers"].as_str().unwrap().contains("webhook-id"));
    assert_eq!(browser.eval("return window.__sameDocument;").await, 42, "no reload");

    // The replay button sends the request on and shows the answer.
    let receiver = Receiver::start().await;
    let input = browser.find(".request form.replay input").await;
    browser.type_into(&input, &receiver.url("/replayed")).await;
    let button = browser.find(".request form.replay button").await;
    browser.click(&button).await;
    let result = eventually(Duration::from_secs(20), "the replay result", || async {
        let text = browser.eval("return document.querySelector('.replay-result').textContent;").await;
        text.as_str().filter(|t| t.starts_with("HTTP")).map(str::to_owned)
    })
    .await;
    assert!(result.starts_with("HTTP 200"), "{result}");
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].body.as_ref(), body.as_bytes());
    assert_eq!(got[0].header("webhook-id"), "msg_browser");

    browser.quit().await;
    app.stop().await;
}
