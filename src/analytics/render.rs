//! Rendering a report as a table for people, JSON, or CSV.

use std::fmt::Write as _;

use super::aggregate::Dimension;
use super::report::{Direction, GroupReport, TrendReport};
use super::trend::QUEUE_MIX_NOTE;

/// Output formats of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// The full report as JSON.
    Json,
    /// One row per group.
    Csv,
}

/// An extra column for the table (the demo adds the emulator's truth).
pub struct ExtraColumn<'a> {
    /// Header.
    pub header: &'a str,
    /// Cell for a group.
    pub cell: &'a dyn Fn(&GroupReport) -> String,
}

fn fmt_opt(v: Option<f64>, width: usize, precision: usize) -> String {
    v.map_or_else(
        || format!("{:>width$}", "-"),
        |x| format!("{x:>width$.precision$}"),
    )
}

fn fmt_q(q: Option<f64>) -> String {
    match q {
        None => format!("{:>8}", "-"),
        Some(q) if q < 0.001 => format!("{q:>8.1e}"),
        Some(q) => format!("{q:>8.3}"),
    }
}

fn verdict_word(d: Direction) -> &'static str {
    match d {
        Direction::Improving => "IMPROVING",
        Direction::Declining => "DECLINING",
        Direction::Stable => "stable",
        Direction::InsufficientData => "too little data",
    }
}

fn sort_rank(g: &GroupReport) -> (u8, i64) {
    let rank = match g.verdict.direction {
        Direction::Declining => 0,
        Direction::Improving => 1,
        Direction::Stable => 2,
        Direction::InsufficientData => 3,
    };
    (
        rank,
        (g.verdict.effect_points.unwrap_or(0.0) * 100.0) as i64,
    )
}

/// The report as aligned text: a header, then queues and agents (declining first).
pub fn table(report: &TrendReport, max_rows: usize, extra: Option<&ExtraColumn<'_>>) -> String {
    let mut out = String::new();
    let w = &report.windows;
    let _ = writeln!(
        out,
        "Trend report: {} → {} compared with {} → {} ({} normalization, {} algorithm, q < {})",
        w.current.start.format("%Y-%m-%d"),
        w.current.end.format("%Y-%m-%d"),
        w.previous.start.format("%Y-%m-%d"),
        w.previous.end.format("%Y-%m-%d"),
        report.normalization_version,
        report.algorithm_version,
        report.settings.fdr_q,
    );
    let rejected: u64 = report.records.rejected.values().sum();
    let _ = write!(
        out,
        "Records: {} accepted, {} rejected",
        report.records.accepted, rejected
    );
    if rejected > 0 {
        let reasons: Vec<String> = report
            .records
            .rejected
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = write!(out, " ({})", reasons.join(", "));
    }
    out.push('\n');
    if let Some(p) = report.provisional_after {
        let _ = writeln!(
            out,
            "Provisional: data after {} may still change.",
            p.format("%Y-%m-%d %H:%M UTC")
        );
    }
    for (dimension, title) in [
        (Dimension::Overall, "OVERALL"),
        (Dimension::Queue, "QUEUES"),
        (Dimension::Agent, "AGENTS"),
    ] {
        let mut rows: Vec<&GroupReport> = report.groups_of(dimension).collect();
        if rows.is_empty() {
            continue;
        }
        rows.sort_by_key(|g| sort_rank(g));
        let _ = writeln!(out, "\n{title}");
        let _ = write!(
            out,
            "{:<28} {:>6} {:>5} {:>5} {:>5} {:>6} {:>6} {:>7} {:>7} {:>8} {:>8}  {:<15}",
            "name",
            "n",
            "pos",
            "neu",
            "neg",
            "mean",
            "prev",
            "raw Δ",
            "Δmean",
            "slope/d",
            "q",
            "verdict"
        );
        if let Some(e) = extra {
            let _ = write!(out, " {}", e.header);
        }
        out.push('\n');
        for g in rows.iter().take(max_rows) {
            // Names and keys come from Genesys or an input file: no terminal escapes.
            let name = crate::domain::printable(g.label.as_deref().unwrap_or(&g.key), 28);
            let _ = write!(
                out,
                "{:<28} {:>6} {:>5} {:>5} {:>5} {} {} {} {} {} {}  {:<15}",
                name,
                g.current.n,
                g.current.positive,
                g.current.neutral,
                g.current.negative,
                fmt_opt(g.current.mean, 6, 1),
                fmt_opt(g.previous.mean, 6, 1),
                fmt_opt(g.verdict.raw_effect_points, 7, 1),
                fmt_opt(g.verdict.effect_points, 7, 1),
                fmt_opt(g.verdict.sen_slope_per_day, 8, 2),
                fmt_q(g.verdict.q_value),
                verdict_word(g.verdict.direction),
            );
            if g.verdict.notes.iter().any(|n| n == QUEUE_MIX_NOTE) {
                let _ = write!(
                    out,
                    " queue mix {:+.1}",
                    g.verdict.mix_shift_points.unwrap_or(0.0)
                );
            }
            if let Some(e) = extra {
                let _ = write!(out, " {}", (e.cell)(g));
            }
            out.push('\n');
        }
        if rows.len() > max_rows {
            let _ = writeln!(out, "… and {} more", rows.len() - max_rows);
        }
    }
    if !report.settings.adjust_for.is_empty() {
        let by: Vec<&str> = report
            .settings
            .adjust_for
            .iter()
            .map(|s| s.as_str())
            .collect();
        let _ = writeln!(
            out,
            "\nAgents' Δmean compares each agent with themselves within {} (raw Δ: before that); \
             \"queue mix\": most of the raw change is the change of their case mix.",
            by.join(" × ")
        );
    }
    let _ = writeln!(out, "\n{}", report.summary_line());
    out
}

/// The report as pretty JSON.
pub fn json(report: &TrendReport) -> String {
    serde_json::to_string_pretty(report).expect("reports serialize")
}

/// One CSV row per group.
pub fn csv(report: &TrendReport) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "dimension",
        "key",
        "label",
        "n_current",
        "n_previous",
        "positive",
        "neutral",
        "negative",
        "mean_current",
        "mean_previous",
        "std_current",
        "p10",
        "p50",
        "p90",
        "effect_points",
        "sen_slope_per_day",
        "p_value",
        "q_value",
        "direction",
        "method",
        "polarity_shift",
        "count_margin_shift",
        "raw_effect_points",
        "mix_shift_points",
    ]);
    let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for g in &report.groups {
        let _ = w.write_record([
            g.dimension.as_str().to_owned(),
            spreadsheet_text(&g.key),
            spreadsheet_text(g.label.as_deref().unwrap_or_default()),
            g.current.n.to_string(),
            g.previous.n.to_string(),
            g.positive_count.to_string(),
            g.neutral_count.to_string(),
            g.negative_count.to_string(),
            num(g.current.mean),
            num(g.previous.mean),
            num(g.current.std_dev),
            num(g.current.p10),
            num(g.current.p50),
            num(g.current.p90),
            num(g.verdict.effect_points),
            num(g.verdict.sen_slope_per_day),
            num(g.verdict.p_value),
            num(g.verdict.q_value),
            g.verdict.direction.as_str().to_owned(),
            g.verdict.method.clone(),
            g.polarity_shift.as_str().to_owned(),
            g.count_margin_shift.as_str().to_owned(),
            num(g.verdict.raw_effect_points),
            num(g.verdict.mix_shift_points),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Renders in `format`.
pub fn render(report: &TrendReport, format: Format) -> String {
    match format {
        Format::Table => table(report, usize::MAX, None),
        Format::Json => json(report),
        Format::Csv => csv(report),
    }
}

/// A text cell a spreadsheet will not run: one that starts like a formula (`=`, `+`, `-`,
/// `@`, a tab or a carriage return) is prefixed with `'`, and control characters are written
/// as escapes.
fn spreadsheet_text(text: &str) -> String {
    let text = crate::domain::printable(text, usize::MAX);
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}
