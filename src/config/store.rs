//! `[store]`: where the conversation store lives.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret};

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://PATH` (the embedded default, created on first start) or `postgres://…`.
    /// Kept as a secret: a PostgreSQL URL may carry a password.
    pub url: Secret,
    /// File holding `url` (a container secret, when the URL carries a password).
    pub url_file: String,
}

impl StoreSettings {
    /// The URL (empty when unset; validation refuses that).
    pub fn url(&self) -> &str {
        self.url.expose().unwrap_or("")
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let url = self.url().trim();
        let sqlite = url.starts_with("sqlite:");
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !(sqlite || postgres) {
            return Err(ConfigError::invalid(
                "store.url",
                "must be sqlite://PATH (the embedded default) or postgres://USER@HOST/DB",
            ));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .map(|p| p.split('?').next().unwrap_or(p));
        if path.is_some_and(str::is_empty) {
            return Err(ConfigError::invalid(
                "store.url",
                "sqlite:// needs the path of the database file, e.g. sqlite:///var/lib/genesys-sentiment/genesys-sentiment.db",
            ));
        }
        Ok(())
    }
}
