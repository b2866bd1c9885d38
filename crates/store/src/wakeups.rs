//! Wake-ups between the nodes of a PostgreSQL cluster.
//!
//! A publish that makes a delivery due wakes this node's lane for its endpoint at once (the
//! hand-over, or `DeliveryListener::deliveries_due`). But an endpoint is leased by one node,
//! and a publish may land on another (behind a load balancer, two in three with three
//! nodes). Without a word from that node, the lane's node finds the delivery only by its
//! look for unannounced work: when that was once a second, p50 latency went from 5 ms to
//! 1.5 s with three nodes and one endpoint (BENCHMARKS.md). It is every 30 s now.
//!
//! So each publish transaction that leaves deliveries due for lanes not on its node sends a
//! `NOTIFY` naming those endpoints, which PostgreSQL delivers at commit, and every node
//! `LISTEN`s and passes what other nodes announce to its `DeliveryListener`: the same path as
//! a local wake-up. A listener that reconnects may have missed some: it tells its node so
//! ([`DeliveryListener::announcements_missed`]), and every lane looks for due work.
//!
//! Changes to endpoints travel the same way, on a channel of their own: a lane keeps its
//! endpoint's settings in memory, and without a word from the node that changed them it
//! would have to re-read them all the time (it did, once a second: with 1,000 endpoints that
//! each get a trickle, one query per delivery on PostgreSQL, BENCHMARKS.md). Every update or
//! deletion of endpoints, or of their application, names them on `hookd_changed`. Since that
//! is all a lane relies on, a listener that reconnects tells its node that it may have missed
//! announcements ([`DeliveryListener::announcements_missed`]), and every lane re-reads.

use std::sync::Arc;
use std::time::Duration;

use hookd_core::EndpointId;
use sqlx::postgres::{PgListener, PgPool};
use tracing::warn;

use crate::notify::DeliveryListener;

/// The channel every node listens on for due deliveries.
const CHANNEL: &str = "hookd_due";
/// Sends one of [`payloads`] on [`CHANNEL`]; inside a transaction, at its commit.
pub(crate) const NOTIFY_SQL: &str = "SELECT pg_notify('hookd_due', $1)";
/// The channel every node listens on for endpoints changed or deleted.
const CHANGED_CHANNEL: &str = "hookd_changed";
/// Sends one of [`payloads`] on [`CHANGED_CHANNEL`].
pub(crate) const NOTIFY_CHANGED_SQL: &str = "SELECT pg_notify('hookd_changed', $1)";
/// PostgreSQL refuses a payload of 8,000 bytes or more.
const MAX_PAYLOAD: usize = 7_000;

/// The payloads announcing that `endpoint_ids` have deliveries due: `{origin} {id},{id},…`,
/// as many as the ids need. `origin` names the sending store, which ignores its own.
pub(crate) fn payloads(origin: &str, endpoint_ids: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for id in endpoint_ids {
        if !current.is_empty() && current.len() + 1 + id.len() > MAX_PAYLOAD {
            out.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(origin);
            current.push(' ');
        } else {
            current.push(',');
        }
        current.push_str(id);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The endpoints a payload from another store names; `None` for this store's own.
fn parse<'a>(own: &str, payload: &'a str) -> Option<Vec<&'a str>> {
    let (origin, ids) = payload.split_once(' ')?;
    (origin != own).then(|| ids.split(',').filter(|id| !id.is_empty()).collect())
}

/// Listens for other nodes' announcements until the pool closes, reconnecting after errors;
/// each time it (re)starts listening, what was sent meanwhile is lost, which it says.
pub(crate) fn spawn_listener(pool: PgPool, origin: Arc<str>, listener: Arc<dyn DeliveryListener>) {
    tokio::spawn(async move {
        while !pool.is_closed() {
            let mut channel = match PgListener::connect_with(&pool).await {
                Ok(channel) => channel,
                Err(e) => {
                    if !pool.is_closed() {
                        warn!(error = %e, "listening for other nodes' wake-ups failed; retrying");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = channel.listen_all([CHANNEL, CHANGED_CHANNEL]).await {
                warn!(error = %e, "listening for other nodes' wake-ups failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            listener.announcements_missed();
            // Until the connection is lost; then reconnect.
            while let Ok(Some(notification)) = channel.try_recv().await {
                if let Some(ids) = parse(&origin, notification.payload()) {
                    let ids: Vec<EndpointId> =
                        ids.into_iter().map(|id| EndpointId::from_stored(id.to_owned())).collect();
                    if notification.channel() == CHANGED_CHANNEL {
                        ids.iter().for_each(|id| listener.endpoint_changed(id));
                    } else {
                        listener.deliveries_due(&ids);
                    }
                }
            }
            if !pool.is_closed() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notify_statement_sends_on_the_channel_listened_to() {
        assert!(NOTIFY_SQL.contains(&format!("'{CHANNEL}'")));
        assert!(NOTIFY_CHANGED_SQL.contains(&format!("'{CHANGED_CHANNEL}'")));
    }

    #[test]
    fn payloads_name_their_origin_and_stay_under_the_limit() {
        assert!(payloads("n1", &[]).is_empty());
        assert_eq!(payloads("n1", &["ep_a", "ep_b"]), ["n1 ep_a,ep_b"]);
        let id = format!("ep_{}", "X".repeat(26));
        let ids: Vec<&str> = std::iter::repeat_n(id.as_str(), 1000).collect();
        let all = payloads("n1", &ids);
        assert!(all.len() > 1 && all.iter().all(|p| p.len() < 8000));
        let back: Vec<&str> = all.iter().flat_map(|p| parse("other", p).unwrap()).collect();
        assert_eq!(back.len(), 1000);
        assert_eq!(parse("n1", &all[0]), None, "a store ignores its own");
    }
}
