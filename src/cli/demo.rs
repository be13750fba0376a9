//! `genesys-sentiment demo`: the whole daemon against an in-process emulator, end to end, in
//! well under a minute.
//!
//! 1. Starts the emulator (a synthetic two-week org with known trends) and its coaching sink.
//! 2. Starts the daemon pointed at both, and lets its scheduler run one batch.
//! 3. Prints the trend table beside the emulator's ground truth, and whether the flagged
//!    agents are the ones the emulator made decline.
//! 4. Pushes a burst of webhooks (all three formats) from the emulator into the daemon,
//!    waits for the coaching sink to receive them, drains the daemon and verifies the
//!    journal, and prints the counts.
//!
//! `--keep-running` leaves the daemon (and its dashboard) up until Ctrl-C.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::args::DemoArgs;
use crate::analytics::Dimension;
use crate::analytics::render::{ExtraColumn, table};
use crate::analytics::report::{Direction, GroupReport, TrendReport};
use crate::config::Settings;
use crate::domain::{BatchSource, Secret};
use crate::emulator::org::{AgentTruth, EffectSizes, GroundTruth, today_midnight};
use crate::emulator::{self, EmulatorConfig};
use crate::startup::{Application, StartupError};

/// The emulator's per-token limit during the demo. Genesys allows 300 per minute; the demo
/// raises it so a two-week pull of one STA request per conversation fits in seconds (the
/// batch benchmark in docs/benchmarks.md runs at the real limit).
pub const DEMO_RATE_LIMIT: u64 = 60_000;

/// The demo's coaching-sink secret (a demo value, not a real secret).
const DEMO_SINK_SECRET: &str = "whsec_ZGVtby1zaW5rLXNlY3JldC1ub3QtZm9yLXByb2R1Y3Rpb24=";

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The emulator could not start.
    #[error("cannot start the emulator: {0}")]
    Emulator(#[from] std::io::Error),
    /// The daemon could not start or stop.
    #[error("the daemon failed: {0}")]
    Daemon(#[from] StartupError),
    /// The batch run failed.
    #[error("the batch run failed: {0}")]
    Batch(String),
    /// Something the demo waited for did not happen in time.
    #[error("{0}")]
    Timeout(String),
    /// The journal did not verify.
    #[error("the journal does not verify: {0}")]
    Journal(String),
}

fn demo_settings(
    base: &Settings,
    emu_url: &str,
    listen: (std::net::SocketAddr, std::net::SocketAddr),
    journal: &std::path::Path,
) -> Settings {
    let mut s = base.clone();
    (s.server.listen, s.server.admin_listen) = listen;
    s.genesys.base_url = emu_url.to_owned();
    s.genesys.login_url = String::new();
    s.genesys.client_id = emulator::DEFAULT_CLIENT_ID.into();
    s.genesys.client_secret = Secret::new(emulator::DEFAULT_CLIENT_SECRET);
    s.genesys.requests_per_minute =
        std::num::NonZeroU32::new(DEMO_RATE_LIMIT as u32).expect("non-zero");
    s.genesys.sta_concurrency = s
        .genesys
        .sta_concurrency
        .max(std::num::NonZeroUsize::new(32).expect("non-zero"));
    s.webhook.allow_unauthenticated = true;
    // No load balancer to tell: the demo stops at once.
    s.server.drain_delay = std::time::Duration::ZERO.into();
    // Real sentiment events name no agent: the demo sends .acw events for half of them and
    // lets the daemon look the rest up in the conversation details, a second later.
    s.webhook.attribution_lookup_delay = Duration::from_secs(1).into();
    s.webhook.attribution_max_wait = Duration::from_secs(10).into();
    s.coaching.url = format!("{emu_url}/sink/coaching");
    s.coaching.secret = Secret::new(DEMO_SINK_SECRET);
    s.batch.enabled = true;
    s.batch.run_at_startup = true;
    s.batch.source = BatchSource::Conversations;
    s.journal.dir = journal.to_string_lossy().into_owned();
    s.store.url = Secret::new(format!(
        "sqlite://{}/genesys-sentiment.db",
        journal.parent().unwrap_or(journal).display()
    ));
    s
}

fn truth_column(truth: &GroundTruth) -> impl Fn(&GroupReport) -> String + '_ {
    let by_agent: HashMap<&str, &AgentTruth> = truth
        .agents
        .iter()
        .map(|t| (t.agent_id.as_str(), t))
        .collect();
    move |g: &GroupReport| {
        by_agent.get(g.key.as_str()).map_or_else(String::new, |t| {
            format!("{} ({:+.1})", t.trend, t.effect_points)
        })
    }
}

fn print_truth_check(report: &TrendReport, truth: &GroundTruth) {
    for (word, dir) in [
        ("declining", Direction::Declining),
        ("improving", Direction::Improving),
    ] {
        let verdict_of = |id: &str| {
            report
                .groups_of(Dimension::Agent)
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
            .groups_of(Dimension::Agent)
            .filter(|g| g.verdict.direction == dir && !declared.contains(&g.key.as_str()))
            .count();
        println!(
            "Truth check ({word}): the emulator made {} agents {word}; the daemon flagged {hits} of them \
             ({thin} had too little data to judge) and {others} others.",
            declared.len()
        );
    }
}

/// Runs the demo, printing to standard output.
///
/// # Errors
/// [`DemoError`] when any step fails.
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
    config.sink = emulator::sink::SinkConfig {
        secret: Some(DEMO_SINK_SECRET.into()),
    };
    let emu = emulator::spawn(config, "127.0.0.1:0".parse().expect("loopback")).await?;
    let org = emu.state.org.clone();
    println!(
        "1. Emulator: {} — {} agents, {} queues, {} conversations over {} days (seed {}); coaching sink at /sink.",
        emu.url(),
        org.agents.len(),
        org.queues.len(),
        org.conversations.len(),
        org.spec.days,
        org.spec.seed
    );

    let journal_dir = tempfile::tempdir()?;
    let journal = journal_dir.path().join("journal");
    let settings = demo_settings(base, &emu.url(), (args.listen, args.admin_listen), &journal);
    let mut app = Application::build(settings).await?;
    let daemon = format!("http://{}", app.address());
    let admin = format!("http://{}", app.admin_address());
    app.start().await?;
    let services = app.state().services().expect("started").clone();
    println!(
        "2. Daemon: webhooks at {daemon}/webhooks/genesys; dashboard, /v1/* and /metrics on the admin listener {admin}/. Its scheduler runs the first batch now: details query + \
         one STA request per conversation, emulator limit raised to {DEMO_RATE_LIMIT} requests/min for the demo."
    );
    tokio::time::timeout(Duration::from_secs(45), services.reports.wait_for_runs(1))
        .await
        .map_err(|_| DemoError::Timeout("the first batch run did not finish within 45 s".into()))?;
    let run = services.reports.runs().into_iter().next().expect("one run");
    if run.outcome != crate::domain::RunOutcome::Succeeded {
        return Err(DemoError::Batch(run.error.unwrap_or_default()));
    }
    println!(
        "   Batch run {}: {} records, {} requests, {} 429s, {:.1} s.\n",
        run.run,
        run.records,
        run.requests,
        run.rate_limited,
        run.duration_ms as f64 / 1000.0
    );
    let report = services.reports.latest().expect("a report");
    let truth = org.ground_truth(org.spec.window_days, org.spec.end);
    let cell = truth_column(&truth);
    let extra = ExtraColumn {
        header: "emulator truth (effect)",
        cell: &cell,
    };
    print!("{}", table(&report, usize::MAX, Some(&extra)));
    print_truth_check(&report, &truth);

    let bodies = emulator::webhooks::sentiment_bodies(&org, args.webhooks);
    // .acw events for every other notification / EventBridge conversation, sent first
    // (Genesys emits them at wrap-up, before STA has finished the sentiment).
    let acw: Vec<_> = emulator::webhooks::acw_bodies(&org, args.webhooks)
        .into_iter()
        .step_by(2)
        .collect();
    println!(
        "\n3. Pushing {} sentiment webhooks (original form, notifications, EventBridge events) and {} .acw events into {daemon}/webhooks/genesys…",
        bodies.len(),
        acw.len()
    );
    let client = reqwest::Client::new();
    let url = format!("{daemon}/webhooks/genesys");
    let post_all = |bodies: Vec<serde_json::Value>| {
        let (client, url) = (client.clone(), url.clone());
        futures_util::stream::iter(bodies)
            .map(move |body| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    client
                        .post(&url)
                        .json(&body)
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16())
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<u16>>()
    };
    let acw_statuses = post_all(acw).await;
    let statuses = post_all(bodies).await;
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    let duplicates = statuses.iter().filter(|s| **s == 200).count();
    let recommendations = report
        .groups_of(Dimension::Agent)
        .filter(|g| g.verdict.direction == Direction::Declining)
        .count();
    let expected = (accepted + recommendations) as u64;
    if !emu
        .state
        .sink
        .wait_for_unique(expected, Duration::from_secs(30))
        .await
    {
        return Err(DemoError::Timeout(format!(
            "the coaching sink received {} of {expected} events within 30 s",
            emu.state.sink.report().unique
        )));
    }
    let sink = emu.state.sink.report();
    println!(
        "   {accepted} accepted (202, each fsynced before the answer), {duplicates} duplicates, {} refused; {} of {} .acw events accepted.",
        statuses.len() - accepted - duplicates,
        acw_statuses.iter().filter(|s| **s == 202).count(),
        acw_statuses.len()
    );
    println!(
        "   Coaching sink: {} distinct events ({} sentiment, {recommendations} coaching recommendations), {} signature failures.",
        sink.unique, accepted, sink.refused_signature
    );
    let mut by_source: std::collections::BTreeMap<String, usize> = Default::default();
    for d in emu.state.sink.events() {
        if let Some(a) = d.body["attribution"].as_str() {
            *by_source.entry(a.to_owned()).or_default() += 1;
        }
    }
    let sources: Vec<String> = by_source.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!(
        "   Agent attribution of the delivered scores: {} (event = the original form named the agent; acw = from the .acw event; details = looked up in the conversation's details).",
        sources.join(", ")
    );

    if args.keep_running {
        println!("\nDashboard: {admin}/  — Ctrl-C to stop.");
        crate::startup::shutdown_signal().await;
    }
    app.shutdown().await?;
    let verified =
        crate::journal::verify(&journal).map_err(|e| DemoError::Journal(e.to_string()))?;
    println!(
        "4. Daemon drained; journal verified: {} records, hash chain intact (last hash {}…).",
        verified.records,
        &verified.last_hash[..16]
    );
    println!(
        "\nDemo finished in {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
