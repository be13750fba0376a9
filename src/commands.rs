//! The commands behind the CLI that are more than a call into one module.

use std::future::Future;

use crate::cli::{EmulateArgs, SinkArgs};
use crate::emulator;

/// Writes a line to standard output, ignoring a closed stdout: a long-running command must
/// not die because nobody reads its banner.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// `emulate`: serve a synthetic Genesys Cloud until `stop` resolves.
///
/// # Errors
/// When the address cannot be bound.
pub async fn emulate(args: EmulateArgs, stop: impl Future<Output = ()>) -> std::io::Result<()> {
    let config = args.to_config();
    let running = emulator::spawn(config, args.listen).await?;
    let mut out = std::io::stdout().lock();
    let org = &running.state.org;
    say!(out, "Genesys Cloud emulator listening on {}", running.url());
    say!(
        out,
        "  org: seed {}, {} agents, {} queues, {} conversations over {} days ending {}",
        org.spec.seed,
        org.agents.len(),
        org.queues.len(),
        org.conversations.len(),
        org.spec.days,
        org.spec.end.format("%Y-%m-%d %H:%M UTC"),
    );
    say!(out, "  OAuth client id: {}", args.client_id);
    say!(
        out,
        "  OAuth client secret: {} (emulator credentials)",
        args.client_secret
    );
    say!(
        out,
        "  rate limit: {} requests per token per minute",
        args.rate_limit
    );
    say!(
        out,
        "  ground truth: {}/emulator/ground-truth",
        running.url()
    );
    say!(out, "  faults: {}/emulator/faults (GET/PUT)", running.url());
    say!(
        out,
        "  coaching sink: {}/sink/coaching (report at /sink/report)",
        running.url()
    );
    say!(out, "Point the daemon at it with:");
    say!(
        out,
        "  GENESYS_SENTIMENT__GENESYS__BASE_URL={}",
        running.url()
    );
    say!(
        out,
        "  GENESYS_SENTIMENT__GENESYS__CLIENT_ID={}",
        args.client_id
    );
    say!(
        out,
        "  GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET=<the secret above>"
    );
    drop(out);
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
    say!(
        std::io::stdout(),
        "Coaching sink listening on http://{}",
        listener.local_addr()?
    );
    say!(
        std::io::stdout(),
        "  deliveries: POST /coaching   report: GET /report   faults: PUT /faults"
    );
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
    let mut agg = Aggregator::new(Normalizer::from_settings(&settings.analytics));
    let mut latest: Option<chrono::DateTime<chrono::Utc>> = None;
    crate::analytics::input::stream_file(path, scale, |line, row| match row {
        Err(bad) => {
            eprintln!("{}:{}: skipped: {}", path.display(), bad.line, bad.reason);
            agg.reject(bad.code);
        }
        Ok(record) => match agg.push(&record) {
            Ok(_) => latest = latest.max(Some(record.time)),
            Err(e) => eprintln!("{}:{line}: skipped: {e}", path.display()),
        },
    })
    .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
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

/// A next step for a Genesys failure, in words a newcomer can act on.
pub fn hint(e: &crate::genesys::GenesysError) -> &'static str {
    match e.kind() {
        "auth" => {
            "check genesys.client_id and genesys.client_secret (or GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET), \
             and that genesys.region is the region of your Genesys Cloud org"
        }
        "unauthorized" => {
            "the token was refused: check the OAuth client still exists and genesys.region / genesys.base_url"
        }
        "forbidden" => {
            "add the missing permission to the OAuth client's role (Genesys Cloud Admin > Roles / Permissions); \
             docs/operations.md lists what each feature needs"
        }
        "rate_limited" => {
            "Genesys is rate limiting this OAuth client: wait and retry, or lower genesys.requests_per_minute \
             if other tools share the client"
        }
        "invalid_query" => "fix the dates (or genesys.retention if your org keeps data longer)",
        "transport" => {
            "check genesys.region / genesys.base_url and that this machine can reach Genesys Cloud"
        }
        _ => "see the message above; run with RUST_LOG=genesys_sentiment=debug for every request",
    }
}

/// `analyze` without `--input`: pull from the configured Genesys org, or from an embedded
/// emulator with `--emulator` (its history ends at `--to`, so the output is reproducible).
///
/// # Errors
/// [`CommandError::Genesys`] with the failure, [`CommandError::Usage`] for bad windows.
pub async fn analyze_pull(
    args: &crate::cli::AnalyzeArgs,
    settings: &crate::config::Settings,
) -> Result<String, CommandError> {
    use crate::analytics::render;
    let default_days = (settings.batch.window.get().as_secs() / 86_400) as u32;
    let to = args.to.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let windows = analyze_windows(args.from, to, default_days)?;
    let mut settings = settings.clone();
    if !args.group_by.is_empty() {
        settings.analytics.groups = args.group_by.clone();
    }
    let mut labels = std::collections::HashMap::new();
    let _emulator = if args.emulator {
        let mut config = emulator::EmulatorConfig::new(args.seed);
        config.org.end = windows.current.end;
        config.org.days = ((windows.current.end - windows.previous.start).num_days()) as u32;
        config.rate_limit_per_minute = crate::demo::DEMO_RATE_LIMIT;
        let emu = emulator::spawn(config, "127.0.0.1:0".parse().expect("loopback")).await?;
        settings.genesys.base_url = emu.url();
        settings.genesys.login_url = String::new();
        settings.genesys.client_id = emulator::DEFAULT_CLIENT_ID.into();
        settings.genesys.client_secret =
            crate::config::Secret::new(emulator::DEFAULT_CLIENT_SECRET);
        settings.genesys.requests_per_minute = crate::demo::DEMO_RATE_LIMIT as u32;
        settings.genesys.retention = std::time::Duration::from_secs(3650 * 86_400).into();
        labels = emu.state.org.labels();
        Some(emu)
    } else {
        None
    };
    let analyzer = crate::analyzer::Analyzer::new(&settings)?;
    let analysis = analyzer.analyze(windows, analyzer.filter(), None).await?;
    let mut report = analysis.report;
    report.set_labels(&labels);
    Ok(render::render(&report, args.format))
}
