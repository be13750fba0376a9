//! The cell store: one [`Summary`] per (dimension, entity, UTC day) cell — overall × day,
//! agent × day and queue × day. Every group a report shows (overall, agent, queue, day,
//! agent × day, queue × day, and any window) is a merge of cells, so memory grows with
//! agents × days, never with records.
//!
//! Beside them, for the case-mix-adjusted agent verdicts, one [`Moments`] per (agent, queue,
//! media type, day) stratum of detailed records: counts and sums only (no histogram), so
//! they cost little more than a cell per queue an agent actually works.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::normalize::{NormalizeError, Normalizer};
pub use super::summary::{BINS, CellStats, Moments, Summary};
use crate::domain::{QualityReading, SentimentRecord};

/// The three base dimensions cells are kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// The whole org.
    Overall,
    /// One agent.
    Agent,
    /// One queue.
    Queue,
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 3] = [Dimension::Overall, Dimension::Agent, Dimension::Queue];

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Overall => "overall",
            Dimension::Agent => "agent",
            Dimension::Queue => "queue",
        }
    }
}

/// Key of one cell: dimension, interned entity, day (days since 1970-01-01, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    /// Dimension.
    pub dim: Dimension,
    /// Interned entity (0 for overall).
    pub entity: u32,
    /// UTC day number.
    pub day: i32,
}

/// One agent-day's strata: (interned queue, interned media type, moments).
type DayStrata = Vec<(u32, u32, Moments)>;

/// An absent queue or media type in a stratum.
const NONE: u32 = u32::MAX;

/// One stratum cell as names: agent, queue, media type, day, moments.
pub type StratumCell<'a> = (&'a str, Option<&'a str>, Option<&'a str>, i32, &'a Moments);

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    media: Interner,
    cells: FxHashMap<CellKey, Summary>,
    /// Per (agent, day): the (queue, media type) strata of that day, scanned linearly (an
    /// agent works a handful a day), so a record costs one lookup in a map of agents × days.
    strata: FxHashMap<(u32, i32), DayStrata>,
    counts: RecordCounts,
}

/// The moments of one (queue, media type) stratum in an agent's day, added when new.
#[inline]
fn stratum(list: &mut DayStrata, queue: u32, media: u32) -> &mut Moments {
    let i = match list.iter().position(|(q, m, _)| *q == queue && *m == media) {
        Some(i) => i,
        None => {
            list.push((queue, media, Moments::default()));
            list.len() - 1
        }
    };
    &mut list[i].2
}

/// A media type as a stratum: Genesys's media types by their lower-case name, anything else
/// `other` (so an input file cannot create unbounded strata).
fn media_kind(m: &str) -> &'static str {
    const KNOWN: [&str; 8] = [
        "voice",
        "chat",
        "email",
        "message",
        "callback",
        "cobrowse",
        "video",
        "screenshare",
    ];
    let m = m.trim();
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(m))
        .copied()
        .unwrap_or("other")
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
            media: Interner::default(),
            cells: FxHashMap::default(),
            strata: FxHashMap::default(),
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
        if let Some(agent) = agent {
            let media = record
                .media_type
                .as_deref()
                .map_or(NONE, |m| self.media.intern(media_kind(m)));
            stratum(
                self.strata.entry((agent, day)).or_default(),
                queue.unwrap_or(NONE),
                media,
            )
            .push(reading.quality_score);
        }
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
    pub fn push_cell_to(&mut self, dim: Dimension, key: &str, day: i32, cell: CellStats) {
        let entity = match dim {
            Dimension::Overall => 0,
            Dimension::Agent => self.agents.intern(key),
            Dimension::Queue => self.queues.intern(key),
        };
        if dim == Dimension::Overall {
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
                dim: Dimension::Overall,
                entity: 0,
                day,
            })
            .or_default());
        match agent {
            Some(a) => f(self
                .cells
                .entry(CellKey {
                    dim: Dimension::Agent,
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
                    dim: Dimension::Queue,
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
                Dimension::Overall => 0,
                Dimension::Agent => self.agents.intern(other.agents.name(key.entity)),
                Dimension::Queue => self.queues.intern(other.queues.name(key.entity)),
            };
            self.cells
                .entry(CellKey { entity, ..*key })
                .or_default()
                .merge(summary);
        }
        for (&(agent, day), theirs) in &other.strata {
            let agent = self.agents.intern(other.agents.name(agent));
            for (queue, media, m) in theirs {
                let queue = match *queue {
                    NONE => NONE,
                    q => self.queues.intern(other.queues.name(q)),
                };
                let media = match *media {
                    NONE => NONE,
                    x => self.media.intern(other.media.name(x)),
                };
                stratum(self.strata.entry((agent, day)).or_default(), queue, media).merge(m);
            }
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
    pub fn cells(&self) -> impl Iterator<Item = (Dimension, &str, i32, &Summary)> {
        self.cells.iter().map(|(k, s)| {
            let name = match k.dim {
                Dimension::Overall => "all",
                Dimension::Agent => self.agents.name(k.entity),
                Dimension::Queue => self.queues.name(k.entity),
            };
            (k.dim, name, k.day, s)
        })
    }

    /// Every stratum cell (agent, queue, media type, day) of detailed records, in no
    /// particular order.
    pub fn strata(&self) -> impl Iterator<Item = StratumCell<'_>> {
        self.strata.iter().flat_map(move |(&(agent, day), list)| {
            list.iter().map(move |(queue, media, m)| {
                (
                    self.agents.name(agent),
                    (*queue != NONE).then(|| self.queues.name(*queue)),
                    (*media != NONE).then(|| self.media.name(*media)),
                    day,
                    m,
                )
            })
        })
    }

    /// Number of cells held (memory grows with this, not with records).
    pub fn cell_count(&self) -> usize {
        self.cells.len()
    }

    /// The cells keyed by names, sorted: for comparisons and tests.
    pub fn snapshot(&self) -> BTreeMap<(Dimension, String, i32), Summary> {
        self.cells()
            .map(|(d, name, day, s)| ((d, name.to_owned(), day), s.clone()))
            .collect()
    }
}
