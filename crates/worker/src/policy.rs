//! What a lane decides, apart from what it does: how many attempts may be in flight, when the
//! next may start (rate limit, slow-down), how many deliveries to claim, and what an answer
//! means for the endpoint. Pure: it reads no clock (every method is given `now`), touches no
//! database and sends nothing, so it is unit-tested here under paused time, and the lane
//! (`lane.rs`) only carries out its verdicts.

use std::time::Duration;

use tokio::time::Instant;

/// Slow-down after 429/502/504: doubles from the first value up to the second.
pub(crate) const SLOW_FIRST: Duration = Duration::from_secs(1);
pub(crate) const SLOW_MAX: Duration = Duration::from_secs(60);
/// Deliveries claimed at a time, per attempt the endpoint may have in flight, up to a cap
/// (bounded, so memory stays flat however long the backlog on disk).
pub(crate) const CLAIM_AHEAD: usize = 16;
pub(crate) const MAX_CLAIM: usize = 128;
/// Answered attempts whose results may wait to be recorded, in rounds of the endpoint's
/// concurrency. A result waits for the next group commit (on SQLite, with the publishes), so
/// a fast endpoint needs a few rounds to keep sending meanwhile; the bound is what a node
/// killed at the wrong moment sends twice.
pub(crate) const RECORDING_ROUNDS: usize = 4;

/// What an answer asks of the lane besides its own bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing more.
    Carry,
    /// 410 Gone: disable the endpoint now.
    Disable,
    /// A failed attempt: see whether the endpoint has now failed for too long
    /// ([`failing_too_long`]).
    CheckFailing,
}

/// How an attempt ended, as the policy needs it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Answer {
    /// The endpoint's status code; `None` when it gave no answer (a timeout, a refused
    /// connection).
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    /// Whether the delivery failed (for now or for good).
    pub failed: bool,
    /// From the attempt's start to its end.
    pub took: Duration,
}

/// One endpoint's limits and their state.
#[derive(Debug)]
pub(crate) struct Policy {
    /// The endpoint's cap on attempts in flight (`--endpoint-concurrency`; 1 when FIFO).
    cap: usize,
    /// Attempts this lane lets be in flight, up to the cap: it starts at one, opens by one with
    /// every answer and halves with every attempt that got none (a timeout, a refused
    /// connection). An endpoint that hangs thus ties up one connection rather than the whole
    /// cap, while a healthy one reaches the cap within its first few answers.
    window: usize,
    /// How long the last finished attempt took, from its start to its answer or its timeout.
    last_took: Option<Duration>,
    pacer: Pacer,
    slow_until: Option<Instant>,
    slow_step: Duration,
}

impl Policy {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            window: 1,
            last_took: None,
            pacer: Pacer::default(),
            slow_until: None,
            slow_step: Duration::ZERO,
        }
    }

    /// The endpoint's rate limit (deliveries per second), if any.
    pub fn set_rate(&mut self, rate: Option<i64>) {
        self.pacer.rate = rate.filter(|r| *r > 0);
    }

    /// Attempts that may start now, with `in_flight` attempts running of which `recording`
    /// have their answer and only wait to be written: a slot is free once its answer is in, but
    /// at most [`RECORDING_ROUNDS`] rounds of results may wait. A FIFO endpoint has one slot.
    pub fn capacity(&self, fifo: bool, in_flight: usize, recording: usize) -> usize {
        let cap = if fifo { 1 } else { self.cap };
        let sending = in_flight.saturating_sub(recording);
        let window = self.window.min(cap);
        window.saturating_sub(sending).min(((1 + RECORDING_ROUNDS) * cap).saturating_sub(in_flight))
    }

    /// How many deliveries to claim with `queued` already claimed and not started: FIFO only
    /// ever the head; otherwise some rounds ahead, at most one second's worth under a rate
    /// limit, and no more than `depth` waiting (see [`Policy::depth`]). Zero while enough are
    /// queued.
    pub fn claim_limit(&self, fifo: bool, queued: usize, depth: usize) -> usize {
        let round = if fifo { 1 } else { self.cap };
        if queued >= round {
            return 0;
        }
        let mut limit = if fifo { 1 } else { (round * CLAIM_AHEAD).min(MAX_CLAIM).saturating_sub(queued) };
        if let Some(per_second) = self.pacer.rate {
            limit = limit.min(per_second.max(1) as usize);
        }
        limit.min(depth.saturating_sub(queued))
    }

    /// How many claimed deliveries the lane should hold waiting to start: as many as it can
    /// start before their lease runs out (`fresh_for` after their claim), at the pace its
    /// attempts end. That pace is the window's attempts each taking as long as the last one
    /// did, or longer when attempts have been sending without a single answer for `quiet`.
    /// At least one. Until the endpoint's first answer, a round of claims ahead of the window
    /// (the lane has no evidence yet: a healthy endpoint answers within milliseconds, and one
    /// that hangs would otherwise be handed a full queue and a full inbox at the start, a row
    /// each per message for its first second, all given back at its first timeout).
    ///
    /// Without it, a lane whose endpoint hangs claimed a full queue ahead and took as many
    /// hand-overs, then released them all unstarted when their lease ran short and claimed as
    /// many again: every request timeout, about 380 row writes per hanging endpoint for one
    /// attempt (measured: with 100 hanging endpoints, waves of 2 s of the commit thread every
    /// 16 s, and the healthy endpoint's slowest deliveries in them; BENCHMARKS.md, twentieth
    /// session). Now it holds one, and its other messages wait in its backlog, which costs no
    /// row.
    pub fn depth(&self, fresh_for: Duration, quiet: Option<Duration>) -> usize {
        let took = self.last_took.into_iter().chain(quiet).max().filter(|t| !t.is_zero());
        let starts = took.map_or(u128::MAX, |t| self.window as u128 * fresh_for.as_nanos() / t.as_nanos());
        let starts = usize::try_from(starts).unwrap_or(usize::MAX).max(1);
        match self.last_took {
            None => starts.min(self.window * CLAIM_AHEAD),
            Some(_) => starts,
        }
    }

    /// How long the lane is still slowed down after a 429/502/504, if it is.
    pub fn slowed(&self, now: Instant) -> Option<Duration> {
        let until = self.slow_until?;
        (until > now).then(|| until - now)
    }

    /// How long until the rate limit lets the next attempt start, if it holds it back.
    pub fn pace(&self, now: Instant) -> Option<Duration> {
        self.pacer.wait(now)
    }

    /// An attempt starts now (the rate limit counts it).
    pub fn started(&mut self, now: Instant) {
        self.pacer.consume(now);
    }

    /// An attempt ended after `took`: `status` is the endpoint's answer (`None`: it gave
    /// none), with the `Retry-After` it asked for; `failed` whether the delivery failed (for
    /// now or for good).
    pub fn answered(&mut self, answer: Answer, now: Instant) -> Verdict {
        let Answer { status, retry_after, failed, took } = answer;
        self.last_took = Some(took);
        self.window = match status {
            Some(_) => (self.window + 1).min(self.cap),
            None => (self.window / 2).max(1),
        };
        match status {
            Some(410) => return Verdict::Disable,
            Some(429 | 502 | 504) => {
                self.slow_step = (self.slow_step * 2).clamp(SLOW_FIRST, SLOW_MAX);
                let pause = retry_after.map_or(self.slow_step, |asked| asked.clamp(SLOW_FIRST, SLOW_MAX));
                self.slow_until = Some(now + pause);
            }
            Some(200..=299) => {
                self.slow_step = Duration::ZERO;
                self.slow_until = None;
            }
            _ => {}
        }
        if failed {
            Verdict::CheckFailing
        } else {
            Verdict::Carry
        }
    }
}

/// Whether an endpoint failing without a single success since `since_ms` has failed for too
/// long at `now_ms` (`--disable-after`).
pub(crate) fn failing_too_long(since_ms: i64, now_ms: i64, limit: Duration) -> bool {
    now_ms - since_ms >= limit.as_millis() as i64
}

/// Spaces attempt starts to honour a rate limit (deliveries per second). A lane that fell
/// behind does not catch up in a burst: the next start is one interval after the later of
/// the planned time and now.
#[derive(Debug, Default)]
struct Pacer {
    rate: Option<i64>,
    next: Option<Instant>,
}

impl Pacer {
    fn interval(&self) -> Option<Duration> {
        self.rate.map(|r| Duration::from_secs_f64(1.0 / r as f64))
    }

    fn wait(&self, now: Instant) -> Option<Duration> {
        self.interval()?;
        let next = self.next?;
        (next > now).then(|| next - now)
    }

    fn consume(&mut self, now: Instant) {
        if let Some(interval) = self.interval() {
            self.next = Some(self.next.map_or(now, |n| n.max(now)) + interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// An answer that took a millisecond.
    fn ans(status: Option<u16>, retry_after: Option<Duration>, failed: bool) -> Answer {
        Answer { status, retry_after, failed, took: MS }
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_opens_with_answers_and_halves_without() {
        let now = Instant::now();
        let mut p = Policy::new(8);
        assert_eq!(p.capacity(false, 0, 0), 1, "one attempt at first");
        for _ in 0..3 {
            p.answered(ans(Some(500), None, true), now);
        }
        assert_eq!(p.capacity(false, 0, 0), 4, "any answer opens it by one, even a failure");
        for _ in 0..10 {
            p.answered(ans(Some(200), None, false), now);
        }
        assert_eq!(p.capacity(false, 0, 0), 8, "never past the cap");
        assert_eq!(p.capacity(false, 5, 0), 3, "attempts sending take slots");
        assert_eq!(p.capacity(false, 5, 5), 8, "answered ones waiting to be recorded do not");
        assert_eq!(p.capacity(false, 40, 40), 0, "but at most four rounds may wait");
        p.answered(ans(None, None, true), now);
        assert_eq!(p.capacity(false, 0, 0), 4, "no answer halves it");
        for _ in 0..5 {
            p.answered(ans(None, None, true), now);
        }
        assert_eq!(p.capacity(false, 0, 0), 1, "down to one, never zero");
        assert_eq!(Policy::new(8).capacity(true, 0, 0), 1);
        let mut fifo = Policy::new(8);
        fifo.answered(ans(Some(200), None, false), now);
        assert_eq!(fifo.capacity(true, 0, 0), 1, "FIFO: one at a time whatever the window");
        assert_eq!(fifo.capacity(true, 1, 0), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spaces_starts_and_never_bursts_to_catch_up() {
        let mut p = Policy::new(8);
        assert_eq!(p.pace(Instant::now()), None, "no limit, no wait");
        p.set_rate(Some(20));
        let t0 = Instant::now();
        assert_eq!(p.pace(t0), None, "the first start is free");
        p.started(t0);
        assert_eq!(p.pace(t0), Some(50 * MS));
        tokio::time::advance(20 * MS).await;
        assert_eq!(p.pace(Instant::now()), Some(30 * MS));
        tokio::time::advance(30 * MS).await;
        assert_eq!(p.pace(Instant::now()), None);
        p.started(Instant::now());
        // Idle for a second: one start now, then the spacing again, not 20 at once.
        tokio::time::advance(Duration::from_secs(1)).await;
        let later = Instant::now();
        assert_eq!(p.pace(later), None);
        p.started(later);
        assert_eq!(p.pace(later), Some(50 * MS));
        p.set_rate(Some(0));
        assert_eq!(p.pace(later), None, "0 means no limit");
    }

    #[tokio::test(start_paused = true)]
    async fn slow_down_doubles_honours_retry_after_and_lifts_on_success() {
        let t0 = Instant::now();
        let mut p = Policy::new(8);
        assert_eq!(p.answered(ans(Some(429), None, true), t0), Verdict::CheckFailing);
        assert_eq!(p.slowed(t0), Some(SLOW_FIRST));
        p.answered(ans(Some(503), None, true), t0);
        assert_eq!(p.slowed(t0), Some(SLOW_FIRST), "503 is an ordinary failure");
        p.answered(ans(Some(502), None, true), t0);
        assert_eq!(p.slowed(t0), Some(2 * SLOW_FIRST), "doubles");
        p.answered(ans(Some(504), Some(Duration::from_secs(7)), true), t0);
        assert_eq!(p.slowed(t0), Some(Duration::from_secs(7)), "the Retry-After asked for");
        p.answered(ans(Some(429), Some(Duration::from_secs(3600)), true), t0);
        assert_eq!(p.slowed(t0), Some(SLOW_MAX), "clamped");
        for _ in 0..10 {
            p.answered(ans(Some(429), None, true), t0);
        }
        assert_eq!(p.slowed(t0), Some(SLOW_MAX), "the step stops doubling at the max");
        tokio::time::advance(SLOW_MAX).await;
        assert_eq!(p.slowed(Instant::now()), None, "over by itself");
        p.answered(ans(Some(429), None, true), Instant::now());
        assert_eq!(p.answered(ans(Some(204), None, false), Instant::now()), Verdict::Carry);
        assert_eq!(p.slowed(Instant::now()), None, "a success lifts it");
        p.answered(ans(Some(429), None, true), Instant::now());
        assert_eq!(p.slowed(Instant::now()), Some(SLOW_FIRST), "and starts the steps over");
    }

    #[tokio::test(start_paused = true)]
    async fn gone_disables_and_failing_too_long_is_a_matter_of_time() {
        let now = Instant::now();
        let mut p = Policy::new(8);
        assert_eq!(p.answered(ans(Some(410), None, true), now), Verdict::Disable);
        assert_eq!(p.answered(ans(None, None, true), now), Verdict::CheckFailing, "a timeout is a failure");
        assert_eq!(p.answered(ans(Some(200), None, false), now), Verdict::Carry);
        let five_days = Duration::from_secs(5 * 24 * 3600);
        assert!(!failing_too_long(0, five_days.as_millis() as i64 - 1, five_days));
        assert!(failing_too_long(0, five_days.as_millis() as i64, five_days));
    }

    #[test]
    fn claims_fifo_heads_one_at_a_time_and_at_most_a_second_under_a_rate_limit() {
        let mut p = Policy::new(8);
        let any = usize::MAX;
        assert_eq!(p.claim_limit(true, 0, any), 1, "FIFO: only the head");
        assert_eq!(p.claim_limit(true, 1, any), 0, "and not while it waits");
        assert_eq!(p.claim_limit(false, 0, any), MAX_CLAIM, "8 x 16 ahead, capped");
        assert_eq!(p.claim_limit(false, 7, any), MAX_CLAIM - 7);
        assert_eq!(p.claim_limit(false, 8, any), 0, "a round queued is enough");
        assert_eq!(p.claim_limit(false, 2, 5), 3, "no more waiting than the depth");
        assert_eq!(p.claim_limit(false, 5, 5), 0);
        p.set_rate(Some(20));
        assert_eq!(p.claim_limit(false, 0, any), 20, "a second's worth");
        assert_eq!(Policy::new(2).claim_limit(false, 0, any), 32);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lane_holds_no_more_than_it_can_start_before_the_lease_runs_short() {
        let now = Instant::now();
        let fresh_for = Duration::from_secs(14);
        let mut p = Policy::new(8);
        assert_eq!(p.depth(fresh_for, None), CLAIM_AHEAD, "no answer yet: a round ahead of the window");
        assert_eq!(p.depth(fresh_for, Some(Duration::from_secs(2))), 7, "one attempt silent for 2 s: 7 in 14 s");
        p.answered(Answer { status: None, failed: true, took: Duration::from_secs(15), ..Answer::default() }, now);
        assert_eq!(p.depth(fresh_for, None), 1, "a timeout: one at a time, and at least one");
        p.answered(Answer { status: Some(200), took: 2 * MS, ..Answer::default() }, now);
        assert_eq!(p.depth(fresh_for, None), 14_000, "fast answers: as deep as claims go (window 2)");
        assert_eq!(p.depth(fresh_for, Some(Duration::from_secs(7))), 4, "unless attempts have gone silent since");
        assert_eq!(p.depth(Duration::ZERO, None), 1);
    }
}
