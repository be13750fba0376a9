//! Incremental batch runs against the emulator at Genesys's default limit of 300 requests
//! per minute per token, with `genesys.realtime_share` (0.3) kept free, so the batch may use
//! 210 a minute:
//!
//! 1. the first run backfills both 7-day windows into an empty store (details pages plus
//!    one STA request per conversation): wall time against the lower bound the limit allows;
//! 2. a second run over the same, unchanged data: its requests against the first run's;
//! 3. a run one day later: its requests against that day's new conversations plus the
//!    details pages that list them.
//!
//! It also compares the transcript-aggregates source, and derives from the measured cost
//! per conversation the largest org (conversations a day) whose steady state (a run every
//! 15 minutes) fits 300 a minute with the share reserved.
//!
//! Run: `cargo bench --bench bench_batch` (`-- --per-day N`, default 400: about 25 minutes).

mod common;

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use genesys_sentiment::batch::Analyzer;
use genesys_sentiment::batch::pull::{Progress, PullStats};
use genesys_sentiment::batch::run::windows_at;
use genesys_sentiment::config::{Secret, Settings};
use genesys_sentiment::domain::BatchSource;
use genesys_sentiment::emulator::org::today_midnight;
use genesys_sentiment::emulator::{self, EmulatorConfig, RunningEmulator};
use genesys_sentiment::genesys::GenesysClient;
use genesys_sentiment::store::Store;
use genesys_sentiment::telemetry::metrics::Metrics;

const LIMIT: u32 = 300;
const SHARE: f64 = 0.3;

fn settings(url: &str, source: BatchSource) -> Settings {
    let mut s = Settings::defaults();
    s.genesys.base_url = url.to_owned();
    s.genesys.client_id = emulator::DEFAULT_CLIENT_ID.into();
    s.genesys.client_secret = Secret::new(emulator::DEFAULT_CLIENT_SECRET);
    s.genesys.requests_per_minute = std::num::NonZero::new(LIMIT).unwrap();
    s.genesys.realtime_share = SHARE;
    s.genesys.retention = Duration::from_secs(3650 * 86_400).into();
    s.batch.source = source;
    s
}

/// Batch grants per 60 s window.
fn batch_cap() -> u64 {
    u64::from(LIMIT) - (f64::from(LIMIT) * SHARE).ceil() as u64
}

/// The shortest time `requests` can take when at most `batch_cap()` fit in any 60 s window:
/// the last allowance cannot start before floor((R − 1) / cap) minutes.
fn lower_bound(requests: u64) -> Duration {
    Duration::from_secs(60 * (requests.saturating_sub(1) / batch_cap()))
}

struct Run {
    requests: u64,
    rate_limited: u64,
    wall: Duration,
    pull: PullStats,
}

async fn run(analyzer: &Analyzer, now: chrono::DateTime<chrono::Utc>) -> Run {
    let client = analyzer.client();
    let before = client.stats();
    let started = Instant::now();
    let windows = windows_at(now, 7);
    let availability = client.details_availability().await.ok();
    let progress = Progress::default();
    analyzer
        .analyze(windows, analyzer.filter(), availability, &progress)
        .await
        .expect("the run succeeds");
    let cost = client.stats().since(before);
    Run {
        requests: cost.requests,
        rate_limited: cost.rate_limited,
        wall: started.elapsed(),
        pull: progress.snapshot(),
    }
}

async fn analyzer(emu: &RunningEmulator, source: BatchSource, dir: &std::path::Path) -> Analyzer {
    let s = settings(&emu.url(), source);
    let client = GenesysClient::new(&s.genesys, Metrics::new()).unwrap();
    let store = Store::open(&format!("sqlite://{}/{:?}.db", dir.display(), source))
        .await
        .unwrap();
    Analyzer::new(client, &s, store)
}

fn main() {
    let per_day: f64 = common::flag("--per-day", 400.0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // 15 days of history ending tomorrow: the first runs see the 14 days up to today,
        // the third the day after.
        let today = today_midnight();
        let mut config = EmulatorConfig::new(8);
        config.org.days = 15;
        config.org.agents = 40;
        config.org.conversations_per_day = per_day;
        config.org.end = today + TimeDelta::days(1);
        config.rate_limit_per_minute = u64::from(LIMIT);
        let emu = emulator::spawn(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let org = emu.state.org.clone();
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let backfilled = org.starting_between(today - TimeDelta::days(14), today).len();
        let next_day = org.starting_between(today, today + TimeDelta::days(1)).len() as u64;

        let conv = analyzer(&emu, BatchSource::Conversations, dir.path()).await;
        let first = run(&conv, today).await;
        eprintln!("first run: {} requests in {:?}", first.requests, first.wall);
        let second = run(&conv, today).await;
        eprintln!("second run: {} requests", second.requests);
        let third = run(&conv, today + TimeDelta::days(1)).await;
        eprintln!("third run: {} requests", third.requests);
        let aggs = analyzer(&emu, BatchSource::Aggregates, dir.path()).await;
        let agg_first = run(&aggs, today).await;
        let agg_second = run(&aggs, today).await;

        let bound = lower_bound(first.requests);
        let wall_ratio = first.wall.as_secs_f64() / bound.as_secs_f64().max(1.0);
        // One day's details pages: totalHits/page size, plus the page that shows the end.
        let pages = next_day.div_ceil(100) + 1;
        let third_target = next_day + pages;
        println!("## Incremental batch runs at 300 requests per minute\n");
        println!(
            "Command: `cargo bench --bench bench_batch` (emulator org: {per_day} conversations per weekday, 40 agents; limit {LIMIT}/min per token on both sides; `genesys.realtime_share = {SHARE}`, so the batch uses at most {} a minute; 8 STA requests in flight; a fresh SQLite store)\n",
            batch_cap()
        );
        println!("| run | conversations listed | STA answers | requests | 429s | wall time | target |");
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        println!(
            "| 1. backfill of both windows ({backfilled} conversations) | {} | {} | {} | {} | {:.0} s | within 1.1 × the bound of {} s: **{wall_ratio:.3}** |",
            first.pull.listed, first.pull.scores_fetched, first.requests, first.rate_limited,
            first.wall.as_secs_f64(), bound.as_secs()
        );
        println!(
            "| 2. same data again | {} | {} | {} | {} | {:.1} s | at most 5 % of run 1: **{:.2} %** |",
            second.pull.listed, second.pull.scores_fetched, second.requests, second.rate_limited,
            second.wall.as_secs_f64(), 100.0 * second.requests as f64 / first.requests as f64
        );
        println!(
            "| 3. one day later ({next_day} new conversations) | {} | {} | {} | {} | {:.0} s | at most 1.1 × ({next_day} + {pages} pages) = {:.0}: **{:.3} ×** |",
            third.pull.listed, third.pull.scores_fetched, third.requests, third.rate_limited,
            third.wall.as_secs_f64(), 1.1 * third_target as f64,
            third.requests as f64 / third_target as f64
        );
        println!(
            "| aggregates source, backfill / again | – | – | {} / {} | {} | {:.1} s | |",
            agg_first.requests, agg_second.requests, agg_first.rate_limited + agg_second.rate_limited,
            agg_first.wall.as_secs_f64()
        );
        // Steady state: every new day costs its conversations plus its pages, and the newest
        // day is listed again at each run (every 15 min) until it settles (6 h after the day
        // ends here: the emulator's availability lag), so about 24 more listings of it.
        let per_conversation = third.requests as f64 / next_day.max(1) as f64;
        let relists = 24.0 * (1.0 / 100.0);
        let per_day_budget = batch_cap() as f64 * 60.0 * 24.0;
        let fixed = 96.0 * 2.0; // availability date and names, per run
        let largest = (per_day_budget - fixed) / (per_conversation + relists);
        println!(
            "\nSteady state: run 3 cost {per_conversation:.3} requests per new conversation; with the newest day listed again by each of the ~24 runs before it settles (+{relists:.2} per conversation) and 2 fixed requests per run, a day's batch work fits the {per_day_budget:.0} requests a day the batch may use (210 a minute, the real-time share kept free) up to about **{largest:.0} conversations a day** (scores that arrive by webhook are never fetched, so an org that sends them fits more)."
        );
        println!(
            "\nThe lower bound for R requests with at most {} per 60 s window is floor((R − 1) / {}) minutes.",
            batch_cap(),
            batch_cap()
        );
    });
}
