//! Journal recovery time for N records (default one million), against a baseline of
//! merely reading the same segment files in the same run; then start-up after retention
//! (N records archived away behind a checkpoint plus `--live` records, default 10 000)
//! against a journal of only the live records; and the disk used per accepted webhook.
//!
//! Run: `cargo bench --bench bench_journal` (`-- --records N --live M` to change sizes).
//! Writes half `webhook_received` and half `delivered` records (what a journal mostly
//! holds), then times `Journal::open`: lock, read, verify every hash and link, rebuild
//! the owed deliveries and the dedupe set. Prints markdown sections.

mod common;
#[path = "common/journal.rs"]
mod journal_fill;

use std::time::Instant;

use genesys_sentiment::config::{JournalSettings, Settings};
use genesys_sentiment::journal::{Journal, scan};
use genesys_sentiment::telemetry::metrics::Metrics;

/// Appends `pairs` accepted-and-delivered pairs, numbered from `from`.
async fn fill(journal: &Journal, from: usize, pairs: usize) {
    journal_fill::fill(journal, from, pairs, true).await;
}

fn journal_bytes(dir: &std::path::Path) -> u64 {
    scan::list_segments(dir)
        .unwrap()
        .iter()
        .map(|s| std::fs::metadata(&s.path).unwrap().len())
        .sum()
}

/// Best of three `Journal::open` times; returns (seconds, records read, state records).
fn time_open(settings: &JournalSettings, rt: &tokio::runtime::Runtime) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut records = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let (journal, state) = Journal::open(settings, Metrics::new()).unwrap();
        best = best.min(started.elapsed().as_secs_f64());
        records = state.records;
        rt.block_on(journal.close());
    }
    (best, records)
}

/// Start-up with `archived` records archived away behind a checkpoint and `live` after it,
/// against a journal of only the `live` records.
fn retention_section(archived: usize, live: usize, rt: &tokio::runtime::Runtime) {
    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let mut settings = Settings::defaults().journal;
    settings.dir = base.path().join("journal").to_string_lossy().into_owned();
    let archive = base.path().join("archive");
    // Archived records lie past retention (400 days), far outside the dedupe window: at the
    // checkpoint none of their keys is still inside it.
    settings.dedupe_window = std::time::Duration::ZERO.into();
    rt.block_on(async {
        let (journal, _) = Journal::open(&settings, Metrics::new()).unwrap();
        fill(&journal, 0, archived / 2).await;
        journal.checkpoint().await.unwrap();
        fill(&journal, archived / 2, live / 2).await;
        journal.close().await;
    });
    let dir = std::path::PathBuf::from(&settings.dir);
    let (not_archived, _) = time_open(&settings, rt);
    let moved = genesys_sentiment::journal::archive::archive(
        &dir,
        Some(&archive),
        chrono::Utc::now(),
        std::time::Duration::ZERO,
    )
    .unwrap();
    let (with_archive, records) = time_open(&settings, rt);
    assert_eq!(records as usize, archived + live + 1);
    let verified = genesys_sentiment::journal::verify_with_archive(&dir, &archive).unwrap();
    assert_eq!(verified.records as usize, archived + live + 1);

    let only = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let mut only_settings = settings.clone();
    only_settings.dir = only.path().to_string_lossy().into_owned();
    rt.block_on(async {
        let (journal, _) = Journal::open(&only_settings, Metrics::new()).unwrap();
        fill(&journal, archived / 2, live / 2).await;
        journal.close().await;
    });
    let (baseline, _) = time_open(&only_settings, rt);

    println!("## Journal start-up after retention\n");
    println!(
        "Command: `cargo bench --bench bench_journal` ({archived} records archived away behind a checkpoint ({} segments, {:.0} MiB moved), {live} live records after it; best of 3 opens each)\n",
        moved.segments,
        moved.bytes as f64 / 1048576.0
    );
    println!("| journal | start-up (`Journal::open`) |");
    println!("| --- | --- |");
    println!(
        "| baseline: only the {live} live records | {:.1} ms |",
        baseline * 1e3
    );
    println!(
        "| {archived} records before a checkpoint, still in the directory | {:.1} ms |",
        not_archived * 1e3
    );
    println!(
        "| {archived} records archived away + {live} live (`audit verify --archive` OK over all {}) | {:.1} ms |",
        verified.records,
        with_archive * 1e3
    );
    let ratio = with_archive / baseline;
    println!(
        "\nRatio (archived + live / live only): {ratio:.2}. Target: within 2×: {}.",
        if ratio <= 2.0 { "met" } else { "NOT met" }
    );
}

fn main() {
    let n: usize = common::flag("--records", 1_000_000);
    let live: usize = common::flag("--live", 10_000);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let mut settings = Settings::defaults().journal;
    settings.dir = dir.path().to_string_lossy().into_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let write_started = Instant::now();
    rt.block_on(async {
        let (journal, _) = Journal::open(&settings, Metrics::new()).unwrap();
        fill(&journal, 0, n / 2).await;
        journal.close().await;
    });
    let write_time = write_started.elapsed();
    let segments = scan::list_segments(dir.path()).unwrap();
    let bytes = journal_bytes(dir.path());
    // Baseline: read every segment and count its lines.
    let base_started = Instant::now();
    let mut lines = 0usize;
    for s in &segments {
        let data = std::fs::read(&s.path).unwrap();
        lines += data.iter().filter(|b| **b == b'\n').count();
    }
    let baseline = base_started.elapsed();
    assert_eq!(lines, n / 2 * 2);

    let recover_started = Instant::now();
    let (journal, state) = Journal::open(&settings, Metrics::new()).unwrap();
    let recovery = recover_started.elapsed();
    assert_eq!(state.records as usize, lines);
    assert_eq!(state.pending.len(), 0);
    let verify_started = Instant::now();
    let verified = scan::scan_segments(
        &segments,
        scan::Start::genesis(),
        None,
        scan::Mode::Verify,
        |_, _| {},
    )
    .unwrap();
    let verify_only = verify_started.elapsed();
    assert_eq!(verified.records as usize, lines);
    // A checkpoint of this state: every accepted webhook is inside the dedupe window.
    let keys = state.dedupe.len();
    let checkpoint_started = Instant::now();
    let checkpoint = rt.block_on(journal.checkpoint()).unwrap();
    let checkpoint_time = checkpoint_started.elapsed();
    rt.block_on(journal.close());
    let newest = scan::list_segments(dir.path()).unwrap().pop().unwrap();
    let checkpoint_bytes = std::fs::metadata(&newest.path).unwrap().len();
    assert_eq!(
        scan::first_record(&newest.path).unwrap().unwrap().seq,
        checkpoint.seq
    );

    println!("## Journal recovery\n");
    println!(
        "Command: `cargo bench --bench bench_journal` ({lines} records: half webhook_received, half delivered; {} segments, {:.0} MiB; page cache warm)\n",
        segments.len(),
        bytes as f64 / 1048576.0
    );
    println!("| what | time |");
    println!("| --- | --- |");
    println!(
        "| writing them (64 concurrent appenders, group commit) | {:.2} s ({:.0} records/s durable) |",
        write_time.as_secs_f64(),
        lines as f64 / write_time.as_secs_f64()
    );
    println!(
        "| baseline: read the segment files and count lines | {:.3} s |",
        baseline.as_secs_f64()
    );
    println!(
        "| verify only: read, decode, check every hash and link (`audit verify`) | {:.3} s |",
        verify_only.as_secs_f64()
    );
    println!(
        "| recovery: lock, read, verify every hash and link, rebuild state | {:.3} s |",
        recovery.as_secs_f64()
    );
    println!(
        "\nRatio (recovery / baseline): {:.1}. Target: recovery of one million records under 3 s: {}.",
        recovery.as_secs_f64() / baseline.as_secs_f64(),
        if lines >= 1_000_000 && recovery.as_secs_f64() < 3.0 {
            "met"
        } else if lines < 1_000_000 {
            "n/a (fewer records)"
        } else {
            "NOT met"
        }
    );
    let defaults = Settings::defaults().journal;
    let window = defaults.dedupe_window.get().as_secs_f64();
    let interval = defaults.checkpoint_interval.get().as_secs_f64();
    let per_key = checkpoint_bytes as f64 / keys.max(1) as f64;
    // A key is repeated by every checkpoint written while it is inside the window.
    let copies = (window / interval).ceil();
    let records_per_webhook = bytes as f64 / (n / 2) as f64;
    println!(
        "\nCheckpoint of this state ({keys} dedupe keys inside the window, nothing owed): {:.1} MiB, written in {:.0} ms (appends wait meanwhile).\n",
        checkpoint_bytes as f64 / 1048576.0,
        checkpoint_time.as_secs_f64() * 1e3
    );
    println!(
        "Disk use per accepted webhook: **{:.0} bytes** = {records_per_webhook:.0} bytes of records (its `webhook_received` and `delivered` records, ids as UUIDs) + {per_key:.0} bytes per checkpoint × {copies:.0} checkpoints that repeat its dedupe key (`journal.dedupe_window` {} / `journal.checkpoint_interval` {}, defaults).\n",
        records_per_webhook + per_key * copies,
        defaults.dedupe_window,
        defaults.checkpoint_interval,
    );
    retention_section(n, live, &rt);
}
