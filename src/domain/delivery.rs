//! What is owed to the coaching platform: the deliverable events, a pending delivery and a
//! dead letter. Shared by recovery (which rebuilds them), the intake and batch (which add
//! them) and the outbox (which sends them).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::events::{
    Attributed, AttributionSource, DeliveryOutcome, Recommendation, SentimentEvent,
};

/// An event owed to the coaching platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "event", rename_all = "snake_case")]
pub enum Deliverable {
    /// A sentiment insight.
    Sentiment(SentimentEvent),
    /// A coaching recommendation.
    Recommendation(Recommendation),
}

impl Deliverable {
    /// The stable event id (the delivery's `webhook-id`).
    pub fn event_id(&self) -> &str {
        match self {
            Deliverable::Sentiment(e) => &e.event_id,
            Deliverable::Recommendation(r) => &r.event_id,
        }
    }
}

/// Where a record lies in the journal: its segment, and the byte range of its line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The segment's number.
    pub segment: u64,
    /// Byte offset of the line in the segment.
    pub offset: u64,
    /// The line's length, without its line end.
    pub len: u32,
}

/// A delivery still owed, with its event in full: what the intake, the batch and the
/// attribution step hand to the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// What to deliver.
    pub event: Deliverable,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it was accepted (or replayed): the age bound counts from here.
    pub since: DateTime<Utc>,
    /// When the next attempt is due, if a failure scheduled one.
    pub next_attempt: Option<DateTime<Utc>>,
    /// Sequence number of the record that made it owed (delivery order).
    pub seq: u64,
    /// Where that record lies (`None` before it is journaled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Location>,
    /// Whether an attribution decision changed the event after that record was written
    /// (so reading the record back needs the decision too).
    #[serde(skip)]
    pub amended: bool,
}

/// The attribution decided for an event whose content stays in the journal: applied to
/// the record's event when it is read back, with the same effect as the decisions had on an
/// event held in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlay {
    /// The agent the decisions named (`None`: the record's own, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The queue the decisions named (`None`: the record's own, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// Where the agent came from.
    pub attribution: AttributionSource,
}

impl Overlay {
    /// This overlay followed by `decision` (see [`SentimentEvent::attribute`]).
    fn then(self, decision: &Attributed) -> Overlay {
        Overlay {
            agent_id: decision.agent_id.clone().or(self.agent_id),
            queue_id: decision.queue_id.clone().or(self.queue_id),
            attribution: decision.attribution,
        }
    }

    fn decision(&self, event: &SentimentEvent) -> Attributed {
        Attributed {
            event_id: event.event_id.clone(),
            conversation_id: event.conversation_id.clone(),
            agent_id: self.agent_id.clone(),
            queue_id: self.queue_id.clone(),
            attribution: self.attribution,
            cause_event_id: None,
            late: false,
            reason: None,
        }
    }

    /// Applies the decisions to the record's event.
    pub fn apply(&self, event: &mut SentimentEvent) {
        let decision = self.decision(event);
        event.attribute(&decision);
    }
}

/// Where an owed or dead-lettered event's content is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// Held in memory. Stored (in a checkpoint) with a score's time stated: a copy outside
    /// its record has no record time to say when it was received.
    #[serde(serialize_with = "held_with_its_time")]
    Held(Box<Deliverable>),
    /// In the journal record at this location, changed by the attribution decided since
    /// (if any): read back when it is sent.
    Journal {
        /// The record that made it owed.
        at: Location,
        /// The attribution decided since (boxed: most events have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        overlay: Option<Box<Overlay>>,
    },
}

/// Serializes a held event; a score whose sender gave no time states when it was received.
fn held_with_its_time<S: serde::Serializer>(held: &Deliverable, s: S) -> Result<S::Ok, S::Error> {
    match held {
        Deliverable::Sentiment(e) if e.source_time.is_none() => {
            let mut e = e.clone();
            e.source_time = Some(e.received_at);
            Deliverable::Sentiment(e).serialize(s)
        }
        other => other.serialize(s),
    }
}

impl Body {
    /// Applies an attribution decision, in memory or as a note for when it is read back.
    pub fn attribute(&mut self, decision: &Attributed) {
        match self {
            Body::Held(d) => {
                if let Deliverable::Sentiment(e) = d.as_mut() {
                    e.attribute(decision);
                }
            }
            Body::Journal { overlay, .. } => {
                let base = overlay.take().map_or(
                    Overlay {
                        agent_id: None,
                        queue_id: None,
                        attribution: decision.attribution,
                    },
                    |o| *o,
                );
                *overlay = Some(Box::new(base.then(decision)));
            }
        }
    }

    /// The journal segment it is read from, if it is not held.
    pub fn segment(&self) -> Option<u64> {
        match self {
            Body::Held(_) => None,
            Body::Journal { at, .. } => Some(at.segment),
        }
    }
}

/// A delivery still owed, as the queue and recovery keep it: a few fields, with the event
/// itself in the journal unless it is [held](Body::Held).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owed {
    /// The event id (the delivery's `webhook-id`).
    pub event_id: String,
    /// Where its content is.
    pub body: Body,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it was accepted (or replayed): the age bound counts from here.
    pub since: DateTime<Utc>,
    /// When the next attempt is due, if a failure scheduled one.
    pub next_attempt: Option<DateTime<Utc>>,
    /// Sequence number of the record that made it owed (delivery order).
    pub seq: u64,
}

impl Owed {
    /// The owed form of `pending`: held in memory when `hold` is true or its record's
    /// location is unknown, otherwise read back from the journal when sent.
    pub fn from_pending(pending: Pending, hold: bool) -> Owed {
        let body = match pending.at {
            Some(at) if !hold => Body::Journal {
                at,
                // An event decided in memory: the decision's effect, as an overlay. (An
                // event left without an agent had none in its record either.)
                overlay: match &pending.event {
                    Deliverable::Sentiment(e) if pending.amended => e.attribution.map(|source| {
                        Box::new(Overlay {
                            agent_id: e.agent_id.clone(),
                            queue_id: e.queue_id.clone(),
                            attribution: source,
                        })
                    }),
                    Deliverable::Sentiment(_) | Deliverable::Recommendation(_) => None,
                },
            },
            _ => Body::Held(Box::new(pending.event.clone())),
        };
        Owed {
            event_id: pending.event.event_id().to_owned(),
            body,
            attempts: pending.attempts,
            since: pending.since,
            next_attempt: pending.next_attempt,
            seq: pending.seq,
        }
    }

    /// The full form, given the event read back (amended when decisions were noted on
    /// top of its record, so going back to the queue keeps them).
    pub fn with_event(self, event: Deliverable) -> Pending {
        let (at, amended) = match &self.body {
            Body::Journal { at, overlay } => (Some(*at), overlay.is_some()),
            Body::Held(_) => (None, false),
        };
        Pending {
            event,
            attempts: self.attempts,
            since: self.since,
            next_attempt: self.next_attempt,
            seq: self.seq,
            at,
            amended,
        }
    }
}

/// A dead-lettered event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// What could not be delivered.
    pub body: Body,
    /// The last attempt's outcome.
    pub outcome: DeliveryOutcome,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{Polarity, ScoreScale};

    /// A score for conversation `c-1`, event `e-1`.
    pub(crate) fn score(agent: Option<&str>, queue: Option<&str>) -> SentimentEvent {
        SentimentEvent {
            event_id: "e-1".into(),
            dedupe_keys: vec![],
            conversation_id: "c-1".into(),
            agent_id: agent.map(Into::into),
            queue_id: queue.map(Into::into),
            raw_score: 0.5,
            scale: ScoreScale::Unit,
            quality_score: 75.0,
            polarity: Polarity::Positive,
            action_required: false,
            normalization_version: "linear-v1".into(),
            trend_score: None,
            topic: None,
            cause_event_id: None,
            source_time: None,
            received_at: chrono::DateTime::UNIX_EPOCH,
            attribution: None,
        }
    }

    fn decision(agent: Option<&str>, queue: Option<&str>, how: AttributionSource) -> Attributed {
        Attributed {
            event_id: "e-1".into(),
            conversation_id: "c-1".into(),
            agent_id: agent.map(Into::into),
            queue_id: queue.map(Into::into),
            attribution: how,
            cause_event_id: None,
            late: false,
            reason: None,
        }
    }

    #[test]
    fn decisions_noted_for_a_journaled_event_change_it_as_they_change_a_held_one() {
        let at = Location {
            segment: 1,
            offset: 0,
            len: 10,
        };
        let events = [
            score(None, None),
            score(Some("a-0"), None),
            score(None, Some("q-0")),
            score(Some("a-0"), Some("q-0")),
        ];
        let decisions = [
            decision(Some("a-1"), Some("q-1"), AttributionSource::Acw),
            decision(None, None, AttributionSource::Unknown),
            decision(None, Some("q-2"), AttributionSource::Details),
            decision(Some("a-2"), None, AttributionSource::UserEnd),
        ];
        // Every event, through every sequence of up to two decisions.
        for event in &events {
            for first in &decisions {
                for second in std::iter::once(None).chain(decisions.iter().map(Some)) {
                    let mut held = Body::Held(Box::new(Deliverable::Sentiment(event.clone())));
                    let mut journaled = Body::Journal { at, overlay: None };
                    for d in std::iter::once(first).chain(second) {
                        held.attribute(d);
                        journaled.attribute(d);
                    }
                    let Body::Journal {
                        overlay: Some(overlay),
                        ..
                    } = &journaled
                    else {
                        panic!("a decision is noted")
                    };
                    let mut read_back = event.clone();
                    overlay.apply(&mut read_back);
                    assert_eq!(
                        held,
                        Body::Held(Box::new(Deliverable::Sentiment(read_back))),
                        "{event:?} then {first:?}, {second:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_event_decided_in_memory_reads_back_the_same_from_its_record() {
        let at = Location {
            segment: 3,
            offset: 100,
            len: 50,
        };
        for original in [score(None, None), score(Some("a-0"), Some("q-0"))] {
            let mut decided = original.clone();
            decided.attribute(&decision(Some("a-1"), Some("q-1"), AttributionSource::Acw));
            let pending = Pending {
                event: Deliverable::Sentiment(decided.clone()),
                attempts: 0,
                since: chrono::DateTime::UNIX_EPOCH,
                next_attempt: None,
                seq: 7,
                at: Some(at),
                amended: true,
            };
            let owed = Owed::from_pending(pending, false);
            let Body::Journal {
                overlay: Some(overlay),
                ..
            } = &owed.body
            else {
                panic!("not held, with the decision noted: {owed:?}")
            };
            let mut read_back = original.clone();
            overlay.apply(&mut read_back);
            assert_eq!(read_back, decided);
        }
    }

    #[test]
    fn an_owed_event_read_back_and_queued_again_keeps_its_decision() {
        let at = Location {
            segment: 2,
            offset: 0,
            len: 9,
        };
        let record = score(None, None);
        let mut body = Body::Journal { at, overlay: None };
        body.attribute(&decision(Some("a-1"), None, AttributionSource::Acw));
        let owed = Owed {
            event_id: "e-1".into(),
            body: body.clone(),
            attempts: 0,
            since: chrono::DateTime::UNIX_EPOCH,
            next_attempt: None,
            seq: 3,
        };
        // What start-up does: read back (the decision applied), route, queue again.
        let mut read_back = record.clone();
        let Body::Journal {
            overlay: Some(overlay),
            ..
        } = &body
        else {
            panic!("noted")
        };
        overlay.apply(&mut read_back);
        let again = Owed::from_pending(owed.with_event(Deliverable::Sentiment(read_back)), false);
        assert_eq!(again.body, body, "the decision is still noted");
    }

    #[test]
    fn a_held_score_without_a_time_of_its_own_keeps_its_time_when_stored_outside_its_record() {
        let mut e = score(Some("a-1"), None);
        e.received_at = DateTime::from_timestamp_micros(1_764_700_000_123_456).unwrap();
        let held = Body::Held(Box::new(Deliverable::Sentiment(e.clone())));
        let text = serde_json::to_string(&held).unwrap();
        let Body::Held(back) = serde_json::from_str::<Body>(&text).unwrap() else {
            panic!("not held: {text}");
        };
        let Deliverable::Sentiment(back) = *back else {
            panic!("not a score: {text}");
        };
        assert_eq!(back.occurred_at(), e.occurred_at(), "{text}");
    }
}
