//! The commands behind the CLI that are more than a call into one module.

use std::future::Future;

use crate::cli::{EmulateArgs, SinkArgs};
use crate::emulator;

/// `emulate`: serve a synthetic Genesys Cloud until `stop` resolves.
///
/// # Errors
/// When the address cannot be bound.
pub async fn emulate(args: EmulateArgs, stop: impl Future<Output = ()>) -> std::io::Result<()> {
    let config = args.to_config();
    let running = emulator::spawn(config, args.listen).await?;
    let org = &running.state.org;
    println!("Genesys Cloud emulator listening on {}", running.url());
    println!(
        "  org: seed {}, {} agents, {} queues, {} conversations over {} days ending {}",
        org.spec.seed,
        org.agents.len(),
        org.queues.len(),
        org.conversations.len(),
        org.spec.days,
        org.spec.end.format("%Y-%m-%d %H:%M UTC"),
    );
    println!("  OAuth client id: {}", args.client_id);
    println!(
        "  OAuth client secret: {} (emulator credentials)",
        args.client_secret
    );
    println!(
        "  rate limit: {} requests per token per minute",
        args.rate_limit
    );
    println!("  ground truth: {}/emulator/ground-truth", running.url());
    println!("  faults: {}/emulator/faults (GET/PUT)", running.url());
    println!(
        "  coaching sink: {}/sink/coaching (report at /sink/report)",
        running.url()
    );
    println!("Point the daemon at it with:");
    println!("  GENESYS_SENTIMENT__GENESYS__BASE_URL={}", running.url());
    println!("  GENESYS_SENTIMENT__GENESYS__CLIENT_ID={}", args.client_id);
    println!("  GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET=<the secret above>");
    stop.await;
    running.stop();
    Ok(())
}

/// `coaching-sink`: serve a stand-in coaching platform until `stop` resolves.
///
/// # Errors
/// When the address cannot be bound or the secret is not a Standard Webhooks secret.
pub async fn coaching_sink(
    args: SinkArgs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some(secret) = &args.secret {
        crate::signature::SigningKey::from_text(secret).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("--secret: {e}"))
        })?;
    }
    let sink = emulator::sink::Sink::new(emulator::sink::SinkConfig {
        secret: args.secret.clone(),
    });
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!(
        "Coaching sink listening on http://{}",
        listener.local_addr()?
    );
    println!("  deliveries: POST /coaching   report: GET /report   faults: PUT /faults");
    axum::serve(listener, sink.router())
        .with_graceful_shutdown(stop)
        .await
}

/// Why a one-shot command failed, with the exit status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Bad arguments or input (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Genesys refused or failed (exit 1).
    #[error(transparent)]
    Genesys(#[from] crate::genesys::GenesysError),
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl CommandError {
    /// Process exit status.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Usage(_) => 2,
            _ => 1,
        }
    }
}

fn midnight(d: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

/// The windows `analyze` compares: `[from, to)` and the same length before it.
///
/// # Errors
/// [`CommandError::Usage`] when `from` is not before `to`.
pub fn analyze_windows(
    from: Option<chrono::NaiveDate>,
    to: chrono::NaiveDate,
    default_days: u32,
) -> Result<crate::analytics::Windows, CommandError> {
    let days = match from {
        Some(f) if f >= to => {
            return Err(CommandError::Usage(format!(
                "--from {f} must be before --to {to}"
            )));
        }
        Some(f) => (to - f).num_days() as u32,
        None => default_days,
    };
    Ok(crate::analytics::Windows::ending_at(midnight(to), days))
}

/// `analyze --input FILE`: the report over exported records, printed in `args.format`.
/// Bad rows are listed on standard error by line number and counted as rejected.
///
/// # Errors
/// Unreadable file (I/O) or bad window arguments (usage).
pub fn analyze_file(
    args: &crate::cli::AnalyzeArgs,
    settings: &crate::config::Settings,
    path: &std::path::Path,
) -> Result<String, CommandError> {
    use crate::analytics::{Aggregator, Normalizer, TrendConfig, render, trend};
    let scale = args.scale.unwrap_or(settings.genesys.sentiment_scale);
    let parsed = crate::analytics::input::read_file(path, scale)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut agg = Aggregator::new(Normalizer::from_settings(&settings.analytics));
    for bad in &parsed.bad {
        eprintln!("{}:{}: skipped: {}", path.display(), bad.line, bad.reason);
        agg.reject(bad.code);
    }
    for (line, record) in &parsed.records {
        if let Err(e) = agg.push(record) {
            eprintln!("{}:{line}: skipped: {e}", path.display());
        }
    }
    let latest = parsed.records.iter().map(|(_, r)| r.time).max();
    let to = match (args.to, latest) {
        (Some(t), _) => t,
        (None, Some(t)) => t.date_naive() + chrono::TimeDelta::days(1),
        (None, None) => {
            return Err(CommandError::Usage(format!(
                "{}: no usable records",
                path.display()
            )));
        }
    };
    let windows = analyze_windows(
        args.from,
        to,
        (settings.batch.window.get().as_secs() / 86_400) as u32,
    )?;
    let mut cfg = TrendConfig::from_settings(&settings.analytics);
    if !args.group_by.is_empty() {
        cfg.groups = args.group_by.clone();
    }
    let source = format!("file:{}", path.display());
    let report = trend::build_report(&agg, windows, &cfg, chrono::Utc::now(), None, &source);
    Ok(render::render(&report, args.format))
}

/// `evaluate`: accuracy against the emulator's ground truth.
pub fn evaluate(args: &crate::cli::EvaluateArgs, settings: &crate::config::Settings) -> String {
    let mut cfg = crate::evaluation::EvalConfig::new(args.seeds, args.end);
    cfg.agents = args.agents;
    cfg.conversations_per_day = args.conversations_per_day;
    let result = crate::evaluation::evaluate(&cfg, &settings.analytics);
    if args.markdown {
        let command = format!(
            "genesys-sentiment evaluate --seeds {} --agents {} --conversations-per-day {} --markdown",
            args.seeds, args.agents, args.conversations_per_day
        );
        crate::evaluation::markdown(&result, &command)
    } else {
        serde_json::to_string_pretty(&result).expect("serializable")
    }
}

/// `audit verify`: prints the result; returns whether the journal verified.
pub fn audit_verify(dir: &std::path::Path) -> bool {
    match crate::journal::verify(dir) {
        Ok(outcome) => {
            println!(
                "journal OK: {} records in {} segment(s); last seq {}, hash {}",
                outcome.records,
                outcome.segments.len(),
                outcome.last_seq,
                outcome.last_hash
            );
            true
        }
        Err(e) => {
            println!("journal verification FAILED in {}: {e}", dir.display());
            false
        }
    }
}

/// `audit replay --dead-letters`: journals a `replay_requested` record for every dead
/// letter; returns how many.
///
/// # Errors
/// The journal is locked (daemon running), corrupt, or cannot be written.
pub async fn audit_replay(
    settings: &crate::config::Settings,
    dir: &std::path::Path,
) -> Result<usize, crate::journal::JournalError> {
    use crate::journal::record::{Entry, ReplayRequest};
    let mut journal_settings = settings.journal.clone();
    journal_settings.dir = dir.to_string_lossy().into_owned();
    let metrics = crate::telemetry::metrics::Metrics::new();
    let (journal, state) = tokio::task::spawn_blocking(move || {
        crate::journal::Journal::open(&journal_settings, metrics)
    })
    .await
    .map_err(|e| crate::journal::JournalError::Io(e.to_string()))??;
    let mut ids: Vec<&String> = state.dead_letters.keys().collect();
    ids.sort();
    for id in &ids {
        journal
            .record(
                "cli",
                "requested",
                Entry::ReplayRequested(ReplayRequest {
                    event_id: (*id).clone(),
                }),
            )
            .await?;
        println!("replay requested: {id}");
    }
    journal.close().await;
    Ok(ids.len())
}
