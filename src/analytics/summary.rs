//! The mergeable statistics of a set of quality scores: counts, sums and a fixed 0.5-point
//! histogram over 0–100. Sums are kept in fixed point (nano-points, in `i128`), so merging
//! two summaries equals summarizing the concatenation exactly, whatever the order: a report
//! is bit-identical however its records arrived.

use crate::domain::{Polarity, QualityReading};

/// Histogram bins: 0.5 quality points wide, the last bin holding exactly 100.
pub const BINS: usize = 201;

/// Fixed-point scale of the sums: one unit is 10⁻⁹ quality points.
const NANO: f64 = 1e9;

#[inline]
fn to_nano(q: f64) -> i128 {
    i128::from((q * NANO).round() as i64)
}

/// The mergeable statistics of a set of quality scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Values summarized.
    pub n: u64,
    /// Values pushed one by one (with squares and histogram); less than `n` when some came
    /// from pre-aggregated cells (transcript aggregates).
    pub detailed: u64,
    /// Sum of quality scores, in nano-points.
    pub sum_nano: i128,
    /// Sum of squared quality scores in nano-points² (detailed values only).
    pub sum_sq_nano: i128,
    /// Smallest score.
    pub min: f64,
    /// Largest score.
    pub max: f64,
    /// Counts of positive, neutral, negative.
    pub polarity: [u64; 3],
    /// Scores below the action threshold.
    pub action_required: u64,
    hist: Option<Box<[u32; BINS]>>,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            n: 0,
            detailed: 0,
            sum_nano: 0,
            sum_sq_nano: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            polarity: [0; 3],
            action_required: 0,
            hist: None,
        }
    }
}

/// Sample variance (n − 1) from exact fixed-point sums; `None` below two values.
fn sample_variance(n: u64, sum_nano: i128, sum_sq_nano: i128) -> Option<f64> {
    if n < 2 {
        return None;
    }
    // n·Σq² − (Σq)² exactly while it fits, then in floating point (deterministic either way).
    let spread = (n as i128)
        .checked_mul(sum_sq_nano)
        .and_then(|a| {
            sum_nano
                .checked_mul(sum_nano)
                .and_then(|b| a.checked_sub(b))
        })
        .map(|d| d as f64)
        .unwrap_or_else(|| {
            let (nf, s, ss) = (n as f64, sum_nano as f64, sum_sq_nano as f64);
            nf * ss - s * s
        });
    let nf = n as f64;
    Some((spread / (nf * (nf - 1.0)) / (NANO * NANO)).max(0.0))
}

/// Count, sum and sum of squares of detailed quality scores, in the same exact fixed point
/// as [`Summary`] (so merging is order-independent too), without polarity or histogram: the
/// per-stratum cells of case-mix adjustment, one per (agent, queue, media type, day).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moments {
    /// Values.
    pub n: u64,
    /// Sum, in nano-points.
    pub sum_nano: i128,
    /// Sum of squares, in nano-points².
    pub sum_sq_nano: i128,
}

impl Moments {
    /// Adds one quality score.
    #[inline]
    pub fn push(&mut self, q: f64) {
        let nano = to_nano(q);
        self.n += 1;
        self.sum_nano += nano;
        self.sum_sq_nano += nano * nano;
    }

    /// Merges another set.
    pub fn merge(&mut self, other: &Moments) {
        self.n += other.n;
        self.sum_nano += other.sum_nano;
        self.sum_sq_nano += other.sum_sq_nano;
    }

    /// Mean.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_nano as f64 / NANO / self.n as f64)
    }

    /// Sample variance (n − 1), with at least two values.
    pub fn variance(&self) -> Option<f64> {
        sample_variance(self.n, self.sum_nano, self.sum_sq_nano)
    }
}

/// A pre-aggregated cell (transcript aggregates): no squares, no histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellStats {
    /// Values.
    pub count: u64,
    /// Sum of quality scores.
    pub sum_quality: f64,
    /// Smallest quality score.
    pub min_quality: f64,
    /// Largest quality score.
    pub max_quality: f64,
    /// Positive values.
    pub positive: u64,
    /// Negative values.
    pub negative: u64,
    /// Values below the action threshold, if known.
    pub action_required: u64,
}

fn polarity_index(p: Polarity) -> usize {
    match p {
        Polarity::Positive => 0,
        Polarity::Neutral => 1,
        Polarity::Negative => 2,
    }
}

impl Summary {
    /// Adds one scored value.
    #[inline]
    pub fn push(&mut self, reading: QualityReading) {
        let q = reading.quality_score;
        self.n += 1;
        self.detailed += 1;
        let nano = to_nano(q);
        self.sum_nano += nano;
        self.sum_sq_nano += nano * nano;
        self.min = self.min.min(q);
        self.max = self.max.max(q);
        self.polarity[polarity_index(reading.polarity)] += 1;
        self.action_required += u64::from(reading.action_required);
        let bin = ((q * 2.0) as usize).min(BINS - 1);
        self.hist.get_or_insert_with(|| Box::new([0; BINS]))[bin] += 1;
    }

    /// Adds a pre-aggregated cell.
    pub fn push_cell(&mut self, cell: CellStats) {
        if cell.count == 0 {
            return;
        }
        self.n += cell.count;
        self.sum_nano += to_nano(cell.sum_quality);
        self.min = self.min.min(cell.min_quality);
        self.max = self.max.max(cell.max_quality);
        let neutral = cell.count.saturating_sub(cell.positive + cell.negative);
        self.polarity[0] += cell.positive;
        self.polarity[1] += neutral;
        self.polarity[2] += cell.negative;
        self.action_required += cell.action_required;
    }

    /// Merges another summary into this one.
    pub fn merge(&mut self, other: &Summary) {
        self.n += other.n;
        self.detailed += other.detailed;
        self.sum_nano += other.sum_nano;
        self.sum_sq_nano += other.sum_sq_nano;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        for i in 0..3 {
            self.polarity[i] += other.polarity[i];
        }
        self.action_required += other.action_required;
        if let Some(theirs) = &other.hist {
            let mine = self.hist.get_or_insert_with(|| Box::new([0; BINS]));
            for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                *a += *b;
            }
        }
    }

    /// Whether every value was seen individually (variance and quantiles are known).
    pub fn fully_detailed(&self) -> bool {
        self.detailed == self.n
    }

    /// Sum of quality scores.
    pub fn sum(&self) -> f64 {
        self.sum_nano as f64 / NANO
    }

    /// Mean quality score.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_nano as f64 / NANO / self.n as f64)
    }

    /// Sample variance (n − 1), when fully detailed with at least two values.
    pub fn variance(&self) -> Option<f64> {
        if !self.fully_detailed() {
            return None;
        }
        sample_variance(self.n, self.sum_nano, self.sum_sq_nano)
    }

    /// Sample standard deviation.
    pub fn std_dev(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }

    /// The `q` quantile (0–1), to the histogram's 0.5-point resolution (bin midpoint).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let hist = self
            .hist
            .as_ref()
            .filter(|_| self.fully_detailed() && self.n > 0)?;
        let rank = ((q.clamp(0.0, 1.0) * self.n as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in hist.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                let mid = if i == BINS - 1 {
                    100.0
                } else {
                    i as f64 * 0.5 + 0.25
                };
                return Some(mid.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// Positive, neutral, negative counts.
    pub fn positive(&self) -> u64 {
        self.polarity[0]
    }
    /// Neutral count.
    pub fn neutral(&self) -> u64 {
        self.polarity[1]
    }
    /// Negative count.
    pub fn negative(&self) -> u64 {
        self.polarity[2]
    }

    /// The histogram counts, if any detailed value was pushed.
    pub fn histogram(&self) -> Option<&[u32; BINS]> {
        self.hist.as_deref()
    }
}
