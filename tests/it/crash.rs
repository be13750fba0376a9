//! Issue 6: the real binary under a stream of webhooks, killed with SIGKILL at random points
//! and restarted, round after round. Afterwards every acknowledged event is in the journal
//! exactly once, the chain verifies, and the coaching sink has every one of them (duplicates
//! only under the same webhook-id).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{RngExt, SeedableRng};

use crate::helpers::{RunningBinary, wait_for_status};
use crate::webhooks::spawn_sink;

const SECRET: &str = "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u";
const ROUNDS: usize = 12;

fn start_daemon(journal: &std::path::Path, sink_url: &str) -> (RunningBinary, String) {
    let env = [
        ("GENESYS_SENTIMENT__SERVER__LISTEN", "127.0.0.1:0"),
        ("GENESYS_SENTIMENT__LOG__FORMAT", "json"),
        ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "id"),
        ("GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET", "secret"),
        ("GENESYS_SENTIMENT__GENESYS__BASE_URL", "http://127.0.0.1:9"),
        ("GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED", "true"),
        ("GENESYS_SENTIMENT__BATCH__ENABLED", "false"),
        ("GENESYS_SENTIMENT__JOURNAL__DIR", journal.to_str().unwrap()),
        ("GENESYS_SENTIMENT__JOURNAL__SEGMENT_MAX_BYTES", "65536"),
        ("GENESYS_SENTIMENT__COACHING__URL", sink_url),
        ("GENESYS_SENTIMENT__COACHING__SECRET", SECRET),
        ("GENESYS_SENTIMENT__COACHING__BACKOFF_BASE", "20ms"),
        ("GENESYS_SENTIMENT__COACHING__BACKOFF_CAP", "200ms"),
    ];
    let bin = RunningBinary::start(&["serve"], &env);
    let address = bin.wait_for_address(Duration::from_secs(30));
    (bin, format!("http://{address}"))
}

#[derive(Default)]
struct Ledger {
    /// conversation → event id, for every acknowledged (202 or duplicate 200) webhook.
    acked: BTreeMap<String, String>,
    /// Sent but never acknowledged (the daemon died first): sent again next round.
    unacked: BTreeSet<String>,
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    conversation: &str,
    ledger: &Mutex<Ledger>,
) -> bool {
    let body = serde_json::json!({"interactionId": conversation, "sentiment": {"score": -0.3, "polarity": "negative"}});
    let answer: Option<serde_json::Value> = match client
        .post(format!("{base}/webhooks/genesys"))
        .json(&body)
        .send()
        .await
    {
        Ok(r) if r.status() == 202 || r.status() == 200 => r.json().await.ok(),
        _ => None,
    };
    let mut l = ledger.lock().unwrap();
    match answer.as_ref().and_then(|v| v["id"].as_str()) {
        Some(id) => {
            l.acked.insert(conversation.to_owned(), id.to_owned());
            l.unacked.remove(conversation);
            true
        }
        None => {
            if !l.acked.contains_key(conversation) {
                l.unacked.insert(conversation.to_owned());
            }
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_repeated_sigkill() {
    let seed: u64 = rand::rng().random();
    println!("crash test seed {seed}");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (sink, sink_url) = spawn_sink(Some(SECRET)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let client = reqwest::Client::new();
    let mut next_id = 0u64;

    for round in 0..ROUNDS {
        let (mut bin, base) = start_daemon(&journal, &sink_url);
        assert!(
            wait_for_status(
                &client,
                &format!("{base}/readyz"),
                200,
                Duration::from_secs(30)
            )
            .await,
            "round {round} ready"
        );
        // Retry what the previous crash left unacknowledged, then new events, 8 at a time.
        let retries: Vec<String> = ledger.lock().unwrap().unacked.iter().cloned().collect();
        let fresh: Vec<String> = (0..1500)
            .map(|i| format!("crash-{}", next_id + i))
            .collect();
        next_id += 1500;
        let work: Arc<Mutex<Vec<String>>> =
            Arc::new(Mutex::new(retries.into_iter().chain(fresh).rev().collect()));
        let stop = tokio_util::sync::CancellationToken::new();
        let senders: Vec<_> = (0..8)
            .map(|_| {
                let (work, ledger, client, base, stop) = (
                    work.clone(),
                    ledger.clone(),
                    client.clone(),
                    base.clone(),
                    stop.clone(),
                );
                tokio::spawn(async move {
                    while !stop.is_cancelled() {
                        let Some(conversation) = work.lock().unwrap().pop() else {
                            break;
                        };
                        if !send(&client, &base, &conversation, &ledger).await {
                            break;
                        }
                    }
                })
            })
            .collect();
        // Let the stream run, then kill at a random point.
        let kill_after = Duration::from_millis(rng.random_range(30..300));
        tokio::time::sleep(kill_after).await;
        bin.signal(libc::SIGKILL);
        assert!(
            bin.wait_exit(Duration::from_secs(10)).is_some(),
            "round {round}: killed"
        );
        stop.cancel();
        for s in senders {
            s.await.unwrap();
        }
        // Events never sent this round are simply not part of the test.
        let l = ledger.lock().unwrap();
        println!(
            "round {round}: killed after {kill_after:?}; {} acknowledged so far",
            l.acked.len()
        );
    }

    // A last, clean run: resend the unacknowledged, wait for every delivery, stop with SIGTERM.
    let (mut bin, base) = start_daemon(&journal, &sink_url);
    assert!(
        wait_for_status(
            &client,
            &format!("{base}/readyz"),
            200,
            Duration::from_secs(30)
        )
        .await
    );
    let retries: Vec<String> = ledger.lock().unwrap().unacked.iter().cloned().collect();
    for c in retries {
        assert!(send(&client, &base, &c, &ledger).await, "resend {c}");
    }
    let acked = ledger.lock().unwrap().acked.clone();
    assert!(acked.len() >= 100, "the stream really ran: {}", acked.len());
    assert!(
        sink.wait_for_unique(acked.len() as u64, Duration::from_secs(60))
            .await,
        "sink has {} of {} acknowledged events",
        sink.report().unique,
        acked.len()
    );
    bin.signal(libc::SIGTERM);
    let status = bin.wait_exit(Duration::from_secs(15)).expect("drains");
    assert!(status.success());

    // The chain verifies.
    let outcome = genesys_sentiment::journal::verify(&journal).expect("journal verifies");
    assert!(outcome.records as usize >= acked.len());
    // Every acknowledged event is in the journal exactly once.
    let mut received: HashMap<String, usize> = HashMap::new();
    for seg in genesys_sentiment::journal::scan::list_segments(&journal).unwrap() {
        for line in std::fs::read_to_string(seg.path).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["type"] == "webhook_received" {
                *received
                    .entry(v["event_id"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
    }
    for (conversation, id) in &acked {
        assert_eq!(
            received.get(id),
            Some(&1),
            "{conversation} ({id}) journaled exactly once"
        );
    }
    // The sink has every one; each conversation arrived under exactly one webhook-id.
    let counts = sink.counts();
    let mut ids_per_conversation: HashMap<String, BTreeSet<String>> = HashMap::new();
    for d in sink.events() {
        ids_per_conversation
            .entry(d.body["conversation_id"].as_str().unwrap().to_owned())
            .or_default()
            .insert(d.webhook_id.clone());
    }
    for (conversation, id) in &acked {
        assert!(counts.contains_key(id), "{conversation} delivered");
        assert_eq!(
            ids_per_conversation[conversation].len(),
            1,
            "{conversation} under one id"
        );
    }
    let report = sink.report();
    assert_eq!(report.refused_signature, 0);
    println!(
        "{} acknowledged, {} deliveries, {} ids delivered more than once",
        acked.len(),
        report.received,
        report.duplicates.len()
    );
}
