//! Fixed-bucket histograms (dyn_histogram.c): latencies in µs, sizes in
//! bytes and queue depths, after Cassandra's EstimatedHistogram.
//!
//! ```text
//!  record(v) ─► bucket_index(v): largest HISTO_BOUNDS[i] <= v ─► buckets[i] += 1
//!  summary() ─► max, p999, p99, p95, mean (from the buckets' lower bounds)
//! ```

/// Number of histogram buckets.
pub const HISTO_BUCKETS: usize = 94;

/// Lower bound of each bucket: 1, then ×1.2 rounded down, +1 when that
/// would not grow. Integer arithmetic gives the same bounds as the
/// original's floating point.
pub const HISTO_BOUNDS: [u64; HISTO_BUCKETS] = histo_bounds();

const fn histo_bounds() -> [u64; HISTO_BUCKETS] {
    let mut bounds = [0u64; HISTO_BUCKETS];
    bounds[0] = 1;
    let mut i = 1;
    while i < HISTO_BUCKETS {
        let last = bounds[i - 1];
        let next = last * 6 / 5;
        bounds[i] = if next == last { next + 1 } else { next };
        i += 1;
    }
    bounds
}

const _: () = assert!(HISTO_BOUNDS[0] == 1);
const _: () = assert!(HISTO_BOUNDS[HISTO_BUCKETS - 1] == 36_157_192);

/// A fixed-bucket histogram of non-negative integer samples (µs, bytes or
/// queue depths), after Cassandra's EstimatedHistogram as the original.
///
/// A sample goes to the bucket with the largest lower bound ≤ the sample;
/// 0 goes to the first bucket, anything from the last bound up to the last
/// bucket (the original put values above the last bound in the
/// second-to-last bucket, which understated them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    /// Sample count of each bucket.
    buckets: [u64; HISTO_BUCKETS],
    /// Number of samples since the last reset.
    count: u64,
    /// Exact sum of the samples since the last reset (saturating).
    sum: u64,
    /// Largest sample since the last reset.
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// The figures `/info` shows for one histogram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoSummary {
    /// Largest sample.
    pub max: u64,
    /// 99.9th percentile (bucket lower bound).
    pub p999: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 95th percentile.
    pub p95: u64,
    /// Mean from the bucket lower bounds, rounded up.
    pub mean: u64,
}

impl Histogram {
    /// An empty histogram.
    pub const fn new() -> Self {
        Histogram {
            buckets: [0; HISTO_BUCKETS],
            count: 0,
            sum: 0,
            max: 0,
        }
    }

    /// Index of the bucket a value falls in.
    pub fn bucket_index(value: u64) -> usize {
        let above = HISTO_BOUNDS.partition_point(|&b| b <= value);
        let index = above.saturating_sub(1);
        debug_assert!(index < HISTO_BUCKETS);
        index
    }

    /// Adds one sample.
    pub fn record(&mut self, value: u64) {
        let index = Self::bucket_index(value);
        self.buckets[index] += 1;
        self.count += 1;
        self.sum = self.sum.saturating_add(value);
        self.max = self.max.max(value);
    }

    /// Adds every sample of `other`, as if each had been recorded here.
    pub fn merge(&mut self, other: &Histogram) {
        for (b, o) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *b += o;
        }
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
    }

    /// Empties the histogram.
    pub fn reset(&mut self) {
        *self = Histogram::new();
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Exact sum of the samples.
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// Largest sample, 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Per-bucket sample counts; bucket `i` covers
    /// `HISTO_BOUNDS[i] ..= HISTO_BOUNDS[i + 1] - 1` (and 0 for the first,
    /// everything above for the last).
    pub fn buckets(&self) -> &[u64; HISTO_BUCKETS] {
        &self.buckets
    }

    /// Lower bound of the first bucket whose cumulative count reaches
    /// ⌊count × q⌋ (at least one sample), `q` in 0.0..=1.0. 0 when empty
    /// (the original reported 1).
    pub fn percentile(&self, q: f64) -> u64 {
        debug_assert!((0.0..=1.0).contains(&q));
        if self.count == 0 {
            return 0;
        }
        let wanted = ((self.count as f64 * q).floor() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                return HISTO_BOUNDS[i];
            }
        }
        debug_assert!(false, "bucket counts do not add up to count");
        HISTO_BOUNDS[HISTO_BUCKETS - 1]
    }

    /// ⌈Σ(bucket count × lower bound) / count⌉, 0 when empty.
    pub fn mean(&self) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let total: u128 = self
            .buckets
            .iter()
            .zip(HISTO_BOUNDS.iter())
            .map(|(&n, &b)| u128::from(n) * u128::from(b))
            .sum();
        let count = u128::from(self.count);
        u64::try_from(total.div_ceil(count)).unwrap_or(u64::MAX)
    }

    /// max, p99.9, p99, p95 and mean.
    pub fn summary(&self) -> HistoSummary {
        HistoSummary {
            max: self.max(),
            p999: self.percentile(0.999),
            p99: self.percentile(0.99),
            p95: self.percentile(0.95),
            mean: self.mean(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bounds() {
        let first = [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 19, 22, 26, 31, 37, 44, 52,
        ];
        assert_eq!(&HISTO_BOUNDS[..first.len()], &first);
        assert_eq!(HISTO_BOUNDS.len(), 94);
        assert_eq!(HISTO_BOUNDS[93], 36_157_192);
        assert_eq!(HISTO_BOUNDS[92], 30_130_994);
        assert!(HISTO_BOUNDS.windows(2).all(|w| w[0] < w[1]));
        // Same bounds as the original's floating-point computation.
        let mut last = 1u64;
        for &b in HISTO_BOUNDS.iter().skip(1) {
            let mut next = (last as f64 * 1.2).floor() as u64;
            if next == last {
                next += 1;
            }
            assert_eq!(b, next);
            last = next;
        }
    }

    #[test]
    fn histogram_bucket_index() {
        let cases: [(u64, usize); 9] = [
            (0, 0),
            (1, 0),
            (2, 1),
            (10, 9),
            (11, 9),
            (12, 10),
            (13, 10),
            (36_157_192, 93),
            (u64::MAX, 93),
        ];
        for (value, index) in cases {
            assert_eq!(Histogram::bucket_index(value), index, "value {value}");
        }
    }

    #[test]
    fn histogram_empty_reports_zero() {
        let h = Histogram::new();
        assert_eq!(h.summary(), HistoSummary::default());
        assert_eq!(h.percentile(0.5), 0);
        assert!(h.is_empty());
    }

    #[test]
    fn histogram_percentiles() {
        let mut h = Histogram::new();
        for v in 1..=1000u64 {
            h.record(v);
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.max(), 1000);
        assert_eq!(h.sum(), 500_500);
        // Cumulative count reaches 950 inside the bucket starting at 947.
        let p95 = h.percentile(0.95);
        assert_eq!(p95, HISTO_BOUNDS[Histogram::bucket_index(950)]);
        assert_eq!(
            h.percentile(0.99),
            HISTO_BOUNDS[Histogram::bucket_index(990)]
        );
        assert_eq!(
            h.percentile(0.999),
            HISTO_BOUNDS[Histogram::bucket_index(999)]
        );
        assert!(h.percentile(0.999) <= 999);
        assert_eq!(
            h.percentile(1.0),
            HISTO_BOUNDS[Histogram::bucket_index(1000)]
        );
        // Mean from lower bounds, rounded up: below the exact 500.5.
        let mean = h.mean();
        assert!(mean <= 501 && mean > 450, "mean {mean}");

        let cases: [(&[u64], HistoSummary); 3] = [
            (
                &[5],
                HistoSummary {
                    max: 5,
                    p999: 5,
                    p99: 5,
                    p95: 5,
                    mean: 5,
                },
            ),
            (
                &[1, 3],
                HistoSummary {
                    max: 3,
                    p999: 1,
                    p99: 1,
                    p95: 1,
                    mean: 2,
                },
            ),
            (
                &[0, 0, 0, 100],
                HistoSummary {
                    max: 100,
                    p999: 1,
                    p99: 1,
                    p95: 1,
                    mean: 23,
                },
            ),
        ];
        for (samples, want) in cases {
            let mut h = Histogram::new();
            for &s in samples {
                h.record(s);
            }
            assert_eq!(h.summary(), want, "samples {samples:?}");
        }

        let mut merged = Histogram::new();
        let mut other = Histogram::new();
        let mut both = Histogram::new();
        for v in [0, 7, 150, 36_157_192, u64::MAX] {
            merged.record(v);
            both.record(v);
        }
        for v in [3, 150, 9_999] {
            other.record(v);
            both.record(v);
        }
        merged.merge(&other);
        assert_eq!(merged, both);

        h.reset();
        assert!(h.is_empty());
        assert_eq!(h.max(), 0);
        assert_eq!(h.sum(), 0);
    }
}
