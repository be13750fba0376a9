//! `GET /api/v2/speechandtextanalytics/conversations/{id}` → per-conversation sentiment
//! (docs/genesys-api.md §4.1). The score's scale is unverified, so the configured
//! `genesys.sentiment_scale` is attached; the value itself is reported exactly as received.

use reqwest::Method;
use serde::Serialize;

use super::models::{ConversationMetrics, ParticipantMetrics};
use super::{Endpoint, GenesysClient, GenesysError};
use crate::domain::RawSentiment;

/// Path prefix of the STA conversation endpoint.
pub const STA_CONVERSATIONS_PATH: &str = "/api/v2/speechandtextanalytics/conversations";

/// The sentiment Genesys computed for one conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationSentiment {
    /// Conversation id.
    pub conversation_id: String,
    /// `sentimentScore` with the configured scale.
    pub score: RawSentiment,
    /// `sentimentTrend` with the configured scale.
    pub trend: Option<RawSentiment>,
    /// `sentimentTrendClass` as sent (`Improving`, `NoChange`, …).
    pub trend_class: Option<String>,
    /// `(userId, score)` per agent.
    pub empathy: Vec<(String, f64)>,
    /// Talk/silence shares.
    pub participant_metrics: Option<ParticipantMetrics>,
}

/// The two expected outcomes of asking for a conversation's sentiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StaOutcome {
    /// Genesys has a score.
    Analysed(Box<ConversationSentiment>),
    /// 404 `resource.not.found`, or no score yet: not (yet) analysed. Not a failure.
    NotAnalysed,
}

impl GenesysClient {
    /// The STA sentiment of one conversation.
    ///
    /// # Errors
    /// Any [`GenesysError`] other than the 404 that means "not analysed".
    pub async fn conversation_sentiment(
        &self,
        conversation_id: &str,
    ) -> Result<StaOutcome, GenesysError> {
        let path = format!(
            "{STA_CONVERSATIONS_PATH}/{}",
            GenesysClient::segment(conversation_id)
        );
        let result: Result<ConversationMetrics, GenesysError> = self
            .send_json(
                Endpoint::StaConversation,
                Method::GET,
                &path,
                &[],
                None::<&()>,
            )
            .await;
        let metrics = match result {
            Ok(m) => m,
            Err(GenesysError::Api(f)) if f.is_genesys_not_found() => {
                return Ok(StaOutcome::NotAnalysed);
            }
            Err(e) => return Err(e),
        };
        let scale = self.sentiment_scale();
        let Some(score) = metrics.sentiment_score else {
            return Ok(StaOutcome::NotAnalysed);
        };
        Ok(StaOutcome::Analysed(Box::new(ConversationSentiment {
            conversation_id: metrics
                .conversation
                .map(|c| c.id)
                .unwrap_or_else(|| conversation_id.to_owned()),
            score: RawSentiment {
                value: score,
                scale,
            },
            trend: metrics
                .sentiment_trend
                .map(|value| RawSentiment { value, scale }),
            trend_class: metrics.sentiment_trend_class,
            empathy: metrics
                .empathy_scores
                .into_iter()
                .filter_map(|e| Some((e.user_id?, e.score?)))
                .collect(),
            participant_metrics: metrics.participant_metrics,
        })))
    }
}
