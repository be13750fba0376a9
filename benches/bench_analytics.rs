//! Throughput of normalize + aggregate on one core, against a baseline of merely iterating
//! the same records (reading every field) in the same run.
//!
//! Run: `cargo bench --bench bench_analytics` (add `-- --records N` to change the size).
//! Prints a markdown section for docs/benchmarks.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use genesys_sentiment::analytics::{Aggregator, Normalizer};
use genesys_sentiment::domain::{
    AgentId, ConversationId, QueueId, RawSentiment, ScoreScale, SentimentRecord,
};
use rand::{RngExt, SeedableRng};

fn records(n: usize) -> Vec<SentimentRecord> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let start = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
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
        })
        .collect()
}

fn baseline(records: &[SentimentRecord]) -> f64 {
    let mut acc = 0.0;
    let mut len = 0usize;
    for r in records {
        acc += r.raw.value;
        len += r.agent_id.as_ref().map_or(0, |a| a.0.len())
            + r.queue_id.as_ref().map_or(0, |q| q.0.len());
        len += r.time.timestamp() as usize & 1;
    }
    black_box(len);
    acc
}

fn measured(records: &[SentimentRecord]) -> usize {
    let mut agg = Aggregator::new(Normalizer::default());
    for r in records {
        let _ = black_box(agg.push(r));
    }
    agg.cell_count()
}

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap()
}

fn main() {
    let mut n = 2_000_000usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--records") {
        n = args[i + 1].parse().expect("--records N");
    }
    let data = records(n);
    let base = best_of(5, || {
        let t = Instant::now();
        black_box(baseline(black_box(&data)));
        t.elapsed()
    });
    let work = best_of(5, || {
        let t = Instant::now();
        black_box(measured(black_box(&data)));
        t.elapsed()
    });
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("## Analytics throughput (normalize + aggregate, one core)\n");
    println!(
        "Command: `cargo bench --bench bench_analytics` ({n} records, 400 agents, 8 queues, 28 days; best of 5 runs)\n"
    );
    println!("| what | records/s | time |");
    println!("| --- | --- | --- |");
    println!(
        "| baseline: iterate the records | {:.0} | {:?} |",
        rate(base),
        base
    );
    println!("| normalize + aggregate | {:.0} | {:?} |", rate(work), work);
    println!(
        "\nRatio (normalize + aggregate throughput / baseline throughput): {:.3}. Target: ≥ 2 000 000 records/s: {}.",
        rate(work) / rate(base),
        if rate(work) >= 2_000_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
