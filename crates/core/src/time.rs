//! Timestamps are stored as integer milliseconds since the Unix epoch (portable across SQLite
//! and PostgreSQL, cheap to index) and shown as RFC 3339 in the API.

use chrono::{DateTime, TimeZone, Utc};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Converts stored milliseconds to a UTC date-time.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}
