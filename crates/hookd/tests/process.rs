//! The real `hookd` binary as a process: exit codes, the generated admin token, SIGTERM,
//! SIGKILL in the middle of a burst followed by a restart, and `hookd token create`.

mod common;

use std::time::Duration;

use common::node::{hookd, Node};
use common::{Backend, Receiver};
use serde_json::{json, Value};

const TOKEN: &str = "process-test-admin-token";

on_both_backends!(
    sigkill_during_a_burst_loses_no_accepted_message,
    a_crash_between_commit_and_answer_never_publishes_a_keyed_retry_twice,
    a_source_commits_before_it_answers_and_a_providers_retry_is_not_stored_twice
);

#[test]
fn bad_usage_and_config_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let cases: [&[&str]; 7] = [
        &["serve", "--listen", "nope", "--data-dir", data],
        &["serve", "--retry-schedule", "5s,whenever", "--data-dir", data],
        &["serve", "--allow-subnet", "300.0.0.0/8", "--data-dir", data],
        &["serve", "--database-url", "postgres://postgres@127.0.0.1:1/none", "--data-dir", data],
        &["serve", "--proxy", "socks5://127.0.0.1:1080", "--data-dir", data],
        &["serve", "--proxy", "not a url", "--data-dir", data],
        &["serve", "--no-such-flag"],
    ];
    for args in cases {
        let out = hookd(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if args[1] != "--no-such-flag" {
            assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
            assert!(stderr.starts_with("hookd: "), "{stderr}");
        }
    }
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "listen = 5\n").unwrap();
    let out = hookd(&["serve", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
}

#[tokio::test]
async fn first_start_prints_a_generated_token_and_sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), &[]);
    let printed = {
        let mut token = None;
        for _ in 0..2 {
            let line = node.stdout.recv_timeout(Duration::from_secs(5)).unwrap();
            if line.trim().starts_with("sk_") {
                token = Some(line.trim().to_owned());
            }
        }
        token.expect("token printed")
    };
    let kept = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    assert_eq!(kept, printed);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("admin-token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let client = reqwest::Client::new();
    let res = client.get(node.url("/api/v1/app")).bearer_auth(&printed).send().await.unwrap();
    assert_eq!(res.status(), 200);
    node.signal("-TERM");
    assert_eq!(node.wait_exit().code(), Some(0));

    // A second start reuses the kept token and prints nothing.
    let mut node = Node::start(dir.path(), &[]);
    let res = client.get(node.url("/api/v1/app")).bearer_auth(&printed).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(node.stdout.try_recv().is_err(), "no token printed the second time");
    node.signal("-TERM");
    assert_eq!(node.wait_exit().code(), Some(0));
}

/// A backup of a stopped hookd is a copy of its files: SIGTERM closes every connection to
/// the SQLite database, the group commit's own included, so the last one to close folds the
/// write-ahead log into `hookd.db` and removes it. A copy of `hookd.db` alone (with the main
/// key, and none of SQLite's side files) then holds every accepted message.
#[tokio::test]
async fn a_stopped_node_leaves_its_whole_database_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), &["--admin-token", TOKEN]);
    let client = reqwest::Client::new();
    node.create_app(&client, TOKEN).await;
    for n in 0..50 {
        let res = client
            .post(node.url("/api/v1/app/a/msg"))
            .bearer_auth(TOKEN)
            .header("idempotency-key", format!("key-{n}"))
            .json(&json!({"eventType": "e", "payload": {"n": n}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
    }
    node.signal("-TERM");
    assert_eq!(node.wait_exit().code(), Some(0));
    let wal = dir.path().join("hookd.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0, "the log was left beside the database");

    let copy = tempfile::tempdir().unwrap();
    for file in ["hookd.db", "main-key"] {
        std::fs::copy(dir.path().join(file), copy.path().join(file)).unwrap();
    }
    let mut node = Node::start(copy.path(), &["--admin-token", TOKEN]);
    let page = node.get_json(&client, TOKEN, "/api/v1/app/a/msg?limit=250").await;
    let mut seen: Vec<i64> =
        page["data"].as_array().unwrap().iter().map(|m| m["payload"]["n"].as_i64().unwrap()).collect();
    seen.sort();
    assert_eq!(seen, (0..50).collect::<Vec<_>>());
    node.signal("-TERM");
    assert_eq!(node.wait_exit().code(), Some(0));
}

#[tokio::test]
async fn token_create_makes_an_application_scoped_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), &["--admin-token", TOKEN]);
    let client = reqwest::Client::new();
    for uid in ["mine", "other"] {
        let res = client
            .post(node.url("/api/v1/app"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": uid, "uid": uid}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let out = hookd(&["token", "create", "--app", "mine", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("sk_app_"));
    let res = client.get(node.url("/api/v1/app/mine")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = client.get(node.url("/api/v1/app/other")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let out = hookd(&["token", "create", "--app", "nobody", "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));

    // A second node on the same SQLite data dir is refused.
    let out = hookd(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        TOKEN,
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another hookd"));

    // The main key: `main-key new` prints one; `main-key rotate` puts a new one first in the
    // data dir's key file while the node serves, and the node goes on reading what it sealed.
    let out = hookd(&["main-key", "new"]);
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(hookd_core::sealing::Sealer::from_text(printed.trim()).is_ok(), "{printed}");
    let res = client
        .post(node.url("/api/v1/app/mine/endpoint"))
        .bearer_auth(TOKEN)
        .json(&json!({"url": "https://example.com/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let endpoint: serde_json::Value = res.json().await.unwrap();
    let out = hookd(&["main-key", "rotate", "--data-dir", dir.path().to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.contains("secrets sealed under it"), "{said}");
    let keys = std::fs::read_to_string(dir.path().join("main-key")).unwrap();
    assert_eq!(keys.lines().filter(|l| !l.trim().is_empty()).count(), 2, "the new key, then the old one");
    let secret_path = format!("/api/v1/app/mine/endpoint/{}/secret", endpoint["id"].as_str().unwrap());
    let res = client.get(node.url(&secret_path)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["key"], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");

    node.signal("-TERM");
    assert_eq!(node.wait_exit().code(), Some(0));
}

/// The database of a test's nodes: SQLite in their data dir, or a fresh PostgreSQL database.
struct TestDb(Option<(String, String)>);

impl TestDb {
    /// `None` when the backend is not there (the test is then skipped).
    async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self(None)),
            Backend::Postgres => common::create_database().await.map(|db| Self(Some(db))),
        }
    }

    /// `hookd serve` flags: the admin token and, on PostgreSQL, the database URL.
    fn flags(&self) -> Vec<&str> {
        let mut flags = vec!["--admin-token", TOKEN];
        if let Some((url, _)) = &self.0 {
            flags.extend(["--database-url", url.as_str()]);
        }
        flags
    }

    async fn drop(self) {
        if let Some((_, name)) = self.0 {
            common::drop_database(&name).await;
        }
    }
}

async fn sigkill_during_a_burst_loses_no_accepted_message(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = TestDb::new(backend).await else { return };
    let extra = db.flags();
    let receiver = Receiver::start().await;
    let mut node = Node::start(dir.path(), &extra);
    let client = reqwest::Client::new();
    node.create_app(&client, TOKEN).await;
    let res = client
        .post(node.url("/api/v1/app/a/endpoint"))
        .bearer_auth(TOKEN)
        .json(&json!({"url": receiver.url("/")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // 8 publishers; the node is killed once 150 messages were accepted.
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut publishers = tokio::task::JoinSet::new();
    for p in 0..8 {
        let (client, url, tx) = (client.clone(), node.url("/api/v1/app/a/msg"), accepted_tx.clone());
        publishers.spawn(async move {
            for i in 0..100 {
                let sent = client
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"eventType": "burst", "payload": {"p": p, "i": i}}))
                    .send()
                    .await;
                match sent {
                    Ok(res) if res.status() == 202 => {
                        let body: Value = res.json().await.unwrap();
                        let _ = tx.send(body["id"].as_str().unwrap().to_owned());
                    }
                    _ => break, // the node is gone
                }
            }
        });
    }
    drop(accepted_tx);
    let mut accepted = std::collections::HashSet::new();
    while let Some(id) = accepted_rx.recv().await {
        accepted.insert(id);
        if accepted.len() == 150 {
            node.child.kill().unwrap(); // SIGKILL
            node.child.wait().unwrap();
        }
    }
    while publishers.join_next().await.is_some() {}
    assert!(accepted.len() >= 150, "the burst reached the kill point");

    let mut node = Node::start(dir.path(), &extra);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: std::collections::HashSet<String> =
            receiver.received().iter().map(|r| r.header("webhook-id").to_owned()).collect();
        let missing: Vec<_> = accepted.iter().filter(|id| !delivered.contains(*id)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} accepted messages never arrived, e.g. {:?}",
            missing.len(),
            missing[0]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = receiver.received().len();
    println!(
        "accepted {} messages before SIGKILL; {} deliveries arrived ({} duplicates)",
        accepted.len(),
        total,
        total - accepted.len()
    );
    node.signal("-TERM");
    assert_eq!(node.wait_exit().code(), Some(0));
    db.drop().await;
}

/// The node dies after a publish's commit and before its answer (a test-only failpoint,
/// `HOOKD_FAILPOINT=publish-committed`): the client got no answer and retries with its
/// idempotency key, as the SDKs do. The retry gets the message that was stored, and no second
/// one is made. Without a key the same retry publishes again, which shows the failpoint sits
/// where a lost answer can cause a duplicate.
async fn a_crash_between_commit_and_answer_never_publishes_a_keyed_retry_twice(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = TestDb::new(backend).await else { return };
    let extra = db.flags();
    let client = reqwest::Client::new();
    let publish = |node: &Node, key: Option<&str>| {
        let mut req = client.post(node.url("/api/v1/app/a/msg")).bearer_auth(TOKEN);
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        req.json(&json!({"eventType": "order.paid", "payload": {"order": 7}})).send()
    };

    let mut node = Node::start_with_env(dir.path(), &extra, &[("HOOKD_FAILPOINT", "publish-committed")], &[]);
    node.create_app(&client, TOKEN).await;
    assert!(publish(&node, Some("order-7")).await.is_err(), "the node died before answering");
    assert!(!node.wait_exit().success());

    let mut node = Node::start_with_env(dir.path(), &extra, &[("HOOKD_FAILPOINT", "publish-committed")], &[]);
    assert!(publish(&node, None).await.is_err(), "the keyless publish was committed, then the node died");
    node.wait_exit();

    let mut node = Node::start(dir.path(), &extra);
    let retried = publish(&node, Some("order-7")).await.unwrap();
    assert_eq!(retried.status(), 202);
    let retried: Value = retried.json().await.unwrap();
    let listed = node.get_json(&client, TOKEN, "/api/v1/app/a/msg").await;
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "the keyed publish once, the keyless one once: {ids:?}");
    assert!(ids.contains(&retried["id"].as_str().unwrap()), "the retry answered with the stored message");
    let again = publish(&node, None).await.unwrap();
    assert_eq!(again.status(), 202);
    node.signal("-TERM");
    assert_eq!(node.wait_exit().code(), Some(0));
    db.drop().await;
}

/// A source answers a provider only once the request is committed: the node dies after the
/// commit and before the answer (`HOOKD_FAILPOINT=ingest-committed`), the provider got no
/// answer and sends the same delivery again, as providers do. The request was kept, and the
/// retry (same `X-GitHub-Delivery`) is answered with it instead of being stored again.
async fn a_source_commits_before_it_answers_and_a_providers_retry_is_not_stored_twice(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = TestDb::new(backend).await else { return };
    let extra = db.flags();
    let client = reqwest::Client::new();
    let mut node = Node::start(dir.path(), &extra);
    let res = client
        .post(node.url("/ingest/api/v1/source"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "GitHub", "uid": "gh", "type": "github"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let source: Value = res.json().await.unwrap();
    let path = source["ingestUrl"].as_str().unwrap().split("/in/").nth(1).unwrap().to_owned();
    node.signal("-TERM");
    assert_eq!(node.wait_exit().code(), Some(0));
    let deliver = |node: &Node| {
        client
            .post(node.url(&format!("/in/{path}")))
            .header("x-github-event", "push")
            .header("x-github-delivery", "delivery-1")
            .header("content-type", "application/json")
            .body(r#"{"ref":"main"}"#)
            .send()
    };

    let mut node = Node::start_with_env(dir.path(), &extra, &[("HOOKD_FAILPOINT", "ingest-committed")], &[]);
    assert!(deliver(&node).await.is_err(), "the node died before answering");
    assert!(!node.wait_exit().success());

    let mut node = Node::start(dir.path(), &extra);
    let retried = deliver(&node).await.unwrap();
    assert_eq!(retried.status(), 200);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["duplicate"], true, "the first one was committed: {retried}");
    let listed: Value = client
        .get(node.url("/ingest/api/v1/source/gh/request"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [retried["id"].as_str().unwrap()], "stored once, answered with it");
    node.signal("-TERM");
    assert_eq!(node.wait_exit().code(), Some(0));
    db.drop().await;
}
