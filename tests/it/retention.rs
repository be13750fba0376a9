//! Issue 13 (item 6): journal checkpoints and retention. A restart reads the newest
//! checkpoint and what follows it, and rebuilds what a read of the whole history would;
//! archived segments take nothing owed with them; `audit verify` checks the live chain from
//! its anchor and, given the archive, the whole history.

use std::time::Duration;

use genesys_sentiment::config::Settings;
use genesys_sentiment::domain::events::{ConversationEnded, DeliveryOutcome, Entry, event_id};
use genesys_sentiment::journal::scan::{self, Start};
use genesys_sentiment::journal::{Journal, JournalState};
use genesys_sentiment::telemetry::metrics::Metrics;

use crate::helpers::run_bin;

fn sentiment(i: usize) -> Entry {
    crate::helpers::sentiment_entry(&format!("ret-{i}"))
}

fn outcome(i: usize, attempt: u32) -> DeliveryOutcome {
    DeliveryOutcome {
        event_id: event_id(&format!("conv:ret-{i}:sentiment")),
        attempt,
        status: Some(500),
        error: Some("HTTP 500".into()),
        retry_at: None,
    }
}

fn ended(i: usize) -> Entry {
    let key = format!("conv:end-{i}:ended");
    Entry::ConversationEndReceived(ConversationEnded {
        event_id: event_id(&key),
        dedupe_keys: vec![key],
        conversation_id: format!("end-{i}"),
        agent_id: None,
        queue_id: None,
        topic: "v2.detail.events.conversation.end-0.customer.end".into(),
        occurred_at: chrono::Utc::now(),
    })
}

fn settings(dir: &std::path::Path) -> genesys_sentiment::config::JournalSettings {
    let mut s = Settings::defaults().journal;
    s.dir = dir.to_string_lossy().into_owned();
    s.segment_max_bytes = 4096;
    s
}

/// The state a read of every record from seq 1 builds (checkpoints only counted).
fn full_history_state(dirs: &[&std::path::Path]) -> JournalState {
    let mut segments = Vec::new();
    for d in dirs {
        segments.extend(scan::list_segments(d).unwrap());
    }
    segments.sort_by_key(|s| s.number);
    let mut state = JournalState::default();
    scan::scan_segments(
        &segments,
        Start::genesis(),
        None,
        scan::Mode::Verify,
        |r, at| {
            if matches!(r.entry, Entry::Checkpoint(_)) {
                state.records += 1;
            } else {
                state.apply(r, at);
            }
        },
    )
    .unwrap();
    state
}

/// Dead letters with their events read back (a checkpoint holds them; a full read points at
/// their records), from the first of `dirs` that has the segment.
fn dead_letter_events(
    s: &JournalState,
    dirs: &[&std::path::Path],
) -> Vec<(String, genesys_sentiment::domain::delivery::Deliverable)> {
    let mut v: Vec<_> = s
        .dead_letters
        .iter()
        .map(|(id, d)| {
            let event = dirs
                .iter()
                .find_map(|dir| genesys_sentiment::journal::read::event(dir, &d.body, id).ok())
                .expect("every dead letter reads back");
            (id.clone(), event)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn assert_same_state(a: &JournalState, b: &JournalState, dirs: &[&std::path::Path]) {
    assert_eq!(a.records, b.records, "records");
    assert_eq!(a.pending, b.pending, "owed deliveries");
    assert_eq!(
        dead_letter_events(a, dirs),
        dead_letter_events(b, dirs),
        "dead letters"
    );
    assert_eq!(a.dedupe, b.dedupe, "dedupe keys");
    assert_eq!(a.delivered, b.delivered, "delivered");
    let enrichment = |s: &JournalState| {
        let mut v: Vec<_> = s.enrichment.keys().cloned().collect();
        v.sort();
        v
    };
    assert_eq!(
        enrichment(a),
        enrichment(b),
        "conversations waiting for a score"
    );
}

/// One archiving pass with zero retention: whatever lies before a checkpoint and holds
/// nothing still owed leaves `dir` for `archive`.
fn archive_all_that_may_go(
    dir: &std::path::Path,
    archive: &std::path::Path,
) -> genesys_sentiment::journal::archive::Archived {
    genesys_sentiment::journal::archive::archive(
        dir,
        Some(archive),
        chrono::Utc::now(),
        Duration::ZERO,
    )
    .unwrap()
}

async fn write(journal: &Journal, entries: impl IntoIterator<Item = Entry>) {
    for e in entries {
        journal.record("test", "accepted", e).await.unwrap();
    }
}

#[tokio::test]
async fn a_restart_from_a_checkpoint_rebuilds_what_the_whole_history_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let s = settings(&dir);
    let (journal, _) = Journal::open(&s, Metrics::new()).unwrap();
    // Before the checkpoint: 30 scores, 10 delivered, 2 dead-lettered, 2 failed attempts,
    // 3 conversations waiting for a score.
    write(&journal, (0..30).map(sentiment)).await;
    write(&journal, (0..10).map(|i| Entry::Delivered(outcome(i, 1)))).await;
    write(
        &journal,
        (10..12).map(|i| Entry::DeadLettered(outcome(i, 9))),
    )
    .await;
    write(
        &journal,
        (12..14).map(|i| Entry::DeliveryFailed(outcome(i, 2))),
    )
    .await;
    write(&journal, (0..3).map(ended)).await;
    let checkpoint = journal.checkpoint().await.unwrap();
    // After it: more of each, including deliveries of records from before it.
    write(&journal, (30..36).map(sentiment)).await;
    write(&journal, (14..18).map(|i| Entry::Delivered(outcome(i, 1)))).await;
    write(&journal, [ended(3)]).await;
    journal.close().await;

    let first = scan::first_record(
        &scan::list_segments(&dir)
            .unwrap()
            .into_iter()
            .find(|seg| {
                scan::first_record(&seg.path)
                    .unwrap()
                    .is_some_and(|f| f.is_checkpoint)
            })
            .expect("a segment begins with the checkpoint")
            .path,
    )
    .unwrap()
    .unwrap();
    assert_eq!(first.seq, checkpoint.seq);

    let (outcome, recovered) = genesys_sentiment::journal::recover(&dir).unwrap();
    assert_eq!(
        outcome.first_seq, checkpoint.seq,
        "start-up reads from the checkpoint, not from seq 1"
    );
    assert_eq!(outcome.records, outcome.last_seq - checkpoint.seq + 1);
    let whole = full_history_state(&[&dir]);
    assert_same_state(&recovered, &whole, &[&dir]);
    assert_eq!(
        recovered.pending.len(),
        36 - 14 - 2,
        "owed: {:?}",
        recovered.summary()
    );
    assert_eq!(recovered.dead_letters.len(), 2);
    assert_eq!(recovered.enrichment.len(), 4);
}

#[tokio::test]
async fn archived_segments_leave_the_chain_verifiable_and_start_up_unaffected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let archive = tmp.path().join("journal-archive");
    let s = settings(&dir);
    let (journal, _) = Journal::open(&s, Metrics::new()).unwrap();
    write(&journal, (0..40).map(sentiment)).await;
    write(&journal, (0..20).map(|i| Entry::Delivered(outcome(i, 1)))).await;
    let cp = journal.checkpoint().await.unwrap();
    write(&journal, (40..45).map(sentiment)).await;
    // Owed past the checkpoint, the segments of 20..40 would stay (they are read back from
    // there); delivered now, they can go.
    write(&journal, (20..40).map(|i| Entry::Delivered(outcome(i, 1)))).await;
    journal.close().await;
    let before = scan::list_segments(&dir).unwrap().len();
    assert!(before > 3, "several segments before the checkpoint");

    // Nothing is old enough under the default 400 days.
    let none = genesys_sentiment::journal::archive::archive(
        &dir,
        Some(&archive),
        chrono::Utc::now(),
        s.retention.get(),
    )
    .unwrap();
    assert_eq!(none.segments, 0);
    // Before the first archiving the archive directory does not exist yet: the live journal
    // is the whole history, and `--archive` (as a cron job would run it) checks it.
    assert!(!archive.exists());
    let out = run_bin(
        &[
            "audit",
            "verify",
            dir.to_str().unwrap(),
            "--archive",
            archive.to_str().unwrap(),
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("records (seq 1 to"), "{text}");
    // 401 days later, everything before the checkpoint goes.
    let later = chrono::Utc::now() + chrono::TimeDelta::days(401);
    let done = genesys_sentiment::journal::archive::archive(
        &dir,
        Some(&archive),
        later,
        s.retention.get(),
    )
    .unwrap();
    assert!(done.segments >= 3, "{done:?}");
    assert_eq!(done.live_from, cp.seq);
    let live = scan::list_segments(&dir).unwrap();
    assert_eq!(live.len(), before - done.segments);
    assert_eq!(scan::list_segments(&archive).unwrap().len(), done.segments);

    // Start-up: the same state as the whole history, archive included.
    let (_, recovered) = genesys_sentiment::journal::recover(&dir).unwrap();
    assert_same_state(
        &recovered,
        &full_history_state(&[&dir, &archive]),
        &[&dir, &archive],
    );
    assert_eq!(
        recovered.pending.len(),
        5,
        "every owed delivery survives archiving"
    );

    let verify = |args: &[&str]| {
        let out = run_bin(args, &[]);
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (d, a) = (dir.to_str().unwrap(), archive.to_str().unwrap());
    // An archive directory that was never made: wrong once the live journal lost its start.
    let nowhere = tmp.path().join("never-made");
    let (code, out) = verify(&["audit", "verify", d, "--archive", nowhere.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("does not exist") && out.contains(&format!("begins at seq {}", cp.seq)),
        "{out}"
    );
    let (code, out) = verify(&["audit", "verify", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("seq {} to", cp.seq)), "{out}");
    assert!(
        out.contains("--archive"),
        "says how to verify the rest: {out}"
    );
    let (code, out) = verify(&["audit", "verify", d, "--archive", a]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("records (seq 1 to"), "{out}");

    // An archived segment lost: the whole-history check names the gap.
    let second = scan::list_segments(&archive).unwrap()[1].clone();
    let saved = std::fs::read(&second.path).unwrap();
    std::fs::remove_file(&second.path).unwrap();
    let (code, out) = verify(&["audit", "verify", d, "--archive", a]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing"), "{out}");
    std::fs::write(&second.path, saved).unwrap();
    // ANCHOR changed: the live check no longer matches it.
    let anchor = dir.join(scan::ANCHOR_FILE);
    let text = std::fs::read_to_string(&anchor).unwrap();
    let seq: u64 = text.split_whitespace().next().unwrap().parse().unwrap();
    std::fs::write(&anchor, format!("{seq} {}\n", "ab".repeat(32))).unwrap();
    let (code, out) = verify(&["audit", "verify", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ANCHOR"), "{out}");
    std::fs::write(&anchor, text).unwrap();
    // The live checkpoint segment removed as well: ANCHOR names what is missing.
    std::fs::remove_file(&live[0].path).unwrap();
    let (code, out) = verify(&["audit", "verify", d]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("first bad seq {}: missing", cp.seq)),
        "{out}"
    );
}

#[tokio::test]
async fn a_segment_removed_without_a_checkpoint_after_it_stops_start_up_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let s = settings(&dir);
    let (journal, _) = Journal::open(&s, Metrics::new()).unwrap();
    write(&journal, (0..40).map(sentiment)).await;
    journal.close().await;
    let first = scan::list_segments(&dir).unwrap()[0].clone();
    std::fs::remove_file(&first.path).unwrap();
    let err = Journal::open(&s, Metrics::new()).unwrap_err().to_string();
    assert!(err.contains("first bad seq 1: missing"), "{err}");
    assert!(err.contains("no checkpoint follows"), "{err}");
}

#[cfg(feature = "emulator")]
#[tokio::test]
async fn after_archiving_the_daemon_still_knows_duplicates_and_delivers_what_it_owed() {
    use genesys_sentiment::config::Secret;
    use genesys_sentiment::emulator::sink::{SinkFault, SinkMode};

    const KEY: &str = "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u";
    let (sink, url) = crate::helpers::emulator::spawn_sink(Some(KEY)).await;
    sink.set_fault(SinkFault {
        mode: SinkMode::Fail,
        seconds: 0,
        retry_after: 1,
    });
    let configure = |s: &mut Settings| {
        s.coaching.url = url.clone();
        s.coaching.secret = Secret::new(KEY);
        s.coaching.backoff_base = Duration::from_millis(50).into();
        s.coaching.backoff_cap = Duration::from_millis(200).into();
    };
    let seed = |id: &str| serde_json::json!({"interactionId": id, "sentiment": {"score": -0.5, "polarity": "negative"}});
    let t = crate::helpers::TestApp::started(configure).await;
    for id in ["arch-1", "arch-2", "arch-3"] {
        assert_eq!(t.post_webhook(&seed(id)).await.0, 202);
    }
    let tmp = t.stop().await;
    assert_eq!(
        sink.report().unique,
        0,
        "nothing delivered yet: all three are owed"
    );

    // A checkpoint, then everything before it archived.
    let dir = tmp.path().join("journal");
    let archive = tmp.path().join("journal-archive");
    let (journal, _) = Journal::open(&settings(&dir), Metrics::new()).unwrap();
    journal.checkpoint().await.unwrap();
    journal.close().await;
    let archive_now = || archive_all_that_may_go(&dir, &archive);
    let done = archive_now();
    assert_eq!(
        done.segments, 0,
        "the segment the owed deliveries are read back from stays: {done:?}"
    );

    sink.set_fault(SinkFault {
        mode: SinkMode::Accept,
        seconds: 0,
        retry_after: 1,
    });
    let t = crate::helpers::TestApp::started_in(tmp, configure).await;
    assert!(
        sink.wait_for_unique(3, Duration::from_secs(30)).await,
        "the three owed deliveries went out: {:?}",
        sink.report()
    );
    let tmp = t.stop().await;
    let sent: Vec<_> = sink.events().iter().map(|d| d.body.clone()).collect();
    for id in ["arch-1", "arch-2", "arch-3"] {
        assert!(
            sent.iter()
                .any(|b| b["conversation_id"] == id && b["quality_score"] == 25.0),
            "{id} went out as it was accepted: {sent:?}"
        );
    }

    // Delivered: a checkpoint, and now everything before it goes.
    let (journal, _) = Journal::open(&settings(&dir), Metrics::new()).unwrap();
    journal.checkpoint().await.unwrap();
    journal.close().await;
    let done = archive_now();
    assert!(done.segments >= 1, "{done:?}");
    let t = crate::helpers::TestApp::started_in(tmp, configure).await;
    let (status, answer) = t.post_webhook(&seed("arch-2")).await;
    assert_eq!(
        (status, answer["duplicate"].as_bool()),
        (200, Some(true)),
        "the dedupe key outlived its archived record: {answer}"
    );
    t.stop().await;
    assert_eq!(
        sink.report().unique,
        3,
        "the duplicate made no new delivery"
    );
}

#[tokio::test]
async fn the_writer_checkpoints_on_its_own_once_the_interval_has_passed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let mut s = settings(&dir);
    s.checkpoint_interval = Duration::from_millis(1).into();
    let (journal, _) = Journal::open(&s, Metrics::new()).unwrap();
    // Each append waits for an fsync; within a bounded number of them the interval has
    // passed and the writer starts a segment with a checkpoint.
    let mut written = 0;
    let checkpointed = loop {
        write(&journal, [sentiment(written)]).await;
        written += 1;
        let found = scan::list_segments(&dir).unwrap().iter().any(|seg| {
            scan::first_record(&seg.path)
                .unwrap()
                .is_some_and(|f| f.is_checkpoint)
        });
        if found || written == 2000 {
            break found;
        }
    };
    journal.close().await;
    assert!(checkpointed, "no checkpoint after {written} appends");
    let (outcome, state) = genesys_sentiment::journal::recover(&dir).unwrap();
    assert!(outcome.first_seq > 1, "read from a checkpoint");
    assert_eq!(
        state.pending.len(),
        written,
        "every owed delivery is still owed"
    );
}

#[tokio::test]
async fn the_writer_archives_on_its_own_past_retention_and_the_whole_history_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let archive = tmp.path().join("journal-archive");
    let mut s = settings(&dir);
    // Everything is "old" at once: each checkpoint lets the segments before it go.
    s.checkpoint_interval = Duration::from_millis(1).into();
    s.retention = Duration::ZERO.into();
    s.dedupe_window = Duration::ZERO.into();
    s.archive_dir = archive.to_string_lossy().into_owned();
    let (journal, _) = Journal::open(&s, Metrics::new()).unwrap();
    // The first event stays owed for a while: its segment must stay, however old.
    write(&journal, [sentiment(0)]).await;
    let mut written = 1;
    let mut held_back = false;
    loop {
        write(&journal, [sentiment(written)]).await;
        if written > 1 {
            // Each earlier score delivered: only the newest, and the first, are owed.
            write(&journal, [Entry::Delivered(outcome(written - 1, 1))]).await;
        }
        written += 1;
        if written == 200 {
            // Checkpoints were written (so without the owed event everything before the
            // last one could have gone), yet segment 1 is still here.
            let live = scan::list_segments(&dir).unwrap();
            let checkpoints = live
                .iter()
                .filter(|seg| {
                    scan::first_record(&seg.path)
                        .ok()
                        .flatten()
                        .is_some_and(|f| f.is_checkpoint)
                })
                .count();
            held_back = live[0].number == 1 && checkpoints >= 2;
            write(&journal, [Entry::Delivered(outcome(0, 1))]).await;
        }
        let archived = scan::list_segments(&archive).map_or(0, |v| v.len());
        if (written > 200 && archived >= 2) || written == 3000 {
            break;
        }
    }
    journal.close().await;
    assert!(
        held_back,
        "the segment of an owed delivery stayed in the journal directory"
    );
    assert!(
        scan::list_segments(&archive).unwrap().len() >= 2,
        "archived after {written} appends"
    );
    let (outcome, state) = genesys_sentiment::journal::recover(&dir).unwrap();
    assert!(outcome.first_seq > 1);
    let owed: Vec<_> = state.pending.values().collect();
    assert_eq!(owed.len(), 1, "the newest is still owed: {owed:?}");
    genesys_sentiment::journal::read::event(&dir, &owed[0].body, &owed[0].event_id)
        .expect("it reads back");
    let d = dir.to_str().unwrap();
    let out = run_bin(
        &["audit", "verify", d, "--archive", archive.to_str().unwrap()],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Without ANCHOR the live journal's missing beginning is named.
    std::fs::remove_file(dir.join(scan::ANCHOR_FILE)).unwrap();
    let out = run_bin(&["audit", "verify", d], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("no ANCHOR"), "{text}");
}

#[tokio::test]
async fn a_damaged_stretch_is_not_archived_and_stays_where_verify_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let archive = tmp.path().join("journal-archive");
    let s = settings(&dir);
    let (journal, _) = Journal::open(&s, Metrics::new()).unwrap();
    write(&journal, (0..40).map(sentiment)).await;
    write(&journal, (0..40).map(|i| Entry::Delivered(outcome(i, 1)))).await;
    journal.checkpoint().await.unwrap();
    journal.close().await;
    let first = scan::segment_path(&dir, 1);
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, text.replacen("37.5", "97.5", 1)).unwrap();
    let err = genesys_sentiment::journal::archive::archive(
        &dir,
        Some(&archive),
        chrono::Utc::now(),
        Duration::ZERO,
    )
    .unwrap_err();
    assert!(err.to_string().contains("first bad seq 1"), "{err}");
    assert!(first.exists(), "nothing moved");
    assert!(!dir.join(scan::ANCHOR_FILE).exists());
}

#[tokio::test]
async fn a_crafted_checkpoint_at_seq_0_is_refused_without_a_panic() {
    use genesys_sentiment::journal::codec::{Draft, GENESIS, encode};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    std::fs::create_dir_all(&dir).unwrap();
    let draft = Draft {
        source: "journal".into(),
        outcome: "checkpoint".into(),
        entry: Entry::Checkpoint(Box::default()),
    };
    let (line, _) = encode(0, chrono::Utc::now(), GENESIS, &draft);
    std::fs::write(scan::segment_path(&dir, 1), line).unwrap();
    let err = Journal::open(&settings(&dir), Metrics::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("first bad seq 1"), "{err}");
    let out = run_bin(&["audit", "verify", dir.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn a_dead_letter_keeps_its_segment_until_it_is_replayed_and_delivered() {
    use genesys_sentiment::domain::events::ReplayRequest;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let archive = tmp.path().join("journal-archive");
    let s = settings(&dir);
    let (journal, _) = Journal::open(&s, Metrics::new()).unwrap();
    write(&journal, (0..20).map(sentiment)).await;
    write(&journal, (1..20).map(|i| Entry::Delivered(outcome(i, 1)))).await;
    write(&journal, [Entry::DeadLettered(outcome(0, 3))]).await;
    journal.checkpoint().await.unwrap();
    journal.close().await;
    let archive_now = || archive_all_that_may_go(&dir, &archive);
    assert_eq!(archive_now().segments, 0, "segment 1 holds the dead letter");
    let (_, state) = genesys_sentiment::journal::recover(&dir).unwrap();
    let (id, dead) = state.dead_letters.iter().next().expect("one dead letter");
    let event = genesys_sentiment::journal::read::event(&dir, &dead.body, id).unwrap();
    assert_eq!(event.event_id(), id, "it reads back after a restart");

    // Replayed and delivered: nothing holds segment 1 any more.
    let (journal, _) = Journal::open(&s, Metrics::new()).unwrap();
    let replay = Entry::ReplayRequested(ReplayRequest {
        event_id: id.clone(),
    });
    write(&journal, [replay, Entry::Delivered(outcome(0, 4))]).await;
    journal.checkpoint().await.unwrap();
    journal.close().await;
    assert!(archive_now().segments >= 1);
    let (_, state) = genesys_sentiment::journal::recover(&dir).unwrap();
    assert!(state.dead_letters.is_empty() && state.pending.is_empty());
}
