//! Trend verdicts per group, with false-discovery control across the report.
//!
//! For each group (overall, every agent, every queue) the current window is compared with
//! the previous one:
//! - primary: Welch's t on quality scores (or, for pre-aggregated data, on daily means);
//! - supporting: a two-proportion z test on the negative share, and Mann–Kendall with Sen's
//!   slope on the daily means across both windows.
//!
//! A window with fewer than `min_samples` conversations gives `insufficient_data`. The
//! primary p-values of all tested groups go through Benjamini–Hochberg; a group is
//! `improving` or `declining` only when its q-value is below `fdr_q`, so a report over 500
//! agents does not flag 25 of them by chance.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::aggregate::{Aggregator, Dimension, Summary, day_date, day_number};
use super::report::{
    ALGORITHM_VERSION, DailyPoint, Direction, GroupReport, ReportSettings, SummaryView, Tests,
    TrendReport, Verdict, Windows,
};
use super::stats::{benjamini_hochberg, mann_kendall, two_proportions, welch};
use crate::config::{AnalyticsSettings, GroupDimension, TrendRule};

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
        }
    }
}

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

fn verdict_for(data: &GroupData, windows: &Windows, cfg: &TrendConfig) -> (Verdict, Option<f64>) {
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
    let (primary, method) = if !enough {
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
    let verdict = Verdict {
        direction,
        effect_points: effect.map(|e| (e * 100.0).round() / 100.0),
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

    let mut tested: Vec<Tested> = groups
        .iter()
        .map(|((dim, key), data)| {
            let (verdict, p) = verdict_for(data, &windows, cfg);
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
        algorithm_version: ALGORITHM_VERSION.to_owned(),
        windows,
        provisional_after,
        source: source.to_owned(),
        settings: ReportSettings {
            min_samples: cfg.min_samples,
            fdr_q: cfg.fdr_q,
            trend_rule: cfg.rule,
            count_margin: cfg.count_margin,
        },
        records: agg.counts().clone(),
        groups,
        daily,
    }
}
