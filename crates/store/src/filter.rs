//! The `WHERE` clause of a filtered list, built as the filters ask: each condition numbers
//! its own parameter, so a list binds only the values of the filters it was given.
//!
//! Channels and tags are stored as JSON arrays of names. A name matches when its quoted JSON
//! text appears in the array: `LIKE '%"name"%'`, with `%`, `_` and `\` escaped, since names
//! may contain `_` (and tags `\`), which `LIKE` would otherwise read as wildcards.

use crate::DeliveryStatus;

/// A bound value.
pub(crate) enum Value {
    Text(String),
    Int(i64),
}

/// Conditions joined by `AND`, and their values in parameter order.
pub(crate) struct Conditions {
    sql: String,
    pub values: Vec<Value>,
}

impl Conditions {
    /// Starts with `first`, whose one parameter is `$1`.
    pub fn new(first: &str, value: Value) -> Self {
        let mut c = Self { sql: String::new(), values: Vec::new() };
        c.and(first, value);
        c
    }

    /// No condition yet (`TRUE`).
    pub fn all() -> Self {
        Self { sql: String::new(), values: Vec::new() }
    }

    /// Adds `condition`, in which `$?` stands for its parameter.
    pub fn and(&mut self, condition: &str, value: Value) {
        self.values.push(value);
        let condition = condition.replace("$?", &format!("${}", self.values.len()));
        self.push(&condition);
    }

    /// Adds a condition without a parameter.
    pub fn and_sql(&mut self, condition: &str) {
        self.push(condition);
    }

    /// `column IN (…)` over `values`; an empty list matches nothing.
    pub fn and_in(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return self.push("FALSE");
        }
        let mut list = Vec::with_capacity(values.len());
        for v in values {
            self.values.push(Value::Text(v.clone()));
            list.push(format!("${}", self.values.len()));
        }
        self.push(&format!("{column} IN ({})", list.join(", ")));
    }

    /// `column`, a JSON array of names, contains `name`.
    pub fn and_contains(&mut self, column: &str, name: &str) {
        let quoted = serde_json::to_string(name).expect("a string serializes");
        let escaped = quoted.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        self.and(&format!("{column} LIKE $? ESCAPE '\\'"), Value::Text(format!("%{escaped}%")));
    }

    fn push(&mut self, condition: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str(" AND ");
        }
        self.sql.push_str(condition);
    }

    /// The conditions, for after `WHERE`.
    pub fn sql(&self) -> &str {
        if self.sql.is_empty() {
            "TRUE"
        } else {
            &self.sql
        }
    }

    /// The number of the next parameter (a page's cursor goes there).
    pub fn next_param(&self) -> usize {
        self.values.len() + 1
    }
}

/// Binds a [`Conditions`]' values and then a page's cursor to `$query`, for either backend
/// (inside `with_db!`).
macro_rules! bind_all {
    ($query:expr, $conditions:expr, $cursor:expr) => {{
        let mut query = $query;
        for value in &$conditions.values {
            query = match value {
                $crate::filter::Value::Text(s) => query.bind(s.as_str()),
                $crate::filter::Value::Int(i) => query.bind(*i),
            };
        }
        if let Some(c) = $cursor {
            query = query.bind(c.as_str());
        }
        query
    }};
}
pub(crate) use bind_all;

/// Filters for listing messages, and for what the message of a listed attempt or delivery
/// must be.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub event_types: Option<Vec<String>>,
    pub channel: Option<String>,
    pub tag: Option<String>,
    /// Only items created before / after these times (ms): messages, or attempts in an
    /// attempt list.
    pub before: Option<i64>,
    pub after: Option<i64>,
}

impl MessageFilter {
    /// Adds the conditions on the message `m` (an alias or table name), and the times on
    /// `time_column`.
    pub(crate) fn add_to(&self, c: &mut Conditions, m: &str, time_column: &str) {
        if let Some(before) = self.before {
            c.and(&format!("{time_column} < $?"), Value::Int(before));
        }
        if let Some(after) = self.after {
            c.and(&format!("{time_column} > $?"), Value::Int(after));
        }
        if let Some(channel) = &self.channel {
            c.and_contains(&format!("{m}.channels"), channel);
        }
        if let Some(tag) = &self.tag {
            c.and_contains(&format!("{m}.tags"), tag);
        }
        if let Some(types) = &self.event_types {
            c.and_in(&format!("{m}.event_type"), types);
        }
    }

    /// Whether a condition needs the message's row.
    pub(crate) fn on_message(&self) -> bool {
        self.channel.is_some() || self.tag.is_some() || self.event_types.is_some()
    }
}

/// Filters for listing attempts: those of [`MessageFilter`] (its times are the attempts'),
/// the attempt's status, and the class of its response's status code.
#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub message: MessageFilter,
    pub status: Option<DeliveryStatus>,
    /// `0` (no response), `100`, `200`, `300`, `400` or `500`: Svix's `StatusCodeClass`.
    pub status_code_class: Option<i64>,
}

/// Svix's filters of the application list.
#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    /// Leave out applications without endpoints.
    pub exclude_without_endpoints: bool,
    /// Leave out applications whose endpoints are all disabled.
    pub exclude_only_disabled: bool,
}

/// Filters for listing an endpoint's messages with their delivery's state.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub message: MessageFilter,
    pub status: Option<DeliveryStatus>,
}
