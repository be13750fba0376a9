//! Journals for the journal and memory benchmarks: accepted scores with UUID ids (as Genesys
//! ids are), each followed by its `delivered` record or left owed.

use genesys_sentiment::domain::events::{
    AttributionSource, DeliveryOutcome, Entry, SentimentEvent, event_id,
};
use genesys_sentiment::domain::{Polarity, ScoreScale};
use genesys_sentiment::journal::Journal;

/// Genesys ids are UUIDs; so are these.
pub fn uuid(kind: u128, i: usize) -> String {
    uuid::Uuid::from_u128((kind << 96) | i as u128).to_string()
}

/// The `webhook_received` record of score `i`.
pub fn received(i: usize) -> Entry {
    let conversation = uuid(1, i);
    let key = format!("conv:{conversation}:sentiment");
    Entry::WebhookReceived(SentimentEvent {
        event_id: event_id(&key),
        dedupe_keys: vec![key],
        conversation_id: conversation,
        agent_id: Some(uuid(2, i % 400)),
        queue_id: Some(uuid(3, i % 8)),
        raw_score: -0.25,
        scale: ScoreScale::Unit,
        quality_score: 37.5,
        polarity: Polarity::Negative,
        action_required: true,
        normalization_version: "linear-v1".into(),
        trend_score: Some(0.1),
        topic: None,
        cause_event_id: None,
        source_time: Some(chrono::Utc::now()),
        received_at: chrono::Utc::now(),
        attribution: Some(AttributionSource::Event),
    })
}

/// Appends scores `from..from + count` with 64 concurrent appenders, each followed by its
/// `delivered` record when `delivered`.
pub async fn fill(journal: &Journal, from: usize, count: usize, delivered: bool) {
    let writers = 64;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let journal = journal.clone();
            tokio::spawn(async move {
                let mut i = from + w;
                while i < from + count {
                    let entry = received(i);
                    let id = match &entry {
                        Entry::WebhookReceived(e) => e.event_id.clone(),
                        _ => unreachable!("a score"),
                    };
                    journal
                        .record("webhook:seed_form", "accepted", entry)
                        .await
                        .unwrap();
                    if delivered {
                        let outcome = Entry::Delivered(DeliveryOutcome {
                            event_id: id,
                            attempt: 1,
                            status: Some(200),
                            error: None,
                            retry_at: None,
                        });
                        journal
                            .record("forwarder", "delivered", outcome)
                            .await
                            .unwrap();
                    }
                    i += writers;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}
