//! Throughput of normalize + aggregate (+ the trend-v2 verdicts, case-mix strata included) on
//! one core, against two baselines measured in the same run: merely iterating the same
//! records (reading every field), and plain decoding of the same records from JSON lines.
//!
//! Run: `cargo bench --bench bench_analytics` (add `-- --records N` to change the size).
//! Prints a markdown section for docs/benchmarks.md.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use genesys_sentiment::analytics::input::stream_json_lines;
use genesys_sentiment::analytics::report::Windows;
use genesys_sentiment::analytics::{Aggregator, Normalizer, TrendConfig, trend};
use genesys_sentiment::config::Settings;
use genesys_sentiment::domain::{
    AgentId, ConversationId, QueueId, RawSentiment, ScoreScale, SentimentRecord,
};
use rand::{RngExt, SeedableRng};

fn records(n: usize) -> Vec<SentimentRecord> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let start = start();
    let agents: Vec<String> = (0..400)
        .map(|i| format!("agent-{i:04}-{}", uuid::Uuid::from_u128(i as u128)))
        .collect();
    let queues: Vec<String> = (0..8)
        .map(|i| format!("queue-{i}-{}", uuid::Uuid::from_u128(1000 + i as u128)))
        .collect();
    (0..n)
        .map(|i| SentimentRecord {
            conversation_id: ConversationId(format!("c{i}")),
            agent_id: Some(AgentId(agents[rng.random_range(0..agents.len())].clone())),
            queue_id: Some(QueueId(queues[rng.random_range(0..queues.len())].clone())),
            time: start + TimeDelta::seconds(rng.random_range(0..28 * 86_400)),
            raw: RawSentiment {
                value: rng.random_range(-1.0..1.0),
                scale: ScoreScale::Unit,
            },
            polarity: None,
            media_type: Some(["voice", "chat", "email"][rng.random_range(0..3usize)].to_owned()),
        })
        .collect()
}

fn iterate(records: &[SentimentRecord]) -> f64 {
    let mut acc = 0.0;
    let mut len = 0usize;
    for r in records {
        acc += r.raw.value;
        len += r.agent_id.as_ref().map_or(0, |a| a.0.len())
            + r.queue_id.as_ref().map_or(0, |q| q.0.len());
        len += r.time.timestamp() as usize & 1;
        len += r.media_type.as_ref().map_or(0, String::len);
    }
    black_box(len);
    acc
}

fn aggregate(records: &[SentimentRecord]) -> usize {
    let mut agg = Aggregator::new(Normalizer::default());
    for r in records {
        let _ = black_box(agg.push(r));
    }
    agg.cell_count()
}

fn start() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()
}

/// Aggregate, then the report over the last two weeks (every agent's stratified verdict).
fn aggregate_and_report(records: &[SentimentRecord], cfg: &TrendConfig) -> usize {
    let mut agg = Aggregator::new(Normalizer::default());
    for r in records {
        let _ = black_box(agg.push(r));
    }
    let windows = Windows::ending_at(start() + TimeDelta::days(28), 14);
    let report = trend::build_report(&agg, windows, cfg, start(), None, "bench");
    report.groups.len()
}

fn json_lines(records: &[SentimentRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 200);
    for r in records {
        let row = serde_json::json!({
            "conversation_id": r.conversation_id, "agent_id": r.agent_id, "queue_id": r.queue_id,
            "time": r.time, "raw_score": r.raw.value,
        });
        serde_json::to_writer(&mut out, &row).unwrap();
        out.push(b'\n');
    }
    out
}

fn decode(lines: &[u8]) -> usize {
    let mut n = 0usize;
    stream_json_lines(lines, ScoreScale::Unit, |_, row| {
        n += usize::from(black_box(row).is_ok())
    })
    .unwrap();
    n
}

fn decode_and_aggregate(lines: &[u8]) -> usize {
    let mut agg = Aggregator::new(Normalizer::default());
    stream_json_lines(lines, ScoreScale::Unit, |_, row| {
        if let Ok(r) = row {
            let _ = black_box(agg.push(&r));
        }
    })
    .unwrap();
    agg.cell_count()
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let n: usize = common::flag("--records", 2_000_000);
    let data = records(n);
    let lines = json_lines(&data);
    let t_iterate = best_of(5, || {
        black_box(iterate(black_box(&data)));
    });
    let t_aggregate = best_of(5, || {
        black_box(aggregate(black_box(&data)));
    });
    let cfg = TrendConfig::from_settings(&Settings::defaults().analytics);
    let t_report = best_of(5, || {
        black_box(aggregate_and_report(black_box(&data), &cfg));
    });
    let t_decode = best_of(3, || {
        black_box(decode(black_box(&lines)));
    });
    let t_both = best_of(3, || {
        black_box(decode_and_aggregate(black_box(&lines)));
    });
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("## Analytics throughput (one core)\n");
    println!(
        "Command: `cargo bench --bench bench_analytics` ({n} records, 400 agents, 8 queues, 3 media types, 28 days; verdicts over the last 14 days against the 14 before; best of 5 runs, 3 for the JSON runs)\n"
    );
    println!("| what | records/s | time |");
    println!("| --- | --- | --- |");
    println!(
        "| baseline: iterate the records | {:.0} | {:.3} s |",
        rate(t_iterate),
        t_iterate.as_secs_f64()
    );
    println!(
        "| normalize + aggregate | {:.0} | {:.3} s |",
        rate(t_aggregate),
        t_aggregate.as_secs_f64()
    );
    println!(
        "| normalize + aggregate + verdicts ({}, adjusted for {}) | {:.0} | {:.3} s |",
        cfg.version.as_str(),
        cfg.adjust_for
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" × "),
        rate(t_report),
        t_report.as_secs_f64()
    );
    println!(
        "| baseline: decode the records from JSON lines | {:.0} | {:.3} s |",
        rate(t_decode),
        t_decode.as_secs_f64()
    );
    println!(
        "| decode + normalize + aggregate | {:.0} | {:.3} s |",
        rate(t_both),
        t_both.as_secs_f64()
    );
    println!(
        "\nRatios: normalize + aggregate / iterating = {:.3}; decode + normalize + aggregate / decoding alone = {:.2} \
         (aggregation adds {:.0} % to decoding); verdicts add {:.0} % to normalize + aggregate. Target: normalize + aggregate + verdicts ≥ 2 000 000 records/s on one core: {}.",
        rate(t_aggregate) / rate(t_iterate),
        rate(t_both) / rate(t_decode),
        (t_both.as_secs_f64() / t_decode.as_secs_f64() - 1.0) * 100.0,
        (t_report.as_secs_f64() / t_aggregate.as_secs_f64() - 1.0) * 100.0,
        if rate(t_report) >= 2_000_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
