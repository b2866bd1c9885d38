//! A real `hookd serve` process, for tests of the binary itself.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_hookd");

/// A `hookd serve` child process and the address it listens on.
pub struct Node {
    pub child: Child,
    pub addr: String,
    pub stdout: mpsc::Receiver<String>,
    /// Everything the node logged after it started listening.
    stderr: mpsc::Receiver<String>,
}

impl Node {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Node {
        Self::start_with_env(data_dir, extra, &[], &[])
    }

    /// Starts a node with these environment variables set and those named in `unset` removed.
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)], unset: &[&str]) -> Node {
        let mut command = Command::new(BIN);
        for name in unset {
            command.env_remove(name);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--allow-subnet", "127.0.0.0/8", "--retry-schedule", "200ms,200ms,200ms"])
            .args(["--request-timeout", "2s", "--lease", "4s"])
            .args(extra)
            .env("HOOKD_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hookd starts");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (out_tx, stdout) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = out_tx.send(line);
            }
        });
        let addr = loop {
            let line = rx.recv_timeout(Duration::from_secs(30)).expect("hookd logs that it listens");
            if let Some(rest) = line.split("address=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        Node { child, addr, stdout, stderr: rx }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Creates the application the process tests use ("A", uid `a`) with the admin token.
    pub async fn create_app(&self, client: &reqwest::Client, token: &str) {
        let res = client
            .post(self.url("/api/v1/app"))
            .bearer_auth(token)
            .json(&serde_json::json!({"name": "A", "uid": "a"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }

    /// The JSON a GET of `path` answers, with the admin token.
    pub async fn get_json(&self, client: &reqwest::Client, token: &str, path: &str) -> serde_json::Value {
        client.get(self.url(path)).bearer_auth(token).send().await.unwrap().json().await.unwrap()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                if !status.success() {
                    let log: Vec<String> = self.stderr.try_iter().collect();
                    eprintln!("hookd exited with {status}; its log:\n{}", log.join("\n"));
                }
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("hookd did not exit");
    }
}

/// A node still running when its test ends (passed, or failed half-way) is killed, so that no
/// test leaves a server behind.
impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn hookd(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("hookd runs")
}
