//! Loading, secret files and validation.

use std::collections::HashMap;
use std::path::Path;

use config::{Config, Environment, File, FileFormat};

use super::{DEFAULT_TOML, ENV_PREFIX, Secret, Settings};

/// What the configuration is being loaded for; decides which keys are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `serve`: Genesys credentials and webhook authentication are required.
    Serve,
    /// Commands that talk to a real Genesys org (`analyze --from/--to`): credentials required.
    Pull,
    /// Commands that only read or print configuration, or bring their own emulator.
    Inspect,
}

/// A configuration problem, naming the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A key has a value the daemon cannot use.
    #[error("invalid configuration: `{key}`: {message}")]
    Invalid {
        /// Dotted key, e.g. `genesys.region`.
        key: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// The configuration could not be read or parsed at all.
    #[error("invalid configuration: {0}")]
    Load(String),
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] for `key`.
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

impl Settings {
    /// Loads defaults, then `file`, then `env` (pairs like
    /// `GENESYS_SENTIMENT__GENESYS__CLIENT_ID=...`; other variables are ignored), resolves
    /// secret files and validates for `purpose`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first key that is wrong.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        purpose: Purpose,
    ) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "configuration file {} does not exist or is not a file",
                    path.display()
                )));
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("webhook.standard_webhooks_secrets")
                .with_list_parse_key("analytics.groups")
                .with_list_parse_key("batch.queue_ids")
                .try_parsing(true)
                .source(Some(env)),
        );
        let raw = builder.build().map_err(|e| describe(&e))?;
        let mut settings: Settings = raw.try_deserialize().map_err(|e| describe(&e))?;
        settings.resolve_secret_files()?;
        settings.validate(purpose)?;
        Ok(settings)
    }

    /// Reads every `<secret>_file` into its secret.
    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        resolve_one(
            "genesys.client_secret",
            &mut self.genesys.client_secret,
            &self.genesys.client_secret_file,
        )?;
        resolve_one(
            "webhook.bearer_token",
            &mut self.webhook.bearer_token,
            &self.webhook.bearer_token_file,
        )?;
        resolve_one(
            "webhook.basic_password",
            &mut self.webhook.basic_password,
            &self.webhook.basic_password_file,
        )?;
        resolve_one(
            "webhook.hub_signature_secret",
            &mut self.webhook.hub_signature_secret,
            &self.webhook.hub_signature_secret_file,
        )?;
        resolve_one(
            "coaching.secret",
            &mut self.coaching.secret,
            &self.coaching.secret_file,
        )?;
        if !self.store.url_file.trim().is_empty() {
            // The file replaces the default URL (there is always one).
            self.store.url = Secret::new("");
        }
        resolve_one("store.url", &mut self.store.url, &self.store.url_file)?;
        let path = self.webhook.standard_webhooks_secrets_file.trim();
        if !path.is_empty() {
            let text = read_secret_file("webhook.standard_webhooks_secrets_file", path)?;
            self.webhook.standard_webhooks_secrets.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(Secret::new),
            );
        }
        self.webhook
            .standard_webhooks_secrets
            .retain(Secret::is_set);
        Ok(())
    }
}

fn resolve_one(key: &str, secret: &mut Secret, file: &str) -> Result<(), ConfigError> {
    let file = file.trim();
    if file.is_empty() {
        return Ok(());
    }
    if secret.is_set() {
        return Err(ConfigError::invalid(
            key,
            format!("set either `{key}` or `{key}_file`, not both"),
        ));
    }
    let text = read_secret_file(&format!("{key}_file"), file)?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(ConfigError::invalid(
            &format!("{key}_file"),
            format!("{file} is empty"),
        ));
    }
    *secret = Secret::new(value);
    Ok(())
}

fn read_secret_file(key: &str, path: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::invalid(key, format!("cannot read {path}: {e}")))
}

/// An empty value is allowed (the feature is off or the default applies); anything else must
/// be an http(s) URL with a host.
pub(super) fn check_url(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Ok(());
    }
    match reqwest::Url::parse(value.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        Ok(url) => Err(ConfigError::invalid(
            key,
            format!(
                "{value:?} is not an http(s) URL with a host (scheme {:?})",
                url.scheme()
            ),
        )),
        Err(e) => Err(ConfigError::invalid(
            key,
            format!("{value:?} is not a URL: {e}"),
        )),
    }
}

/// Turns a `config` crate error into one message that names the key.
fn describe(error: &config::ConfigError) -> ConfigError {
    let text = error.to_string();
    // Unknown keys: serde says "unknown field `x`, expected ..."; config appends the path.
    if let Some(field) = text
        .split("unknown field `")
        .nth(1)
        .and_then(|s| s.split('`').next())
    {
        let section = text
            .rsplit(" for key `")
            .next()
            .filter(|_| text.contains(" for key `"))
            .and_then(|s| s.split('`').next())
            .map(|s| format!("{s}."))
            .unwrap_or_default();
        return ConfigError::invalid(
            &format!("{section}{field}"),
            "unknown key (check the spelling; config/default.toml lists every key)",
        );
    }
    if let Some(key) = text
        .rsplit(" for key `")
        .next()
        .filter(|_| text.contains(" for key `"))
    {
        let key = key.split('`').next().unwrap_or(key).to_owned();
        let mut message = text.split(" for key `").next().unwrap_or(&text).to_owned();
        if message.contains("expected a nonzero") {
            // Counts parsed as NonZero*: say it the way the rest of the messages do.
            message = "must be greater than zero".into();
        }
        return ConfigError::Invalid { key, message };
    }
    ConfigError::Load(text)
}
