//! `GET /api/v2/analytics/conversations/{conversationId}/details`: one conversation's
//! analytics details, used to attribute a real-time score to its agent
//! (docs/genesys-api.md §7).

use reqwest::Method;

use super::models::AnalyticsConversation;
use super::{Endpoint, GenesysClient, GenesysError};

/// Path prefix of the one-conversation details endpoint.
pub const CONVERSATIONS_PATH: &str = "/api/v2/analytics/conversations";

impl GenesysClient {
    /// One conversation's details; `None` when Genesys does not know it (404), which for a
    /// conversation that just ended usually means "not yet".
    ///
    /// # Errors
    /// Any [`GenesysError`] other than that 404.
    pub async fn conversation(
        &self,
        conversation_id: &str,
    ) -> Result<Option<AnalyticsConversation>, GenesysError> {
        let path = format!(
            "{CONVERSATIONS_PATH}/{}/details",
            GenesysClient::segment(conversation_id)
        );
        match self
            .send_json(
                Endpoint::ConversationDetails,
                Method::GET,
                &path,
                &[],
                None::<&()>,
            )
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(GenesysError::Api(f)) if f.is_genesys_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
