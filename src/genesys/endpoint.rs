//! The endpoints the client calls, with the permissions each needs
//! (docs/genesys-api.md §2, §3, §4.1, §4.3, §7, from the SDK docs).

use std::fmt;

/// One Genesys Cloud endpoint the daemon uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST {login}/oauth/token`
    Token,
    /// `POST /api/v2/analytics/conversations/details/query`
    DetailsQuery,
    /// `POST /api/v2/analytics/conversations/details/jobs`
    JobSubmit,
    /// `GET /api/v2/analytics/conversations/details/jobs/{jobId}`
    JobStatus,
    /// `GET /api/v2/analytics/conversations/details/jobs/{jobId}/results`
    JobResults,
    /// `DELETE /api/v2/analytics/conversations/details/jobs/{jobId}` (a job given up on)
    JobCancel,
    /// `GET /api/v2/analytics/conversations/details/jobs/availability`
    JobAvailability,
    /// `GET /api/v2/speechandtextanalytics/conversations/{conversationId}`
    StaConversation,
    /// `POST /api/v2/analytics/transcripts/aggregates/query`
    TranscriptAggregates,
    /// `GET /api/v2/analytics/conversations/{conversationId}/details`
    ConversationDetails,
    /// `GET /api/v2/users?id=…`
    Users,
    /// `GET /api/v2/routing/queues?id=…`
    Queues,
    /// `GET /api/v2/processautomation/triggers/topics` (`doctor` only)
    TriggerTopics,
    /// `GET /api/v2/notifications/availabletopics` (`doctor` only)
    AvailableTopics,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 14] = [
        Endpoint::Token,
        Endpoint::DetailsQuery,
        Endpoint::JobSubmit,
        Endpoint::JobStatus,
        Endpoint::JobResults,
        Endpoint::JobCancel,
        Endpoint::JobAvailability,
        Endpoint::StaConversation,
        Endpoint::TranscriptAggregates,
        Endpoint::ConversationDetails,
        Endpoint::Users,
        Endpoint::Queues,
        Endpoint::TriggerTopics,
        Endpoint::AvailableTopics,
    ];

    /// Largest successful answer read from this endpoint: what a real answer can reach with
    /// room to spare, so a hostile or broken peer cannot make each of many concurrent STA
    /// calls buffer a details page's worth.
    pub fn max_answer_bytes(self) -> usize {
        match self {
            // Pages of up to 100 (sync) or thousands (job) conversations, and a month of
            // daily cells for every agent.
            Endpoint::DetailsQuery | Endpoint::JobResults | Endpoint::TranscriptAggregates => {
                64 << 20
            }
            // One conversation with all its participants and segments; directory pages.
            Endpoint::ConversationDetails
            | Endpoint::Users
            | Endpoint::Queues
            | Endpoint::TriggerTopics
            | Endpoint::AvailableTopics => 8 << 20,
            // A token, a job's id or state, one conversation's scores.
            Endpoint::Token
            | Endpoint::JobSubmit
            | Endpoint::JobStatus
            | Endpoint::JobCancel
            | Endpoint::JobAvailability
            | Endpoint::StaConversation => 1 << 20,
        }
    }

    /// Whether a request that may have reached Genesys can be sent again: a job submission
    /// cannot (a second one makes a second job, and the first, whose id never came back,
    /// holds one of the org's concurrent jobs until it expires). The other requests read, or
    /// the details query, which is a read sent as POST.
    pub fn resendable(self) -> bool {
        self != Endpoint::JobSubmit
    }

    /// Low-cardinality metric label.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::DetailsQuery => "details_query",
            Endpoint::JobSubmit => "details_job_submit",
            Endpoint::JobStatus => "details_job_status",
            Endpoint::JobResults => "details_job_results",
            Endpoint::JobCancel => "details_job_cancel",
            Endpoint::JobAvailability => "details_job_availability",
            Endpoint::StaConversation => "sta_conversation",
            Endpoint::TranscriptAggregates => "transcript_aggregates",
            Endpoint::ConversationDetails => "conversation_details",
            Endpoint::Users => "users",
            Endpoint::Queues => "queues",
            Endpoint::TriggerTopics => "trigger_topics",
            Endpoint::AvailableTopics => "available_topics",
        }
    }

    /// Method and path template, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Endpoint::Token => "POST /oauth/token",
            Endpoint::DetailsQuery => "POST /api/v2/analytics/conversations/details/query",
            Endpoint::JobSubmit => "POST /api/v2/analytics/conversations/details/jobs",
            Endpoint::JobStatus => "GET /api/v2/analytics/conversations/details/jobs/{jobId}",
            Endpoint::JobResults => {
                "GET /api/v2/analytics/conversations/details/jobs/{jobId}/results"
            }
            Endpoint::JobCancel => "DELETE /api/v2/analytics/conversations/details/jobs/{jobId}",
            Endpoint::JobAvailability => {
                "GET /api/v2/analytics/conversations/details/jobs/availability"
            }
            Endpoint::StaConversation => {
                "GET /api/v2/speechandtextanalytics/conversations/{conversationId}"
            }
            Endpoint::TranscriptAggregates => "POST /api/v2/analytics/transcripts/aggregates/query",
            Endpoint::ConversationDetails => {
                "GET /api/v2/analytics/conversations/{conversationId}/details"
            }
            Endpoint::Users => "GET /api/v2/users",
            Endpoint::Queues => "GET /api/v2/routing/queues",
            Endpoint::TriggerTopics => "GET /api/v2/processautomation/triggers/topics",
            Endpoint::AvailableTopics => "GET /api/v2/notifications/availabletopics",
        }
    }

    /// The permissions the endpoint needs, as the SDK docs state them.
    pub fn permissions(self) -> &'static str {
        match self {
            Endpoint::Token => "no permission (client credentials)",
            Endpoint::DetailsQuery
            | Endpoint::JobSubmit
            | Endpoint::JobStatus
            | Endpoint::JobResults
            | Endpoint::JobCancel => {
                "any of analytics:conversationDetail:view, analytics:agentConversationDetail:view"
            }
            Endpoint::JobAvailability => "analytics:conversationDetail:view",
            Endpoint::StaConversation => {
                "all of recording:recording:view, speechAndTextAnalytics:data:view"
            }
            Endpoint::TranscriptAggregates => "analytics:speechAndTextAnalyticsAggregates:view",
            Endpoint::ConversationDetails => {
                "any of analytics:conversationDetail:view, analytics:agentConversationDetail:view"
            }
            Endpoint::Users => "no permission (the SDK docs list none for listing users)",
            Endpoint::Queues => "routing:queue:view",
            Endpoint::TriggerTopics => {
                "any of processautomation:trigger:view, processautomation:trigger:edit"
            }
            Endpoint::AvailableTopics => "no permission (the SDK docs list none)",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}
