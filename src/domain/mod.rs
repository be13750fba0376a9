//! Pure domain types shared by every module: identifiers, raw and normalized sentiment,
//! polarity, the event vocabulary, what is owed to the coaching platform, secrets, signing
//! keys and the Genesys region table. No I/O here, and no knowledge of any wire format.

/// The git commit this binary was built from (`build.rs`; `unknown` when the build could
/// not tell).
pub const COMMIT: &str = env!("GENESYS_SENTIMENT_COMMIT");

/// `--version`: the package version and the commit.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GENESYS_SENTIMENT_COMMIT"),
    ")"
);

pub mod delivery;
pub mod events;
pub mod files;
pub mod region;
pub mod retry;
pub mod secret;
pub mod signature;

/// A peer's text (an error body, a Genesys `message`) made safe to log and journal: at most
/// `max_chars` characters, control characters (a newline that would start a forged log
/// line, a terminal escape), the Unicode line and paragraph separators, the bidirectional
/// controls (which make a terminal show text in another order) and the invisible
/// zero-width characters written as escapes.
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for c in text.chars().take(max_chars) {
        let unsafe_format = matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        );
        if c.is_control() || unsafe_format {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

pub use secret::{REDACTED, Secret};

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }
    };
}

string_id!(
    /// A Genesys conversation id (`conversationId`, or `interactionId` in the original form).
    ConversationId
);
string_id!(
    /// A Genesys user id of the agent who handled a conversation.
    AgentId
);
string_id!(
    /// A Genesys queue id.
    QueueId
);

/// The scale a raw sentiment value is expressed on.
///
/// Genesys documents the product score as −100…+100 but the API value's scale is unverified
/// (docs/genesys-api.md §4.2, §9 item 1), so every source states its scale explicitly and nothing
/// is inferred from the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreScale {
    /// A fraction in [−1, 1].
    Unit,
    /// Percent points in [−100, 100].
    Percent,
}

impl ScoreScale {
    /// The largest magnitude a value on this scale can have.
    pub fn max_abs(self) -> f64 {
        match self {
            ScoreScale::Unit => 1.0,
            ScoreScale::Percent => 100.0,
        }
    }

    /// Converts a value on this scale to the percent scale (no range check).
    pub fn to_percent(self, value: f64) -> f64 {
        match self {
            ScoreScale::Unit => value * 100.0,
            ScoreScale::Percent => value,
        }
    }

    /// The configuration spelling (`unit` / `percent`).
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreScale::Unit => "unit",
            ScoreScale::Percent => "percent",
        }
    }
}

impl FromStr for ScoreScale {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "unit" => Ok(ScoreScale::Unit),
            "percent" => Ok(ScoreScale::Percent),
            other => Err(format!("unknown scale {other:?}; expected unit or percent")),
        }
    }
}

impl fmt::Display for ScoreScale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sentiment value exactly as a source reported it, with the scale it is on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RawSentiment {
    /// The value as received.
    pub value: f64,
    /// The scale the value is on.
    pub scale: ScoreScale,
}

/// Sentiment polarity of one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    /// Clearly positive.
    Positive,
    /// Neither clearly positive nor clearly negative.
    Neutral,
    /// Clearly negative.
    Negative,
}

impl Polarity {
    /// All polarities in display order.
    pub const ALL: [Polarity; 3] = [Polarity::Positive, Polarity::Neutral, Polarity::Negative];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Polarity::Positive => "positive",
            Polarity::Neutral => "neutral",
            Polarity::Negative => "negative",
        }
    }
}

impl fmt::Display for Polarity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a polarity word that is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown polarity {0:?}; expected positive, neutral or negative")]
pub struct UnknownPolarity(pub String);

impl FromStr for Polarity {
    type Err = UnknownPolarity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "positive" => Ok(Polarity::Positive),
            "neutral" => Ok(Polarity::Neutral),
            "negative" => Ok(Polarity::Negative),
            _ => Err(UnknownPolarity(printable(s, 40))),
        }
    }
}

/// One conversation's sentiment, as pulled from Genesys, received by webhook or read from an
/// export: the unit of input to the analytics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentRecord {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The agent who handled it, when known.
    pub agent_id: Option<AgentId>,
    /// The queue it came through, when known.
    pub queue_id: Option<QueueId>,
    /// When the conversation started (UTC); it decides the day and the window.
    pub time: DateTime<Utc>,
    /// The score as reported.
    pub raw: RawSentiment,
    /// A polarity supplied by the source, if any (validated, never trusted blindly).
    pub polarity: Option<Polarity>,
    /// The media type (`voice`, `chat`, `email`, `message`, …), when known: one of the case-mix
    /// strata agent verdicts are adjusted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

/// The normalized reading of one record: what every output carries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityReading {
    /// The 0–100 quality score.
    pub quality_score: f64,
    /// Supplied (validated) or derived polarity.
    pub polarity: Polarity,
    /// Whether the quality score is below the action threshold.
    pub action_required: bool,
}

/// Where the batch reads sentiment from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchSource {
    /// Transcript aggregates per agent and day: few requests, per-day statistics only.
    Aggregates,
    /// Conversation details plus one STA request per conversation: full per-record data.
    Conversations,
}

impl BatchSource {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchSource::Aggregates => "aggregates",
            BatchSource::Conversations => "conversations",
        }
    }
}

/// How a scheduled batch run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Still going (`/v1/runs` shows its progress).
    Running,
    /// The report was built and published.
    Succeeded,
    /// Genesys or the journal failed; no report.
    Failed,
    /// The daemon was stopped during the run; no report (the next run starts over, with
    /// what the store already holds).
    Interrupted,
}

impl RunOutcome {
    /// The snake_case name (journal `outcome`, metric label, `/v1/runs`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "failed",
            RunOutcome::Interrupted => "interrupted",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<RunOutcome> {
        match s {
            "running" => Some(RunOutcome::Running),
            "succeeded" => Some(RunOutcome::Succeeded),
            "failed" => Some(RunOutcome::Failed),
            "interrupted" => Some(RunOutcome::Interrupted),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polarity_parses_case_insensitively_and_rejects_others() {
        assert_eq!("Positive".parse::<Polarity>().unwrap(), Polarity::Positive);
        assert_eq!(
            " NEGATIVE ".parse::<Polarity>().unwrap(),
            Polarity::Negative
        );
        assert!("meh".parse::<Polarity>().is_err());
    }

    #[test]
    fn a_peers_newline_or_escape_cannot_forge_a_log_line() {
        let forged = printable("busy\n2026-12-02T00:00:00Z INFO all good\u{1b}[2J", 200);
        assert!(!forged.chars().any(char::is_control), "{forged}");
        assert!(forged.starts_with("busy\\n2026"), "{forged}");
        assert_eq!(printable("ünïcode stays", 7), "ünïcode");
        // A line separator, and a right-to-left override that would show "gpj.exe" as
        // "exe.jpg".
        let shown = printable("a\u{2028}b \u{202e}gpj.exe", 50);
        assert_eq!(shown, "a\\u{2028}b \\u{202e}gpj.exe");
        assert_eq!(
            printable("x\u{200b}\u{feff}\u{61c}y", 10),
            "x\\u{200b}\\u{feff}\\u{61c}y"
        );
    }
}
