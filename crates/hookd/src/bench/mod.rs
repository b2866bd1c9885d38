//! `hookd bench`: a bounded load test of a whole hookd, from publish to arrival.
//!
//! A run measures, in this order: the ceiling (the same HTTP client against a trivial server,
//! to know what loopback HTTP carries on this machine), then the real thing: a hookd (a child
//! process by default), a receiver on 127.0.0.1, an application with `--endpoints` endpoints
//! pointing at it, and `--messages` messages published through the public API; then the
//! ceiling again. The machine's ceiling has been seen to move by half within minutes, so the
//! report gives both readings, their spread, and the share of their mean that hookd reached.
//! It also reads the server's CPU time (user + system, from `/proc`) from the first publish to
//! the last arrival, divided per delivery: a figure that depends much less on the machine's
//! mood than a rate does. It only uses the public surface (`hookd serve` or [`crate::build`],
//! and HTTP), so it measures whatever delivery engine the server has.

mod histogram;
mod load;
mod progress;
mod receiver;
mod report;
mod server;
mod timeline;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

pub use progress::Progress;
pub use report::Report;

use load::{Api, Pace, Published, Target};
use receiver::Recorder;
use server::{Running, Scratch, ScratchDir};

/// Requests the ceiling measurement makes at most.
const CEILING_REQUESTS: u64 = 20_000;
/// After the last expected arrival, how long duplicates still count.
const DUPLICATE_GRACE: Duration = Duration::from_millis(500);
/// Backlog mode: how long the server keeps working on its backlog before memory is read.
const BACKLOG_SETTLE: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_millis(200);
/// Upper bounds that keep a run's memory and time bounded.
const MAX_MESSAGES: u64 = 10_000_000;
const MAX_ENDPOINTS: u64 = 10_000;
const MAX_APPS: u64 = 10_000;
const MAX_HANGING: u64 = 1000;
const MAX_DELIVERIES: u64 = 20_000_000;
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
const MAX_PAYLOAD_BYTES: u64 = 1_000_000;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Messages to publish.
    #[arg(long, default_value_t = 10_000, value_name = "M")]
    pub messages: u64,
    /// Endpoints each message goes to (fan-out).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub endpoints: u64,
    /// Publish requests in flight at once (with --rate: the most allowed in flight).
    #[arg(long, default_value_t = 32, value_name = "C")]
    pub concurrency: usize,
    /// Publish at this steady rate, in messages per second, instead of as fast as possible.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Limit of the whole run; what has not arrived by then counts as missing.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration, value_name = "DUR")]
    pub timeout: Duration,
    /// Print the report as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// Bench a running hookd at this loopback URL instead of starting one. It must let
    /// deliveries reach 127.0.0.1 (`--allow-subnet 127.0.0.0/8`).
    #[arg(long, requires = "token", value_name = "URL")]
    pub server: Option<String>,
    /// More nodes of the same cluster as --server (the same database and admin token):
    /// publishes go to each node in turn, to measure scaling out. Repeatable.
    #[arg(long = "also-server", requires = "server", conflicts_with = "ingest", value_name = "URL")]
    pub also_servers: Vec<String>,
    /// Admin API token of --server.
    #[arg(long, env = "HOOKD_BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Process id of --server, to report its memory.
    #[arg(long, requires = "server", value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Bench on this database: `postgres://…` names a server, on which a scratch database is
    /// created for the run and dropped after it; `sqlite://PATH` is used as given.
    #[arg(long, conflicts_with = "server", value_name = "URL")]
    pub database_url: Option<String>,
    /// Run hookd inside this process instead of as a `hookd serve` child process. Its memory
    /// then includes the bench's own.
    #[arg(long, conflicts_with = "server")]
    pub in_process: bool,
    /// Spread the endpoints over this many applications (endpoint k in application k mod A),
    /// and publish message n to application n mod A: each message then goes to
    /// `--endpoints / A` endpoints, as a server with many tenants sees it. `--endpoints` must
    /// be a multiple of A.
    #[arg(long, default_value_t = 1, value_name = "A", conflicts_with = "ingest")]
    pub apps: u64,
    /// Backlog mode: the endpoints are down (nothing listens at their address, so every
    /// attempt is refused and rescheduled); measures publishing, and the server's memory with
    /// a queue that must live on disk.
    #[arg(long)]
    pub endpoint_down: bool,
    /// Drain mode: the endpoints hold every request open while all the messages are
    /// published (an endpoint that stopped answering; hookd attempts a few, and the rest
    /// wait unattempted), then come back and answer. Reports how fast the backlog drains
    /// from that moment, next to the run's live rate. The server's request timeout is set to
    /// its most (5m) so that the held attempts do not time out; with `--server`, set it so.
    #[arg(long, conflicts_with_all = ["endpoint_down", "hanging_endpoints", "ingest"])]
    pub drain: bool,
    /// Isolation mode: this many more endpoints get every message too, but never answer
    /// (their requests hang until hookd's request timeout); the report is about the
    /// `--endpoints` that do answer, which must not be slowed down by the others.
    #[arg(long, default_value_t = 0, value_name = "H", conflicts_with = "endpoint_down")]
    pub hanging_endpoints: u64,
    /// Publish without an `Idempotency-Key`. By default every publish carries a fresh one, as
    /// every official Svix SDK sends it.
    #[arg(long)]
    pub no_idempotency_key: bool,
    /// Make each message's payload about this many bytes (the JSON body of the publish and of
    /// each delivery), as real events are; without it, a payload of a few dozen bytes.
    #[arg(long, default_value_t = 0, value_name = "BYTES")]
    pub payload_bytes: u64,
    /// Give every measured endpoint this payload filter (a CEL expression; see the README's
    /// "Payload filters"). Payloads are `{"seq": N, "t": …, "pad": …}`, so a filter that keeps
    /// every message, such as `payload.seq >= 0`, measures what filtering costs.
    #[arg(long, value_name = "CEL")]
    pub filter: Option<String>,
    /// Give every measured endpoint this transformation (JavaScript `handler(webhook)`; see the
    /// README's "Transformations"). It must keep the payload's `seq` and `t`, by which
    /// arrivals are counted: `function handler(w) { w.payload.via = "js"; return w; }`.
    #[arg(long, value_name = "JS")]
    pub transformation: Option<String>,
    /// Ingest mode: instead of publishing through the API, post each message's payload to a
    /// source's URL, as a provider would (a `github` source: each request signed with
    /// `X-Hub-Signature-256` and carrying its own `X-GitHub-Delivery`, which hookd keeps to drop
    /// a provider's retries, as the idempotency key does for a publish); the endpoints are
    /// the source's.
    #[arg(long, conflicts_with_all = ["filter", "transformation"])]
    pub ingest: bool,
    /// The hookd binary to run as the child [default: this one].
    #[arg(long, hide = true, value_name = "PATH")]
    pub hookd_bin: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad flags: exit status 2.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Runtime(String),
}

impl BenchArgs {
    fn validate(&self) -> Result<(), BenchError> {
        let bad = |m: &str| Err(BenchError::Usage(m.into()));
        if !(1..=MAX_MESSAGES).contains(&self.messages) {
            return bad("--messages: must be between 1 and 10000000");
        }
        if !(1..=MAX_ENDPOINTS).contains(&self.endpoints) {
            return bad("--endpoints: must be between 1 and 10000");
        }
        if !(1..=MAX_APPS).contains(&self.apps) || !self.endpoints.is_multiple_of(self.apps) {
            return bad("--apps: must be between 1 and 10000, and divide --endpoints");
        }
        if self.hanging_endpoints > MAX_HANGING {
            return bad("--hanging-endpoints: must be between 0 and 1000");
        }
        if self.messages * (self.per_message() + self.hanging_endpoints) > MAX_DELIVERIES {
            return bad(
                "--messages x (--endpoints / --apps + --hanging-endpoints): at most 20000000 deliveries per run",
            );
        }
        if !(1..=1024).contains(&self.concurrency) {
            return bad("--concurrency: must be between 1 and 1024");
        }
        if self.rate.is_some_and(|r| !(r > 0.0 && r <= 1e6)) {
            return bad("--rate: must be more than 0 and at most 1000000");
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return bad("--timeout: must be more than 0 and at most 1h");
        }
        if self.payload_bytes > MAX_PAYLOAD_BYTES {
            return bad("--payload-bytes: at most 1000000 (hookd's default body limit is 1 MiB)");
        }
        for url in self.server.iter().chain(&self.also_servers) {
            check_loopback(url)?;
        }
        if let Some(filter) = &self.filter {
            if let Err(e) = hookd_core::filter::Filter::parse(filter) {
                return Err(BenchError::Usage(format!("--filter: {e}")));
            }
        }
        Ok(())
    }

    /// The filler of each payload: `--payload-bytes` of `x`, less the payload's own few bytes.
    fn pad(&self) -> std::sync::Arc<str> {
        "x".repeat(self.payload_bytes.saturating_sub(40) as usize).into()
    }

    fn pace(&self) -> Pace {
        match self.rate {
            Some(per_second) => Pace::Rate { per_second, max_in_flight: self.concurrency },
            None => Pace::Concurrency(self.concurrency),
        }
    }

    /// Deliveries that must arrive: none when the endpoints are down.
    fn expected(&self) -> u64 {
        if self.endpoint_down {
            0
        } else {
            self.messages * self.per_message()
        }
    }

    /// The server's `--request-timeout`, when the run needs one of its own (drain mode).
    fn request_timeout(&self) -> Option<&'static str> {
        self.drain.then_some("5m")
    }

    /// The measured endpoints each message goes to.
    fn per_message(&self) -> u64 {
        self.endpoints / self.apps.max(1)
    }
}

/// Load only ever goes to this machine.
fn check_loopback(url: &str) -> Result<(), BenchError> {
    let parsed = url::Url::parse(url).map_err(|e| BenchError::Usage(format!("--server: {e}")))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match (parsed.scheme(), loopback) {
        ("http" | "https", true) => Ok(()),
        _ => Err(BenchError::Usage(
            "--server: must be an http URL on this machine (127.0.0.0/8, ::1 or localhost)".into(),
        )),
    }
}

/// Runs the bench; the report says whether everything arrived.
pub async fn run(args: BenchArgs, progress: &mut Progress) -> Result<Report, BenchError> {
    args.validate()?;
    let epoch = Instant::now();
    let deadline = epoch + args.timeout;
    let http = load::client(args.concurrency);

    progress.say("measuring the ceiling: the same client against a trivial HTTP server");
    let ceiling = measure_ceiling(&http, &args, epoch, deadline).await?;

    let dir = ScratchDir::new()?;
    let scratch = Scratch::prepare(args.database_url.as_deref()).await?;
    let database = match &args.server {
        Some(_) => "remote".to_owned(),
        None => scratch.describe().to_owned(),
    };
    let started = start_server(&args, &dir, &scratch).await;
    let outcome = match started {
        Ok(mut running) => {
            let measured = measure(&args, &http, &mut running, epoch, deadline, progress).await;
            let memory = server::memory(&running.rss);
            running.stop().await;
            measured.map(|m| (m, memory))
        }
        Err(e) => Err(e),
    };
    scratch.drop_database().await;
    progress.finish();
    let (measured, memory) = outcome.map_err(|e| with_server_log(e, &dir))?;
    progress.say("measuring the ceiling again");
    let deadline_after = Instant::now() + args.timeout;
    let after = measure_ceiling(&http, &args, epoch, deadline_after).await?;
    Ok(measured.into_report(&args, database, (ceiling, after), memory))
}

/// A child's failure is easier to understand with the end of its log.
fn with_server_log(e: BenchError, dir: &ScratchDir) -> BenchError {
    let log = std::fs::read_to_string(dir.0.join("server.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect();
    match (e, tail.is_empty()) {
        (BenchError::Runtime(m), false) => BenchError::Runtime(format!(
            "{m}; the server's last log lines: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )),
        (e, _) => e,
    }
}

async fn start_server(args: &BenchArgs, dir: &ScratchDir, scratch: &Scratch) -> Result<Running, BenchError> {
    let running = match (&args.server, args.in_process) {
        (Some(url), _) => Running::remote(url.clone(), args.token.clone().unwrap_or_default(), args.server_pid),
        (None, true) => server::start_in_process(&dir.0, scratch.url(), args.request_timeout()).await?,
        (None, false) => {
            let exe = match &args.hookd_bin {
                Some(exe) => exe.clone(),
                None => {
                    std::env::current_exe().map_err(|e| BenchError::Runtime(format!("cannot find this binary: {e}")))?
                }
            };
            server::start_child(&exe, &dir.0, scratch.url(), args.request_timeout()).await?
        }
    };
    Ok(running)
}

/// Requests per second the client gets from a server that does nothing, and the CPU time
/// this process (client and trivial server together) used for them.
async fn measure_ceiling(
    http: &reqwest::Client,
    args: &BenchArgs,
    epoch: Instant,
    deadline: Instant,
) -> Result<report::CeilingRun, BenchError> {
    let addr = receiver::start_trivial()
        .await
        .map_err(|e| BenchError::Runtime(format!("cannot start the trivial server: {e}")))?;
    let target = Target {
        http: http.clone(),
        bases: vec![format!("http://{addr}/")].into(),
        paths: vec![String::new()].into(),
        token: "ceiling".into(),
        epoch,
        key_prefix: None,
        pad: args.pad(),
        ingest_secret: None,
    };
    let count = args.messages.min(CEILING_REQUESTS);
    let out = Arc::new(Published::default());
    let start = Instant::now();
    let cpu_before = server::own_cpu_time();
    let pace = Pace::Concurrency(args.concurrency);
    load::publish_all(target, count, pace, deadline, out.clone()).await;
    let cpu = cpu_before.zip(server::own_cpu_time()).map(|(before, after)| after.saturating_sub(before));
    let accepted = out.accepted.load(std::sync::atomic::Ordering::Relaxed);
    Ok(report::CeilingRun { requests: accepted, per_second: rate(accepted, start.elapsed().as_secs_f64()), cpu })
}

fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// What the run against hookd itself measured.
struct Measured {
    published: Arc<Published>,
    publish_seconds: f64,
    /// Microseconds since the epoch when publishing began.
    publish_start: u64,
    recorder: Arc<Recorder>,
    timed_out: bool,
    /// The server's CPU time from the first publish to the last arrival, when its process is
    /// known and separate from the bench's.
    server_cpu: Option<server::CpuTime>,
    /// The bench's own CPU time over the same span (publishing, receiving; its live threads),
    /// when the server runs in another process.
    bench_cpu: Option<Duration>,
    /// Drain mode: when the endpoints came back (µs since the epoch), and how many deliveries
    /// had not arrived by then.
    drain: Option<(u64, u64)>,
}

async fn measure(
    args: &BenchArgs,
    http: &reqwest::Client,
    running: &mut Running,
    epoch: Instant,
    deadline: Instant,
    progress: &mut Progress,
) -> Result<Measured, BenchError> {
    let api = Api { http: http.clone(), base: running.base.clone(), token: running.token.clone() };
    api.wait_healthy(Duration::from_secs(30))
        .await
        .map_err(|e| BenchError::Runtime(format!("hookd is not up: {e}")))?;
    let recorder = Arc::new(Recorder::new(epoch, args.messages, args.endpoints, args.apps, args.drain));
    let receiver = receiver::start(recorder.clone())
        .await
        .map_err(|e| BenchError::Runtime(format!("cannot start the receiver: {e}")))?;
    let (app, bases, paths) = match args.ingest {
        false => {
            let apps = set_up(&api, args, receiver, progress).await?;
            let paths = apps.iter().map(|app| format!("/api/v1/app/{app}/msg")).collect();
            let others = args.also_servers.iter().map(|url| url.trim_end_matches('/').to_owned());
            let bases = std::iter::once(running.base.clone()).chain(others).collect();
            (apps[0].clone(), bases, paths)
        }
        true => {
            let (source, url) = set_up_source(&api, args, receiver).await?;
            (source, vec![url], vec![String::new()])
        }
    };
    let what = if args.ingest { "posting to a source" } else { "publishing" };
    progress.say(&format!("{what} {} messages to {} endpoints on {}", args.messages, args.endpoints, running.base));
    let published = Arc::new(Published::default());
    let target = Target {
        http: http.clone(),
        bases: Arc::from(bases),
        paths: Arc::from(paths),
        token: running.token.clone(),
        epoch,
        // Unique to this run, so that runs against one server never share keys.
        key_prefix: (!args.no_idempotency_key).then(|| format!("bench-{app}-")),
        pad: args.pad(),
        ingest_secret: args.ingest.then(|| load::INGEST_SECRET.into()),
    };
    let cpu_before = server::cpu_time(&running.rss);
    let own_before = server::own_cpu_time();
    let publish_start = epoch.elapsed().as_micros() as u64;
    recorder.timeline.start(publish_start);
    let started = Instant::now();
    let mut publishing =
        tokio::spawn(load::publish_all(target, args.messages, args.pace(), deadline, published.clone()));
    let totals = (args.messages, args.expected());
    loop {
        tokio::select! {
            _ = &mut publishing => break,
            _ = tokio::time::sleep(TICK) => {
                running.check_alive()?;
                progress.show("publish", published.done(), recorder.unique(), totals)
            }
        }
    }
    let publish_seconds = started.elapsed().as_secs_f64();
    let drain = args.drain.then(|| {
        progress.say("the endpoints come back: draining the backlog");
        let waiting = args.expected().saturating_sub(recorder.unique());
        (recorder.release_drain(), waiting)
    });
    let waited = wait_for_arrivals(args, &published, &recorder, running, deadline, progress);
    let waited = waited.await;
    let cpu_after = server::cpu_time(&running.rss);
    let own_after = server::own_cpu_time();
    if matches!(waited, Ok(true)) && !args.endpoint_down {
        // Duplicates that arrive a little later still count.
        let grace = (Instant::now() + DUPLICATE_GRACE).min(deadline);
        tokio::time::sleep_until(grace.into()).await;
    }
    // The hanging endpoints answer (503) from now on, so that the server stops at once.
    recorder.release_hanging();
    let timed_out = !waited?;
    let server_cpu = cpu_before.zip(cpu_after).map(|(before, after)| after.since(&before));
    // The bench's own time is its own only when the server runs in another process.
    let bench_cpu = own_before
        .zip(own_after)
        .filter(|_| matches!(running.rss, server::RssSource::Pid(_)))
        .map(|(before, after)| after.saturating_sub(before));
    Ok(Measured { published, publish_seconds, publish_start, recorder, timed_out, server_cpu, bench_cpu, drain })
}

/// Creates the applications and their endpoints (endpoint k in application k mod `--apps`);
/// returns the applications' ids. With many endpoints, 16 are created at a time.
async fn set_up(
    api: &Api,
    args: &BenchArgs,
    receiver: std::net::SocketAddr,
    progress: &mut Progress,
) -> Result<Vec<String>, BenchError> {
    use futures_util::{StreamExt, TryStreamExt};
    let failed = |e: String| BenchError::Runtime(format!("cannot set up the run: {e}"));
    let mut apps = Vec::with_capacity(args.apps as usize);
    for _ in 0..args.apps {
        apps.push(api.create_app().await.map_err(failed)?);
    }
    if args.endpoints > 100 {
        progress.say(&format!("creating {} endpoints in {} applications", args.endpoints, args.apps));
    }
    let apps_ref = &apps;
    futures_util::stream::iter(0..args.endpoints)
        .map(|k| async move {
            let app = &apps_ref[(k % args.apps) as usize];
            // Port 1 on loopback: nothing listens there, so connections are refused at once.
            // (A disabled endpoint would not do: messages published meanwhile are not routed
            // to it.)
            let url = if args.endpoint_down {
                format!("http://127.0.0.1:1/e/{k}")
            } else {
                format!("http://{receiver}/e/{k}")
            };
            let endpoint = api.create_endpoint(app, &url, args.filter.as_deref()).await?;
            if let Some(code) = &args.transformation {
                api.set_transformation(app, &endpoint, code).await?;
            }
            Ok::<(), String>(())
        })
        .buffer_unordered(16)
        .try_collect::<()>()
        .await
        .map_err(failed)?;
    for k in 0..args.hanging_endpoints {
        api.create_endpoint(&apps[0], &format!("http://{receiver}/hang/{k}"), None).await.map_err(failed)?;
    }
    Ok(apps)
}

/// Ingest mode: creates a `github` source and its endpoints; returns the source's id and URL.
async fn set_up_source(
    api: &Api,
    args: &BenchArgs,
    receiver: std::net::SocketAddr,
) -> Result<(String, String), BenchError> {
    let failed = |e: String| BenchError::Runtime(format!("cannot set up the run: {e}"));
    let (source, url) = api.create_source(load::INGEST_SECRET).await.map_err(failed)?;
    for k in 0..args.endpoints {
        let url =
            if args.endpoint_down { format!("http://127.0.0.1:1/e/{k}") } else { format!("http://{receiver}/e/{k}") };
        api.create_source_endpoint(&source, &url).await.map_err(failed)?;
    }
    for k in 0..args.hanging_endpoints {
        api.create_source_endpoint(&source, &format!("http://{receiver}/hang/{k}")).await.map_err(failed)?;
    }
    Ok((source, url))
}

/// Waits until every expected delivery arrived, or until the deadline; false when the
/// deadline came first. In backlog mode nothing
/// arrives: the server is left to work on its queue for a few seconds instead.
async fn wait_for_arrivals(
    args: &BenchArgs,
    published: &Published,
    recorder: &Recorder,
    running: &mut Running,
    deadline: Instant,
    progress: &mut Progress,
) -> Result<bool, BenchError> {
    let expected = args.expected();
    let totals = (args.messages, expected);
    if args.endpoint_down {
        progress.say("endpoints are down: letting the server work on its backlog");
        let until = (Instant::now() + BACKLOG_SETTLE).min(deadline);
        tokio::time::sleep_until(until.into()).await;
        running.check_alive()?;
        return Ok(Instant::now() < deadline);
    }
    while recorder.unique() < expected {
        if Instant::now() >= deadline {
            return Ok(false);
        }
        running.check_alive()?;
        progress.show("deliver", published.done(), recorder.unique(), totals);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    progress.show("deliver", published.done(), recorder.unique(), totals);
    Ok(true)
}

impl Measured {
    fn into_report(
        self,
        args: &BenchArgs,
        database: String,
        (before, after): (report::CeilingRun, report::CeilingRun),
        memory: Option<(u64, u64)>,
    ) -> Report {
        use std::sync::atomic::Ordering::Relaxed;
        let accepted = self.published.accepted.load(Relaxed);
        let failed = self.published.failed.load(Relaxed);
        let expected = args.expected();
        let delivered = self.recorder.unique();
        let missing = expected.saturating_sub(delivered);
        let last = self.recorder.last_arrival();
        let delivery_seconds = last.saturating_sub(self.publish_start) as f64 / 1e6;
        let e2e = rate(delivered, delivery_seconds);
        let latency = &self.recorder.latency;
        let ms = |micros: u64| micros as f64 / 1000.0;
        let ceiling = report::Ceiling::of(&before, &after, e2e);
        let ceiling_exchange_us = ceiling.cpu_per_request_us;
        let ok = !self.timed_out
            && failed == 0
            && accepted == args.messages
            && missing == 0
            && self.recorder.malformed() == 0;
        Report {
            server: describe_server(args),
            database,
            messages: args.messages,
            endpoints: args.endpoints,
            apps: args.apps,
            concurrency: args.concurrency,
            rate: args.rate,
            endpoint_down: args.endpoint_down,
            idempotency_key: !args.no_idempotency_key,
            payload_bytes: args.payload_bytes,
            filter: args.filter.clone(),
            transformation: args.transformation.clone(),
            ingest: args.ingest,
            hanging: (args.hanging_endpoints > 0)
                .then(|| report::Hanging { endpoints: args.hanging_endpoints, attempts: self.recorder.hung() }),
            publish: report::Publish {
                accepted,
                failed,
                first_error: self.published.first_error.lock().unwrap().take(),
                seconds: self.publish_seconds,
                per_second: rate(accepted, self.publish_seconds),
            },
            delivery: report::Delivery {
                expected,
                delivered,
                missing,
                duplicates: self.recorder.duplicates(),
                malformed: self.recorder.malformed(),
                seconds: delivery_seconds,
                per_second: e2e,
            },
            latency_ms: report::Latency {
                p50: ms(latency.quantile(0.50)),
                p95: ms(latency.quantile(0.95)),
                p99: ms(latency.quantile(0.99)),
                max: ms(latency.max()),
                timeline: self.recorder.timeline.seconds(),
            },
            ceiling,
            drain: self.drain.map(|(back_at, waiting)| {
                let seconds = last.saturating_sub(back_at) as f64 / 1e6;
                report::Drain { waiting, seconds, per_second: rate(waiting, seconds) }
            }),
            server_cpu: self.server_cpu.as_ref().map(|cpu| {
                // Per delivery that arrived; in backlog mode nothing arrives, so per message.
                let work = if args.endpoint_down { accepted } else { delivered };
                let per_work = |t: Duration| if work > 0 { t.as_secs_f64() * 1e6 / work as f64 } else { 0.0 };
                let mut by_thread: Vec<report::ThreadCpu> = cpu
                    .threads
                    .iter()
                    .map(|(name, t)| report::ThreadCpu { name: name.clone(), per_delivery_us: per_work(*t) })
                    .filter(|t| t.per_delivery_us >= 0.5)
                    .collect();
                by_thread.sort_by(|a, b| b.per_delivery_us.total_cmp(&a.per_delivery_us));
                let per_delivery_us = per_work(cpu.total);
                report::ServerCpu {
                    seconds: cpu.total.as_secs_f64(),
                    per_delivery_us,
                    per: if args.endpoint_down { "accepted message" } else { "delivery" },
                    by_thread,
                    ceiling_exchanges: ceiling_exchange_us.filter(|us| *us > 0.0).map(|us| per_delivery_us / us),
                    bench_per_delivery_us: self.bench_cpu.map(per_work),
                }
            }),
            server_memory: memory.map(|(peak, now)| report::Memory {
                peak_rss_mb: peak as f64 / 1e6,
                rss_mb: now as f64 / 1e6,
                of: memory_of(args),
            }),
            timed_out: self.timed_out,
            ok,
        }
    }
}

fn describe_server(args: &BenchArgs) -> String {
    match (&args.server, args.in_process) {
        (Some(url), _) if args.also_servers.is_empty() => format!("running server at {url}"),
        (Some(url), _) => format!("running servers at {url}, {}", args.also_servers.join(", ")),
        (None, true) => "hookd in this process".into(),
        (None, false) => "hookd serve as a child process".into(),
    }
}

fn memory_of(args: &BenchArgs) -> String {
    match (&args.server, args.in_process) {
        (None, true) => "this process: hookd and the bench together".into(),
        _ => "the server process".into(),
    }
}
