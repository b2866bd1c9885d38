//! What leaves the process, tested on the real binary: outbound requests (deliveries and the
//! tester's replay) never take a proxy from the environment, which would let every private
//! target through the SSRF guard, which then sees only the proxy's address; an egress proxy
//! is used only when given with `--proxy`, and the guard still refuses private IP literals
//! under it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::node::Node;
use common::{eventually, Receiver};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const TOKEN: &str = "egress-test-admin-token";
const WAIT: Duration = Duration::from_secs(15);

/// A forward HTTP proxy that records the request line of every request it gets and answers
/// each one 200 itself (it never connects anywhere).
#[derive(Clone)]
struct RecordingProxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl RecordingProxy {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<String>>> = Default::default();
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        let (mut first, mut line, mut length) = (String::new(), String::new(), 0usize);
                        if stream.read_line(&mut first).await.unwrap_or(0) == 0 {
                            return;
                        }
                        record.lock().unwrap().push(first.trim_end().to_owned());
                        while stream.read_line(&mut line).await.unwrap_or(0) > 2 {
                            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                            line.clear();
                        }
                        let mut body = vec![0; length];
                        if stream.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nproxied!";
                        if stream.get_mut().write_all(ok).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn post(node: &Node, path: &str, body: Value) -> Value {
    let res = reqwest::Client::new().post(node.url(path)).bearer_auth(TOKEN).json(&body).send().await.unwrap();
    assert!(res.status().is_success(), "POST {path}: {}", res.status());
    res.json().await.unwrap()
}

async fn get(node: &Node, path: &str) -> Value {
    let res = reqwest::Client::new().get(node.url(path)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.unwrap()
}

/// The attempts of a message, once it has `n`.
async fn attempts(node: &Node, msg: &str, n: usize) -> Vec<Value> {
    eventually(WAIT, "the attempts", || async {
        let list = get(node, &format!("/api/v1/app/a/attempt/msg/{msg}")).await;
        let data = list["data"].as_array().unwrap().clone();
        (data.len() >= n).then_some(data)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_variables_in_the_environment_are_never_used() {
    let proxy = RecordingProxy::start().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let variables = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"];
    let env: Vec<(&str, &str)> = variables.iter().map(|v| (*v, proxy.url.as_str())).collect();
    let mut node = Node::start_with_env(dir.path(), &["--admin-token", TOKEN], &env, &["NO_PROXY", "no_proxy"]);

    // A delivery goes straight to the receiver.
    post(&node, "/api/v1/app", json!({"name": "A", "uid": "a"})).await;
    post(&node, "/api/v1/app/a/endpoint", json!({"url": receiver.url("/direct")})).await;
    let msg = post(&node, "/api/v1/app/a/msg", json!({"eventType": "e", "payload": {"n": 1}})).await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].path, "/direct");
    assert_eq!(attempts(&node, msg["id"].as_str().unwrap(), 1).await[0]["responseStatusCode"], 200);

    // So does the tester's replay of a captured request.
    let inbox = post(&node, "/api/v1/inbox", json!({})).await;
    let captured = reqwest::Client::new().post(inbox["url"].as_str().unwrap()).body("hello").send().await.unwrap();
    assert!(captured.status().is_success());
    let inbox_id = inbox["id"].as_str().unwrap();
    let requests = get(&node, &format!("/api/v1/inbox/{inbox_id}/request")).await;
    let rid = requests["data"][0]["id"].as_str().unwrap().to_owned();
    let replay = post(
        &node,
        &format!("/api/v1/inbox/{inbox_id}/request/{rid}/replay"),
        json!({"url": receiver.url("/replayed")}),
    )
    .await;
    assert_eq!(replay["status"], 200, "{replay}");
    assert_eq!(receiver.wait_for(2, WAIT).await[1].path, "/replayed");

    assert_eq!(proxy.seen(), Vec::<String>::new(), "nothing went through the environment's proxy");
    node.signal("-TERM");
    assert_eq!(node.wait_exit().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_proxy_carries_deliveries_and_the_guard_still_refuses_private_literals() {
    let proxy = RecordingProxy::start().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), &["--admin-token", TOKEN, "--proxy", &proxy.url]);

    post(&node, "/api/v1/app", json!({"name": "A", "uid": "a"})).await;
    post(&node, "/api/v1/app/a/endpoint", json!({"url": receiver.url("/via-proxy"), "uid": "allowed"})).await;
    let msg = post(&node, "/api/v1/app/a/msg", json!({"eventType": "e", "payload": {}})).await;
    let attempt = &attempts(&node, msg["id"].as_str().unwrap(), 1).await[0];
    assert_eq!(attempt["responseStatusCode"], 200);
    assert_eq!(attempt["response"], "proxied!", "the proxy answered");
    let seen = proxy.seen();
    assert_eq!(seen, [format!("POST {} HTTP/1.1", receiver.url("/via-proxy"))]);
    assert!(receiver.received().is_empty(), "the receiver was reached only through the proxy");

    // 10.0.0.0/8 is not allowed (only 127.0.0.0/8 is): refused before the proxy is asked.
    let res = reqwest::Client::new()
        .patch(node.url("/api/v1/app/a/endpoint/allowed"))
        .bearer_auth(TOKEN)
        .json(&json!({"url": "http://10.20.30.40/private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let msg = post(&node, "/api/v1/app/a/msg", json!({"eventType": "e", "payload": {}})).await;
    let attempt = &attempts(&node, msg["id"].as_str().unwrap(), 1).await[0];
    let error = attempt["error"].as_str().unwrap_or_default();
    assert!(attempt["responseStatusCode"] == 0 && error.contains("SSRF"), "{attempt}");
    assert_eq!(proxy.seen().len(), 1, "the private target never reached the proxy");
    node.signal("-TERM");
    assert_eq!(node.wait_exit().code(), Some(0));
}
