//! `[analytics]`: normalization, aggregation and trend statistics. The normalization shapes
//! are checked here, when the settings load, so the analytics code only ever sees valid ones.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[analytics]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsSettings {
    /// `linear`, `piecewise` or `banded` (see docs/normalization.md).
    pub normalization: NormalizationKind,
    /// For `piecewise`: `[raw_percent, quality]` points, raw ascending from −100 to 100.
    pub piecewise_points: Vec<[f64; 2]>,
    /// For `banded`: bands by upper raw-percent bound, ascending; the last must reach 100.
    pub bands: Vec<Band>,
    /// Half-width of the neutral band on the percent scale (Genesys's "NoChange" is ±20).
    pub neutral_band: f64,
    /// A quality score below this sets `action_required`.
    pub action_threshold: f64,
    /// Fewest conversations per window before a verdict is given.
    pub min_samples: u64,
    /// False-discovery rate for Benjamini–Hochberg across all groups of a report.
    pub fdr_q: f64,
    /// `statistical` (tests + FDR) or `count_margin` (the original design's rule).
    pub trend_rule: TrendRule,
    /// For `count_margin`: positives must beat negatives by more than this.
    pub count_margin: u64,
    /// Groups in a report: `overall`, `agent`, `queue`, `day`, `agent_day`, `queue_day`.
    pub groups: Vec<GroupDimension>,
    /// `trend-v2` (agent verdicts adjusted for case mix) or `trend-v1` (raw comparison).
    pub trend_version: TrendVersion,
    /// trend-v2: the strata agents are compared within (`queue`, `media_type`); trend-v1
    /// ignores it.
    pub adjust_for: Vec<Stratum>,
    /// trend-v2: fewest conversations per window for a stratum to enter the comparison.
    pub min_stratum_samples: u64,
}

/// The trend algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrendVersion {
    /// Raw window means per group.
    #[serde(rename = "trend-v1")]
    V1,
    /// Agent verdicts compare each agent with themselves within strata (docs/trends.md).
    #[serde(rename = "trend-v2")]
    V2,
}

impl TrendVersion {
    /// The version string every report and alert carries.
    pub fn as_str(self) -> &'static str {
        match self {
            TrendVersion::V1 => "trend-v1",
            TrendVersion::V2 => "trend-v2",
        }
    }
}

/// A case-mix stratum of the adjusted agent verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stratum {
    /// The queue a conversation came through.
    Queue,
    /// Its media type.
    MediaType,
}

impl Stratum {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Stratum::Queue => "queue",
            Stratum::MediaType => "media_type",
        }
    }
}

/// The normalization formula family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormalizationKind {
    /// `(percent + 100) / 2`.
    Linear,
    /// Linear interpolation between configured points.
    Piecewise,
    /// A fixed quality score per band.
    Banded,
}

/// One band of a banded normalization.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Inclusive upper bound on the raw percent scale.
    pub upper: f64,
    /// Quality score given to raw values in this band.
    pub score: f64,
}

/// Which rule decides `polarity_shift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendRule {
    /// Welch's t-test between windows with Benjamini–Hochberg control.
    Statistical,
    /// The original count-margin rule, for comparison.
    CountMargin,
}

/// A grouping of records in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupDimension {
    /// Everything together.
    Overall,
    /// Per agent.
    Agent,
    /// Per queue.
    Queue,
    /// Per day (UTC).
    Day,
    /// Per agent and day.
    AgentDay,
    /// Per queue and day.
    QueueDay,
}

impl GroupDimension {
    /// Every grouping, in the order the documentation lists them.
    pub const ALL: [GroupDimension; 6] = [
        GroupDimension::Overall,
        GroupDimension::Agent,
        GroupDimension::Queue,
        GroupDimension::Day,
        GroupDimension::AgentDay,
        GroupDimension::QueueDay,
    ];

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupDimension::Overall => "overall",
            GroupDimension::Agent => "agent",
            GroupDimension::Queue => "queue",
            GroupDimension::Day => "day",
            GroupDimension::AgentDay => "agent_day",
            GroupDimension::QueueDay => "queue_day",
        }
    }
}

impl AnalyticsSettings {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        match self.normalization {
            NormalizationKind::Linear => {}
            NormalizationKind::Piecewise => validate_points(&self.piecewise_points)
                .map_err(|m| ConfigError::invalid("analytics.piecewise_points", m))?,
            NormalizationKind::Banded => validate_bands(&self.bands)
                .map_err(|m| ConfigError::invalid("analytics.bands", m))?,
        }
        if !(0.0..100.0).contains(&self.neutral_band) {
            return Err(ConfigError::invalid(
                "analytics.neutral_band",
                "must be from 0 up to 100 (percent scale)",
            ));
        }
        if !(0.0..=100.0).contains(&self.action_threshold) {
            return Err(ConfigError::invalid(
                "analytics.action_threshold",
                "must be within 0..=100",
            ));
        }
        if !(self.fdr_q > 0.0 && self.fdr_q < 1.0) {
            return Err(ConfigError::invalid(
                "analytics.fdr_q",
                "must be between 0 and 1",
            ));
        }
        if self.min_samples < 2 {
            return Err(ConfigError::invalid(
                "analytics.min_samples",
                "must be at least 2",
            ));
        }
        if self.min_stratum_samples < 1 {
            return Err(ConfigError::invalid(
                "analytics.min_stratum_samples",
                "must be at least 1",
            ));
        }
        if self.groups.is_empty() {
            let all: Vec<&str> = GroupDimension::ALL.iter().map(|g| g.as_str()).collect();
            return Err(ConfigError::invalid(
                "analytics.groups",
                format!("must name at least one of {}", all.join(", ")),
            ));
        }
        Ok(())
    }
}

/// Checks piecewise points: at least two, raw strictly ascending from −100 to 100, quality
/// within 0–100 and non-decreasing (so the mapping stays monotonic).
///
/// # Errors
/// A sentence saying what is wrong.
pub fn validate_points(points: &[[f64; 2]]) -> Result<(), String> {
    if points.len() < 2 {
        return Err("needs at least two [raw_percent, quality] points".into());
    }
    if points[0][0] != -100.0 || points[points.len() - 1][0] != 100.0 {
        return Err("the first point must have raw -100 and the last raw 100".into());
    }
    for w in points.windows(2) {
        if w[1][0] <= w[0][0] {
            return Err(format!(
                "raw values must be strictly ascending ({} then {})",
                w[0][0], w[1][0]
            ));
        }
        if w[1][1] < w[0][1] {
            return Err(format!(
                "quality must not decrease ({} then {}): the mapping must be monotonic",
                w[0][1], w[1][1]
            ));
        }
    }
    if points
        .iter()
        .any(|p| !(0.0..=100.0).contains(&p[1]) || !p[0].is_finite())
    {
        return Err("every quality must be within 0..=100".into());
    }
    Ok(())
}

/// Checks bands: ascending upper bounds ending at 100, scores within 0–100, non-decreasing.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn validate_bands(bands: &[Band]) -> Result<(), String> {
    if bands.is_empty() {
        return Err("needs at least one band".into());
    }
    if bands[bands.len() - 1].upper != 100.0 {
        return Err("the last band's upper bound must be 100".into());
    }
    for w in bands.windows(2) {
        if w[1].upper <= w[0].upper {
            return Err("upper bounds must be strictly ascending".into());
        }
        if w[1].score < w[0].score {
            return Err("scores must not decrease: the mapping must be monotonic".into());
        }
    }
    if bands
        .iter()
        .any(|b| !(0.0..=100.0).contains(&b.score) || b.upper < -100.0)
    {
        return Err("scores must be within 0..=100 and bounds within -100..=100".into());
    }
    Ok(())
}
