//! A delivery's state in SQL, built from [`DeliveryStatus`] so that no statement spells a
//! state's number, and with the two derived states defined once:
//!
//! - **parked**: pending with no due time. A delivery to a disabled endpoint waits like this,
//!   attempted never, until the endpoint is enabled again (`unpark_endpoint`).
//! - **handed over**: sending with no due time. A publish stored it leased to a lane of its
//!   node and handed it over in memory (`notify.rs`); its lease runs from `updated_at`. A
//!   claimed delivery, by contrast, is sending with its lease's end as its due time.
//!
//! Every other pending delivery is due at `next_attempt_at`; success, fail and canceled are
//! final.

use std::sync::LazyLock;

use crate::DeliveryStatus::{self, Canceled, Fail, Pending, Sending, Success};

/// `status = <state>`, for `SET` and `WHERE` alike. (A condition here may follow a table
/// name and its dot: `d.` + `UNFINISHED`.)
pub(crate) fn is(state: DeliveryStatus) -> String {
    format!("status = {}", state.code())
}

/// Not finished: pending (due, parked or scheduled) or sending.
pub(crate) static UNFINISHED: LazyLock<String> =
    LazyLock::new(|| format!("status IN ({}, {})", Pending.code(), Sending.code()));

/// Finished: delivered, failed for good, or canceled.
pub(crate) static FINISHED: LazyLock<String> =
    LazyLock::new(|| format!("status IN ({}, {}, {})", Success.code(), Fail.code(), Canceled.code()));

/// Parked (see the module documentation).
pub(crate) static PARKED: LazyLock<String> =
    LazyLock::new(|| format!("status = {} AND next_attempt_at IS NULL", Pending.code()));

/// Handed over (see the module documentation).
pub(crate) static HANDED_OVER: LazyLock<String> =
    LazyLock::new(|| format!("status = {} AND next_attempt_at IS NULL", Sending.code()));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_name_the_states_by_their_numbers() {
        assert_eq!(is(Fail), "status = 2");
        assert_eq!(*UNFINISHED, "status IN (1, 3)");
        assert_eq!(*FINISHED, "status IN (0, 2, 4)");
        assert_eq!(*PARKED, "status = 1 AND next_attempt_at IS NULL");
        assert_eq!(*HANDED_OVER, "status = 3 AND next_attempt_at IS NULL");
    }
}
