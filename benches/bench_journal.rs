//! Journal recovery time for N records (default one million), against a baseline of
//! merely reading the same segment files in the same run.
//!
//! Run: `cargo bench --bench bench_journal` (`-- --records N` to change the size).
//! Writes half `webhook_received` and half `delivered` records (what a journal mostly
//! holds), then times `Journal::open`: lock, read, verify every hash and link, rebuild
//! the owed deliveries and the dedupe set. Prints a markdown section.

mod common;

use std::time::Instant;

use genesys_sentiment::config::Settings;
use genesys_sentiment::domain::events::{DeliveryOutcome, Entry, SentimentEvent, event_id};
use genesys_sentiment::domain::{Polarity, ScoreScale};
use genesys_sentiment::journal::{Journal, scan};
use genesys_sentiment::telemetry::metrics::Metrics;

fn received(i: usize) -> Entry {
    let key = format!("conv:bench-{i}:sentiment");
    Entry::WebhookReceived(SentimentEvent {
        event_id: event_id(&key),
        dedupe_keys: vec![key],
        conversation_id: format!("bench-{i}"),
        agent_id: Some(format!("agent-{}", i % 400)),
        queue_id: Some(format!("queue-{}", i % 8)),
        raw_score: -0.25,
        scale: ScoreScale::Unit,
        quality_score: 37.5,
        polarity: Polarity::Negative,
        action_required: true,
        normalization_version: "linear-v1".into(),
        trend_score: Some(0.1),
        topic: None,
        cause_event_id: None,
        occurred_at: chrono::Utc::now(),
        attribution: Some(genesys_sentiment::domain::events::AttributionSource::Event),
    })
}

fn main() {
    let n: usize = common::flag("--records", 1_000_000);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let mut settings = Settings::defaults().journal;
    settings.dir = dir.path().to_string_lossy().into_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let write_started = Instant::now();
    rt.block_on(async {
        let (journal, _) = Journal::open(&settings, Metrics::new()).unwrap();
        let pairs = n / 2;
        let writers = 64;
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let journal = journal.clone();
                tokio::spawn(async move {
                    let mut i = w;
                    while i < pairs {
                        let entry = received(i);
                        let id = match &entry {
                            Entry::WebhookReceived(e) => e.event_id.clone(),
                            _ => unreachable!(),
                        };
                        journal
                            .record("webhook:seed_form", "accepted", entry)
                            .await
                            .unwrap();
                        let delivered = Entry::Delivered(DeliveryOutcome {
                            event_id: id,
                            attempt: 1,
                            status: Some(200),
                            error: None,
                            retry_at: None,
                        });
                        journal
                            .record("forwarder", "delivered", delivered)
                            .await
                            .unwrap();
                        i += writers;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        journal.close().await;
    });
    let write_time = write_started.elapsed();
    let segments = scan::list_segments(dir.path()).unwrap();
    let bytes: u64 = segments
        .iter()
        .map(|s| std::fs::metadata(&s.path).unwrap().len())
        .sum();

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
    rt.block_on(journal.close());

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
}
