//! What an attempt's result writes: the attempt, the delivery's new state and the endpoint's
//! "failing since". Results are written by the group commit (`commit.rs`) together with
//! whatever else is waiting; this module has the statements it runs.

use std::sync::Arc;

use hookd_core::EndpointId;

use super::{AttemptResult, DeliveryOutcome};
use crate::exec::Arg;
use crate::DeliveryStatus::{Canceled, Fail, Pending, Success};
use crate::{with_db, Backend, Params, Result, Store, StoreError};

impl Store {
    /// Records an attempt's result, and keeps its endpoint's "failing since" time (cleared by
    /// a success, set by the first failure after one). It is written in the next group commit,
    /// together with whatever else is waiting (see `commit.rs`). Shared rather than borrowed,
    /// so that a caller that retries keeps its result without copying it for every try.
    pub async fn record_attempt(&self, result: Arc<AttemptResult>) -> Result<()> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = RecordJob { result, reply };
        self.committers.records.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Since when the endpoint has failed without a single success, if it is failing.
    pub async fn endpoint_failing_since(&self, endpoint_id: &EndpointId) -> Result<Option<i64>> {
        let row: Option<(Option<i64>,)> = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT failing_since FROM endpoint_queues WHERE endpoint_id = $1",
        )
        .bind(endpoint_id)
        .fetch_optional(p)
        .await?);
        Ok(row.and_then(|r| r.0))
    }
}

/// An attempt's result waiting for the group commit that records it.
pub(crate) struct RecordJob {
    pub result: Arc<AttemptResult>,
    pub reply: tokio::sync::oneshot::Sender<Result<()>>,
}

/// A delivery's new state after an attempt: msg id, endpoint id, status, next attempt time,
/// attempts to add, the lease it was attempted under.
pub(crate) type DeliveryUpdate<'a> = (&'a str, &'a str, i64, Option<i64>, i64, &'a str);

/// The delivery updates of a batch of results, in groups that each name a delivery at most
/// once (one multi-row update cannot apply two results to the same row in order; a delivery
/// appears twice only if it was released and claimed again within one batch).
pub(crate) fn delivery_updates<'a>(results: &[&'a AttemptResult], now: i64) -> Vec<Vec<DeliveryUpdate<'a>>> {
    let mut groups: Vec<Vec<DeliveryUpdate<'a>>> = vec![Vec::new()];
    let mut seen = std::collections::HashSet::new();
    for r in results {
        if !seen.insert((r.msg_id.as_str(), r.endpoint_id.as_str())) {
            groups.push(Vec::new());
            seen.clear();
            seen.insert((r.msg_id.as_str(), r.endpoint_id.as_str()));
        }
        // Parked: pending with no due time (see `state.rs`).
        let (status, next) = match r.outcome {
            DeliveryOutcome::Succeeded => (Success, None),
            DeliveryOutcome::RetryAt(at) => (Pending, Some(at)),
            DeliveryOutcome::Failed => (Fail, None),
            DeliveryOutcome::Parked => (Pending, None),
            DeliveryOutcome::Released => (Pending, Some(now)),
            DeliveryOutcome::Canceled => (Canceled, None),
        };
        let status = status.code();
        let counted = i64::from(r.attempt.is_some());
        groups.last_mut().expect("one group at least").push((
            r.msg_id.as_str(),
            r.endpoint_id.as_str(),
            status,
            next,
            counted,
            r.lease_token.as_str(),
        ));
    }
    groups
}

/// The statement updating deliveries to these new states (see [`DeliveryUpdate`]), with its
/// arguments; a result applies only while the lease it was made under is the delivery's. On
/// PostgreSQL the rows are arrays, so that it is one text whatever their number, planned once
/// per connection (as the claims are, `claim.rs`); SQLite prepares each number's text once.
pub(crate) fn update_deliveries<'a>(backend: Backend, rows: &[DeliveryUpdate<'a>], now: i64) -> (String, Vec<Arg<'a>>) {
    // A delivery is parked (pending, not due) only while its endpoint is still disabled when
    // this commits: one re-enabled since the lane saw it disabled has already made its parked
    // deliveries due again (`unpark_endpoint`), and would not find this one. So it is due now
    // instead, and its lane claims it.
    let set = |now: &str| {
        format!(
            "UPDATE deliveries SET status = v.status, next_attempt_at = CASE WHEN v.status = {pending} \
             AND v.next_at IS NULL AND NOT EXISTS (SELECT 1 FROM endpoints WHERE endpoints.id = deliveries.endpoint_id \
             AND endpoints.disabled) THEN {now} ELSE v.next_at END, \
             attempts = deliveries.attempts + v.counted, manual = FALSE, lease_token = NULL, updated_at = {now}",
            pending = Pending.code()
        )
    };
    let matching = "FROM v WHERE deliveries.msg_id = v.msg_id AND deliveries.endpoint_id = v.endpoint_id \
                    AND deliveries.lease_token = v.token";
    match backend {
        Backend::Postgres => {
            let sql = format!(
                "WITH v AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
                 $6::text[]) AS v (msg_id, endpoint_id, status, next_at, counted, token)) {} {matching}",
                set("$7")
            );
            let args = vec![
                Arg::Texts(rows.iter().map(|r| r.0).collect()),
                Arg::Texts(rows.iter().map(|r| r.1).collect()),
                Arg::Ints(rows.iter().map(|r| Some(r.2)).collect()),
                Arg::Ints(rows.iter().map(|r| r.3).collect()),
                Arg::Ints(rows.iter().map(|r| Some(r.4)).collect()),
                Arg::Texts(rows.iter().map(|r| r.5).collect()),
                now.into(),
            ];
            (sql, args)
        }
        Backend::Sqlite => {
            let mut params = Params::new(backend);
            let values = params.rows(rows.len(), 6, "");
            // `?`s are bound in the order they appear: the rows, then `now` twice.
            let sql = format!(
                "WITH v (msg_id, endpoint_id, status, next_at, counted, token) AS (VALUES {values}) {} {matching}",
                set("?")
            );
            let mut args: Vec<Arg<'a>> = rows
                .iter()
                .flat_map(|r| [r.0.into(), r.1.into(), r.2.into(), r.3.into(), r.4.into(), r.5.into()])
                .collect();
            args.extend([now.into(), now.into()]);
            (sql, args)
        }
    }
}

/// Each endpoint's "failing" verdict in a batch of results (1: failing, 0: not): cleared by
/// any success in the batch, else set by a failed attempt. In endpoint order.
pub(crate) fn failing_updates<'a>(results: &[&'a AttemptResult]) -> Vec<(&'a str, i64)> {
    let mut failing: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for r in results {
        match (r.outcome, &r.attempt) {
            (DeliveryOutcome::Succeeded, _) => {
                failing.insert(r.endpoint_id.as_str(), 0);
            }
            (DeliveryOutcome::RetryAt(_) | DeliveryOutcome::Failed, Some(_)) => {
                failing.entry(r.endpoint_id.as_str()).or_insert(1);
            }
            _ => {}
        }
    }
    failing.into_iter().collect()
}

/// The statement updating endpoint queues' "failing since" from (endpoint, failing) pairs,
/// with its arguments: set if failing and not yet set, cleared if not failing. Rows whose
/// state does not change are not written. Arrays on PostgreSQL, as [`update_deliveries`].
pub(crate) fn update_failing<'a>(backend: Backend, rows: &[(&'a str, i64)], now: i64) -> (String, Vec<Arg<'a>>) {
    let update = "UPDATE endpoint_queues SET failing_since = CASE WHEN v.failing = 1 THEN";
    let matching = "ELSE NULL END FROM v WHERE endpoint_queues.endpoint_id = v.endpoint_id AND \
                    ((v.failing = 1 AND endpoint_queues.failing_since IS NULL) OR \
                    (v.failing = 0 AND endpoint_queues.failing_since IS NOT NULL))";
    match backend {
        Backend::Postgres => {
            let sql = format!(
                "WITH v AS (SELECT * FROM UNNEST($1::text[], $2::bigint[]) AS v (endpoint_id, failing)) \
                 {update} $3 {matching}"
            );
            let args = vec![
                Arg::Texts(rows.iter().map(|r| r.0).collect()),
                Arg::Ints(rows.iter().map(|r| Some(r.1)).collect()),
                now.into(),
            ];
            (sql, args)
        }
        Backend::Sqlite => {
            let mut params = Params::new(backend);
            let values = params.rows(rows.len(), 2, "");
            let sql =
                format!("WITH v (endpoint_id, failing) AS (VALUES {values}) {update} {} {matching}", params.next());
            let mut args: Vec<Arg<'a>> =
                rows.iter().flat_map(|(id, failing)| [(*id).into(), (*failing).into()]).collect();
            args.push(now.into());
            (sql, args)
        }
    }
}
