//! Transformations: an endpoint's JavaScript function `handler(webhook)` that may rewrite a
//! delivery before it is signed and sent, following Svix's contract. The function gets
//! `{eventType, payload, url, method, headers, cancel}` and returns it changed: a new payload,
//! another URL (which still goes through the SSRF guard when sent), `PUT` or `PATCH` instead
//! of `POST`, more headers, or `cancel = true` to send nothing.
//!
//! The code runs in QuickJS (the `rquickjs` bindings), embedded and sandboxed:
//! - **no I/O**: the context has the language's standard objects only (no `std`/`os` modules,
//!   no `fetch`, no timers, no `performance` clock), so code can reach nothing outside its
//!   input;
//! - **a CPU budget** per call (default 50 ms): past it the interrupt handler stops the code
//!   with an uncatchable error, so `while (true) {}` ends;
//! - **a memory cap** per call (default 16 MiB) and a stack cap, so a memory bomb or deep
//!   recursion fails that call alone.
//!
//! Each call gets a fresh runtime: nothing one endpoint's code does is seen by the next call,
//! and a call that ran out of memory leaves nothing behind. (Measured in BENCHMARKS.md: the
//! fresh context is most of a small transformation's cost.) Deliveries run their calls on a
//! [`Pool`] of one thread per core: a call may take its whole budget.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rquickjs::context::intrinsic;
use rquickjs::{Context, Ctx, Runtime, Value};
use serde::{Deserialize, Serialize};

/// The longest code accepted, in bytes (Svix's limit).
pub const MAX_CODE_LEN: usize = 51_200;
/// The shortest (Svix's limit).
pub const MIN_CODE_LEN: usize = 10;

/// What a call may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub cpu: Duration,
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { cpu: Duration::from_millis(50), memory_bytes: 16 << 20 }
    }
}

/// The delivery as the handler sees it, and as it returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub event_type: String,
    /// The JSON payload (a raw payload is a string).
    pub payload: serde_json::Value,
    pub url: String,
    pub method: String,
    /// Headers added to the delivery.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub cancel: bool,
}

/// Why a transformation did not produce a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    #[error("the transformation does not compile: {0}")]
    Compile(String),
    #[error("the transformation threw: {0}")]
    Threw(String),
    #[error("the transformation ran past its CPU budget of {} ms", .0.as_millis())]
    OutOfTime(Duration),
    #[error("the transformation ran out of memory (at most {} MiB)", .0 >> 20)]
    OutOfMemory(usize),
    /// What QuickJS leaves when the cap is hit hard; also what `throw null` leaves.
    #[error("the transformation ran out of memory (at most {} MiB), or threw null", .0 >> 20)]
    NullOrOutOfMemory(usize),
    #[error("the transformation returned {0}")]
    BadReturn(String),
    #[error("the transformation could not start: {0}")]
    Engine(String),
}

/// Checks that `code` compiles and defines `handler`, without running the handler.
pub fn check(code: &str, limits: Limits) -> Result<(), TransformError> {
    if !(MIN_CODE_LEN..=MAX_CODE_LEN).contains(&code.len()) {
        return Err(TransformError::Compile(format!("code is {MIN_CODE_LEN} to {MAX_CODE_LEN} bytes")));
    }
    sandbox(limits, |ctx, started| {
        ctx.eval::<(), _>(code).map_err(|e| caught(ctx, e, limits, started, TransformError::Compile))?;
        let handler: Value = ctx.globals().get("handler").map_err(|e| TransformError::Engine(e.to_string()))?;
        if handler.is_function() {
            Ok(())
        } else {
            Err(TransformError::Compile("it must define a function handler(webhook)".into()))
        }
    })
}

/// Runs `code`'s `handler` on `webhook`; returns what it made of it.
pub fn run(code: &str, webhook: &Webhook, limits: Limits) -> Result<Webhook, TransformError> {
    let input = serde_json::to_string(webhook).expect("a webhook serializes");
    let output = sandbox(limits, |ctx, started| {
        let fail = |e: rquickjs::Error| caught(ctx, e, limits, started, TransformError::Threw);
        ctx.eval::<(), _>(code).map_err(|e| caught(ctx, e, limits, started, TransformError::Compile))?;
        ctx.globals().set("__hookd_input", input.as_str()).map_err(fail)?;
        ctx.eval::<Option<String>, _>(
            "(() => { if (typeof handler !== 'function') throw new Error('the code must define a function handler(webhook)'); \
             const out = handler(JSON.parse(globalThis.__hookd_input)); \
             return out === undefined ? undefined : JSON.stringify(out); })()",
        )
        .map_err(fail)
    })?;
    let output = output.ok_or_else(|| TransformError::BadReturn("nothing: return the webhook object".into()))?;
    let mut out: Webhook = serde_json::from_str(&output).map_err(|e| {
        TransformError::BadReturn(format!("an object that is not a webhook ({e}); return the object handler was given"))
    })?;
    out.method = out.method.to_ascii_uppercase();
    if !matches!(out.method.as_str(), "POST" | "PUT" | "PATCH") {
        return Err(TransformError::BadReturn(format!("method '{}' (POST, PUT or PATCH)", out.method)));
    }
    Ok(out)
}

/// What a handler's context has beyond the base objects (`Object`, `Array`, `String`,
/// `Math`, `Error`…): what rewriting a payload needs. Left out: `Promise` (a handler is
/// synchronous), `Proxy`, typed arrays, `WeakRef`, and `performance` (a clock is a side
/// channel). A context with all of them took 79 µs to make, this one 52 µs.
type Intrinsics = (
    intrinsic::Date,
    intrinsic::Eval,
    intrinsic::RegExpCompiler,
    intrinsic::RegExp,
    intrinsic::Json,
    intrinsic::MapSet,
);

/// Threads that run transformations for deliveries: as many as the machine has cores, fed
/// through one queue. A call may use its whole CPU budget, so it cannot run on the async
/// runtime's threads; tokio's blocking pool would do, but it starts a thread per call in
/// flight (32 attempts in flight were 32 threads taking turns on 2 cores), and a fixed set
/// of threads keeps the work to as many threads as there are cores to run them.
#[derive(Clone)]
pub struct Pool {
    jobs: std::sync::mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Pool {
    /// Starts `threads` threads (at least one), which end when the last clone is dropped.
    pub fn new(threads: usize) -> Pool {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("hookd-transform-{i}"))
                .spawn(move || loop {
                    let job = match queue.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    };
                    job();
                })
                .expect("a thread starts");
        }
        Pool { jobs }
    }

    /// As many threads as the machine has cores.
    pub fn per_core() -> Pool {
        Pool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// [`run`] on one of the pool's threads.
    pub async fn run(&self, code: String, webhook: Webhook, limits: Limits) -> Result<Webhook, TransformError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(run(&code, &webhook, limits));
        });
        self.jobs.send(job).map_err(|_| TransformError::Engine("the transformation threads have stopped".into()))?;
        answered.await.map_err(|_| TransformError::Engine("the transformation thread stopped".into()))?
    }
}

/// A fresh runtime and context under `limits`, for one call.
fn sandbox<T>(
    limits: Limits,
    call: impl FnOnce(&Ctx<'_>, Instant) -> Result<T, TransformError>,
) -> Result<T, TransformError> {
    let engine = |e: rquickjs::Error| TransformError::Engine(e.to_string());
    let runtime = Runtime::new().map_err(engine)?;
    runtime.set_memory_limit(limits.memory_bytes);
    runtime.set_max_stack_size(256 * 1024);
    let started = Instant::now();
    let deadline = started + limits.cpu;
    runtime.set_interrupt_handler(Some(Box::new(move || Instant::now() >= deadline)));
    let context = Context::custom::<Intrinsics>(&runtime).map_err(engine)?;
    context.with(|ctx| call(&ctx, started))
}

/// Turns an engine error into why the call failed: the exception's message, or the budget
/// or the memory cap it hit.
fn caught(
    ctx: &Ctx<'_>,
    error: rquickjs::Error,
    limits: Limits,
    started: Instant,
    kind: fn(String) -> TransformError,
) -> TransformError {
    if !matches!(error, rquickjs::Error::Exception) {
        return match error {
            rquickjs::Error::Allocation => TransformError::OutOfMemory(limits.memory_bytes),
            other => kind(other.to_string()),
        };
    }
    let value = ctx.catch();
    // At the memory cap, QuickJS cannot even make the "out of memory" error and leaves a
    // bare null as the exception (and by now the memory is freed, so usage cannot tell).
    if value.is_null() || value.is_undefined() {
        return TransformError::NullOrOutOfMemory(limits.memory_bytes);
    }
    let message = match value.as_exception() {
        Some(exception) => {
            let text = exception.message().unwrap_or_default();
            let name: Option<String> = exception.get("name").ok();
            match name {
                Some(name) if !name.is_empty() => format!("{name}: {text}"),
                _ => text,
            }
        }
        None => value
            .as_string()
            .and_then(|s| s.to_string().ok())
            .or_else(|| ctx.json_stringify(value.clone()).ok().flatten().and_then(|s| s.to_string().ok()))
            .unwrap_or_else(|| "a value that is not an Error".into()),
    };
    if started.elapsed() >= limits.cpu && message.contains("interrupted") {
        return TransformError::OutOfTime(limits.cpu);
    }
    if message.contains("out of memory") {
        return TransformError::OutOfMemory(limits.memory_bytes);
    }
    kind(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook() -> Webhook {
        Webhook {
            event_type: "invoice.paid".into(),
            payload: serde_json::json!({"amount": 1500, "currency": "eur"}),
            url: "https://example.com/hook".into(),
            method: "POST".into(),
            headers: BTreeMap::new(),
            cancel: false,
        }
    }

    fn go(code: &str) -> Result<Webhook, TransformError> {
        run(code, &webhook(), Limits::default())
    }

    #[test]
    fn rewrites_the_payload_url_method_and_headers() {
        let out = go("function handler(webhook) {
                webhook.payload = { text: `paid ${webhook.payload.amount / 100} ${webhook.payload.currency}` };
                webhook.url = webhook.url + '?source=hookd';
                webhook.method = 'put';
                webhook.headers['x-kind'] = webhook.eventType;
                return webhook;
            }")
        .unwrap();
        assert_eq!(out.payload, serde_json::json!({"text": "paid 15 eur"}));
        assert_eq!(out.url, "https://example.com/hook?source=hookd");
        assert_eq!(out.method, "PUT");
        assert_eq!(out.headers["x-kind"], "invoice.paid");
        assert!(!out.cancel);
    }

    #[test]
    fn cancels() {
        let out = go("function handler(w) { w.cancel = w.payload.amount > 1000; return w; }").unwrap();
        assert!(out.cancel);
    }

    #[test]
    fn failures_say_why() {
        let e = go("function handler(w) { throw new TypeError('no amount'); }").unwrap_err();
        assert_eq!(e, TransformError::Threw("TypeError: no amount".into()));
        let e = go("function handler(w) { throw 'plain'; }").unwrap_err();
        assert_eq!(e, TransformError::Threw("plain".into()));
        assert!(matches!(go("function handler(w) { return; }"), Err(TransformError::BadReturn(_))));
        assert!(matches!(go("function handler(w) { return 3; }"), Err(TransformError::BadReturn(_))));
        let e = go("function handler(w) { w.method = 'DELETE'; return w; }").unwrap_err();
        assert!(e.to_string().contains("DELETE"), "{e}");
        assert!(matches!(go("function handler(w) { return w "), Err(TransformError::Compile(_))));
        assert!(matches!(go("function nothandler(w) { return w; }"), Err(TransformError::Threw(_))));
    }

    #[test]
    fn endless_loops_are_stopped() {
        let limits = Limits { cpu: Duration::from_millis(30), ..Limits::default() };
        let e = run("function handler(w) { while (true) {} }", &webhook(), limits).unwrap_err();
        assert_eq!(e, TransformError::OutOfTime(Duration::from_millis(30)));
        // Not even a catch can keep it going.
        let e = run("function handler(w) { for (;;) { try { while (true) {} } catch (e) {} } }", &webhook(), limits);
        assert_eq!(e.unwrap_err(), TransformError::OutOfTime(Duration::from_millis(30)));
    }

    #[test]
    fn memory_bombs_are_stopped() {
        for bomb in [
            "function handler(w) { const a = []; for (;;) { a.push('x'.repeat(1 << 16)); } }",
            "function handler(w) { const a = []; for (;;) a.push({}); }",
        ] {
            // A CPU budget no machine exhausts before 16 MiB: memory is the limit under test,
            // whatever the machine's speed (with the default 50 ms a slow one ran out of time
            // first).
            let limits = Limits { cpu: Duration::from_secs(30), ..Limits::default() };
            let e = run(bomb, &webhook(), limits).unwrap_err();
            assert!(e.to_string().contains("ran out of memory (at most 16 MiB)"), "{bomb}: {e}");
        }
        let e = go("function handler(w) { let s = 'x'; for (;;) s = s + s; }").unwrap_err();
        assert_eq!(e, TransformError::Threw("InternalError: string too long".into()));
        let e = go("function handler(w) { return handler(w); }").unwrap_err();
        assert!(matches!(e, TransformError::Threw(ref m) if m.contains("stack")), "{e}");
    }

    #[test]
    fn there_is_no_way_out() {
        // No module loader, no network, no timers, no process: the globals are not there.
        let code = "function handler(w) {
            w.payload = [typeof fetch, typeof require, typeof setTimeout, typeof std, typeof os, typeof performance];
            return w;
        }";
        let out = go(code).unwrap();
        assert_eq!(out.payload, serde_json::json!(vec!["undefined"; 6]));
    }

    #[tokio::test]
    async fn the_pool_runs_calls_on_its_threads() {
        let pool = Pool::new(2);
        let code = "function handler(w) { w.payload = { n: w.payload.amount + 1 }; return w; }".to_owned();
        let calls = (0..8).map(|_| pool.run(code.clone(), webhook(), Limits::default()));
        for out in futures_join(calls).await {
            assert_eq!(out.unwrap().payload, serde_json::json!({"n": 1501}));
        }
        let e = pool.run("function handler(w) { while (true) {} }".into(), webhook(), Limits::default()).await;
        assert_eq!(e.unwrap_err(), TransformError::OutOfTime(Duration::from_millis(50)));
    }

    /// Awaits all of `futures` (the crate needs no futures dependency for this one test).
    async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
        let mut out = Vec::new();
        for f in futures.map(Box::pin).collect::<Vec<_>>() {
            out.push(f.await);
        }
        out
    }

    #[test]
    fn check_compiles_without_running() {
        assert!(check("function handler(w) { while (true) {} }", Limits::default()).is_ok());
        assert!(matches!(check("function handler(w) {", Limits::default()), Err(TransformError::Compile(_))));
        assert!(matches!(check("const x = 1;;;;;", Limits::default()), Err(TransformError::Compile(_))));
        assert!(check("short", Limits::default()).is_err());
    }
}
