//! Payload filters: an endpoint may carry an expression in [CEL], the Common Expression
//! Language, over the message; a message for which it is not `true` creates no delivery to
//! that endpoint.
//!
//! CEL rather than a language of our own: it is specified, small, cannot loop or do I/O (so a
//! filter cannot hang a publish), has a maintained Rust implementation (the `cel` crate), and
//! is what Kubernetes, Envoy and Google Cloud's event routers use, so people know it.
//!
//! A filter sees five variables: `eventType` (string), `eventId` (string or null), `payload`
//! (the JSON payload, or the raw payload as a string), `channels` and `tags` (lists of
//! strings, empty when the message has none). It is checked when saved: it must parse, and may
//! name no other variable (a typo such as `paylod.amount` would otherwise never match). What
//! only shows at run time (a field the payload lacks, a function applied to the wrong type, a
//! result that is not a bool) makes the filter reject that message; the endpoint's stats count
//! it as a filter error.
//!
//! Compiled filters are cached by their source, so routing a batch of messages compiles each
//! filter once per process, not once per message.
//!
//! [CEL]: https://cel.dev

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::{Context, Env, Program, Value};

/// The longest filter accepted, in bytes.
pub const MAX_LEN: usize = 4096;

/// The variables a filter may name.
pub const VARIABLES: [&str; 5] = ["eventType", "eventId", "payload", "channels", "tags"];

/// Compiled filters kept at most; past this the cache starts again (a bound, not a policy:
/// a node has as many distinct filters as endpoints with one).
const CACHE_SIZE: usize = 10_000;

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));
static CACHE: LazyLock<Mutex<HashMap<String, Arc<Filter>>>> = LazyLock::new(Default::default);

/// Why a filter was refused when saved: where (1-based line and column) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct FilterError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A checked, compiled filter.
pub struct Filter {
    program: Program,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter").finish_non_exhaustive()
    }
}

impl Filter {
    /// Parses and checks a filter.
    pub fn parse(source: &str) -> Result<Filter, FilterError> {
        if source.trim().is_empty() {
            return Err(FilterError { line: 1, column: 1, message: "a filter may not be empty".into() });
        }
        if source.len() > MAX_LEN {
            return Err(FilterError { line: 1, column: 1, message: format!("a filter is at most {MAX_LEN} bytes") });
        }
        let program = ENV.compile(source).map_err(|errors| {
            let first = errors.errors.into_iter().next();
            let (line, column) = first.as_ref().map_or((1, 1), |e| (e.pos.0.max(1) as usize, e.pos.1.max(1) as usize));
            let message = first.map_or_else(|| "does not parse".to_owned(), |e| e.msg);
            FilterError { line, column, message }
        })?;
        let mut unknown = Vec::new();
        free_variables(program.expression(), &mut Vec::new(), &mut unknown);
        if let Some((name, id)) = unknown.first() {
            let offset = program.source_info().offset_for(*id).map_or(0, |(start, _)| start as usize);
            let (line, column) = line_and_column(source, offset);
            return Err(FilterError {
                line,
                column,
                message: format!("unknown variable '{name}' (a filter sees {})", VARIABLES.join(", ")),
            });
        }
        Ok(Filter { program })
    }

    /// The compiled filter for `source`, from the process-wide cache.
    pub fn cached(source: &str) -> Result<Arc<Filter>, FilterError> {
        let mut cache = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(filter) = cache.get(source) {
            return Ok(filter.clone());
        }
        let filter = Arc::new(Filter::parse(source)?);
        if cache.len() >= CACHE_SIZE {
            cache.clear();
        }
        cache.insert(source.to_owned(), filter.clone());
        Ok(filter)
    }

    /// Whether the message passes: `Ok(true)` to deliver, `Ok(false)` to skip, `Err` with the
    /// reason when the filter failed on it (which also skips it).
    pub fn accepts(&self, message: &FilterInput) -> Result<bool, String> {
        match self.program.execute(&message.context) {
            Ok(Value::Bool(pass)) => Ok(pass),
            Ok(other) => Err(format!("the filter returned {:?}, not a bool", other.type_of())),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The message as filters see it, built once and shared by every filter it meets.
pub struct FilterInput {
    context: Context<'static, 'static>,
}

impl FilterInput {
    /// `payload` is the JSON text of the payload, or a raw payload (`json` false), which
    /// filters see as a string.
    pub fn new(
        event_type: &str,
        event_id: Option<&str>,
        payload: &str,
        json: bool,
        channels: Option<&[String]>,
        tags: Option<&[String]>,
    ) -> Self {
        let mut context = Context::with_env(ENV.clone());
        let payload = if json {
            serde_json::from_str::<serde_json::Value>(payload)
                .ok()
                .and_then(|value| cel::to_value(value).ok())
                .unwrap_or_else(|| Value::from(payload.to_owned()))
        } else {
            Value::from(payload.to_owned())
        };
        context.add_variable_from_value("eventType", event_type.to_owned());
        context.add_variable_from_value("eventId", event_id.map_or(Value::Null, |id| Value::from(id.to_owned())));
        context.add_variable_from_value("payload", payload);
        context.add_variable_from_value("channels", channels.unwrap_or_default().to_vec());
        context.add_variable_from_value("tags", tags.unwrap_or_default().to_vec());
        FilterInput { context }
    }
}

/// The 1-based line and column of the character at `offset` (a count of characters).
fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let before: Vec<char> = source.chars().take(offset).collect();
    let line = 1 + before.iter().filter(|c| **c == '\n').count();
    let column = 1 + before.iter().rev().take_while(|c| **c != '\n').count();
    (line, column)
}

/// Collects the identifiers `expr` reads that are neither filter variables nor bound by an
/// enclosing comprehension (`payload.items.exists(i, i.price > 10)` binds `i`).
fn free_variables<'e>(expr: &'e IdedExpr, bound: &mut Vec<&'e str>, out: &mut Vec<(&'e str, u64)>) {
    match &expr.expr {
        Expr::Ident(name) => {
            if !name.starts_with('@') && !bound.contains(&name.as_str()) && !VARIABLES.contains(&name.as_str()) {
                out.push((name, expr.id));
            }
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                free_variables(target, bound, out);
            }
            for arg in &call.args {
                free_variables(arg, bound, out);
            }
        }
        Expr::Select(select) => free_variables(&select.operand, bound, out),
        Expr::List(list) => {
            for element in &list.elements {
                free_variables(element, bound, out);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(e) = &entry.expr {
                    free_variables(&e.key, bound, out);
                    free_variables(&e.value, bound, out);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    free_variables(&f.value, bound, out);
                }
            }
        }
        Expr::Comprehension(c) => {
            free_variables(&c.iter_range, bound, out);
            let depth = bound.len();
            bound.push(&c.accu_var);
            free_variables(&c.accu_init, bound, out);
            bound.push(&c.iter_var);
            if let Some(second) = &c.iter_var2 {
                bound.push(second);
            }
            free_variables(&c.loop_cond, bound, out);
            free_variables(&c.loop_step, bound, out);
            free_variables(&c.result, bound, out);
            bound.truncate(depth);
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(payload: &str) -> FilterInput {
        let channels = vec!["eu".to_owned()];
        FilterInput::new("invoice.paid", Some("evt_1"), payload, true, Some(&channels), None)
    }

    fn run(filter: &str, payload: &str) -> Result<bool, String> {
        Filter::parse(filter).unwrap().accepts(&input(payload))
    }

    #[test]
    fn filters_see_the_message() {
        let p = r#"{"amount": 1500, "currency": "eur", "items": [{"sku": "a", "qty": 2}], "customer": {"vip": true}}"#;
        assert_eq!(run("payload.amount > 1000", p), Ok(true));
        assert_eq!(run("payload.amount > 2000", p), Ok(false));
        assert_eq!(run("eventType.startsWith('invoice.') && payload.currency in ['eur', 'usd']", p), Ok(true));
        assert_eq!(run("payload.items.exists(i, i.sku == 'a' && i.qty >= 2)", p), Ok(true));
        assert_eq!(run("payload.items.all(i, i.qty > 5)", p), Ok(false));
        assert_eq!(run("'eu' in channels && size(tags) == 0 && eventId == 'evt_1'", p), Ok(true));
        assert_eq!(run("has(payload.customer.vip) && payload.customer.vip", p), Ok(true));
        assert_eq!(run("has(payload.refund)", p), Ok(false));
        assert_eq!(run("payload.currency.matches('^e')", p), Ok(true));
    }

    #[test]
    fn run_time_failures_are_errors_not_matches() {
        let p = r#"{"amount": 1500}"#;
        assert!(run("payload.missing == 1", p).is_err());
        assert!(run("payload.amount", p).unwrap_err().contains("not a bool"));
    }

    #[test]
    fn a_raw_payload_is_a_string() {
        let raw = FilterInput::new("a", None, "<xml/>", false, None, None);
        assert_eq!(Filter::parse("payload.startsWith('<xml')").unwrap().accepts(&raw), Ok(true));
        assert_eq!(Filter::parse("eventId == null").unwrap().accepts(&raw), Ok(true));
    }

    #[test]
    fn mistakes_are_refused_with_their_position() {
        let e = Filter::parse("payload.amount >").unwrap_err();
        assert_eq!((e.line, e.column), (1, 17), "{e}");
        let e = Filter::parse("payload.a == 1 &&\n  payload.b == )").unwrap_err();
        assert_eq!((e.line, e.column), (2, 16), "{e}");
        let e = Filter::parse("eventType == 'a' &&\n  paylod.amount > 1").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3), "{e}");
        assert!(e.message.contains("unknown variable 'paylod'"), "{e}");
        assert!(Filter::parse("  ").is_err());
        assert!(Filter::parse(&"a".repeat(MAX_LEN + 1)).is_err());
        // Comprehension variables are bound, not unknown; outside their macro they are.
        assert!(Filter::parse("payload.items.exists(i, i.qty > 1)").is_ok());
        assert!(Filter::parse("payload.items.exists(i, i.qty > 1) && i == 1").is_err());
    }

    #[test]
    fn the_cache_returns_the_same_filter() {
        let a = Filter::cached("payload.x == 1").unwrap();
        let b = Filter::cached("payload.x == 1").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(Filter::cached("payload.x ==").is_err());
    }
}
