//! Where an order's time goes: a lock-free latency histogram per stage of its path through the
//! shop (checkout, its commit, the driver's commits, the outbox), so a benchmark or an operator
//! can see which stage sets the pace without a profiler. Recording is a few atomic adds.

use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// A stage of an order's path through the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `Shop::checkout` from start to answer (reads, payment hold, commit, signals).
    Checkout,
    /// The payment hold a checkout asks for before placing (the gateway's journal write).
    CheckoutPayment,
    /// The transaction that places an order (order, reservations, cart, idempotency key).
    CheckoutCommit,
    /// One commit of the fulfilment driver (order changes, stock, outbox, link states).
    DriverCommit,
    /// One incoming message's events decided and committed ([`crate::driver::FulfilmentDriver::handle_batch`]).
    EventBatch,
    /// One outbox pass: entries read, handed to their ports, marked done.
    OutboxPass,
}

impl Stage {
    /// Every stage, in the order of an order's path.
    pub const ALL: [Stage; 6] = [
        Stage::Checkout,
        Stage::CheckoutPayment,
        Stage::CheckoutCommit,
        Stage::DriverCommit,
        Stage::EventBatch,
        Stage::OutboxPass,
    ];

    /// The stage's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Checkout => "checkout",
            Stage::CheckoutPayment => "checkout payment",
            Stage::CheckoutCommit => "checkout commit",
            Stage::DriverCommit => "driver commit",
            Stage::EventBatch => "event batch",
            Stage::OutboxPass => "outbox pass",
        }
    }
}

/// Buckets per doubling of the duration: each bucket is about 19% wide.
const PER_OCTAVE: f64 = 4.0;
/// 1 µs to about 4,000 s.
const BUCKETS: usize = 128;

/// A histogram of durations with logarithmic buckets.
struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    total_micros: AtomicU64,
    max_micros: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            total_micros: AtomicU64::new(0),
            max_micros: AtomicU64::new(0),
        }
    }

    fn bucket(micros: u64) -> usize {
        if micros <= 1 {
            return 0;
        }
        ((micros as f64).log2() * PER_OCTAVE)
            .ceil()
            .min((BUCKETS - 1) as f64) as usize
    }

    /// The upper bound of bucket `index`, in µs.
    fn upper(index: usize) -> f64 {
        (index as f64 / PER_OCTAVE).exp2()
    }

    fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.buckets[Self::bucket(micros)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_micros.fetch_add(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    fn summary(&self) -> StageSummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let count: u64 = counts.iter().sum();
        let max = Duration::from_micros(self.max_micros.load(Ordering::Relaxed));
        let quantile = |q: f64| {
            if count == 0 {
                return Duration::ZERO;
            }
            let rank = ((count as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (index, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return Duration::from_secs_f64(Self::upper(index) / 1e6).min(max);
                }
            }
            max
        };
        let total = Duration::from_micros(self.total_micros.load(Ordering::Relaxed));
        StageSummary {
            count,
            total,
            p50: quantile(0.50),
            p90: quantile(0.90),
            p99: quantile(0.99),
            max,
        }
    }
}

/// What one stage took so far. Quantiles are bucket bounds: at most about 19% above the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageSummary {
    /// Times the stage ran.
    pub count: u64,
    /// Time spent in it, in all.
    pub total: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Longest.
    pub max: Duration,
}

impl fmt::Display for StageSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "{:>7} × p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  total {:>8.2} s",
            self.count,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max),
            self.total.as_secs_f64()
        )
    }
}

/// A histogram per [`Stage`].
pub struct StageTimes {
    stages: [Histogram; Stage::ALL.len()],
}

impl Default for StageTimes {
    fn default() -> Self {
        Self {
            stages: std::array::from_fn(|_| Histogram::new()),
        }
    }
}

impl fmt::Debug for StageTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.summaries()).finish()
    }
}

impl StageTimes {
    /// Records that `stage` took `elapsed`.
    pub fn record(&self, stage: Stage, elapsed: Duration) {
        self.stages[stage as usize].record(elapsed);
    }

    /// Records the time since `started` for `stage`.
    pub fn since(&self, stage: Stage, started: Instant) {
        self.record(stage, started.elapsed());
    }

    /// What `stage` took so far.
    pub fn summary(&self, stage: Stage) -> StageSummary {
        self.stages[stage as usize].summary()
    }

    /// Every stage with its summary, in path order.
    pub fn summaries(&self) -> Vec<(&'static str, StageSummary)> {
        Stage::ALL
            .iter()
            .map(|&s| (s.name(), self.summary(s)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_in_the_bucket_of_the_true_value() {
        let times = StageTimes::default();
        for ms in 1..=100 {
            times.record(Stage::DriverCommit, Duration::from_millis(ms));
        }
        let summary = times.summary(Stage::DriverCommit);
        assert_eq!(summary.count, 100);
        assert_eq!(summary.max, Duration::from_millis(100));
        assert_eq!(summary.total, Duration::from_millis(5050));
        for (quantile, truth) in [
            (summary.p50, 50.0),
            (summary.p90, 90.0),
            (summary.p99, 99.0),
        ] {
            let ms = quantile.as_secs_f64() * 1e3;
            assert!(
                ms >= truth && ms <= truth * 1.2,
                "{ms} ms for a true {truth} ms"
            );
        }
        assert_eq!(times.summary(Stage::Checkout).count, 0);
        assert_eq!(times.summary(Stage::Checkout).p99, Duration::ZERO);
    }

    #[test]
    fn a_duration_past_the_last_bucket_is_counted_there() {
        let times = StageTimes::default();
        times.record(Stage::OutboxPass, Duration::from_secs(1 << 40));
        times.record(Stage::OutboxPass, Duration::ZERO);
        let summary = times.summary(Stage::OutboxPass);
        assert_eq!(summary.count, 2);
        assert!(summary.p99 > Duration::from_secs(3000), "{summary}");
        assert_eq!(summary.p50, Duration::from_micros(1));
    }
}
