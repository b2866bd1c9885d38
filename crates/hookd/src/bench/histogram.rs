//! A lock-free latency histogram with bounded memory.
//!
//! A run may record millions of deliveries; keeping every sample would grow with the run, so
//! values (microseconds) are counted in log-linear buckets instead: exact below 64 µs, then 64
//! buckets per power of two, which bounds the error of any quantile to under 1%.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two; 64 keeps the relative error below 1/64.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Largest power of two tracked (2^40 µs is about 12 days); larger values are clamped.
const MAX_EXP: u32 = 40;
const BUCKETS: usize = (SUB + (MAX_EXP + 1 - SUB_BITS) as u64 * SUB) as usize;

pub struct Histogram {
    counts: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(), max: AtomicU64::new(0) }
    }
}

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = (63 - v.leading_zeros()).min(MAX_EXP);
    let v = v.min((1 << (MAX_EXP + 1)) - 1);
    let sub = (v >> (exp - SUB_BITS)) & (SUB - 1);
    (SUB + (exp - SUB_BITS) as u64 * SUB + sub) as usize
}

/// The middle of bucket `i`, the value reported for samples counted there.
fn value_of(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let exp = (i - SUB) / SUB + SUB_BITS as u64;
    let sub = (i - SUB) % SUB;
    let width = 1u64 << (exp - SUB_BITS as u64);
    (1 << exp) + sub * width + width / 2
}

impl Histogram {
    pub fn record(&self, micros: u64) {
        self.counts[index(micros)].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(micros, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The value at quantile `q` (0..=1) in microseconds; 0 when empty. Never above the max.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= rank {
                return value_of(i).min(self.max());
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact_and_large_ones_within_one_percent() {
        for v in [0u64, 1, 63, 64, 65, 1000, 12_345, 1_000_000, 987_654_321] {
            let got = value_of(index(v));
            let err = got.abs_diff(v) as f64 / v.max(1) as f64;
            assert!(err < 0.01, "{v} -> {got}");
        }
        assert!(index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles_follow_the_samples() {
        let h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 10);
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.max(), 10_000);
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 5000.0).abs() / 5000.0 < 0.01, "{p50}");
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(Histogram::default().quantile(0.99), 0);
    }
}
