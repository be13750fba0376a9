//! Trend verdicts per group, with false-discovery control across the report.
//!
//! For each group (overall, every agent, every queue) the current window is compared with
//! the previous one:
//! - primary: Welch's t on quality scores (or, for pre-aggregated data, on daily means);
//! - supporting: a two-proportion z test on the negative share, and Mann–Kendall with Sen's
//!   slope on the daily means across both windows.
//!
//! trend-v2 (the default) adjusts agent verdicts for case mix: an agent is compared with
//! themselves within each stratum of `analytics.adjust_for` (queue, media type), and the
//! per-stratum differences are combined by [`stratified_welch`]; the raw shift and the part
//! of it the mix explains are reported beside the adjusted effect. Queues and `overall` are
//! compared raw (a queue's mix is itself).
//!
//! A window with fewer than `min_samples` conversations gives `insufficient_data`. The
//! primary p-values of all tested groups go through Benjamini–Hochberg; a group is
//! `improving` or `declining` only when its q-value is below `fdr_q`, so a report over 500
//! agents does not flag 25 of them by chance.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::aggregate::{Aggregator, Dimension, Moments, Summary, day_date, day_number};
use super::report::{
    Adjustment, DailyPoint, Direction, GroupReport, ReportSettings, SummaryView, Tests,
    TrendReport, Verdict, Windows,
};
use super::stats::{
    StratumSample, benjamini_hochberg, mann_kendall, stratified_welch, two_proportions, welch,
};
use crate::config::{AnalyticsSettings, GroupDimension, Stratum, TrendRule, TrendVersion};

/// What a report needs besides the data.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendConfig {
    /// Minimum conversations per window.
    pub min_samples: u64,
    /// False-discovery rate.
    pub fdr_q: f64,
    /// Which rule decides `polarity_shift`.
    pub rule: TrendRule,
    /// Margin of the count-margin rule.
    pub count_margin: u64,
    /// Groups to report.
    pub groups: Vec<GroupDimension>,
    /// The algorithm.
    pub version: TrendVersion,
    /// trend-v2: strata of the adjusted agent verdicts.
    pub adjust_for: Vec<Stratum>,
    /// trend-v2: fewest conversations per window for a stratum to count.
    pub min_stratum_samples: u64,
}

impl TrendConfig {
    /// From `[analytics]`.
    pub fn from_settings(s: &AnalyticsSettings) -> TrendConfig {
        TrendConfig {
            min_samples: s.min_samples,
            fdr_q: s.fdr_q,
            rule: s.trend_rule,
            count_margin: s.count_margin,
            groups: s.groups.clone(),
            version: s.trend_version,
            adjust_for: s.adjust_for.clone(),
            min_stratum_samples: s.min_stratum_samples,
        }
    }

    /// Whether agent verdicts are adjusted for case mix.
    pub fn adjusts(&self) -> bool {
        self.version == TrendVersion::V2 && !self.adjust_for.is_empty()
    }
}

/// An agent's stratum in both windows: (queue, media type) as far as `adjust_for` keeps them.
type StratumId = (Option<String>, Option<String>);

/// The previous and current window of one stratum.
#[derive(Debug, Clone, Copy, Default)]
struct StratumPair {
    previous: Moments,
    current: Moments,
}

impl StratumPair {
    fn merge(&mut self, other: &StratumPair) {
        self.previous.merge(&other.previous);
        self.current.merge(&other.current);
    }
}

/// The case-mix-adjusted comparison of one agent.
struct Adjusted {
    test: Option<super::stats::Welch>,
    adjustment: Adjustment,
}

/// Compares an agent within strata. A stratum worked in both windows but short of
/// `min_stratum_samples` in one is pooled with the agent's other such strata of the same
/// queue (media types together); a stratum worked in one window only, or a pool still too
/// small, is left out and counted.
fn adjust(strata: &BTreeMap<StratumId, StratumPair>, cfg: &TrendConfig) -> Adjusted {
    let min = cfg.min_stratum_samples.max(1);
    let enough = |s: &StratumPair| s.previous.n >= min && s.current.n >= min;
    let mut used: Vec<StratumPair> = Vec::new();
    let mut adjustment = Adjustment {
        by: cfg.adjust_for.clone(),
        strata_used: 0,
        strata_pooled: 0,
        strata_left_out: 0,
        n_current_used: 0,
        n_previous_used: 0,
        n_left_out: 0,
    };
    // Small strata by queue, each with how many fine strata went into it.
    let mut by_queue: BTreeMap<&Option<String>, (StratumPair, u64)> = BTreeMap::new();
    for ((queue, _), pair) in strata {
        if enough(pair) {
            used.push(*pair);
        } else if pair.previous.n > 0 && pair.current.n > 0 {
            // Worked in both windows, too little in one: pooled within the queue.
            let slot = by_queue.entry(queue).or_default();
            slot.0.merge(pair);
            slot.1 += 1;
        } else if pair.previous.n + pair.current.n > 0 {
            // Worked in one window only: pooling it would compare one media type before
            // with another now, which is case mix, not the agent.
            adjustment.strata_left_out += 1;
            adjustment.n_left_out += pair.previous.n + pair.current.n;
        }
    }
    adjustment.strata_used = used.len() as u64;
    // Pooling across queues would bring back the very bias the adjustment removes, so what
    // a queue cannot compare is left out.
    for (pair, fine) in by_queue.into_values() {
        if fine > 1 && enough(&pair) {
            used.push(pair);
            adjustment.strata_pooled += fine;
        } else {
            adjustment.strata_left_out += fine;
            adjustment.n_left_out += pair.previous.n + pair.current.n;
        }
    }
    let side = |m: &Moments| {
        (
            m.mean().unwrap_or(0.0),
            m.variance().unwrap_or(0.0),
            m.n as f64,
        )
    };
    let samples: Vec<StratumSample> = used
        .iter()
        .map(|s| {
            adjustment.n_previous_used += s.previous.n;
            adjustment.n_current_used += s.current.n;
            StratumSample {
                previous: side(&s.previous),
                current: side(&s.current),
            }
        })
        .collect();
    Adjusted {
        test: stratified_welch(&samples),
        adjustment,
    }
}

/// Each agent's strata over both windows, collapsed to the dimensions of `adjust_for`.
fn agent_strata(
    agg: &Aggregator,
    cfg: &TrendConfig,
    (p0, c0, c1): (i32, i32, i32),
) -> BTreeMap<String, BTreeMap<StratumId, StratumPair>> {
    let by_queue = cfg.adjust_for.contains(&Stratum::Queue);
    let by_media = cfg.adjust_for.contains(&Stratum::MediaType);
    let mut out: BTreeMap<String, BTreeMap<StratumId, StratumPair>> = BTreeMap::new();
    for (agent, queue, media, day, m) in agg.strata() {
        if day < p0 || day >= c1 {
            continue;
        }
        let id = (
            queue.filter(|_| by_queue).map(str::to_owned),
            media.filter(|_| by_media).map(str::to_owned),
        );
        let pair = out
            .entry(agent.to_owned())
            .or_default()
            .entry(id)
            .or_default();
        if day < c0 {
            pair.previous.merge(m);
        } else {
            pair.current.merge(m);
        }
    }
    out
}

/// The note on a group whose raw shift is mostly the change of its queue mix.
pub const QUEUE_MIX_NOTE: &str = "queue_mix";

/// Minimum days with data per window for the daily-means method.
const MIN_DAYS_PER_WINDOW: usize = 3;

#[derive(Default)]
struct GroupData {
    current: Summary,
    previous: Summary,
    days: BTreeMap<i32, Summary>,
}

/// The original design's rule: improving when positives exceed negatives by more than the
/// margin, declining when negatives exceed positives by more than it (current window).
pub fn count_margin_rule(current: &Summary, margin: u64) -> Direction {
    let (pos, neg) = (current.positive(), current.negative());
    if current.n == 0 {
        Direction::InsufficientData
    } else if pos > neg + margin {
        Direction::Improving
    } else if neg > pos + margin {
        Direction::Declining
    } else {
        Direction::Stable
    }
}

struct Tested {
    group: GroupReport,
    p: Option<f64>,
}

fn verdict_for(
    data: &GroupData,
    windows: &Windows,
    cfg: &TrendConfig,
    strata: Option<&BTreeMap<StratumId, StratumPair>>,
) -> (Verdict, Option<f64>) {
    let (cur, prev) = (&data.current, &data.previous);
    let lookback_start = day_number(windows.previous.start);
    let series: Vec<(f64, f64)> = data
        .days
        .iter()
        .filter(|(_, s)| s.n > 0)
        .map(|(d, s)| (f64::from(d - lookback_start), s.mean().unwrap_or(0.0)))
        .collect();
    let mk = mann_kendall(&series);
    let negative = two_proportions(prev.negative(), prev.n, cur.negative(), cur.n);
    let effect = match (cur.mean(), prev.mean()) {
        (Some(c), Some(p)) => Some(c - p),
        _ => None,
    };
    let detailed = cur.fully_detailed() && prev.fully_detailed();
    let cur_start = day_number(windows.current.start);
    let days_in = |from: i32, to: i32| -> Vec<f64> {
        series
            .iter()
            .filter(|(x, _)| {
                let d = *x as i32 + lookback_start;
                d >= from && d < to
            })
            .map(|(_, y)| *y)
            .collect()
    };
    let enough = cur.n >= cfg.min_samples && prev.n >= cfg.min_samples;
    // trend-v2 agents with every conversation seen: the within-stratum comparison.
    let adjusted = strata.filter(|_| detailed).map(|s| adjust(s, cfg));
    let (primary, method) = if let Some(a) = &adjusted {
        // Enough conversations, and at least one stratum the agent worked in both windows:
        // how little the common strata hold shows in the test's standard error.
        match a.test {
            Some(w) if enough => (Some(w), "stratified_welch_t+benjamini_hochberg"),
            _ => (None, "insufficient_data"),
        }
    } else if !enough {
        (None, "insufficient_data")
    } else if detailed {
        let w = welch(
            prev.mean().unwrap_or(0.0),
            prev.variance().unwrap_or(0.0),
            prev.n as f64,
            cur.mean().unwrap_or(0.0),
            cur.variance().unwrap_or(0.0),
            cur.n as f64,
        );
        (w, "welch_t+benjamini_hochberg")
    } else {
        let prev_days = days_in(lookback_start, cur_start);
        let cur_days = days_in(cur_start, day_number(windows.current.end));
        if prev_days.len() < MIN_DAYS_PER_WINDOW || cur_days.len() < MIN_DAYS_PER_WINDOW {
            (None, "insufficient_data")
        } else {
            let (pm, pv) = mean_var(&prev_days);
            let (cm, cv) = mean_var(&cur_days);
            let w = welch(
                pm,
                pv,
                prev_days.len() as f64,
                cm,
                cv,
                cur_days.len() as f64,
            );
            (w, "welch_t_daily_means+benjamini_hochberg")
        }
    };
    let direction = if method == "insufficient_data" {
        Direction::InsufficientData
    } else {
        Direction::Stable
    };
    let round = |e: f64| (e * 100.0).round() / 100.0;
    let adjusted_effect = adjusted.as_ref().and_then(|a| a.test).map(|w| w.difference);
    let (effect_points, mix_shift_points) = match (&adjusted, adjusted_effect, effect) {
        (Some(_), Some(a), Some(raw)) => (Some(round(a)), Some(round(raw - a))),
        (Some(_), _, _) => (None, None),
        (None, _, raw) => (raw.map(round), None),
    };
    let mut notes = Vec::new();
    if let (Some(mix), Some(raw)) = (mix_shift_points, effect) {
        // A shift mostly explained by the change of queue mix.
        if raw.abs() >= 1.0 && mix * raw > 0.0 && mix.abs() >= 0.5 * raw.abs() {
            notes.push(QUEUE_MIX_NOTE.to_owned());
        }
    }
    let verdict = Verdict {
        direction,
        effect_points,
        raw_effect_points: effect.map(round),
        mix_shift_points,
        adjustment: adjusted.map(|a| a.adjustment),
        notes,
        sen_slope_per_day: mk.map(|m| (m.sen_slope * 1000.0).round() / 1000.0),
        p_value: primary.map(|w| w.p),
        q_value: None,
        n_current: cur.n,
        n_previous: prev.n,
        method: method.to_owned(),
        tests: Tests {
            welch: primary.map(Into::into),
            negative_share: negative.map(Into::into),
            mann_kendall: mk.map(Into::into),
        },
    };
    (verdict, primary.map(|w| w.p))
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var)
}

/// Builds the report for `windows` from the aggregator's cells.
pub fn build_report(
    agg: &Aggregator,
    windows: Windows,
    cfg: &TrendConfig,
    generated_at: DateTime<Utc>,
    provisional_after: Option<DateTime<Utc>>,
    source: &str,
) -> TrendReport {
    let (p0, c0, c1) = (
        day_number(windows.previous.start),
        day_number(windows.current.start),
        day_number(windows.current.end),
    );
    let wanted = |d: Dimension| match d {
        Dimension::Overall => cfg.groups.contains(&GroupDimension::Overall),
        Dimension::Agent => cfg.groups.contains(&GroupDimension::Agent),
        Dimension::Queue => cfg.groups.contains(&GroupDimension::Queue),
    };
    let daily_wanted = |d: Dimension| match d {
        Dimension::Overall => cfg.groups.contains(&GroupDimension::Day),
        Dimension::Agent => cfg.groups.contains(&GroupDimension::AgentDay),
        Dimension::Queue => cfg.groups.contains(&GroupDimension::QueueDay),
    };
    let mut groups: BTreeMap<(Dimension, String), GroupData> = BTreeMap::new();
    let mut daily = Vec::new();
    for (dim, name, day, summary) in agg.cells() {
        if day < p0 || day >= c1 {
            continue;
        }
        if daily_wanted(dim) {
            daily.push(DailyPoint {
                day: day_date(day),
                dimension: dim,
                key: name.to_owned(),
                summary: summary.into(),
            });
        }
        if !wanted(dim) {
            continue;
        }
        let g = groups.entry((dim, name.to_owned())).or_default();
        if day < c0 {
            g.previous.merge(summary)
        } else {
            g.current.merge(summary)
        }
        g.days.entry(day).or_default().merge(summary);
    }
    daily.sort_by(|a, b| (a.dimension, &a.key, a.day).cmp(&(b.dimension, &b.key, b.day)));

    let strata = if cfg.adjusts() && wanted(Dimension::Agent) {
        agent_strata(agg, cfg, (p0, c0, c1))
    } else {
        BTreeMap::new()
    };
    let empty = BTreeMap::new();
    let mut tested: Vec<Tested> = groups
        .iter()
        .map(|((dim, key), data)| {
            let agent_strata = (*dim == Dimension::Agent && cfg.adjusts())
                .then(|| strata.get(key).unwrap_or(&empty));
            let (verdict, p) = verdict_for(data, &windows, cfg, agent_strata);
            let count_margin_shift = count_margin_rule(&data.current, cfg.count_margin);
            let group = GroupReport {
                dimension: *dim,
                key: key.clone(),
                label: None,
                current: SummaryView::from(&data.current),
                previous: SummaryView::from(&data.previous),
                positive_count: data.current.positive(),
                neutral_count: data.current.neutral(),
                negative_count: data.current.negative(),
                avg_score: data.current.mean().map(|m| (m * 100.0).round() / 100.0),
                polarity_shift: verdict.direction,
                count_margin_shift,
                verdict,
            };
            Tested { group, p }
        })
        .collect();

    let indexed: Vec<(usize, f64)> = tested
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.p.map(|p| (i, p)))
        .collect();
    let q = benjamini_hochberg(&indexed.iter().map(|(_, p)| *p).collect::<Vec<_>>());
    for ((i, _), q) in indexed.iter().zip(q) {
        let g = &mut tested[*i].group;
        g.verdict.q_value = Some(q);
        let effect = g.verdict.effect_points.unwrap_or(0.0);
        g.verdict.direction = if q < cfg.fdr_q && effect > 0.0 {
            Direction::Improving
        } else if q < cfg.fdr_q && effect < 0.0 {
            Direction::Declining
        } else {
            Direction::Stable
        };
    }
    let groups = tested
        .into_iter()
        .map(|t| {
            let mut g = t.group;
            g.polarity_shift = match cfg.rule {
                TrendRule::Statistical => g.verdict.direction,
                TrendRule::CountMargin => g.count_margin_shift,
            };
            g
        })
        .collect();
    TrendReport {
        generated_at,
        normalization_version: agg.normalizer().version().to_owned(),
        algorithm_version: cfg.version.as_str().to_owned(),
        windows,
        provisional_after,
        source: source.to_owned(),
        settings: ReportSettings {
            min_samples: cfg.min_samples,
            fdr_q: cfg.fdr_q,
            trend_rule: cfg.rule,
            count_margin: cfg.count_margin,
            adjust_for: if cfg.version == TrendVersion::V2 {
                cfg.adjust_for.clone()
            } else {
                Vec::new()
            },
            min_stratum_samples: cfg.min_stratum_samples,
        },
        records: agg.counts().clone(),
        groups,
        daily,
    }
}
