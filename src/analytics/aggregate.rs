//! Streaming, mergeable aggregation.
//!
//! The store is one [`Summary`] per (dimension, entity, UTC day) cell: overall × day,
//! agent × day and queue × day. Every group a report shows (overall, agent, queue, day,
//! agent × day, queue × day, and any window) is a merge of cells, so memory grows with
//! agents × days, never with records. A summary is counts, sums and a fixed 0.5-point
//! histogram over 0–100. Sums are kept in fixed point (nano-points, in `i128`), so merging
//! two summaries equals summarizing the concatenation exactly, whatever the order: a report
//! is bit-identical however its records arrived.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::normalize::{NormalizeError, Normalizer};
use crate::domain::{Polarity, QualityReading, SentimentRecord};

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
        if !self.fully_detailed() || self.n < 2 {
            return None;
        }
        // n·Σq² − (Σq)² exactly while it fits, then in floating point (deterministic either way).
        let n = self.n as i128;
        let spread = n
            .checked_mul(self.sum_sq_nano)
            .and_then(|a| {
                self.sum_nano
                    .checked_mul(self.sum_nano)
                    .and_then(|b| a.checked_sub(b))
            })
            .map(|d| d as f64)
            .unwrap_or_else(|| {
                let (nf, s, ss) = (self.n as f64, self.sum_nano as f64, self.sum_sq_nano as f64);
                nf * ss - s * s
            });
        let nf = self.n as f64;
        Some((spread / (nf * (nf - 1.0)) / (NANO * NANO)).max(0.0))
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

/// The three base dimensions cells are kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    /// The whole org.
    Overall,
    /// One agent.
    Agent,
    /// One queue.
    Queue,
}

impl Dim {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Overall => "overall",
            Dim::Agent => "agent",
            Dim::Queue => "queue",
        }
    }
}

/// Key of one cell: dimension, interned entity, day (days since 1970-01-01, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    /// Dimension.
    pub dim: Dim,
    /// Interned entity (0 for overall).
    pub entity: u32,
    /// UTC day number.
    pub day: i32,
}

/// Days since the Unix epoch of a UTC time.
#[inline]
pub fn day_number(t: DateTime<Utc>) -> i32 {
    t.timestamp().div_euclid(86_400) as i32
}

/// The date of a day number.
pub fn day_date(day: i32) -> NaiveDate {
    DateTime::from_timestamp(i64::from(day) * 86_400, 0)
        .expect("in range")
        .date_naive()
}

#[derive(Debug, Default, Clone)]
struct Interner {
    ids: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    #[inline]
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.into());
        self.ids.insert(s.into(), i);
        i
    }

    fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }
}

/// How many records went where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RecordCounts {
    /// Normalized and aggregated.
    pub accepted: u64,
    /// Refused, by reason (never clamped, never silently dropped).
    pub rejected: BTreeMap<String, u64>,
    /// Accepted records without an agent id (counted overall and per queue only).
    pub without_agent: u64,
    /// Accepted records without a queue id.
    pub without_queue: u64,
}

/// The streaming aggregator: push records (or cells), merge aggregators, read cells.
#[derive(Debug, Clone)]
pub struct Aggregator {
    normalizer: Normalizer,
    agents: Interner,
    queues: Interner,
    cells: FxHashMap<CellKey, Summary>,
    counts: RecordCounts,
}

/// A reason code for a normalization error.
pub fn rejection_reason(e: &NormalizeError) -> &'static str {
    match e {
        NormalizeError::NotFinite(_) => "score_not_finite",
        NormalizeError::OutOfRange { .. } => "score_out_of_range",
    }
}

impl Aggregator {
    /// An empty aggregator using `normalizer`.
    pub fn new(normalizer: Normalizer) -> Aggregator {
        Aggregator {
            normalizer,
            agents: Interner::default(),
            queues: Interner::default(),
            cells: FxHashMap::default(),
            counts: RecordCounts::default(),
        }
    }

    /// The normalization in use.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// Normalizes and aggregates one record. A record that cannot be normalized is counted
    /// under its reason and the error returned.
    ///
    /// # Errors
    /// The [`NormalizeError`] that made the record unusable.
    #[inline]
    pub fn push(&mut self, record: &SentimentRecord) -> Result<QualityReading, NormalizeError> {
        let reading = match self.normalizer.read(record.raw, record.polarity) {
            Ok(r) => r,
            Err(e) => {
                self.reject(rejection_reason(&e));
                return Err(e);
            }
        };
        let day = day_number(record.time);
        let agent = record
            .agent_id
            .as_ref()
            .map(|a| self.agents.intern(a.as_str()));
        let queue = record
            .queue_id
            .as_ref()
            .map(|q| self.queues.intern(q.as_str()));
        self.add(day, agent, queue, |s| s.push(reading));
        Ok(reading)
    }

    /// Adds a pre-aggregated cell for one day (the transcript-aggregates source).
    pub fn push_cell(
        &mut self,
        day: i32,
        agent: Option<&str>,
        queue: Option<&str>,
        cell: CellStats,
    ) {
        let agent = agent.map(|a| self.agents.intern(a));
        let queue = queue.map(|q| self.queues.intern(q));
        self.add_counted(day, agent, queue, cell.count, |s| s.push_cell(cell));
    }

    /// Adds a pre-aggregated cell to one dimension only (aggregates grouped by agent and by
    /// queue arrive separately).
    pub fn push_cell_to(&mut self, dim: Dim, key: &str, day: i32, cell: CellStats) {
        let entity = match dim {
            Dim::Overall => 0,
            Dim::Agent => self.agents.intern(key),
            Dim::Queue => self.queues.intern(key),
        };
        if dim == Dim::Overall {
            self.counts.accepted += cell.count;
        }
        self.cells
            .entry(CellKey { dim, entity, day })
            .or_default()
            .push_cell(cell);
    }

    /// Counts a record refused before normalization (e.g. a bad input row).
    pub fn reject(&mut self, reason: &str) {
        *self.counts.rejected.entry(reason.to_owned()).or_insert(0) += 1;
    }

    #[inline]
    fn add(&mut self, day: i32, agent: Option<u32>, queue: Option<u32>, f: impl Fn(&mut Summary)) {
        self.add_counted(day, agent, queue, 1, f);
    }

    #[inline]
    fn add_counted(
        &mut self,
        day: i32,
        agent: Option<u32>,
        queue: Option<u32>,
        n: u64,
        f: impl Fn(&mut Summary),
    ) {
        self.counts.accepted += n;
        f(self
            .cells
            .entry(CellKey {
                dim: Dim::Overall,
                entity: 0,
                day,
            })
            .or_default());
        match agent {
            Some(a) => f(self
                .cells
                .entry(CellKey {
                    dim: Dim::Agent,
                    entity: a,
                    day,
                })
                .or_default()),
            None => self.counts.without_agent += n,
        }
        match queue {
            Some(q) => f(self
                .cells
                .entry(CellKey {
                    dim: Dim::Queue,
                    entity: q,
                    day,
                })
                .or_default()),
            None => self.counts.without_queue += n,
        }
    }

    /// Merges another aggregator (same normalization) into this one.
    pub fn merge(&mut self, other: &Aggregator) {
        for (key, summary) in &other.cells {
            let entity = match key.dim {
                Dim::Overall => 0,
                Dim::Agent => self.agents.intern(other.agents.name(key.entity)),
                Dim::Queue => self.queues.intern(other.queues.name(key.entity)),
            };
            self.cells
                .entry(CellKey { entity, ..*key })
                .or_default()
                .merge(summary);
        }
        self.counts.accepted += other.counts.accepted;
        self.counts.without_agent += other.counts.without_agent;
        self.counts.without_queue += other.counts.without_queue;
        for (reason, n) in &other.counts.rejected {
            *self.counts.rejected.entry(reason.clone()).or_insert(0) += n;
        }
    }

    /// Record counts.
    pub fn counts(&self) -> &RecordCounts {
        &self.counts
    }

    /// Every cell as (dimension, entity name, day, summary), in no particular order.
    pub fn cells(&self) -> impl Iterator<Item = (Dim, &str, i32, &Summary)> {
        self.cells.iter().map(|(k, s)| {
            let name = match k.dim {
                Dim::Overall => "all",
                Dim::Agent => self.agents.name(k.entity),
                Dim::Queue => self.queues.name(k.entity),
            };
            (k.dim, name, k.day, s)
        })
    }

    /// Number of cells held (memory grows with this, not with records).
    pub fn cell_count(&self) -> usize {
        self.cells.len()
    }

    /// The cells keyed by names, sorted: for comparisons and tests.
    pub fn snapshot(&self) -> BTreeMap<(Dim, String, i32), Summary> {
        self.cells()
            .map(|(d, name, day, s)| ((d, name.to_owned(), day), s.clone()))
            .collect()
    }
}
