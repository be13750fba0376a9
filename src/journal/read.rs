//! Reading an owed delivery's event back from the journal: the queue and the kept state
//! hold only where its record lies (see [`Body::Journal`]), so memory does not grow with
//! what is owed.

use std::os::unix::fs::FileExt;
use std::path::Path;

use super::codec::decode;
use super::scan::segment_path;
use crate::domain::delivery::{Body, Deliverable};
use crate::domain::events::{AttributionSource, Entry};

/// Why an event could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The segment cannot be read (gone, or an I/O error).
    #[error("cannot read journal segment {segment}: {source}")]
    Io {
        /// The segment's number.
        segment: u64,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bytes there are not the record expected.
    #[error("journal segment {segment} at byte {offset} does not hold event {event_id}: {why}")]
    Mismatch {
        /// The segment's number.
        segment: u64,
        /// The byte offset.
        offset: u64,
        /// The event expected.
        event_id: String,
        /// What was found instead.
        why: String,
    },
}

impl ReadError {
    /// Whether the content is gone for good (the segment is missing, or holds something
    /// else there), as opposed to a passing failure (out of file descriptors, an I/O
    /// error) worth trying again.
    pub fn is_lost(&self) -> bool {
        match self {
            ReadError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            ReadError::Mismatch { .. } => true,
        }
    }
}

/// The event a record makes owed, as it is delivered.
pub fn deliverable(entry: Entry) -> Option<Deliverable> {
    match entry {
        Entry::WebhookReceived(mut e) | Entry::SentimentFetched(mut e) => {
            if e.attribution.is_none() && e.agent_id.is_some() {
                // Records from before attribution existed: the event named its agent.
                e.attribution = Some(AttributionSource::Event);
            }
            Some(Deliverable::Sentiment(e))
        }
        Entry::CoachingRecommendation(r) => Some(Deliverable::Recommendation(r)),
        _ => None,
    }
}

/// The event `body` names, expected to be `event_id`: a copy when held, otherwise read
/// from the segment in `dir` (its own hash checked) with the attribution decided since.
///
/// # Errors
/// [`ReadError`] when the segment is gone or does not hold the event there.
pub fn event(dir: &Path, body: &Body, event_id: &str) -> Result<Deliverable, ReadError> {
    let (at, overlay) = match body {
        Body::Held(event) => return Ok(event.as_ref().clone()),
        Body::Journal { at, overlay } => (at, overlay),
    };
    let io = |source| ReadError::Io {
        segment: at.segment,
        source,
    };
    let mismatch = |why: String| ReadError::Mismatch {
        segment: at.segment,
        offset: at.offset,
        event_id: event_id.to_owned(),
        why,
    };
    let file = std::fs::File::open(segment_path(dir, at.segment)).map_err(io)?;
    let mut line = vec![0u8; at.len as usize];
    file.read_exact_at(&mut line, at.offset).map_err(io)?;
    let record = decode(&line).map_err(|e| mismatch(e.to_string()))?;
    let mut event = deliverable(record.entry)
        .ok_or_else(|| mismatch(format!("record {} owes nothing", record.seq)))?;
    if event.event_id() != event_id {
        return Err(mismatch(format!(
            "record {} is event {}",
            record.seq,
            event.event_id()
        )));
    }
    if let (Some(overlay), Deliverable::Sentiment(e)) = (overlay, &mut event) {
        overlay.apply(e);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::{SentimentEvent, key_digest};
    use crate::journal::recovery::JournalState;

    #[test]
    fn a_score_record_leaves_out_what_it_implies_and_reads_back_whole() {
        let event: SentimentEvent = serde_json::from_value(serde_json::json!({
            "event_id": "evt_000000000000000000000001", "dedupe_keys": ["whid:w-1"],
            "conversation_id": "c-1", "agent_id": "a-1", "raw_score": -0.25, "scale": "unit",
            "quality_score": 37.5, "polarity": "negative", "action_required": true,
            "normalization_version": "linear-v1", "occurred_at": "2026-01-01T00:00:00Z",
            "attribution": "event"
        }))
        .unwrap();
        let mut plain = event.clone();
        plain.dedupe_keys.clear();
        let text = serde_json::to_string(&Entry::WebhookReceived(plain)).unwrap();
        assert!(
            !text.contains("dedupe_keys"),
            "the score key is implied: {text}"
        );
        assert!(
            !text.contains("attribution"),
            "an agent the event named is implied: {text}"
        );
        let back: Entry = serde_json::from_str(&text).unwrap();
        let Some(Deliverable::Sentiment(read)) = deliverable(back.clone()) else {
            panic!("a score is owed");
        };
        assert_eq!(read.attribution, Some(AttributionSource::Event));
        // Recovery still knows its dedupe key; extra keys are kept when there are any.
        let mut state = JournalState::default();
        let record = |entry| crate::journal::codec::Record {
            seq: 1,
            time: chrono::Utc::now(),
            prev_hash: String::new(),
            source: "s".into(),
            outcome: "accepted".into(),
            entry,
            hash: String::new(),
        };
        state.apply(record(back), Default::default());
        assert!(state.dedupe.contains_key(&key_digest("conv:c-1:sentiment")));
        state.apply(record(Entry::WebhookReceived(event)), Default::default());
        assert!(state.dedupe.contains_key(&key_digest("whid:w-1")));
    }
}
