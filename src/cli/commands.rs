//! The commands behind the CLI that are more than a call into one module (the emulator
//! wing's are in `lab`).

use super::args::AnalyzeArgs;
use crate::genesys::ErrorKind;

impl From<crate::batch::pull::PullError> for CommandError {
    fn from(e: crate::batch::pull::PullError) -> Self {
        match e {
            crate::batch::pull::PullError::Genesys(g) => CommandError::Genesys(g),
            crate::batch::pull::PullError::Store(s) => CommandError::Store(s),
        }
    }
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
    /// The temporary store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
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
    args: &AnalyzeArgs,
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
    let windows = analyze_windows(args.from, to, settings.batch.window_days())?;
    let mut cfg = TrendConfig::from_settings(&settings.analytics);
    if !args.group_by.is_empty() {
        cfg.groups = args.group_by.clone();
    }
    let source = format!("file:{}", path.display());
    let report = trend::build_report(&agg, windows, &cfg, chrono::Utc::now(), None, &source);
    Ok(render::render(&report, args.format))
}

/// `audit verify [--archive DIR]`: prints the result; returns whether the journal verified.
pub fn audit_verify(dir: &std::path::Path, archive: Option<&std::path::Path>) -> bool {
    if !dir.is_dir() {
        println!(
            "journal verification FAILED: {} is not a directory (journal.dir, or the DIR argument); nothing was checked",
            dir.display()
        );
        return false;
    }
    let result = match archive {
        Some(archive) => crate::journal::verify_with_archive(dir, archive),
        None => crate::journal::verify(dir),
    };
    match result {
        Ok(outcome) => {
            println!(
                "journal OK: {} records (seq {} to {}) in {} segment(s); last hash {}",
                outcome.records,
                outcome.first_seq.min(outcome.last_seq),
                outcome.last_seq,
                outcome.segments.len(),
                outcome.last_hash
            );
            if outcome.first_seq > 1 {
                println!(
                    "Records before seq {} were archived; the live chain was checked from its anchor. Add --archive DIR (journal.archive_dir) to verify the whole history.",
                    outcome.first_seq
                );
            }
            if let Some(tail) = &outcome.torn_tail {
                println!(
                    "A record was being written at the end of {} during the check ({} bytes when read); it and any later records are not counted.",
                    tail.path.display(),
                    tail.bytes
                );
            }
            true
        }
        Err(e) => {
            println!("journal verification FAILED in {}: {e}", dir.display());
            false
        }
    }
}

/// `audit verify --store URL`: checks the journal shared by replicas in PostgreSQL; prints
/// the result; returns whether it verified.
pub async fn audit_verify_store(url: &str) -> bool {
    let url = url.trim();
    let shown = crate::config::redact_url(url);
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        println!(
            "journal verification FAILED: {shown} is not a postgres:// URL (the shared journal lives only in PostgreSQL)"
        );
        return false;
    }
    match crate::journal::postgres::verify(url).await {
        Ok(v) => {
            println!(
                "journal OK: {} sealed records (seq 1 to {}) in {shown}; last hash {}",
                v.records, v.last_seq, v.last_hash
            );
            if v.unsealed > 0 {
                println!(
                    "{} committed record(s) are not sealed yet (a running replica seals them within a second).",
                    v.unsealed
                );
            }
            true
        }
        Err(e) => {
            println!("journal verification FAILED in {shown}: {e}");
            false
        }
    }
}

/// `audit replay --dead-letters` with a PostgreSQL `store.url`: journals a
/// `replay_requested` record for every dead letter in the shared journal (the replicas may
/// keep running: one of them claims and sends them); returns how many.
///
/// # Errors
/// The database cannot be reached or written.
pub async fn audit_replay_store(
    settings: &crate::config::Settings,
) -> Result<usize, crate::journal::JournalError> {
    use crate::domain::events::{Entry, ReplayRequest};
    let shared = crate::journal::postgres::Shared::connect(
        settings.store.url(),
        format!("{} (audit replay)", settings.server.replica()),
        settings.journal.outbox_lease.get(),
        settings.journal.dedupe_window.get(),
        0,
    )
    .await?;
    let ids = shared.dead_letter_ids().await?;
    for id in &ids {
        shared
            .append(crate::journal::Draft {
                source: "cli".into(),
                outcome: "requested".into(),
                entry: Entry::ReplayRequested(ReplayRequest {
                    event_id: id.clone(),
                }),
            })
            .await?;
    }
    shared.close().await;
    Ok(ids.len())
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
    use crate::domain::events::{Entry, ReplayRequest};
    if !dir.is_dir() {
        // Opening would create an empty journal and report nothing to replay.
        return Err(crate::journal::JournalError::Open {
            dir: dir.display().to_string(),
            reason: "no journal there (journal.dir, or the DIR argument)".into(),
        });
    }
    let mut journal_settings = settings.journal.clone();
    journal_settings.dir = dir.to_string_lossy().into_owned();
    let metrics = crate::telemetry::metrics::Metrics::new();
    let (journal, state) = tokio::task::spawn_blocking(move || {
        crate::journal::Journal::open(&journal_settings, metrics)
    })
    .await
    .map_err(|e| {
        crate::journal::JournalError::Io(std::sync::Arc::new(std::io::Error::other(e)))
    })??;
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
        ErrorKind::Auth => {
            "check genesys.client_id and the secret (genesys.client_secret_file's content, genesys.client_secret \
             or GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET: a trailing line end in the file is dropped), \
             and that genesys.region is the region of your Genesys Cloud org"
        }
        ErrorKind::Unauthorized => {
            "the token was refused: check the OAuth client still exists and genesys.region / genesys.base_url"
        }
        ErrorKind::Forbidden => {
            "add the missing permission to the OAuth client's role (Genesys Cloud Admin > Roles / Permissions); \
             docs/operations.md lists what each feature needs"
        }
        ErrorKind::RateLimited => {
            "Genesys is rate limiting this OAuth client: wait and retry, or lower genesys.requests_per_minute \
             if other tools share the client"
        }
        ErrorKind::InvalidQuery => {
            "fix the dates (or genesys.retention if your org keeps data longer)"
        }
        ErrorKind::Transport => {
            "check genesys.region / genesys.base_url and that this machine can reach Genesys Cloud"
        }
        ErrorKind::Api | ErrorKind::Decode | ErrorKind::Job => {
            "see the message above; run with RUST_LOG=genesys_sentiment=debug for every request"
        }
    }
}

/// `analyze` without `--input`: pull from the configured Genesys org, or from an embedded
/// emulator with `--emulator` (its history ends at `--to`, so the output is reproducible).
///
/// # Errors
/// [`CommandError::Genesys`] with the failure, [`CommandError::Usage`] for bad windows.
pub async fn analyze_pull(
    args: &AnalyzeArgs,
    settings: &crate::config::Settings,
) -> Result<String, CommandError> {
    use crate::analytics::render;
    let to = args.to.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let windows = analyze_windows(args.from, to, settings.batch.window_days())?;
    let mut settings = settings.clone();
    if !args.group_by.is_empty() {
        settings.analytics.groups = args.group_by.clone();
    }
    #[cfg(feature = "emulator")]
    let _emulator = if args.uses_emulator() {
        Some(super::lab::analyze_emulator(args.seed, windows, &mut settings).await?)
    } else {
        None
    };
    let (analyzer, _store_dir) = crate::batch::Analyzer::temporary(&settings).await?;
    let analysis = analyzer
        .analyze(
            windows,
            analyzer.filter(),
            None,
            &crate::batch::pull::Progress::default(),
        )
        .await;
    // A job given up on is deleted before the process exits (which would abort it).
    analyzer
        .client()
        .settle(std::time::Duration::from_secs(10))
        .await;
    let mut report = analysis?.report;
    let names = crate::batch::NameResolver::new(
        analyzer.client().clone(),
        settings.genesys.resolve_names,
        crate::telemetry::metrics::Metrics::new(),
        None,
    );
    report.set_labels(&names.labels_for(&report).await);
    Ok(render::render(&report, args.format))
}
