//! Webhook bodies as Genesys would send them for the org's conversations, in all three
//! formats the daemon accepts (the original form, a notification, an EventBridge event).
//! Used by the demo and the benchmarks to push bursts into a daemon.

use serde_json::{Value, json};

use super::api::reported;
use super::org::Org;

/// `n` webhook bodies for the org's most recent analysed conversations, cycling through the
/// three formats.
pub fn sentiment_bodies(org: &Org, n: usize) -> Vec<Value> {
    let scale = org.spec.score_scale;
    org.conversations
        .iter()
        .rev()
        .filter(|c| c.analysed)
        .take(n)
        .enumerate()
        .map(|(i, c)| {
            let id = c.id_string();
            let agent = &org.agents[c.agent as usize].id;
            let queue = &org.queues[usize::from(c.queue)].id;
            let unit = f64::from(c.score);
            let note = json!({
                "topicName": format!("v2.speechandtextanalytics.conversation.{id}.sentiment"),
                "version": "2",
                "eventBody": {
                    "conversationId": id,
                    "sentimentOverallScore": reported(c.score, scale),
                    "sentimentTrendScore": reported(c.trend, scale),
                    "queueIds": [queue],
                    "divisionIds": [],
                    "agentId": agent,
                },
                "metadata": {"CorrelationId": format!("corr-{i}")},
                "timestamp": c.end().to_rfc3339(),
            });
            match i % 3 {
                0 => json!({
                    "interactionId": id,
                    "sentiment": {"score": (unit * 10_000.0).round() / 10_000.0},
                    "agentId": agent,
                    "queueId": queue,
                }),
                1 => note,
                _ => json!({
                    "version": "0",
                    "id": format!("eb-{id}"),
                    "detail-type": "v2.speechandtextanalytics.conversation.{id}.sentiment",
                    "source": "aws.partner/genesys.com/cloud/emulator/sentiment",
                    "account": "000000000000",
                    "time": c.end().to_rfc3339(),
                    "region": "us-east-1",
                    "resources": [],
                    "detail": note,
                }),
            }
        })
        .collect()
}
