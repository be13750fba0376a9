//! `genesys-sentiment demo`: the daemon's client against an in-process emulator, end to end,
//! in well under a minute. It pulls two weeks of a synthetic org, prints the trend table
//! beside the emulator's ground truth, and says whether the flagged agents are the ones the
//! emulator made decline.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::analytics::render::{ExtraColumn, table};
use crate::analytics::report::Direction;
use crate::analytics::{Aggregator, Normalizer, TrendConfig, Windows, trend};
use crate::config::{Secret, Settings};
use crate::emulator::org::{EffectSizes, today_midnight};
use crate::emulator::{self, EmulatorConfig};
use crate::genesys::details::DetailsFilter;
use crate::genesys::{GenesysClient, Interval};
use crate::jobs::pull::pull_conversations;
use crate::telemetry::metrics::Metrics;

/// Options of `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Seed of the synthetic org.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Agents in the synthetic org.
    #[arg(long, default_value_t = 24)]
    pub agents: usize,
    /// Conversations per weekday across the org.
    #[arg(long, default_value_t = 600.0)]
    pub conversations_per_day: f64,
}

/// The emulator's per-token limit during the demo. Genesys allows 300 per minute; the demo
/// raises it so a two-week pull of one STA request per conversation fits in seconds (the
/// batch benchmark in docs/benchmarks.md runs at the real limit).
pub const DEMO_RATE_LIMIT: u64 = 60_000;

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The emulator could not start.
    #[error("cannot start the emulator: {0}")]
    Emulator(#[from] std::io::Error),
    /// The client failed against the emulator.
    #[error("pulling from the emulator failed: {0}")]
    Genesys(#[from] crate::genesys::GenesysError),
}

/// Runs the demo, printing to standard output.
///
/// # Errors
/// [`DemoError`] when the emulator cannot start or the pull fails.
pub async fn run(args: &DemoArgs, base: &Settings) -> Result<(), DemoError> {
    let started = Instant::now();
    let mut config = EmulatorConfig::new(args.seed);
    config.org.agents = args.agents;
    config.org.queues = 4;
    config.org.days = 14;
    config.org.conversations_per_day = args.conversations_per_day;
    config.org.effects = EffectSizes::Large;
    config.org.end = today_midnight();
    config.rate_limit_per_minute = DEMO_RATE_LIMIT;
    let emu = emulator::spawn(config, "127.0.0.1:0".parse().expect("loopback")).await?;
    let org = emu.state.org.clone();
    println!(
        "Emulator: {} ({} agents, {} queues, {} conversations over {} days; seed {}).",
        emu.url(),
        org.agents.len(),
        org.queues.len(),
        org.conversations.len(),
        org.spec.days,
        org.spec.seed
    );

    let mut settings = base.clone();
    settings.genesys.base_url = emu.url();
    settings.genesys.login_url = String::new();
    settings.genesys.client_id = emulator::DEFAULT_CLIENT_ID.into();
    settings.genesys.client_secret = Secret::new(emulator::DEFAULT_CLIENT_SECRET);
    settings.genesys.requests_per_minute = DEMO_RATE_LIMIT as u32;
    settings.genesys.sta_concurrency = settings.genesys.sta_concurrency.max(32);
    let client = GenesysClient::new(&settings.genesys, Metrics::new())?;

    let window_days = org.spec.window_days;
    let windows = Windows::ending_at(org.spec.end, window_days);
    let interval = Interval::new(windows.previous.start, windows.current.end);
    println!(
        "Pulling {} → {} (details query + one STA request per conversation; emulator limit raised to {} requests/min for the demo)…",
        interval.start.format("%Y-%m-%d"),
        interval.end.format("%Y-%m-%d"),
        DEMO_RATE_LIMIT
    );
    let pull_started = Instant::now();
    let mut agg = Aggregator::new(Normalizer::from_settings(&settings.analytics));
    let stats = pull_conversations(
        &client,
        interval,
        DetailsFilter::default(),
        settings.genesys.sta_concurrency,
        &mut agg,
    )
    .await?;
    let requests = client.stats();
    println!(
        "Pulled {} conversations ({} analysed, {} without STA analysis) with {} requests and {} 429s in {:.1} s.\n",
        stats.conversations,
        stats.analysed,
        stats.not_analysed,
        requests.requests,
        requests.rate_limited,
        pull_started.elapsed().as_secs_f64()
    );

    let mut report = trend::build_report(
        &agg,
        windows,
        &TrendConfig::from_settings(&settings.analytics),
        Utc::now(),
        None,
        "conversations",
    );
    let mut labels: HashMap<String, String> = org
        .agents
        .iter()
        .map(|a| (a.id.clone(), a.name.clone()))
        .collect();
    labels.extend(org.queues.iter().map(|q| (q.id.clone(), q.name.clone())));
    report.set_labels(&labels);
    let truth = org.ground_truth(window_days, org.spec.end);
    let by_agent: HashMap<&str, &crate::emulator::org::AgentTruth> = truth
        .agents
        .iter()
        .map(|t| (t.agent_id.as_str(), t))
        .collect();
    let cell = |g: &crate::analytics::report::GroupReport| -> String {
        by_agent.get(g.key.as_str()).map_or_else(String::new, |t| {
            format!("{} ({:+.1})", t.trend, t.effect_points)
        })
    };
    let extra = ExtraColumn {
        header: "emulator truth (effect)",
        cell: &cell,
    };
    print!("{}", table(&report, usize::MAX, Some(&extra)));

    for (word, dir) in [
        ("declining", Direction::Declining),
        ("improving", Direction::Improving),
    ] {
        let verdict_of = |id: &str| {
            report
                .groups_of("agent")
                .find(|g| g.key == id)
                .map(|g| g.verdict.direction)
        };
        let declared: Vec<&str> = truth
            .agents
            .iter()
            .filter(|t| t.trend == word)
            .map(|t| t.agent_id.as_str())
            .collect();
        let hits = declared
            .iter()
            .filter(|id| verdict_of(id) == Some(dir))
            .count();
        let thin = declared
            .iter()
            .filter(|id| verdict_of(id) == Some(Direction::InsufficientData))
            .count();
        let others = report
            .groups_of("agent")
            .filter(|g| g.verdict.direction == dir && !declared.contains(&g.key.as_str()))
            .count();
        println!(
            "Truth check ({word}): the emulator made {} agents {word}; the daemon flagged {hits} of them \
             ({thin} had too little data to judge) and {others} others.",
            declared.len()
        );
    }
    println!(
        "\nDemo finished in {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// How long the demo may take before something is wrong (used by tests).
pub const DEMO_BUDGET: Duration = Duration::from_secs(60);
