//! Batch efficiency against the emulator at Genesys's default limit of 300 requests per
//! minute per token: for N conversations (default 10 000) over 7 days, both sources —
//! requests made, 429s received, and wall time against the lower bound the limit allows.
//!
//! Run: `cargo bench --bench bench_batch` (`-- --conversations N`). The conversations
//! source needs one STA request per conversation, so 10 000 conversations take about
//! 34 minutes at 300 per minute; that is the point of the comparison.

mod common;

use std::time::{Duration, Instant};

use genesys_sentiment::analytics::{Aggregator, Normalizer};
use genesys_sentiment::batch::pull::{PullStats, pull_aggregates, pull_conversations};
use genesys_sentiment::config::{Secret, Settings};
use genesys_sentiment::emulator::org::today_midnight;
use genesys_sentiment::emulator::{self, EmulatorConfig};
use genesys_sentiment::genesys::details::DetailsFilter;
use genesys_sentiment::genesys::{GenesysClient, Interval};
use genesys_sentiment::telemetry::metrics::Metrics;

const LIMIT: u64 = 300;

fn client(url: &str) -> GenesysClient {
    let mut s = Settings::defaults();
    s.genesys.base_url = url.to_owned();
    s.genesys.client_id = emulator::DEFAULT_CLIENT_ID.into();
    s.genesys.client_secret = Secret::new(emulator::DEFAULT_CLIENT_SECRET);
    s.genesys.requests_per_minute = std::num::NonZero::new(LIMIT as u32).unwrap();
    GenesysClient::new(&s.genesys, Metrics::new()).unwrap()
}

/// The shortest time `requests` can take under a limit of `LIMIT` per 60 s window:
/// the last full allowance starts at floor((requests − 1) / LIMIT) minutes.
fn lower_bound(requests: u64) -> Duration {
    Duration::from_secs(60 * (requests.saturating_sub(1) / LIMIT))
}

struct Row {
    source: &'static str,
    stats: PullStats,
    requests: u64,
    rate_limited: u64,
    wall: Duration,
}

fn main() {
    let n: f64 = common::flag("--conversations", 10_000.0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut config = EmulatorConfig::new(8);
        config.org.days = 7;
        config.org.agents = 40;
        // Five full-volume days and two half-volume days in a week.
        config.org.conversations_per_day = n / 6.0;
        config.org.end = today_midnight();
        config.rate_limit_per_minute = LIMIT;
        let emu = emulator::spawn(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let org = &emu.state.org;
        let interval = Interval::new(org.spec.end - chrono::TimeDelta::days(7), org.spec.end);
        let in_interval = org.starting_between(interval.start, interval.end).len();
        let mut rows = Vec::new();
        for source in ["conversations", "aggregates"] {
            let client = client(&emu.url());
            let mut agg = Aggregator::new(Normalizer::default());
            let started = Instant::now();
            let stats = match source {
                "conversations" => pull_conversations(&client, interval, DetailsFilter::default(), 8, &mut agg).await,
                _ => pull_aggregates(&client, interval, DetailsFilter::default(), &mut agg).await,
            }
            .expect("the pull succeeds");
            let wall = started.elapsed();
            let s = client.stats();
            eprintln!("{source}: {s:?} in {wall:?}");
            rows.push(Row { source, stats, requests: s.requests, rate_limited: s.rate_limited, wall });
        }
        println!("## Batch efficiency at 300 requests per minute\n");
        println!(
            "Command: `cargo bench --bench bench_batch` ({in_interval} conversations over 7 days in the emulator, limit {LIMIT}/min per token on both sides, 8 STA requests in flight)\n"
        );
        println!("| source | conversations | records | requests | 429s | wall time | lower bound | wall / bound |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        for r in &rows {
            let bound = lower_bound(r.requests);
            let ratio = if bound.is_zero() {
                "n/a (within one minute's allowance)".to_owned()
            } else {
                format!("{:.3}", r.wall.as_secs_f64() / bound.as_secs_f64())
            };
            println!(
                "| {} | {} | {} | {} | {} | {:.1} s | {} s | {ratio} |",
                r.source,
                r.stats.conversations.max(r.stats.analysed),
                r.stats.records,
                r.requests,
                r.rate_limited,
                r.wall.as_secs_f64(),
                bound.as_secs()
            );
        }
        let conv = &rows[0];
        let bound = lower_bound(conv.requests).as_secs_f64();
        println!(
            "\nTargets: zero 429s in steady state ({} and {}); conversations-source wall time within 1.1× of the bound ({:.3}).",
            rows[0].rate_limited,
            rows[1].rate_limited,
            if bound > 0.0 { conv.wall.as_secs_f64() / bound } else { 1.0 }
        );
        println!(
            "The lower bound for R requests at {LIMIT} per 60 s window is floor((R − 1) / {LIMIT}) minutes: the last allowance cannot start earlier."
        );
    });
}
