//! `[log]`: format and filter of the daemon's logs.

use serde::{Deserialize, Deserializer, Serialize};

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `json` (one object per line) or `pretty` (for people).
    pub format: LogFormat,
    /// A tracing filter such as `info` or `genesys_sentiment=debug`; `RUST_LOG` wins over it.
    pub level: LogFilter,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// A tracing filter directive that is known to parse (checked when the settings load).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LogFilter(String);

impl LogFilter {
    /// Parses a filter such as `info` or `genesys_sentiment=debug,info`.
    ///
    /// # Errors
    /// A sentence naming the value when it is not a tracing filter.
    pub fn parse(value: &str) -> Result<LogFilter, String> {
        tracing_subscriber::EnvFilter::try_new(value)
            .map(|_| LogFilter(value.to_owned()))
            .map_err(|_| {
                format!(
                    "{value:?} is not a tracing filter such as \"info\" or \"genesys_sentiment=debug\""
                )
            })
    }

    /// The directive text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for LogFilter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        LogFilter::parse(&text).map_err(serde::de::Error::custom)
    }
}
