//! Test harness: `spawn_app(backend)` runs the real wiring (`hookd::build` + `App::run`) on
//! 127.0.0.1 port 0 with a fresh database, and `Receiver` is a real HTTP server that records
//! what it gets and answers as told.
//!
//! PostgreSQL tests use `HOOKD_TEST_DATABASE_URL` (default: postgres://postgres@127.0.0.1:5432/postgres)
//! to create a database per test. If PostgreSQL is unreachable they are skipped (see [`skip`]),
//! except under `CI=true`, where that is a failure.

#![allow(dead_code)]

pub mod node;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use hookd::config::{Database, Role};
use hookd::Config;
use hookd_core::retry::RetrySchedule;
use svix::api::{Svix, SvixOptions};
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Postgres).await })*
        }
    };
}

/// A running hookd.
pub struct TestApp {
    pub addr: SocketAddr,
    pub token: String,
    pub svix: Svix,
    pub http: reqwest::Client,
    pub config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
    pg_database: Option<String>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A raw API request with the admin token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(&self.token)
    }

    /// `GET path` with the admin token, answered 200 with JSON: that JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let res = self.request(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    /// `method path` with a JSON body and the admin token: the status and the JSON answer
    /// (`null` when the answer has no JSON body).
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let res = self.request(method, path).json(body).send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Publishes `body` (a whole message: eventType, payload, …) to `app_id`, expecting 202;
    /// the message id.
    pub async fn publish(&self, app_id: &str, body: serde_json::Value) -> String {
        let (status, out) = self.send_json(reqwest::Method::POST, &format!("/api/v1/app/{app_id}/msg"), &body).await;
        assert_eq!(status, 202, "publish {body}: {out}");
        out["id"].as_str().unwrap().to_owned()
    }

    /// A new application with one endpoint made from `endpoint` (the endpoint's JSON);
    /// (application id, endpoint id).
    pub async fn app_and_endpoint(&self, endpoint: serde_json::Value) -> (String, String) {
        let (status, a) = self.send_json(reqwest::Method::POST, "/api/v1/app", &serde_json::json!({"name": "A"})).await;
        assert_eq!(status, 201, "{a}");
        let app_id = a["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/app/{app_id}/endpoint");
        let (status, ep) = self.send_json(reqwest::Method::POST, &path, &endpoint).await;
        assert_eq!(status, 201, "{ep}");
        (app_id, ep["id"].as_str().unwrap().to_owned())
    }

    pub fn svix_with_token(&self, token: &str) -> Svix {
        svix_client(self.addr, token)
    }

    /// Stops the node gracefully and drops its PostgreSQL database.
    /// Stops the node and starts another on the same data (data dir and database).
    pub async fn restart(mut self) -> TestApp {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
        let (addr, stop, task) = start_node(self.config.clone()).await;
        TestApp { addr, svix: svix_client(addr, &self.token), stop: Some(stop), task: Some(task), ..self }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
        if let Some(db) = self.pg_database.take() {
            drop_database(&db).await;
        }
    }
}

pub fn svix_client(addr: SocketAddr, token: &str) -> Svix {
    Svix::new(
        token.to_owned(),
        Some(SvixOptions { server_url: Some(format!("http://{addr}")), num_retries: Some(0), ..Default::default() }),
    )
}

/// A config for tests: short retries, loopback allowed, a fresh temporary data dir.
pub fn test_config(dir: &std::path::Path) -> Config {
    hookd::ServeArgs {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_path_buf()),
        admin_token: Some(ADMIN_TOKEN.into()),
        allow_subnets: vec!["127.0.0.0/8".into()],
        retry_schedule: Some("100ms,100ms".into()),
        request_timeout: Some("2s".into()),
        ..Default::default()
    }
    .resolve()
    .expect("test config is valid")
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns a node after letting the test adjust its config.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path());
    config.role = Role::All;
    let pg_database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let (url, name) = create_database().await?;
            config.database = Database::Postgres(url);
            Some(name)
        }
    };
    adjust(&mut config);
    // What `ServeArgs::resolve` enforces, kept by the adjustments too: a lane drops claimed
    // deliveries that could not finish inside their lease.
    assert!(
        config.lease >= config.request_timeout + Duration::from_secs(1),
        "test config: the lease ({:?}) must be at least 1s longer than the request timeout ({:?})",
        config.lease,
        config.request_timeout
    );
    let (addr, stop, task) = start_node(config.clone()).await;
    Some(TestApp {
        addr,
        token: ADMIN_TOKEN.into(),
        svix: svix_client(addr, ADMIN_TOKEN),
        http: reqwest::Client::new(),
        config,
        stop: Some(stop),
        task: Some(task),
        _dir: dir,
        pg_database,
    })
}

/// A node built from `config`, serving on a port of its own until told to stop.
async fn start_node(config: Config) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let node = hookd::build(config).await.expect("node builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(node.run(listener, async move {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

fn admin_url() -> String {
    std::env::var("HOOKD_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Creates a fresh database; `None` (after saying why) when PostgreSQL is unreachable
/// outside CI.
pub async fn create_database() -> Option<(String, String)> {
    use sqlx::Connection;
    let admin = admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            skip(&format!("PostgreSQL is unreachable at {admin} ({e})"));
            return None;
        }
    };
    let name = format!("hookd_test_{:016x}", rand::random::<u64>());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let url = match admin.rfind('/') {
        Some(i) => format!("{}/{name}", &admin[..i]),
        None => panic!("HOOKD_TEST_DATABASE_URL needs a database path"),
    };
    Some((url, name))
}

/// Called by a test that cannot run here (no PostgreSQL, no browser) just before it returns.
/// Under `CI=true` that is a failure. Otherwise it says so on stderr and, when
/// `HOOKD_TEST_SKIPS` names a file (`scripts/test.sh` sets it), appends the test's name
/// there, so the run's closing line counts the test as skipped rather than passed: libtest
/// itself has no way for a test to skip at run time.
pub fn skip(why: &str) {
    let test = std::thread::current().name().unwrap_or("unnamed test").to_owned();
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} cannot run: {why}; under CI=true nothing may be skipped");
    }
    eprintln!("SKIPPED: {test}: {why}");
    if let Some(file) = std::env::var_os("HOOKD_TEST_SKIPS") {
        use std::io::Write;
        let exe = std::env::current_exe().ok().and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
        let line = format!("{} {test}\n", exe.unwrap_or_default());
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        written.expect("record the skipped test in HOOKD_TEST_SKIPS");
    }
}

pub async fn drop_database(name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
    }
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Without `?`; empty when none.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// Verifies the Standard Webhooks signature with the official Svix library.
    pub fn verify(&self, secret: &str) -> Result<(), svix::webhooks::WebhookError> {
        let mut headers = http::HeaderMap::new();
        for (k, v) in &self.headers {
            headers.insert(k.clone(), v.clone());
        }
        svix::webhooks::Webhook::new(secret)?.verify(&self.body, &headers)
    }
}

/// How a receiver answers.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with extra headers.
    WithHeaders(u16, Vec<(&'static str, String)>),
    /// Does not answer until the client gives up, or until [`Receiver::release`] (then 200).
    Hang,
    /// 200, after this long.
    After(Duration),
}

struct ReceiverState {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    /// Set by `release`: hanging requests answer, and later `Hang`s answer at once.
    released: tokio::sync::watch::Sender<bool>,
}

/// A real HTTP server on 127.0.0.1 that records every request. It answers with the scripted
/// replies in order, then 200.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_with(vec![]).await
    }

    pub async fn start_with(script: Vec<Reply>) -> Self {
        let released = tokio::sync::watch::Sender::new(false);
        let state = Arc::new(Mutex::new(ReceiverState { received: vec![], script: script.into(), released }));
        let app = axum::Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn script(&self, replies: Vec<Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Ends every hanging request (answered 200) and makes later `Hang` replies answer at once,
    /// so that a node stopping afterwards has no attempt left to wait for.
    pub fn release(&self) {
        self.state.lock().unwrap().released.send_replace(true);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` requests arrived, or panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "expected {n} requests, got {} within {timeout:?}", got.len());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn record(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let (reply, mut released) = {
        let mut s = state.lock().unwrap();
        s.received.push(Received {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            headers,
            body,
            at: Instant::now(),
        });
        (s.script.pop_front().unwrap_or(Reply::Status(200)), s.released.subscribe())
    };
    match reply {
        Reply::Status(code) => (StatusCode::from_u16(code).unwrap(), "receiver says hi").into_response(),
        Reply::WithHeaders(code, headers) => {
            let mut response = (StatusCode::from_u16(code).unwrap(), "scripted").into_response();
            for (k, v) in headers {
                response.headers_mut().insert(k, v.parse().unwrap());
            }
            response
        }
        Reply::After(delay) => {
            tokio::time::sleep(delay).await;
            StatusCode::OK.into_response()
        }
        Reply::Hang => {
            let _ = tokio::time::timeout(Duration::from_secs(3600), released.wait_for(|r| *r)).await;
            StatusCode::OK.into_response()
        }
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A retry schedule for tests.
pub fn schedule(s: &str) -> RetrySchedule {
    RetrySchedule::parse(s).unwrap()
}

/// The text values `sql` selects (one column), read straight from the database, around hookd.
pub async fn raw(database: &Database, sql: &str) -> Vec<Option<String>> {
    use sqlx::Connection;
    match database {
        Database::Sqlite(path) => {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
        Database::Postgres(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
    }
}
