//! The trend report: what logs, `/v1/trends`, the dashboard, `analyze` and the coaching
//! alerts read. Field names are part of the API (documented in the README).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::aggregate::{Dimension, RecordCounts, Summary};
use super::stats::{MannKendall, Proportions, Welch};
use crate::config::{Stratum, TrendRule};

/// A verdict direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Significantly better than the previous window.
    Improving,
    /// Significantly worse than the previous window.
    Declining,
    /// No significant change.
    Stable,
    /// Too few conversations in a window to judge.
    InsufficientData,
}

impl Direction {
    /// Every verdict.
    pub const ALL: [Direction; 4] = [
        Direction::Improving,
        Direction::Declining,
        Direction::Stable,
        Direction::InsufficientData,
    ];

    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Improving => "improving",
            Direction::Declining => "declining",
            Direction::Stable => "stable",
            Direction::InsufficientData => "insufficient_data",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "improving" => Some(Direction::Improving),
            "declining" => Some(Direction::Declining),
            "stable" => Some(Direction::Stable),
            "insufficient_data" => Some(Direction::InsufficientData),
            _ => None,
        }
    }
}

/// A window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Inclusive start (a UTC midnight).
    pub start: DateTime<Utc>,
    /// Exclusive end (a UTC midnight).
    pub end: DateTime<Utc>,
}

/// The two windows a report compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Windows {
    /// The earlier window.
    pub previous: Window,
    /// The later window.
    pub current: Window,
}

impl Windows {
    /// The `days`-long window ending at `end` and the one before it.
    pub fn ending_at(end: DateTime<Utc>, days: u32) -> Windows {
        let len = chrono::TimeDelta::days(i64::from(days.max(1)));
        Windows {
            previous: Window {
                start: end - len - len,
                end: end - len,
            },
            current: Window {
                start: end - len,
                end,
            },
        }
    }
}

/// What one group's numbers look like in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SummaryView {
    /// Conversations.
    pub n: u64,
    /// Positive conversations.
    pub positive: u64,
    /// Neutral conversations.
    pub neutral: u64,
    /// Negative conversations.
    pub negative: u64,
    /// Conversations below the action threshold.
    pub action_required: u64,
    /// Mean quality score.
    pub mean: Option<f64>,
    /// Standard deviation (absent for pre-aggregated data).
    pub std_dev: Option<f64>,
    /// Smallest score.
    pub min: Option<f64>,
    /// Largest score.
    pub max: Option<f64>,
    /// 10th percentile (0.5-point resolution; absent for pre-aggregated data).
    pub p10: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl From<&Summary> for SummaryView {
    fn from(s: &Summary) -> Self {
        let finite = |x: f64| (s.n > 0 && x.is_finite()).then_some(round2(x));
        SummaryView {
            n: s.n,
            positive: s.positive(),
            neutral: s.neutral(),
            negative: s.negative(),
            action_required: s.action_required,
            mean: s.mean().map(round2),
            std_dev: s.std_dev().map(round2),
            min: finite(s.min),
            max: finite(s.max),
            p10: s.quantile(0.10),
            p50: s.quantile(0.50),
            p90: s.quantile(0.90),
        }
    }
}

/// The supporting tests of a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Tests {
    /// Welch's t on quality scores (or on daily means; see `method`).
    pub welch: Option<WelchView>,
    /// Two-proportion z test on the negative share.
    pub negative_share: Option<ProportionView>,
    /// Mann–Kendall on the daily means across both windows.
    pub mann_kendall: Option<MannKendallView>,
}

/// Serialized [`Welch`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WelchView {
    /// t statistic.
    pub t: f64,
    /// Degrees of freedom.
    pub df: f64,
    /// p-value.
    pub p: f64,
}

/// Serialized [`Proportions`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProportionView {
    /// Previous share.
    pub previous: f64,
    /// Current share.
    pub current: f64,
    /// z statistic.
    pub z: f64,
    /// p-value.
    pub p: f64,
}

/// Serialized [`MannKendall`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannKendallView {
    /// S statistic.
    pub s: i64,
    /// z statistic.
    pub z: f64,
    /// p-value.
    pub p: f64,
    /// Days in the series.
    pub days: usize,
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn round_p(p: f64) -> f64 {
    // Keep tiny p-values meaningful: 6 significant digits.
    if p == 0.0 {
        0.0
    } else {
        format!("{p:.6e}").parse().unwrap_or(p)
    }
}

impl From<Welch> for WelchView {
    fn from(w: Welch) -> Self {
        WelchView {
            t: round4(w.t),
            df: round2(w.df),
            p: round_p(w.p),
        }
    }
}

impl From<Proportions> for ProportionView {
    fn from(p: Proportions) -> Self {
        ProportionView {
            previous: round4(p.previous),
            current: round4(p.current),
            z: round4(p.z),
            p: round_p(p.p),
        }
    }
}

impl From<MannKendall> for MannKendallView {
    fn from(m: MannKendall) -> Self {
        MannKendallView {
            s: m.s,
            z: round4(m.z),
            p: round_p(m.p),
            days: m.points,
        }
    }
}

/// A group's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// improving / declining / stable / insufficient_data.
    pub direction: Direction,
    /// Change of the mean quality score, current minus previous (points).
    pub effect_points: Option<f64>,
    /// Sen's slope of the daily mean quality (points per day).
    pub sen_slope_per_day: Option<f64>,
    /// p-value of the primary test.
    pub p_value: Option<f64>,
    /// Benjamini–Hochberg q-value across all groups of the report.
    pub q_value: Option<f64>,
    /// Conversations in the current window.
    pub n_current: u64,
    /// Conversations in the previous window.
    pub n_previous: u64,
    /// How the verdict was reached.
    pub method: String,
    /// The supporting tests.
    pub tests: Tests,
    /// Change of the raw mean, current minus previous (points): `effect_points` before any
    /// case-mix adjustment.
    #[serde(default)]
    pub raw_effect_points: Option<f64>,
    /// trend-v2 agents: how much of the raw shift the change of case mix explains
    /// (`raw_effect_points − effect_points`).
    #[serde(default)]
    pub mix_shift_points: Option<f64>,
    /// trend-v2 agents: how the comparison was stratified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustment: Option<Adjustment>,
    /// Notes for people, e.g. `queue_mix` (the raw shift is mostly the change of queue mix).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// How an agent's case-mix-adjusted comparison was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    /// The strata dimensions (`analytics.adjust_for`).
    pub by: Vec<Stratum>,
    /// Strata with at least `min_stratum_samples` conversations in both windows.
    pub strata_used: u64,
    /// Strata short of `min_stratum_samples` in a window, compared pooled with the same
    /// queue's other small strata (media types together).
    pub strata_pooled: u64,
    /// Strata even the pool could not compare (too little in a window): left out.
    pub strata_left_out: u64,
    /// Current-window conversations in the strata used.
    pub n_current_used: u64,
    /// Previous-window conversations in the strata used.
    pub n_previous_used: u64,
    /// Conversations (both windows) in the strata left out.
    pub n_left_out: u64,
}

/// One group of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupReport {
    /// `overall`, `agent` or `queue`.
    pub dimension: Dimension,
    /// Agent or queue id, or `all`.
    pub key: String,
    /// A display name, when the caller knows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The current window.
    pub current: SummaryView,
    /// The previous window.
    pub previous: SummaryView,
    /// The verdict.
    pub verdict: Verdict,
    /// Original design: positives in the current window.
    pub positive_count: u64,
    /// Original design: neutrals in the current window.
    pub neutral_count: u64,
    /// Original design: negatives in the current window.
    pub negative_count: u64,
    /// Original design: mean quality score in the current window.
    pub avg_score: Option<f64>,
    /// Original design's field, decided by the configured `analytics.trend_rule`.
    pub polarity_shift: Direction,
    /// What the original count-margin rule says, for comparison.
    pub count_margin_shift: Direction,
}

/// One point of a daily series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyPoint {
    /// The UTC day.
    pub day: NaiveDate,
    /// `overall`, `agent` or `queue`.
    pub dimension: Dimension,
    /// The entity.
    pub key: String,
    /// The day's numbers.
    pub summary: SummaryView,
}

/// Settings a report was computed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportSettings {
    /// Minimum conversations per window.
    pub min_samples: u64,
    /// False-discovery rate.
    pub fdr_q: f64,
    /// Which rule decides `polarity_shift`.
    pub trend_rule: TrendRule,
    /// Margin of the count-margin rule.
    pub count_margin: u64,
    /// trend-v2: strata of the adjusted agent verdicts (empty: raw).
    #[serde(default)]
    pub adjust_for: Vec<Stratum>,
    /// trend-v2: fewest conversations per window for a stratum to count.
    #[serde(default)]
    pub min_stratum_samples: u64,
}

/// A full trend report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendReport {
    /// When it was computed.
    pub generated_at: DateTime<Utc>,
    /// Normalization formula version of every score in it.
    pub normalization_version: String,
    /// Trend algorithm version.
    pub algorithm_version: String,
    /// The windows compared.
    pub windows: Windows,
    /// Data at or after this time may still change (Genesys availability date).
    pub provisional_after: Option<DateTime<Utc>>,
    /// Where the data came from (`conversations`, `aggregates`, a file name, …).
    pub source: String,
    /// The settings used.
    pub settings: ReportSettings,
    /// Record counts.
    pub records: RecordCounts,
    /// Groups with verdicts.
    pub groups: Vec<GroupReport>,
    /// Daily series (for the configured day groups).
    pub daily: Vec<DailyPoint>,
}

impl TrendReport {
    /// Groups of one dimension.
    pub fn groups_of(&self, dimension: Dimension) -> impl Iterator<Item = &GroupReport> + '_ {
        self.groups.iter().filter(move |g| g.dimension == dimension)
    }

    /// Counts of verdicts per dimension.
    pub fn verdict_counts(&self) -> BTreeMap<(Dimension, Direction), usize> {
        let mut out = BTreeMap::new();
        for g in &self.groups {
            *out.entry((g.dimension, g.verdict.direction)).or_insert(0) += 1;
        }
        out
    }

    /// Sets display names from an id → name map.
    pub fn set_labels(&mut self, labels: &std::collections::HashMap<String, String>) {
        for g in &mut self.groups {
            if let Some(l) = labels.get(&g.key) {
                g.label = Some(l.clone());
            }
        }
    }

    /// One human line, e.g. `3 of 212 agents declining (q < 0.05): Ada (−12.3), …`.
    pub fn summary_line(&self) -> String {
        let agents: Vec<&GroupReport> = self.groups_of(Dimension::Agent).collect();
        let mut declining: Vec<&GroupReport> = agents
            .iter()
            .copied()
            .filter(|g| g.verdict.direction == Direction::Declining)
            .collect();
        declining.sort_by(|a, b| {
            a.verdict
                .effect_points
                .unwrap_or(0.0)
                .total_cmp(&b.verdict.effect_points.unwrap_or(0.0))
        });
        let improving = agents
            .iter()
            .filter(|g| g.verdict.direction == Direction::Improving)
            .count();
        let insufficient = agents
            .iter()
            .filter(|g| g.verdict.direction == Direction::InsufficientData)
            .count();
        let names: Vec<String> = declining
            .iter()
            .take(5)
            .map(|g| {
                format!(
                    "{} ({:+.1})",
                    crate::domain::printable(g.label.as_deref().unwrap_or(&g.key), 100),
                    g.verdict.effect_points.unwrap_or(0.0)
                )
            })
            .collect();
        let more = declining.len().saturating_sub(names.len());
        let mut line = format!(
            "{} of {} agents declining (q < {})",
            declining.len(),
            agents.len(),
            self.settings.fdr_q
        );
        if !names.is_empty() {
            line.push_str(": ");
            line.push_str(&names.join(", "));
            if more > 0 {
                line.push_str(&format!(" and {more} more"));
            }
        }
        line.push_str(&format!(
            "; {improving} improving; {insufficient} with too little data."
        ));
        line
    }
}
