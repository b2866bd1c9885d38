//! The hookd under test: a `hookd serve` child process (the default, so its memory is its
//! own), this process (`--in-process`), or a running server (`--server`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::sync::oneshot;

use super::BenchError;
use crate::config::{Database, ServeArgs};

/// A scratch directory removed when dropped.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new() -> Result<Self, BenchError> {
        let name = format!("hookd-bench-{}-{:08x}", std::process::id(), rand_u32());
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| BenchError::Runtime(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Self(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u32() -> u32 {
    rand::random()
}

/// How a started server is reached, and how it is stopped.
pub struct Running {
    pub base: String,
    pub token: String,
    /// Whose memory is reported.
    pub rss: RssSource,
    stop: Stop,
}

pub enum RssSource {
    Pid(u32),
    /// This process: server and bench together.
    SelfProcess,
    None,
}

enum Stop {
    Child(tokio::process::Child),
    InProcess(oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>),
    Nothing,
}

impl Running {
    pub fn remote(base: String, token: String, pid: Option<u32>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            rss: pid.map_or(RssSource::None, RssSource::Pid),
            stop: Stop::Nothing,
        }
    }

    /// Fails when a child server has exited: waiting on for its deliveries would only run
    /// into the timeout.
    pub fn check_alive(&mut self) -> Result<(), BenchError> {
        match &mut self.stop {
            Stop::Child(child) => match child.try_wait() {
                Ok(Some(status)) => Err(BenchError::Runtime(format!("hookd serve exited during the run ({status})"))),
                _ => Ok(()),
            },
            Stop::InProcess(_, task) if task.is_finished() => {
                Err(BenchError::Runtime("the in-process hookd stopped during the run".into()))
            }
            _ => Ok(()),
        }
    }

    /// Stops a server the bench started. A child is killed: its data is thrown away anyway.
    pub async fn stop(self) {
        match self.stop {
            Stop::Child(mut child) => {
                let _ = child.kill().await;
            }
            Stop::InProcess(tx, task) => {
                let _ = tx.send(());
                let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
            }
            Stop::Nothing => {}
        }
    }
}

/// The serve settings of an in-process node: loopback port, scratch data dir, a token, and
/// the SSRF guard opened for the receiver on 127.0.0.1. A child gets the same as flags.
fn serve_args(
    listen: &str,
    dir: &Path,
    token: &str,
    database_url: Option<&str>,
    request_timeout: Option<&str>,
) -> ServeArgs {
    ServeArgs {
        request_timeout: request_timeout.map(str::to_owned),
        listen: Some(listen.into()),
        data_dir: Some(dir.to_path_buf()),
        admin_token: Some(token.into()),
        allow_subnets: vec!["127.0.0.0/8".into()],
        database_url: database_url.map(str::to_owned),
        ..Default::default()
    }
}

/// Runs hookd on this process's runtime.
pub async fn start_in_process(
    dir: &Path,
    database_url: Option<&str>,
    request_timeout: Option<&str>,
) -> Result<Running, BenchError> {
    let token = hookd_server::generate_token("sk_bench_");
    let config = serve_args("127.0.0.1:0", dir, &token, database_url, request_timeout)
        .resolve()
        .map_err(|e| BenchError::Usage(e.0))?;
    let node = crate::build(config).await.map_err(|e| BenchError::Runtime(format!("hookd does not start: {e}")))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::Runtime(format!("cannot listen on 127.0.0.1: {e}")))?;
    let addr = listener.local_addr().map_err(|e| BenchError::Runtime(e.to_string()))?;
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(node.run(listener, async move {
        let _ = rx.await;
    }));
    Ok(Running { base: format!("http://{addr}"), token, rss: RssSource::SelfProcess, stop: Stop::InProcess(tx, task) })
}

/// Runs `hookd serve` from the binary `exe` as a child process; its log goes to
/// `server.log` in the scratch dir.
pub async fn start_child(
    exe: &Path,
    dir: &Path,
    database_url: Option<&str>,
    request_timeout: Option<&str>,
) -> Result<Running, BenchError> {
    let token = hookd_server::generate_token("sk_bench_");
    let port = free_port()?;
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| BenchError::Runtime(format!("cannot create {}: {e}", log_path.display())))?;
    let mut command = tokio::process::Command::new(exe);
    // The child's settings are the bench's alone: none of the caller's HOOKD_* variables
    // (a database URL, a config file) may slip in.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HOOKD_") {
            command.env_remove(name);
        }
    }
    command
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--allow-subnet", "127.0.0.0/8"])
        // In the environment rather than on the command line, where `ps` would show it.
        .env("HOOKD_ADMIN_TOKEN", &token);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    if let Some(timeout) = request_timeout {
        command.args(["--request-timeout", timeout]);
    }
    let child = command
        .env("HOOKD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError::Runtime(format!("cannot run {} serve: {e}", exe.display())))?;
    Ok(Running {
        base: format!("http://127.0.0.1:{port}"),
        token,
        rss: child.id().map_or(RssSource::None, RssSource::Pid),
        stop: Stop::Child(child),
    })
}

/// A loopback port nobody listens on right now. Another process could take it before the
/// child binds it; the health check then fails with a clear message.
fn free_port() -> Result<u16, BenchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BenchError::Runtime(format!("cannot find a free port: {e}")))
}

/// CPU time (user + system) a process has used so far, in all and by thread name.
#[derive(Debug)]
pub struct CpuTime {
    pub total: Duration,
    /// Its live threads' times, summed by name (`tokio-rt-worker`, `hookd-commit`, …).
    pub threads: BTreeMap<String, Duration>,
}

impl CpuTime {
    /// What was used between `before` and `self`. A thread that ended meanwhile is only in
    /// the total.
    pub fn since(&self, before: &CpuTime) -> CpuTime {
        let threads = self
            .threads
            .iter()
            .map(|(name, t)| (name.clone(), t.saturating_sub(before.threads.get(name).copied().unwrap_or_default())))
            .collect();
        CpuTime { total: self.total.saturating_sub(before.total), threads }
    }
}

/// CPU time the server has used so far, from `/proc/<pid>/stat` and its threads'
/// `/proc/<pid>/task/<tid>/stat`. `None` for a server the bench does not know the process
/// of, or off Linux.
pub fn cpu_time(source: &RssSource) -> Option<CpuTime> {
    let pid = match source {
        RssSource::Pid(pid) => *pid,
        // Server and bench share the process: its time would not be the server's.
        RssSource::SelfProcess | RssSource::None => return None,
    };
    let (_, total) = stat_times(&format!("/proc/{pid}/stat"))?;
    let mut threads = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        if let Some((name, time)) = stat_times(&task.path().join("stat").to_string_lossy()) {
            *threads.entry(name).or_default() += time;
        }
    }
    Some(CpuTime { total, threads })
}

/// CPU time this process's live threads have used so far: the bench's own, which includes a
/// server run `--in-process`. From each thread's `schedstat` (nanoseconds), since a ceiling
/// reading of a few thousand requests lasts less than the 10 ms ticks of `stat`; from `stat`
/// where the kernel keeps no `schedstat`. A thread that ends while they are read is skipped:
/// switching that one reading to `stat` mixed two measures in one difference.
pub fn own_cpu_time() -> Option<Duration> {
    if !std::path::Path::new("/proc/thread-self/schedstat").exists() {
        return stat_times("/proc/self/stat").map(|(_, time)| time);
    }
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
        let nanos = schedstat.split_whitespace().next().and_then(|n| n.parse::<u64>().ok())?;
        total += Duration::from_nanos(nanos);
    }
    Some(total)
}

/// The name and user + system time in a `stat` file, whose times are in clock ticks of
/// `USER_HZ`, which Linux fixes at 100 per second for user space.
fn stat_times(path: &str) -> Option<(String, Duration)> {
    const USER_HZ: u64 = 100;
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; fields count from
    // after its closing one: state is field 3, utime 14 and stime 15.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((name, Duration::from_millis(ticks * 1000 / USER_HZ)))
}

/// Peak and current resident memory in bytes, from `/proc/<pid>/status`.
pub fn memory(source: &RssSource) -> Option<(u64, u64)> {
    let path = match source {
        RssSource::Pid(pid) => format!("/proc/{pid}/status"),
        RssSource::SelfProcess => "/proc/self/status".into(),
        RssSource::None => return None,
    };
    let status = std::fs::read_to_string(path).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// What `--database-url` means for a server the bench starts.
pub enum Scratch {
    /// SQLite in the scratch dir.
    Sqlite,
    /// Given as is (`sqlite://PATH`).
    AsGiven(String),
    /// A fresh PostgreSQL database created for this run and dropped after it.
    Postgres { url: String, admin: String, name: String },
}

impl Scratch {
    pub async fn prepare(database_url: Option<&str>) -> Result<Self, BenchError> {
        let Some(url) = database_url else {
            return Ok(Scratch::Sqlite);
        };
        match crate::config::parse_database_url(url).map_err(|e| BenchError::Usage(e.0))? {
            Database::Sqlite(_) => Ok(Scratch::AsGiven(url.to_owned())),
            Database::Postgres(admin) => create_pg_database(&admin).await,
        }
    }

    pub fn url(&self) -> Option<&str> {
        match self {
            Scratch::Sqlite => None,
            Scratch::AsGiven(url) => Some(url),
            Scratch::Postgres { url, .. } => Some(url),
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Scratch::Sqlite | Scratch::AsGiven(_) => "sqlite",
            Scratch::Postgres { .. } => "postgres",
        }
    }

    pub async fn drop_database(self) {
        if let Scratch::Postgres { admin, name, .. } = self {
            if let Ok(mut conn) = admin_connection(&admin).await {
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = sqlx::query(&sql).execute(&mut conn).await;
            }
        }
    }
}

/// Creates `hookd_bench_<random>` on the server of `admin`, so every run starts empty and
/// leaves nothing queued behind.
async fn create_pg_database(admin: &str) -> Result<Scratch, BenchError> {
    let mut conn =
        admin_connection(admin).await.map_err(|e| BenchError::Usage(format!("--database-url: cannot connect: {e}")))?;
    let name = format!("hookd_bench_{:08x}", rand_u32());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .map_err(|e| BenchError::Runtime(format!("cannot create database {name}: {e}")))?;
    let mut url = url::Url::parse(admin).map_err(|e| BenchError::Usage(e.to_string()))?;
    url.set_path(&format!("/{name}"));
    Ok(Scratch::Postgres { url: url.to_string(), admin: admin.to_owned(), name })
}

/// A connection for creating and dropping the scratch database. Statement logging is off:
/// `DROP DATABASE … WITH (FORCE)` is slow by nature and would print a warning every run.
async fn admin_connection(url: &str) -> Result<sqlx::PgConnection, sqlx::Error> {
    use sqlx::ConnectOptions;
    let options: sqlx::postgres::PgConnectOptions = url.parse()?;
    options.disable_statement_logging().connect().await
}
