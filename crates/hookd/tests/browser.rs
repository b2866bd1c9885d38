//! hookd's web pages in real headless Chromium, driven over WebDriver (`chromedriver`, plain
//! HTTP):
//! - the inbox page: a webhook sent to the capture URL appears on the already open page
//!   without a reload, with its method, path, signature verdict and pretty-printed JSON body,
//!   and the replay button sends it on;
//! - the dashboard: signing in with a token, going from an application to its endpoints and
//!   messages, from a message to its attempts, and resending it and disabling an endpoint
//!   from there; and an endpoint's page, where its payload filter, transformation (tried
//!   out with simulate), OAuth settings and client certificate are seen and edited.
//! - the dashboard's sources: the list (from the main navigation) and a form to add one, a
//!   source's endpoints and the requests it received with their state, and replaying one.
//!
//! Chromium comes from Debian's `chromium` and `chromium-driver` packages
//! (`scripts/install-browser.sh`). Without them the tests are skipped with a message, except
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
            common::skip("chromium and chromedriver are not installed (scripts/install-browser.sh installs them)");
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

    /// Finds the element `css` selects and clicks it. The dashboard renders its lists again
    /// shortly after an action (300 ms, 1 s and 3 s later, to show what the action caused),
    /// which can replace the element between finding and clicking ("stale element
    /// reference"), or move it while the click is aimed, so that the click would land on
    /// its neighbour ("element click intercepted"; seen in CI with a row added above a
    /// form). Either way the element is found again once the page has settled, a few times
    /// at most; any other error fails the test.
    async fn click_on(&self, css: &str) {
        for _ in 0..10 {
            let element = self.find(css).await;
            let url = format!("{}/session/{}/element/{element}/click", self.base, self.session);
            let res: Value = self.http.post(url).json(&json!({})).send().await.unwrap().json().await.unwrap();
            match res["value"]["error"].as_str() {
                None => return,
                Some("stale element reference" | "element click intercepted") => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Some(_) => panic!("WebDriver click on {css}: {res}"),
            }
        }
        panic!("{css} was replaced or moved every time it was found");
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
    let listed: Value = app.get_json(&format!("/api/v1/inbox/{id}/request")).await;
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
    browser.click_on(".request form.replay button").await;
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

/// The texts of the elements matching `css`.
async fn texts(browser: &Browser, css: &str) -> Vec<String> {
    let script = format!(
        "return Array.from(document.querySelectorAll({})).map(function (e) {{ return e.textContent; }});",
        serde_json::to_string(css).unwrap()
    );
    serde_json::from_value(browser.eval(&script).await).unwrap()
}

/// Waits until the dashboard shows `view` with some element matching `css`.
async fn wait_for_view(browser: &Browser, view: &str, css: &str) {
    let script = format!(
        "return document.body.dataset.view === {} && document.querySelector({}) !== null;",
        serde_json::to_string(view).unwrap(),
        serde_json::to_string(css).unwrap()
    );
    eventually(Duration::from_secs(20), view, || async { (browser.eval(&script).await == true).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_browses_messages_and_resends_them() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let res = app.request(Method::POST, "/api/v1/app").json(&json!({"name": "Shop <b>", "uid": "shop"})).send().await;
    assert_eq!(res.unwrap().status(), StatusCode::CREATED);
    let res =
        app.request(Method::POST, "/api/v1/app/shop/endpoint").json(&json!({"url": receiver.url("/hook")})).send();
    let endpoint: Value = res.await.unwrap().json().await.unwrap();
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    let res = app
        .request(Method::POST, "/api/v1/app/shop/msg")
        .json(&json!({"eventType": "order.paid", "eventId": "evt-1", "payload": {"order": 7}}))
        .send()
        .await
        .unwrap();
    let msg: Value = res.json().await.unwrap();
    let msg_id = msg["id"].as_str().unwrap().to_owned();
    receiver.wait_for(1, Duration::from_secs(10)).await;

    let browser = Browser::start(&chromium, &driver).await;
    browser.goto(&app.url("/")).await;
    wait_for_view(&browser, "signin", "#token").await;
    let token = browser.find("#token").await;
    browser.type_into(&token, &app.token).await;
    browser.click_on("#signin-form button").await;

    // Applications: the name is shown as text, not markup.
    wait_for_view(&browser, "apps", "#app-rows tr").await;
    assert_eq!(texts(&browser, "#app-rows tr td:first-child").await, vec!["Shop <b>"]);
    browser.click_on("#app-rows a").await;

    // The application: its endpoint with its delivery counts, and the message.
    wait_for_view(&browser, "app", "#message-rows tr").await;
    assert_eq!(texts(&browser, "#message-rows a").await, vec![msg_id.clone()]);
    assert_eq!(texts(&browser, "#endpoint-rows td:first-child").await, vec![receiver.url("/hook")]);
    let stats = eventually(Duration::from_secs(10), "the endpoint's counts", || async {
        let cells = texts(&browser, "#endpoint-rows td:nth-child(3)").await;
        cells.into_iter().find(|c| c.contains("delivered"))
    })
    .await;
    assert!(stats.starts_with("1 delivered"), "{stats}");
    browser.click_on("#message-rows a").await;

    // The message: payload, the destination, and the attempt.
    wait_for_view(&browser, "msg", "#attempt-rows tr[data-id]").await;
    let payload: Value = serde_json::from_str(&texts(&browser, "#msg-payload").await[0]).unwrap();
    assert_eq!(payload, json!({"order": 7}));
    assert_eq!(texts(&browser, "#destination-rows td:nth-child(2)").await, vec!["success"]);
    assert_eq!(texts(&browser, "#attempt-rows .code").await, vec!["HTTP 200"]);

    // Resend: a second attempt reaches the receiver and the page shows it.
    browser.click_on("#destination-rows button.resend").await;
    receiver.wait_for(2, Duration::from_secs(10)).await;
    let triggers = eventually(Duration::from_secs(10), "the resend on the page", || async {
        let cells = texts(&browser, "#attempt-rows td:last-child").await;
        (cells.len() == 2).then_some(cells)
    })
    .await;
    assert!(triggers.contains(&"manual".to_owned()), "{triggers:?}");

    // Back to the application, where the endpoint can be disabled.
    browser.goto(&app.url("/#/app/shop")).await;
    wait_for_view(&browser, "app", "#endpoint-rows button.toggle").await;
    browser.click_on("#endpoint-rows button.toggle").await;
    eventually(Duration::from_secs(10), "the endpoint disabled", || async {
        let states = texts(&browser, "#endpoint-rows td:nth-child(2)").await;
        (states == ["disabled"]).then_some(())
    })
    .await;
    let res = app.request(Method::GET, &format!("/api/v1/app/shop/endpoint/{endpoint_id}")).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["disabled"], true);

    // Adding an endpoint: a refused one says why; an accepted one is listed, and its secret
    // can be shown.
    browser.type_into(&browser.find("#endpoint-url").await, "ftp://example.com/hook").await;
    browser.click_on("#endpoint-form button").await;
    let error = eventually(Duration::from_secs(10), "the refusal", || async {
        texts(&browser, "#error").await.into_iter().find(|t| !t.is_empty())
    })
    .await;
    assert!(error.starts_with("422: url: "), "{error}");
    browser.eval("document.getElementById('endpoint-url').value = ''; return null;").await;
    browser.type_into(&browser.find("#endpoint-url").await, &receiver.url("/second")).await;
    browser.click_on("#endpoint-form button").await;
    let urls = eventually(Duration::from_secs(10), "the new endpoint", || async {
        let urls = texts(&browser, "#endpoint-rows td:first-child").await;
        (urls.len() == 2).then_some(urls)
    })
    .await;
    assert!(urls.contains(&receiver.url("/second")), "{urls:?}");
    browser.click_on(&format!("#endpoint-rows tr[data-id='{endpoint_id}'] button.reveal")).await;
    let shown = eventually(Duration::from_secs(10), "the secret", || async {
        texts(&browser, &format!("#endpoint-rows tr[data-id='{endpoint_id}'] code.secret"))
            .await
            .into_iter()
            .find(|t| t.starts_with("whsec_"))
    })
    .await;
    let secret = app.get_json(&format!("/api/v1/app/shop/endpoint/{endpoint_id}/secret")).await;
    assert_eq!(secret["key"], shown.as_str());

    // An application token, as `hookd token create --app` makes it: it must name its
    // application, and then sees it.
    let app_token = hookd_server::generate_token("sk_app_");
    let store = hookd::app::open_store(&app.config.database, 2).await.unwrap();
    let shop = store.get_application("shop").await.unwrap();
    store.create_app_token(&shop.id, &hookd_server::hash_token(&app_token), None).await.unwrap();
    store.close().await;
    browser.click_on("#signout").await;
    wait_for_view(&browser, "signin", "#token").await;
    browser.type_into(&browser.find("#token").await, &app_token).await;
    browser.click_on("#signin-form button").await;
    let error = eventually(Duration::from_secs(10), "the scope explained", || async {
        texts(&browser, "#error").await.into_iter().find(|t| !t.is_empty())
    })
    .await;
    assert!(error.contains("scoped to one application"), "{error}");
    browser.type_into(&browser.find("#token").await, &app_token).await;
    browser.type_into(&browser.find("#app-hint").await, "shop").await;
    browser.click_on("#signin-form button").await;
    wait_for_view(&browser, "app", "#message-rows tr").await;
    assert_eq!(texts(&browser, "#app-title").await, vec!["Shop <b>"]);

    // A consumer portal link, as an admin makes it through the API, signs in by itself, shows
    // its one application, and leaves no token in the address bar.
    browser.click_on("#signout").await;
    wait_for_view(&browser, "signin", "#token").await;
    let res = app.request(Method::POST, "/api/v1/auth/app-portal-access/shop").json(&json!({})).send().await.unwrap();
    let link: Value = res.json().await.unwrap();
    browser.goto(link["url"].as_str().unwrap()).await;
    wait_for_view(&browser, "app", "#message-rows tr").await;
    assert_eq!(texts(&browser, "#app-title").await, vec!["Shop <b>"]);
    assert_eq!(texts(&browser, "#crumbs a").await, Vec::<String>::new(), "no list of applications to go up to");
    let address = browser.eval("return location.href;").await;
    assert!(!address.as_str().unwrap().contains("key="), "{address}");

    browser.quit().await;
    app.stop().await;
}

/// The text of the first element matching `css` once it satisfies `ready`.
async fn text_when(browser: &Browser, css: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
    eventually(Duration::from_secs(10), what, || async { texts(browser, css).await.into_iter().find(|t| ready(t)) })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_edits_an_endpoints_filter_transformation_and_authentication() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (status, _) = app.send_json(Method::POST, "/api/v1/app", &json!({"name": "Shop", "uid": "shop"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, endpoint) =
        app.send_json(Method::POST, "/api/v1/app/shop/endpoint", &json!({"url": receiver.url("/hook")})).await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    let api_path = format!("/api/v1/app/shop/endpoint/{endpoint_id}");

    let browser = Browser::start(&chromium, &driver).await;
    browser.goto(&app.url("/")).await;
    wait_for_view(&browser, "signin", "#token").await;
    browser.type_into(&browser.find("#token").await, &app.token).await;
    browser.click_on("#signin-form button").await;
    wait_for_view(&browser, "apps", "#app-rows tr").await;
    // From the application's page, the endpoint's URL leads to its page.
    browser.goto(&app.url("/#/app/shop")).await;
    wait_for_view(&browser, "app", "#endpoint-rows a").await;
    browser.click_on("#endpoint-rows a").await;
    wait_for_view(&browser, "endpoint", "#filter-text").await;
    assert_eq!(texts(&browser, "#endpoint-title").await, vec![receiver.url("/hook")]);

    // A filter with a mistake is refused with where; a good one is saved.
    browser.type_into(&browser.find("#filter-text").await, "payload.amount >").await;
    browser.click_on("#filter-form button").await;
    let error = text_when(&browser, "#error", "the refusal", |t| !t.is_empty()).await;
    assert!(error.starts_with("422: filter: line 1, column 17"), "{error}");
    browser.eval("document.getElementById('filter-text').value = ''; return null;").await;
    browser.type_into(&browser.find("#filter-text").await, "payload.amount > 1000").await;
    browser.click_on("#filter-form button").await;
    text_when(&browser, "#filter-saved", "the filter saved", |t| t == "Saved.").await;
    assert_eq!(app.get_json(&api_path).await["filter"], "payload.amount > 1000");

    // A transformation, tried out before it is saved, then saved and enabled.
    let code = "function handler(webhook) { webhook.payload = { wrapped: webhook.payload }; return webhook; }";
    browser.type_into(&browser.find("#transformation-code").await, code).await;
    browser.eval("document.getElementById('simulate-payload').value = '{\"n\": 1}'; return null;").await;
    browser.click_on("#simulate-form button").await;
    let result = text_when(&browser, "#simulate-result", "the simulation", |t| t.contains("wrapped")).await;
    assert!(result.starts_with(&format!("POST {}", receiver.url("/hook"))), "{result}");
    assert!(result.contains("\"n\": 1"), "{result}");
    assert_eq!(app.get_json(&format!("{api_path}/transformation")).await["code"], Value::Null, "not saved by trying");
    browser.click_on("#transformation-enabled").await;
    browser.click_on("#transformation-form button").await;
    text_when(&browser, "#transformation-saved", "the transformation saved", |t| t == "Saved.").await;
    let saved = app.get_json(&format!("{api_path}/transformation")).await;
    assert_eq!((saved["code"].as_str(), saved["enabled"].clone()), (Some(code), json!(true)));

    // OAuth: saved, then shown without its secret.
    browser.type_into(&browser.find("#oauth-token-url").await, "https://auth.example.com/token").await;
    browser.type_into(&browser.find("#oauth-client-id").await, "hookd").await;
    browser.type_into(&browser.find("#oauth-client-secret").await, "s3cret").await;
    browser.click_on("#oauth-form button[type=submit]").await;
    let state = text_when(&browser, "#oauth-state", "OAuth on", |t| t.contains("tokens from")).await;
    assert_eq!(state, "OAuth: tokens from https://auth.example.com/token for client hookd.");
    let oauth = app.get_json(&format!("{api_path}/oauth")).await;
    assert_eq!(oauth["clientId"], "hookd");
    let page = browser.eval("return document.body.innerHTML;").await;
    assert!(!page.as_str().unwrap().contains("s3cret"), "the secret is not left on the page");

    // A client certificate: refused when it is not one, saved when it is.
    browser.type_into(&browser.find("#mtls-identity").await, "not a certificate").await;
    browser.click_on("#mtls-form button[type=submit]").await;
    let error = text_when(&browser, "#error", "the refusal", |t| t.contains("identity")).await;
    assert!(error.starts_with("422: identity: "), "{error}");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap().self_signed(&key).unwrap();
    let identity = format!("{}{}", key.serialize_pem(), cert.pem());
    browser.eval("document.getElementById('mtls-identity').value = ''; return null;").await;
    browser.type_into(&browser.find("#mtls-identity").await, &identity).await;
    browser.click_on("#mtls-form button[type=submit]").await;
    text_when(&browser, "#mtls-state", "the certificate set", |t| t.starts_with("Client certificate: set")).await;
    assert_eq!(app.get_json(&format!("{api_path}/mtls-config")).await["enabled"], true);
    browser.click_on("#mtls-remove").await;
    text_when(&browser, "#mtls-state", "the certificate removed", |t| t == "Client certificate: none.").await;

    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_lists_sources_shows_their_requests_and_replays_them() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (status, source) = app
        .send_json(Method::POST, "/ingest/api/v1/source", &json!({"name": "Shop <i>", "type": "generic-webhook"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{source}");
    let source_id = source["id"].as_str().unwrap().to_owned();
    let app_id = source["appId"].as_str().unwrap().to_owned();
    let ingest_url = source["ingestUrl"].as_str().unwrap().to_owned();
    let path = format!("/ingest/api/v1/source/{source_id}/endpoint");
    let (status, endpoint) = app.send_json(Method::POST, &path, &json!({"url": receiver.url("/hook")})).await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let mut msg_ids = vec![];
    for body in ["first", "second"] {
        let res = app
            .http
            .post(format!("{ingest_url}/orders?n=1"))
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let answer: Value = res.json().await.unwrap();
        msg_ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    receiver.wait_for(2, Duration::from_secs(10)).await;

    let browser = Browser::start(&chromium, &driver).await;
    browser.goto(&app.url("/")).await;
    wait_for_view(&browser, "signin", "#token").await;
    browser.type_into(&browser.find("#token").await, &app.token).await;
    browser.click_on("#signin-form button").await;

    // From the main navigation to the list: the name as text, the type, the URL to copy.
    wait_for_view(&browser, "apps", "#app-rows tr").await;
    browser.click_on("#sections a[href='#/sources']").await;
    wait_for_view(&browser, "sources", "#source-rows tr").await;
    assert_eq!(texts(&browser, "#source-rows td:first-child").await, vec!["Shop <i>"]);
    assert_eq!(texts(&browser, "#source-rows td:nth-child(2)").await, vec!["generic-webhook"]);
    assert_eq!(texts(&browser, "#source-rows code.copy").await, vec![ingest_url.clone()]);
    browser.click_on("#source-rows a").await;

    // The source: its details, its endpoint, and both requests, delivered.
    wait_for_view(&browser, "source", "#request-rows tr").await;
    assert_eq!(texts(&browser, "#source-title").await, vec!["Shop <i>"]);
    let meta = texts(&browser, "#source-meta").await.remove(0);
    assert!(meta.starts_with(&format!("generic-webhook · {source_id} · public destinations only")), "{meta}");
    assert_eq!(texts(&browser, "#source-url code.copy").await, vec![ingest_url.clone()]);
    assert_eq!(texts(&browser, "#source-endpoint-rows td:first-child").await, vec![receiver.url("/hook")]);
    let rows_script = "return Array.from(document.querySelectorAll('#request-rows tr')).map(function (r) {
           return {id: r.dataset.id,
                   link: r.querySelector('td:first-child a').getAttribute('href'),
                   verdict: r.children[1].textContent,
                   request: r.children[2].textContent,
                   state: r.querySelector('td.state').textContent};
         });";
    let rows = eventually(Duration::from_secs(10), "both requests delivered", || async {
        let rows = browser.eval(rows_script).await.as_array().unwrap().clone();
        (rows.len() == 2 && rows.iter().all(|r| r["state"] == "delivered")).then_some(rows)
    })
    .await;
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [msg_ids[1].as_str(), msg_ids[0].as_str()], "newest first");
    for (row, id) in rows.iter().zip([&msg_ids[1], &msg_ids[0]]) {
        assert_eq!(row["verdict"], "accepted");
        assert_eq!(row["request"], "POST /orders?n=1");
        assert_eq!(row["link"], format!("#/app/{app_id}/msg/{id}").as_str());
    }

    // Replay the first request: the receiver gets it a second time.
    browser.click_on(&format!("#request-rows tr[data-id='{}'] button.replay", msg_ids[0])).await;
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 3);
    assert_eq!(&got[2].body[..], b"first");
    assert_eq!(got[2].header("webhook-id"), msg_ids[0].as_str());

    // An accepted request leads to its message, with both attempts.
    let attempts = format!("/api/v1/app/{app_id}/attempt/msg/{}", msg_ids[0]);
    eventually(Duration::from_secs(10), "the replay's attempt recorded", || async {
        (app.get_json(&attempts).await["data"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    browser.click_on(&format!("#request-rows tr[data-id='{}'] a", msg_ids[0])).await;
    wait_for_view(&browser, "msg", "#attempt-rows tr[data-id]").await;
    assert!(texts(&browser, "#msg-meta").await[0].starts_with(&msg_ids[0]));
    assert_eq!(texts(&browser, "#attempt-rows .code").await, vec!["HTTP 200", "HTTP 200"]);

    // A source made with the form, with its secret: listed, and it refuses an unsigned
    // request, which its page shows with the reason.
    browser.goto(&app.url("/#/sources")).await;
    wait_for_view(&browser, "sources", "#source-rows tr").await;
    browser.type_into(&browser.find("#source-name").await, "Payments").await;
    browser.click_on("#source-type option[value='stripe']").await;
    browser.type_into(&browser.find("#source-secret").await, "whsec_stripe_test_secret").await;
    browser.click_on("#source-form button").await;
    let names = eventually(Duration::from_secs(10), "the new source listed", || async {
        let names = texts(&browser, "#source-rows td:first-child").await;
        (names.len() == 2).then_some(names)
    })
    .await;
    assert!(names.contains(&"Payments".to_owned()), "{names:?}");
    let listed = app.get_json("/ingest/api/v1/source").await;
    let payments = listed["data"].as_array().unwrap().iter().find(|s| s["name"] == "Payments").unwrap().clone();
    assert_eq!(payments["type"], "stripe");
    let res = app.http.post(payments["ingestUrl"].as_str().unwrap()).body("{}").send().await.unwrap();
    assert!(res.status().is_client_error(), "unsigned: {}", res.status());
    let payments_id = payments["id"].as_str().unwrap();
    browser.click_on(&format!("#source-rows tr[data-id='{payments_id}'] a")).await;
    wait_for_view(&browser, "source", "#request-rows tr").await;
    let state = texts(&browser, "#request-rows td.state").await.remove(0);
    assert!(state.starts_with(&format!("refused {}: ", res.status().as_u16())), "{state}");
    assert_eq!(browser.eval("return document.querySelectorAll('#request-rows button.replay').length;").await, 0);

    browser.quit().await;
    app.stop().await;
}
