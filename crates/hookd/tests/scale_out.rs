//! Several nodes on one PostgreSQL database: shared work, a node killed mid-run, and the
//! database going away and coming back. PostgreSQL only (skipped with a message when it is
//! unreachable, a failure under CI=true).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::node::Node;
use common::{create_database, drop_database, spawn_app_with, Backend, Receiver, Reply};
use hookd_core::EndpointId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "scale-out-test-admin-token";
const MESSAGES: usize = 10_000;
const ENDPOINTS: usize = 6;
const CONCURRENCY: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_the_work_and_survive_a_sigkill() {
    let Some((url, db)) = create_database().await else { return };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // Nodes on one database share its main key (a node with another refuses to start).
    let main_key = hookd_core::sealing::new_main_key();
    let extra = ["--admin-token", TOKEN, "--database-url", url.as_str(), "--main-key", main_key.as_str()];
    let mut nodes: Vec<Node> = dirs.iter().map(|d| Node::start(d.path(), &extra)).collect();
    let client = reqwest::Client::new();
    let receiver = Receiver::start().await;

    nodes[0].create_app(&client, TOKEN).await;
    // Each message goes to one of six endpoints (by channel), so all nodes get endpoints to work.
    for i in 0..ENDPOINTS {
        let body = json!({"url": receiver.url(&format!("/ep/{i}")), "channels": [format!("c{i}")]});
        let res =
            client.post(nodes[0].url("/api/v1/app/a/endpoint")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201);
    }

    let urls: Vec<String> = nodes.iter().map(|n| n.url("/api/v1/app/a/msg")).collect();
    let killed = Arc::new(AtomicBool::new(false));
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut publishers = tokio::task::JoinSet::new();
    for p in 0..CONCURRENCY {
        let (client, urls, tx, killed) = (client.clone(), urls.clone(), accepted_tx.clone(), killed.clone());
        publishers.spawn(async move {
            for i in (p..MESSAGES).step_by(CONCURRENCY) {
                // Round-robin over the nodes; once node 0 is dead, over the other two.
                let mut node = i % 3;
                if node == 0 && killed.load(Ordering::Relaxed) {
                    node = 1 + i % 2;
                }
                let body =
                    json!({"eventType": "load", "payload": {"i": i}, "channels": [format!("c{}", i % ENDPOINTS)]});
                let res = client.post(&urls[node]).bearer_auth(TOKEN).json(&body).send().await;
                match res {
                    Ok(res) if res.status() == StatusCode::ACCEPTED => {
                        let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
                        tx.send(id).unwrap();
                    }
                    // A publish cut off by the kill was never accepted: not counted.
                    _ if node == 0 => {}
                    other => panic!("publish to a live node failed: {other:?}"),
                }
            }
        });
    }
    drop(accepted_tx);
    let mut accepted = std::collections::HashSet::new();
    while let Some(id) = accepted_rx.recv().await {
        accepted.insert(id);
        if accepted.len() == MESSAGES / 3 && !killed.load(Ordering::Relaxed) {
            killed.store(true, Ordering::Relaxed);
            nodes[0].child.kill().unwrap(); // SIGKILL, mid-delivery
            nodes[0].child.wait().unwrap();
        }
    }
    while let Some(done) = publishers.join_next().await {
        done.unwrap();
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    let counts = loop {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in receiver.received() {
            *counts.entry(r.header("webhook-id").to_owned()).or_default() += 1;
        }
        let missing = accepted.iter().filter(|id| !counts.contains_key(*id)).count();
        if missing == 0 {
            break counts;
        }
        assert!(Instant::now() < deadline, "{missing} of {} accepted messages never arrived", accepted.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    println!("{} messages accepted by 3 nodes (one SIGKILLed), all delivered; {duplicates} duplicates", accepted.len());
    // Only attempts in flight on the killed node can repeat: sent but not yet recorded, at most
    // a lane's 8 attempts sending plus 4 rounds of 8 answered ones waiting for the recorder,
    // per endpoint.
    assert!(duplicates <= ENDPOINTS * 8 * 5, "{duplicates} duplicates");
    for node in &mut nodes[1..] {
        node.signal("-TERM");
        assert_eq!(node.wait_exit().code(), Some(0));
    }
    drop_database(&db).await;
}

/// Two nodes publish as fast as they can to one slow endpoint, whose lane (on one node) is
/// full all along: the endpoint has a backlog, which the lane takes from the application's
/// log while the other node's publish batches commit in whatever order (`backlog.rs`). Every
/// accepted message arrives: none committed behind the backlog's mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_taken_while_two_nodes_publish_loses_nothing() {
    const MESSAGES: usize = 2_000;
    let Some((url, db)) = create_database().await else { return };
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let main_key = hookd_core::sealing::new_main_key();
    let extra = ["--admin-token", TOKEN, "--database-url", url.as_str(), "--main-key", main_key.as_str()];
    let client = reqwest::Client::new();
    // 40 ms an answer (at most 200 deliveries a second through 8 connections), except that
    // after the first message the endpoint hangs until released: its lane fills and it gets a
    // backlog however fast this machine publishes, which it then takes while both nodes
    // publish.
    let mut script = vec![Reply::After(Duration::from_millis(40))];
    script.extend(vec![Reply::Hang; 8]);
    script.extend(vec![Reply::After(Duration::from_millis(40)); MESSAGES]);
    let receiver = Receiver::start_with(script).await;
    // The endpoint's lane runs on the first node: the only node when it first gets a message.
    let mut nodes = vec![Node::start(dirs[0].path(), &extra)];
    nodes[0].create_app(&client, TOKEN).await;
    let res = client
        .post(nodes[0].url("/api/v1/app/a/endpoint"))
        .bearer_auth(TOKEN)
        .json(&json!({"url": receiver.url("/slow")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body = json!({"eventType": "load", "payload": {"i": -1}});
    let res = client.post(nodes[0].url("/api/v1/app/a/msg")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    receiver.wait_for(1, Duration::from_secs(10)).await;
    // The second node's publish batches wait 30 ms between numbering their messages and
    // committing: the first node's commit past them meanwhile.
    let pause = [("HOOKD_TEST_PAUSE", "publish-messages-stored:30")];
    nodes.push(Node::start_with_env(dirs[1].path(), &extra, &pause, &[]));
    let urls: Vec<String> = nodes.iter().map(|n| n.url("/api/v1/app/a/msg")).collect();
    let mut publishers = tokio::task::JoinSet::new();
    for p in 0..CONCURRENCY {
        let (client, urls) = (client.clone(), urls.clone());
        publishers.spawn(async move {
            let mut ids = Vec::new();
            // Half the publishers on each node: the first's alone outpace the endpoint.
            for i in (p..MESSAGES).step_by(CONCURRENCY) {
                let body = json!({"eventType": "load", "payload": {"i": i}});
                let res = client.post(&urls[p % 2]).bearer_auth(TOKEN).json(&body).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::ACCEPTED);
                ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
            }
            ids
        });
    }
    // Whether the endpoint fell behind (its lane took from a backlog), looked at meanwhile.
    let watcher = {
        let url = url.clone();
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let sql = "SELECT COUNT(*) FROM endpoint_queues WHERE backlog_after IS NOT NULL";
            loop {
                let marks: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
                if marks > 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(60), watcher)
        .await
        .expect("no backlog was seen: the test did not test it")
        .unwrap();
    receiver.release();
    let mut accepted = std::collections::HashSet::new();
    while let Some(ids) = publishers.join_next().await {
        accepted.extend(ids.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: std::collections::HashSet<String> =
            receiver.received().iter().map(|r| r.header("webhook-id").to_owned()).collect();
        let missing = accepted.iter().filter(|id| !got.contains(*id)).count();
        if missing == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{missing} of {} accepted messages never arrived", accepted.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in &mut nodes {
        node.signal("-TERM");
        assert_eq!(node.wait_exit().code(), Some(0));
    }
    drop_database(&db).await;
}

/// A TCP proxy in front of PostgreSQL that the test can cut and restore.
struct Outage {
    up: Arc<AtomicBool>,
    port: u16,
}

impl Outage {
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (target, flag) = (target.to_owned(), up.clone());
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let (target, flag) = (target.clone(), flag.clone());
                tokio::spawn(async move {
                    if !flag.load(Ordering::Relaxed) {
                        return; // refused: the connection is dropped at once
                    }
                    let Ok(server) = TcpStream::connect(&target).await else { return };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let watch = flag.clone();
                    // Copy both ways until either side closes or the outage starts.
                    tokio::select! {
                        _ = tokio::io::copy(&mut cr, &mut sw) => {}
                        _ = tokio::io::copy(&mut sr, &mut cw) => {}
                        _ = async { while watch.load(Ordering::Relaxed) { tokio::time::sleep(Duration::from_millis(20)).await } } => {}
                    }
                });
            }
        });
        Self { up, port }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_gives_fast_503s_and_recovers_without_restart() {
    let Some((url, db)) = create_database().await else { return };
    let parsed = url::Url::parse(&url).unwrap();
    let target = format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap_or(5432));
    let outage = Outage::start(&target).await;
    let mut proxied = parsed.clone();
    proxied.set_port(Some(outage.port)).unwrap();
    let Some(app) = spawn_app_with(Backend::Postgres, |c| {
        c.database = hookd::config::Database::Postgres(proxied.to_string());
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start().await;
    let res = app.request(Method::POST, "/api/v1/app").json(&json!({"name": "A", "uid": "a"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let res = app
        .request(Method::POST, "/api/v1/app/a/endpoint")
        .json(&json!({"url": receiver.url("/")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    outage.up.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let res = app
        .request(Method::POST, "/api/v1/app/a/msg")
        .json(&json!({"eventType": "e", "payload": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "unavailable");
    // Bounded by the pool's 5 s acquire timeout (twice that allowed), not left hanging.
    assert!(started.elapsed() < Duration::from_secs(10), "failed fast enough: {:?}", started.elapsed());
    let health = app.http.get(app.url("/api/v1/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);

    outage.up.store(true, Ordering::Relaxed);
    common::eventually(Duration::from_secs(30), "the API working again", || async {
        let res = app
            .request(Method::POST, "/api/v1/app/a/msg")
            .json(&json!({"eventType": "e", "payload": {"after": true}}))
            .send()
            .await
            .ok()?;
        (res.status() == StatusCode::ACCEPTED).then_some(())
    })
    .await;
    let got = receiver.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(got[0].json(), json!({"after": true}));
    app.stop().await;
    drop_database(&db).await;
}

/// A node's `DeliveryListener` that only records what it is told: the endpoints that have
/// work due, those that changed, and how often announcements may have been missed.
#[derive(Default)]
struct DueRecorder(std::sync::Mutex<Vec<EndpointId>>, std::sync::Mutex<Vec<EndpointId>>, AtomicUsize);

#[async_trait::async_trait]
impl hookd_store::DeliveryListener for DueRecorder {
    fn deliveries_due(&self, endpoint_ids: &[EndpointId]) {
        self.0.lock().unwrap().extend(endpoint_ids.iter().cloned());
    }

    fn endpoint_changed(&self, endpoint_id: &EndpointId) {
        self.1.lock().unwrap().push(endpoint_id.clone());
    }

    fn announcements_missed(&self) {
        self.2.fetch_add(1, Ordering::Relaxed);
    }

    async fn begin_handover(&self) -> Box<dyn hookd_store::Handover> {
        Box::new(NoLanes)
    }
}

impl DueRecorder {
    /// Waits until exactly these endpoints were announced changed, and forgets them.
    async fn changed(&self, ids: &[&EndpointId], what: &str) {
        let mut want: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        want.sort();
        common::eventually(Duration::from_secs(10), what, || async {
            let mut heard = self.1.lock().unwrap();
            let mut got: Vec<&str> = heard.iter().map(EndpointId::as_str).collect();
            got.sort();
            let done = got == want;
            if done {
                heard.clear();
            }
            done.then_some(())
        })
        .await;
    }
}

/// A node's store on the database at `url`, telling `listener` what it hears.
async fn open_node(url: &str, listener: Option<Arc<dyn hookd_store::DeliveryListener>>) -> hookd_store::Store {
    let options = hookd_store::StoreOptions { max_connections: 4, listener, ..Default::default() };
    hookd_store::Store::open_url(url, &options).await.unwrap()
}

/// No lane of this node takes anything straight from a publish.
struct NoLanes;

impl hookd_store::Handover for NoLanes {
    fn reserve(&self, _endpoint_id: &EndpointId) -> hookd_store::Room {
        hookd_store::Room::None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_on_one_node_wakes_the_other_nodes() {
    // Two stores on one database, as two nodes have: what one commits due, the other's
    // listener hears of (a PostgreSQL NOTIFY), so a lane there does not wait for its next look.
    let Some((url, db)) = create_database().await else { return };
    let heard = Arc::new(DueRecorder::default());
    let other = open_node(&url, Some(heard.clone())).await;
    let publisher = open_node(&url, Some(Arc::new(DueRecorder::default()))).await;
    let app_id = hookd_core::ApplicationId::generate();
    let app = hookd_store::ApplicationData { name: "A".into(), ..Default::default() };
    publisher.create_application(&app_id, &app).await.unwrap();
    let endpoint_id = EndpointId::generate();
    let endpoint = hookd_store::EndpointData { url: "https://example.com/".into(), ..Default::default() };
    publisher
        .create_endpoint(&app_id, &endpoint_id, &endpoint, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .await
        .unwrap();
    let message = hookd_store::NewMessage { event_type: "e.t".into(), payload: "{}".into(), ..Default::default() };
    publisher.publish(&app_id, &message, None).await.unwrap();
    common::eventually(Duration::from_secs(10), "the other node hears of the due endpoint", || async {
        heard.0.lock().unwrap().contains(&endpoint_id).then_some(())
    })
    .await;
    // So with what makes deliveries due again: here a resend.
    heard.0.lock().unwrap().clear();
    publisher.queue_resend(&app_id, &message.id, &endpoint_id).await.unwrap();
    common::eventually(Duration::from_secs(10), "the other node hears of the resend", || async {
        heard.0.lock().unwrap().contains(&endpoint_id).then_some(())
    })
    .await;
    other.close().await;
    publisher.close().await;
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_reaches_the_other_nodes_lanes() {
    // Lanes keep their endpoint's settings and re-read them only when told (or rarely, as a
    // safety net): an endpoint or application changed on one node is announced to the others,
    // and a node whose listening connection was lost says it may have missed announcements.
    let Some((url, db)) = create_database().await else { return };
    let heard = Arc::new(DueRecorder::default());
    let other = open_node(&url, Some(heard.clone())).await;
    let changer = open_node(&url, None).await;
    common::eventually(Duration::from_secs(10), "the other node listening", || async {
        (heard.2.load(Ordering::Relaxed) == 1).then_some(())
    })
    .await;
    let app_id = hookd_core::ApplicationId::generate();
    let app = hookd_store::ApplicationData { name: "A".into(), ..Default::default() };
    changer.create_application(&app_id, &app).await.unwrap();
    let (first, second) = (EndpointId::generate(), EndpointId::generate());
    let endpoint = hookd_store::EndpointData { url: "https://example.com/".into(), ..Default::default() };
    for id in [&first, &second] {
        changer.create_endpoint(&app_id, id, &endpoint, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await.unwrap();
    }
    let moved = hookd_store::EndpointData { url: "https://example.com/moved".into(), ..endpoint.clone() };
    changer.update_endpoint(&first, &moved).await.unwrap();
    heard.changed(&[&first], "an endpoint updated").await;
    changer.rotate_endpoint_secret(&first, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", 0).await.unwrap();
    heard.changed(&[&first], "a secret rotated").await;
    let limited = hookd_store::ApplicationData { throttle_rate: Some(10), ..app };
    changer.update_application(&app_id, &limited).await.unwrap();
    heard.changed(&[&first, &second], "an application's rate limit, for each of its endpoints").await;
    changer.delete_endpoint(&second).await.unwrap();
    heard.changed(&[&second], "an endpoint deleted").await;
    changer.delete_application(&app_id).await.unwrap();
    heard.changed(&[&first], "an application deleted, with its endpoints").await;
    assert!(heard.0.lock().unwrap().is_empty(), "a change is not announced as due work");

    // The listening connection lost: once it is back, the node says what it may have missed.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'")
        .execute(&pool)
        .await
        .unwrap();
    common::eventually(Duration::from_secs(10), "the other node listening again, and saying so", || async {
        (heard.2.load(Ordering::Relaxed) == 2).then_some(())
    })
    .await;
    pool.close().await;
    other.close().await;
    changer.close().await;
    drop_database(&db).await;
}

on_both_backends!(letting_go_of_an_endpoint_records_its_next_due_time_or_keeps_it);

/// A lane that lets go of its endpoint records when the endpoint's next delivery is due, so
/// that any node's dispatcher finds it; a node that no longer holds the lease lets go of
/// nothing. (The store's side of `release_endpoint`, one statement.)
async fn letting_go_of_an_endpoint_records_its_next_due_time_or_keeps_it(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (url, db) = match backend {
        Backend::Sqlite => (format!("sqlite://{}", dir.path().join("hookd.db").display()), None),
        Backend::Postgres => {
            let Some((url, db)) = create_database().await else { return };
            (url, Some(db))
        }
    };
    let options = hookd_store::StoreOptions { max_connections: 4, ..Default::default() };
    let store = hookd_store::Store::open_url(&url, &options).await.unwrap();
    let app_id = hookd_core::ApplicationId::generate();
    store
        .create_application(&app_id, &hookd_store::ApplicationData { name: "A".into(), ..Default::default() })
        .await
        .unwrap();
    let endpoint_id = EndpointId::generate();
    let endpoint = hookd_store::EndpointData { url: "https://example.com/".into(), ..Default::default() };
    store.create_endpoint(&app_id, &endpoint_id, &endpoint, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await.unwrap();

    // A message makes the endpoint due; node "a" leases it, and nobody else can.
    let message = hookd_store::NewMessage { event_type: "e.t".into(), payload: "{}".into(), ..Default::default() };
    store.publish(&app_id, &message, None).await.unwrap();
    assert_eq!(store.claim_endpoints(10, 60_000, "a").await.unwrap(), vec![endpoint_id.clone()]);
    assert_eq!(store.claim_endpoints(10, 60_000, "b").await.unwrap(), Vec::<EndpointId>::new());
    assert_eq!(store.next_due_endpoint_at().await.unwrap(), None, "a leased queue is nobody's to claim");

    // "b" holds nothing, so it lets go of nothing: "a" keeps the lease.
    assert!(store.release_endpoint(&endpoint_id, "b").await.unwrap());
    assert_eq!(store.claim_endpoints(10, 60_000, "b").await.unwrap(), Vec::<EndpointId>::new());

    // "a" lets go with the delivery still due: the queue records it, and "b" can claim it.
    assert!(store.release_endpoint(&endpoint_id, "a").await.unwrap());
    let due = store.next_due_endpoint_at().await.unwrap().expect("the delivery's due time is recorded");
    assert!(due <= hookd_core::time::now_ms());
    assert_eq!(store.claim_endpoints(10, 60_000, "b").await.unwrap(), vec![endpoint_id.clone()]);

    // With nothing pending, letting go leaves no due time behind.
    let claim = store.claim_endpoint_deliveries(&endpoint_id, 10, 60_000, false).await.unwrap();
    assert_eq!(claim.deliveries.len(), 1);
    let done = hookd_store::AttemptResult {
        attempt: None,
        msg_id: claim.deliveries[0].msg_id.clone(),
        endpoint_id: endpoint_id.clone(),
        outcome: hookd_store::DeliveryOutcome::Canceled,
        lease_token: claim.deliveries[0].lease_token.clone(),
    };
    store.record_attempt(Arc::new(done)).await.unwrap();
    assert!(store.release_endpoint(&endpoint_id, "b").await.unwrap());
    assert_eq!(store.next_due_endpoint_at().await.unwrap(), None);
    assert_eq!(store.claim_endpoints(10, 60_000, "a").await.unwrap(), Vec::<EndpointId>::new());
    store.close().await;
    if let Some(db) = db {
        drop_database(&db).await;
    }
}

/// On PostgreSQL, letting go of an endpoint while a publish to it commits keeps the lease:
/// the release's statement reads the queue's version in its snapshot, waits for the
/// publish's lock on the queue row, and then finds the row's version moved on. Without the
/// version guard it would record a due time that misses the publish's delivery and let go,
/// and the delivery would wait with no lease and no due time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letting_go_while_a_publish_commits_keeps_the_lease() {
    use sqlx::Connection;
    let Some((url, db)) = create_database().await else { return };
    let options = hookd_store::StoreOptions { max_connections: 4, ..Default::default() };
    let store = Arc::new(hookd_store::Store::open_url(&url, &options).await.unwrap());
    let app_id = hookd_core::ApplicationId::generate();
    store
        .create_application(&app_id, &hookd_store::ApplicationData { name: "A".into(), ..Default::default() })
        .await
        .unwrap();
    let endpoint_id = EndpointId::generate();
    let endpoint = hookd_store::EndpointData { url: "https://example.com/".into(), ..Default::default() };
    store.create_endpoint(&app_id, &endpoint_id, &endpoint, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await.unwrap();
    let message = hookd_store::NewMessage { event_type: "e.t".into(), payload: "{}".into(), ..Default::default() };
    store.publish(&app_id, &message, None).await.unwrap();
    assert_eq!(store.claim_endpoints(10, 60_000, "a").await.unwrap(), vec![endpoint_id.clone()]);

    // A publish's queue touch, held open: the queue row is locked and its version bumped.
    let mut publisher = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut publish = publisher.begin().await.unwrap();
    sqlx::query("UPDATE endpoint_queues SET version = version + 1 WHERE endpoint_id = $1")
        .bind(endpoint_id.as_str())
        .execute(&mut *publish)
        .await
        .unwrap();
    let releasing = tokio::spawn({
        let (store, endpoint_id) = (store.clone(), endpoint_id.clone());
        async move { store.release_endpoint(&endpoint_id, "a").await.unwrap() }
    });
    // Once the release waits for the row, the publish commits.
    let watcher = sqlx::PgPool::connect(&url).await.unwrap();
    let watcher = &watcher;
    common::eventually(Duration::from_secs(10), "the release waits for the queue row", || async move {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE endpoint_queues SET lease_until = NULL%'",
        )
        .fetch_one(watcher)
        .await
        .unwrap();
        (waiting == 1).then_some(())
    })
    .await;
    publish.commit().await.unwrap();
    assert!(!releasing.await.unwrap(), "work arrived while letting go: the lease is kept");
    assert_eq!(store.claim_endpoints(10, 60_000, "b").await.unwrap(), Vec::<EndpointId>::new(), "still leased by a");
    // Let go again, with nothing in between: now it is released, due.
    assert!(store.release_endpoint(&endpoint_id, "a").await.unwrap());
    assert_eq!(store.claim_endpoints(10, 60_000, "b").await.unwrap(), vec![endpoint_id.clone()]);
    watcher.close().await;
    drop(publisher);
    Arc::into_inner(store).expect("the only reference").close().await;
    drop_database(&db).await;
}
