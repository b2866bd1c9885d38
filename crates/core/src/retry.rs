//! Retry policy: a schedule of delays and the pure function that picks the next one.

use std::time::Duration;

use rand::Rng;

/// Delays before each retry. Total attempts = 1 + number of entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

/// The contract's default: about 28 hours of retries.
pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// Jitter applied to every scheduled delay, as a fraction (±20 %), so that retries of many
/// messages that failed together do not arrive together.
const JITTER: f64 = 0.2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid retry schedule entry '{entry}': {reason}")]
pub struct ScheduleError {
    pub entry: String,
    pub reason: String,
}

impl RetrySchedule {
    /// Parses a comma-separated list of durations such as `5s,5m,2h` (an empty string means
    /// no retries).
    pub fn parse(s: &str) -> Result<Self, ScheduleError> {
        let mut delays = Vec::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let d = humantime::parse_duration(entry)
                .map_err(|e| ScheduleError { entry: entry.to_owned(), reason: e.to_string() })?;
            delays.push(d);
        }
        Ok(Self(delays))
    }

    /// A schedule of these delays (an event type's own, say).
    pub fn from_delays(delays: Vec<Duration>) -> Self {
        Self(delays)
    }

    pub fn delays(&self) -> &[Duration] {
        &self.0
    }

    /// Total number of attempts a delivery gets.
    pub fn max_attempts(&self) -> u32 {
        self.0.len() as u32 + 1
    }

    /// The delay before the next attempt, after `attempts_made` attempts have failed, or `None`
    /// when the schedule is exhausted.
    ///
    /// A `Retry-After` from the receiver is honoured but clamped to between the scheduled delay
    /// and twice it, so a receiver can slow us down but neither speed us up nor park a message
    /// forever.
    pub fn next_delay(
        &self,
        attempts_made: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        let index = attempts_made.checked_sub(1)? as usize;
        let scheduled = *self.0.get(index)?;
        let jittered = scheduled.mul_f64(1.0 + rng.gen_range(-JITTER..=JITTER));
        Some(match retry_after {
            Some(asked) => asked.clamp(scheduled, scheduled * 2),
            None => jittered,
        })
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::parse(DEFAULT_SCHEDULE).expect("default schedule parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::mock::StepRng;
    use rand::SeedableRng;

    #[test]
    fn parses_the_default() {
        let s = RetrySchedule::default();
        assert_eq!(s.max_attempts(), 8);
        assert_eq!(s.delays()[1], Duration::from_secs(300));
        assert!(RetrySchedule::parse("5s,soon").is_err());
        assert_eq!(RetrySchedule::parse("").unwrap().max_attempts(), 1);
    }

    #[test]
    fn delays_are_jittered_within_twenty_percent_and_end() {
        let s = RetrySchedule::parse("10s,1m").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..100 {
            let d = s.next_delay(1, None, &mut rng).unwrap();
            assert!(d >= Duration::from_secs(8) && d <= Duration::from_secs(12), "{d:?}");
        }
        assert!(s.next_delay(2, None, &mut rng).is_some());
        assert_eq!(s.next_delay(3, None, &mut rng), None);
        assert_eq!(s.next_delay(0, None, &mut rng), None);
    }

    #[test]
    fn retry_after_is_clamped() {
        let s = RetrySchedule::parse("10s").unwrap();
        let mut rng = StepRng::new(0, 1);
        let ten = Duration::from_secs(10);
        assert_eq!(s.next_delay(1, Some(Duration::from_secs(1)), &mut rng), Some(ten));
        assert_eq!(s.next_delay(1, Some(Duration::from_secs(15)), &mut rng), Some(Duration::from_secs(15)));
        assert_eq!(s.next_delay(1, Some(Duration::from_secs(3600)), &mut rng), Some(ten * 2));
    }
}
