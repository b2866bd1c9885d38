//! `hookd bench` in a small form: the real binary runs complete load tests and must report
//! every message accepted and every delivery arrived. Never a timing assertion: the numbers
//! depend on the machine.

mod common;

use common::node::Node;
use common::{spawn_app, Backend};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hookd");

/// Runs `hookd bench ARGS --json` (with a 120 s timeout unless ARGS set one); returns its
/// exit code, report and standard error.
async fn bench(args: &[&str]) -> (i32, Value, String) {
    let mut command = tokio::process::Command::new(BIN);
    command.arg("bench").args(args).arg("--json");
    if !args.contains(&"--timeout") {
        command.args(["--timeout", "120s"]);
    }
    let out = command.output().await.expect("hookd bench runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// Nothing lost, nothing failed, nothing unattributable.
fn assert_complete(report: &Value, deliveries: u64, stderr: &str) {
    assert_eq!(report["ok"], true, "{report:#}\n{stderr}");
    assert_eq!(report["publish"]["failed"], 0, "{report:#}");
    assert_eq!(report["delivery"]["missing"], 0, "{report:#}");
    assert_eq!(report["delivery"]["malformed"], 0, "{report:#}");
    assert_eq!(report["delivery"]["delivered"], deliveries, "{report:#}");
    assert!(report["ceiling"]["per_second"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_child_process_loses_nothing() {
    // Kilobyte payloads, as real events have.
    let (code, report, stderr) = bench(&["--messages", "2000", "--payload-bytes", "2048"]).await;
    assert_complete(&report, 2000, &stderr);
    assert_eq!(code, 0);
    assert_eq!(report["payload_bytes"], 2048);
    assert_eq!(report["database"], "sqlite");
    assert_eq!(report["idempotency_key"], true, "a key per publish by default, as the SDKs send");
    assert!(report["server_memory"]["peak_rss_mb"].as_f64().unwrap() > 0.0);
    assert!(report["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    // The server is a child: its CPU time is known, and the ceiling is read before and after.
    assert!(report["server_cpu"]["seconds"].as_f64().unwrap() > 0.0, "{report:#}");
    assert!(report["server_cpu"]["per_delivery_us"].as_f64().unwrap() > 0.0, "{report:#}");
    // And split by thread: the runtime's workers and SQLite's group commit.
    let threads: Vec<&str> =
        report["server_cpu"]["by_thread"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(threads.contains(&"tokio-rt-worker") && threads.contains(&"hookd-commit"), "{report:#}");
    assert!(report["ceiling"]["before"].as_f64().unwrap() > 0.0 && report["ceiling"]["after"].as_f64().unwrap() > 0.0);
    // What one exchange of the ceiling cost the bench's process, and the server's time per
    // delivery in those units, with the bench's own beside it.
    let exchange = report["ceiling"]["cpu_per_request_us"].as_f64().unwrap();
    let exchanges = report["server_cpu"]["ceiling_exchanges"].as_f64().unwrap();
    let per_delivery = report["server_cpu"]["per_delivery_us"].as_f64().unwrap();
    assert!(exchange > 0.0, "{report:#}");
    assert!((exchanges * exchange - per_delivery).abs() < 0.01 * per_delivery, "{report:#}");
    assert!(report["server_cpu"]["bench_per_delivery_us"].as_f64().unwrap() > 0.0, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_in_process_at_a_fixed_rate_loses_nothing() {
    let args = ["--messages", "2000", "--endpoints", "3", "--in-process", "--no-idempotency-key"];
    let (code, report, stderr) = bench(&[&args[..], &["--rate", "1000"]].concat()).await;
    assert_complete(&report, 6000, &stderr);
    assert_eq!(code, 0);
    assert_eq!(report["idempotency_key"], false);
    assert_eq!(report["rate"], 1000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_applications_each_get_their_own_messages() {
    // 12 endpoints in 4 applications: each message goes to its application's 3 endpoints, and
    // the receiver counts one that reached another application's endpoint as malformed.
    let args = ["--messages", "400", "--endpoints", "12", "--apps", "4", "--in-process"];
    let (code, report, stderr) = bench(&args).await;
    assert_complete(&report, 1200, &stderr);
    assert_eq!(code, 0);
    assert_eq!(report["apps"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_mode_holds_every_delivery_until_the_endpoints_come_back() {
    let args = ["--messages", "300", "--endpoints", "2", "--drain", "--in-process"];
    let (code, report, stderr) = bench(&args).await;
    assert_complete(&report, 600, &stderr);
    assert_eq!(code, 0);
    // Nothing arrived while the endpoints held their requests: all 600 waited.
    assert_eq!(report["drain"]["waiting"], 600, "{report:#}");
    assert!(report["drain"]["per_second"].as_f64().unwrap() > 0.0, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_scratch_database_loses_nothing() {
    // A database is created only to learn whether PostgreSQL is there (and skip if not);
    // the bench is given the server's URL and makes its own scratch database.
    let Some((_, name)) = common::create_database().await else {
        return;
    };
    common::drop_database(&name).await;
    let url = std::env::var("HOOKD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (code, report, stderr) = bench(&["--messages", "2000", "--database-url", &url]).await;
    assert_complete(&report, 2000, &stderr);
    assert_eq!(code, 0);
    assert_eq!(report["database"], "postgres");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_can_be_benched() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let url = format!("http://{}", app.addr);
    let args = ["--messages", "2000", "--server", &url, "--token", &app.token];
    let (code, report, stderr) = bench(&args).await;
    assert_complete(&report, 2000, &stderr);
    assert_eq!(code, 0);
    assert_eq!(report["server_memory"], Value::Null);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_of_one_cluster_can_be_benched_together() {
    let Some((url, db)) = common::create_database().await else { return };
    const TOKEN: &str = "bench-test-cluster-admin-token";
    let main_key = hookd_core::sealing::new_main_key();
    let extra = ["--admin-token", TOKEN, "--database-url", &url, "--main-key", &main_key];
    let extra = [&extra[..], &["--allow-subnet", "127.0.0.0/8"]].concat();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Node> = dirs.iter().map(|d| Node::start(d.path(), &extra)).collect();
    let (first, second) = (nodes[0].url(""), nodes[1].url(""));
    let args =
        ["--messages", "2000", "--endpoints", "2", "--server", &first, "--also-server", &second, "--token", TOKEN];
    let (code, report, stderr) = bench(&args).await;
    assert_complete(&report, 4000, &stderr);
    assert_eq!(code, 0);
    assert!(report["server"].as_str().unwrap().contains(&second), "{report:#}");
    drop(nodes);
    common::drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_mode_accepts_everything_and_delivers_nothing() {
    let args = ["--messages", "300", "--endpoints", "2", "--endpoint-down"];
    let (code, report, stderr) = bench(&args).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["publish"]["accepted"], 300);
    assert_eq!(report["delivery"]["expected"], 0);
    assert_eq!(report["delivery"]["delivered"], 0);
    assert_eq!(report["endpoint_down"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_mode_counts_only_the_endpoints_that_answer() {
    // In process, where the bench stops the server gracefully: that must not wait for the
    // held requests, which the bench lets answer once it has measured.
    let args = ["--messages", "200", "--rate", "200", "--hanging-endpoints", "5", "--in-process"];
    let (code, report, stderr) = bench(&args).await;
    assert_complete(&report, 200, &stderr);
    assert_eq!(code, 0);
    assert_eq!(report["hanging"]["endpoints"], 5);
    // Each hanging endpoint was tried (the lane holds one request open at a time).
    assert!(report["hanging"]["attempts"].as_u64().unwrap() >= 5, "{report:#}");
    assert_eq!(report["delivery"]["expected"], 200);
}

#[tokio::test]
async fn refuses_targets_off_this_machine_and_unbounded_runs() {
    for args in [
        &["--server", "http://10.1.2.3:8071", "--token", "x"][..],
        &["--messages", "0"],
        &["--timeout", "2h"],
        &["--rate", "0"],
        &["--hanging-endpoints", "1001"],
        &["--hanging-endpoints", "1", "--endpoint-down"],
        &["--endpoints", "10", "--apps", "3"],
        &["--endpoints", "10001"],
        &["--drain", "--endpoint-down"],
    ] {
        let (code, _, stderr) = bench(args).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_fails_the_run_at_once() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut bench = tokio::process::Command::new(BIN)
        .args(["bench", "--messages", "1000000", "--timeout", "600s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = bench.id().unwrap();
    let mut lines = BufReader::new(bench.stderr.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.starts_with("publishing") {
            break;
        }
    }
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let server = children.split_whitespace().next().expect("a hookd serve child");
    let killed = std::process::Command::new("kill").args(["-KILL", server]).status().unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push_str(&line);
    }
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), bench.wait())
        .await
        .expect("the bench stops well before its 600 s timeout")
        .unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(rest.contains("exited during the run"), "{rest}");
}
