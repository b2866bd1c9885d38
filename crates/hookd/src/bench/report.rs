//! The result of a run, as text for people and as JSON (`--json`) for scripts.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    /// What was measured: which server, which store.
    pub server: String,
    pub database: String,
    pub messages: u64,
    pub endpoints: u64,
    /// Applications the endpoints are spread over (each message goes to one's endpoints).
    pub apps: u64,
    pub concurrency: usize,
    /// Fixed publish rate (msg/s), when one was asked for.
    pub rate: Option<f64>,
    /// Backlog mode: the endpoints refused every connection.
    pub endpoint_down: bool,
    /// Every publish carried a fresh `Idempotency-Key`, as the SDKs send.
    pub idempotency_key: bool,
    /// `--payload-bytes`: the payloads' size asked for (0: minimal).
    pub payload_bytes: u64,
    /// `--filter`: the payload filter every measured endpoint had.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// `--transformation`: the JavaScript every measured endpoint ran on its deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transformation: Option<String>,
    /// `--ingest`: the messages were posted to a source's URL, signed as GitHub signs.
    pub ingest: bool,
    /// Isolation mode: the endpoints that never answered, besides those measured.
    pub hanging: Option<Hanging>,
    pub publish: Publish,
    pub delivery: Delivery,
    pub latency_ms: Latency,
    pub ceiling: Ceiling,
    /// Drain mode: the backlog the endpoints found when they came back, and how fast it went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain: Option<Drain>,
    /// The server's CPU time over the run, when the bench knows its process.
    pub server_cpu: Option<ServerCpu>,
    pub server_memory: Option<Memory>,
    /// The run hit `--timeout` before everything arrived.
    pub timed_out: bool,
    /// Every message accepted and every delivery arrived (backlog mode: every message accepted).
    pub ok: bool,
}

#[derive(Debug, Serialize)]
pub struct Hanging {
    pub endpoints: u64,
    /// Requests they received (each held open until hookd gave up on it).
    pub attempts: u64,
}

#[derive(Debug, Serialize)]
pub struct Publish {
    pub accepted: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
    pub per_second: f64,
}

#[derive(Debug, Serialize)]
pub struct Delivery {
    pub expected: u64,
    pub delivered: u64,
    pub missing: u64,
    pub duplicates: u64,
    /// Requests the receiver could not attribute to a published message.
    pub malformed: u64,
    /// From the first publish to the last first arrival.
    pub seconds: f64,
    pub per_second: f64,
}

#[derive(Debug, Serialize)]
pub struct Drain {
    /// Deliveries that had not arrived when the endpoints came back.
    pub waiting: u64,
    /// From then to the last arrival.
    pub seconds: f64,
    pub per_second: f64,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    /// By second of the run: where the tail was (`timeline.rs`).
    pub timeline: Vec<super::timeline::Second>,
}

#[derive(Debug, Serialize)]
pub struct Ceiling {
    /// Requests the same client posted to a trivial HTTP server, before the run.
    pub requests: u64,
    /// Requests/s before the run and after it.
    pub before: f64,
    pub after: f64,
    /// Their mean, which `ratio` divides by.
    pub per_second: f64,
    /// How far apart the two readings are: |before − after| / mean.
    pub spread: f64,
    /// End-to-end deliveries/s divided by the ceiling's mean requests/s.
    pub ratio: f64,
    /// CPU time (µs) the bench's process used per ceiling request, both ends together, over
    /// both readings.
    pub cpu_per_request_us: Option<f64>,
}

/// One reading of the ceiling.
#[derive(Debug, Clone, Copy)]
pub struct CeilingRun {
    pub requests: u64,
    pub per_second: f64,
    /// CPU time the bench's process used meanwhile: both ends of every request, since the
    /// trivial server runs in it too. `None` off Linux.
    pub cpu: Option<Duration>,
}

impl Ceiling {
    /// From the two readings and the end-to-end rate.
    pub fn of(before: &CeilingRun, after: &CeilingRun, e2e: f64) -> Self {
        let mean = (before.per_second + after.per_second) / 2.0;
        let share = |x: f64| if mean > 0.0 { x / mean } else { 0.0 };
        Self {
            requests: before.requests,
            before: before.per_second,
            after: after.per_second,
            per_second: mean,
            spread: share((before.per_second - after.per_second).abs()),
            ratio: share(e2e),
            cpu_per_request_us: Self::cpu_per_request_us(before, after),
        }
    }

    /// CPU time per request of both readings together, client and trivial server: what one
    /// HTTP exchange costs this machine, however busy or idle it was while measured.
    fn cpu_per_request_us(before: &CeilingRun, after: &CeilingRun) -> Option<f64> {
        let cpu = before.cpu?.checked_add(after.cpu?)?;
        let requests = before.requests + after.requests;
        (requests > 0).then(|| cpu.as_secs_f64() * 1e6 / requests as f64)
    }
}

#[derive(Debug, Serialize)]
pub struct ServerCpu {
    /// User + system time of the server process from the first publish to the last arrival.
    pub seconds: f64,
    /// That time per delivery (per accepted message in backlog mode), in microseconds.
    pub per_delivery_us: f64,
    /// What it is divided by: "delivery" or "accepted message".
    pub per: &'static str,
    /// The same by thread name, most first (threads that ended during the run are only in
    /// the total): where the time goes, without a profiler.
    pub by_thread: Vec<ThreadCpu>,
    /// `per_delivery_us` in ceiling exchanges (`Ceiling::cpu_per_request_us`): what the
    /// server spends per delivery in units of what a bare HTTP exchange costs the same
    /// machine. It compares machines and runs better than the ratio to the ceiling, which
    /// also depends on how busy the run kept the machine (BENCHMARKS.md measured how far).
    pub ceiling_exchanges: Option<f64>,
    /// The bench's own CPU per delivery over the same span (publishing and receiving).
    pub bench_per_delivery_us: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ThreadCpu {
    pub name: String,
    pub per_delivery_us: f64,
}

#[derive(Debug, Serialize)]
pub struct Memory {
    pub peak_rss_mb: f64,
    pub rss_mb: f64,
    /// Whose memory: the child's pid, or this process (server and bench together).
    pub of: String,
}

impl Report {
    pub fn text(&self) -> String {
        let mut t = String::new();
        let pace = match self.rate {
            Some(r) => format!("at {r} msg/s (at most {} in flight)", self.concurrency),
            None => format!("{} in flight", self.concurrency),
        };
        let _ = writeln!(t, "hookd bench: {} ({})", self.server, self.database);
        let _ = writeln!(
            t,
            "  load        {} messages x {}, {pace}{}{}{}{}",
            self.messages,
            if self.apps > 1 {
                format!(
                    "{} endpoints each ({} endpoints in {} applications)",
                    self.endpoints / self.apps,
                    self.endpoints,
                    self.apps
                )
            } else {
                format!("{} endpoints", self.endpoints)
            },
            if self.idempotency_key { ", an idempotency key per publish" } else { ", no idempotency keys" },
            if self.payload_bytes > 0 { format!(", payloads of {} bytes", self.payload_bytes) } else { String::new() },
            if self.endpoint_down { ", endpoints down (connections refused)" } else { "" },
            self.filter.as_deref().map(|f| format!(", filter `{f}` on each endpoint")).unwrap_or_default()
                + self.transformation.as_deref().map(|_| ", a transformation on each endpoint").unwrap_or_default()
                + if self.ingest { ", posted to a github source (signed, each with its delivery id)" } else { "" }
        );
        if let Some(h) = &self.hanging {
            let _ = writeln!(
                t,
                "  hanging     {} more endpoints get every message but never answer ({} requests held open); \
                 the figures below are for the {} that answer",
                h.endpoints, h.attempts, self.endpoints
            );
        }
        let p = &self.publish;
        let _ = writeln!(
            t,
            "  publish     {} accepted, {} failed in {:.2} s: {:.0} msg/s",
            p.accepted, p.failed, p.seconds, p.per_second
        );
        if let Some(asked) = self.rate.filter(|r| p.per_second < r * 0.95) {
            let _ = writeln!(
                t,
                "              below the asked {asked} msg/s: the server answered too slowly for {} requests in flight",
                self.concurrency
            );
        }
        if let Some(e) = &p.first_error {
            let _ = writeln!(t, "              first failure: {e}");
        }
        if self.endpoint_down {
            let _ = writeln!(t, "  delivery    none expected: the endpoints are down");
        } else {
            self.delivery_lines(&mut t);
        }
        let c = &self.ceiling;
        let _ = writeln!(
            t,
            "  ceiling     {:.0} req/s to a trivial HTTP server (before {:.0}, after {:.0}: spread {:.0}%){}",
            c.per_second,
            c.before,
            c.after,
            c.spread * 100.0,
            if self.endpoint_down { String::new() } else { format!("; end-to-end is {:.1}% of it", c.ratio * 100.0) }
        );
        match &self.server_cpu {
            Some(cpu) => {
                let threads: Vec<String> =
                    cpu.by_thread.iter().map(|t| format!("{} {:.0}", t.name, t.per_delivery_us)).collect();
                let _ = writeln!(
                    t,
                    "  server CPU  {:.2} s user+system, {:.0} µs per {} (by thread: {})",
                    cpu.seconds,
                    cpu.per_delivery_us,
                    cpu.per,
                    threads.join(", ")
                );
                if let (Some(exchanges), Some(us)) = (cpu.ceiling_exchanges, self.ceiling.cpu_per_request_us) {
                    let bench = match cpu.bench_per_delivery_us {
                        Some(b) => format!("; the bench's own {b:.0} µs per {}", cpu.per),
                        None => String::new(),
                    };
                    let _ = writeln!(
                        t,
                        "  CPU share   {exchanges:.1} ceiling exchanges per {} (one took {us:.1} µs, both ends){bench}",
                        cpu.per
                    );
                }
            }
            None => {
                let _ = writeln!(t, "  server CPU  unknown (in-process, or a remote server without --server-pid)");
            }
        }
        match &self.server_memory {
            Some(m) => {
                let _ =
                    writeln!(t, "  memory      peak RSS {:.1} MB, now {:.1} MB ({})", m.peak_rss_mb, m.rss_mb, m.of);
            }
            None => {
                let _ = writeln!(t, "  memory      unknown (remote server; see --server-pid)");
            }
        }
        let verdict = match (self.ok, self.timed_out) {
            (true, _) => "OK",
            (false, true) => "FAILED: timed out",
            (false, false) => "FAILED",
        };
        let _ = writeln!(t, "  result      {verdict}");
        t
    }

    fn delivery_lines(&self, t: &mut String) {
        let d = &self.delivery;
        let _ = writeln!(
            t,
            "  delivery    {}/{} arrived, {} missing, {} duplicates, {} malformed",
            d.delivered, d.expected, d.missing, d.duplicates, d.malformed
        );
        let _ = writeln!(
            t,
            "  end-to-end  {:.0} deliveries/s ({:.2} s from first publish to last arrival)",
            d.per_second, d.seconds
        );
        if let Some(drain) = &self.drain {
            let _ = writeln!(
                t,
                "  drain       {} deliveries waited for the endpoints to come back; drained in {:.2} s: {:.0}/s",
                drain.waiting, drain.seconds, drain.per_second
            );
        }
        let l = &self.latency_ms;
        let _ = writeln!(
            t,
            "  latency     p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms (publish to arrival)",
            l.p50, l.p95, l.p99, l.max
        );
        let mut late: Vec<_> = l.timeline.iter().filter(|s| s.over_100ms > 0).collect();
        if !late.is_empty() {
            let total: u64 = late.iter().map(|s| s.over_100ms).sum();
            late.sort_by(|a, b| b.over_100ms.cmp(&a.over_100ms).then(a.second.cmp(&b.second)));
            let worst: Vec<String> = late
                .iter()
                .take(6)
                .map(|s| format!("{}s: {} of {} (max {:.0} ms)", s.second, s.over_100ms, s.arrived, s.max_ms))
                .collect();
            let _ = writeln!(
                t,
                "  late        {total} over 100 ms in {} seconds of the run; most in {}",
                late.len(),
                worst.join(", ")
            );
        }
    }
}
