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

/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: [&str; 5] = [
    "server.admin_hosts",
    "webhook.standard_webhooks_secrets",
    "analytics.groups",
    "analytics.adjust_for",
    "batch.queue_ids",
];

/// The dotted key of an environment variable (`GENESYS_SENTIMENT__A__B_C` → `a.b_c`).
fn env_key(var: &str) -> String {
    var.strip_prefix(ENV_PREFIX)
        .unwrap_or(var)
        .trim_start_matches("__")
        .to_lowercase()
        .replace("__", ".")
}

/// Variables of the daemon's own that are not settings.
const OTHER_VARS: [&str; 2] = ["GENESYS_SENTIMENT_CONFIG", "GENESYS_SENTIMENT_COMMIT"];

/// A variable meant as a setting but spelled with one underscore after the prefix
/// (`GENESYS_SENTIMENT_GENESYS_CLIENT_ID`): it would be ignored without a word.
fn looks_like_a_setting(var: &str) -> bool {
    var.starts_with(&format!("{ENV_PREFIX}_"))
        && !var.starts_with(&format!("{ENV_PREFIX}__"))
        && !OTHER_VARS.contains(&var)
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
        let env: Vec<(String, String)> = env.into_iter().collect();
        if let Some((var, _)) = env.iter().find(|(k, _)| looks_like_a_setting(k)) {
            let fixed = format!(
                "{ENV_PREFIX}__{}",
                var[ENV_PREFIX.len()..].trim_start_matches('_')
            );
            return Err(ConfigError::invalid(
                var,
                format!(
                    "is not a setting: a setting's variable has two underscores after \
                     {ENV_PREFIX} and between section and key (e.g. {ENV_PREFIX}__GENESYS__CLIENT_ID; \
                     this one would start {fixed})"
                ),
            ));
        }
        let env: HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        let env_keys: Vec<String> = env.keys().map(|var| env_key(var)).collect();
        let from_env = |e: ConfigError| match e {
            ConfigError::Invalid { key, message } if env_keys.contains(&key) => {
                let var = format!("{ENV_PREFIX}__{}", key.to_uppercase().replace('.', "__"));
                ConfigError::Invalid {
                    message: format!("{message} (set by the environment variable {var})"),
                    key,
                }
            }
            other => other,
        };
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
        // Values stay strings (the settings' types convert them): a secret `007` or a
        // 25-digit token must not become a number. Only the list keys are parsed, to split
        // them at commas.
        let (lists, scalars): (HashMap<_, _>, HashMap<_, _>) = env
            .into_iter()
            .partition(|(k, _)| LIST_KEYS.contains(&env_key(k).as_str()));
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(false)
                .source(Some(scalars)),
        );
        // Lists are split here: each item trimmed (`q1, q2` is two ids, not `" q2"`), empty
        // items dropped, so an empty value is the empty list (`adjust_for = []`).
        let prefix = format!("{ENV_PREFIX}__");
        for (var, value) in lists {
            if !var.starts_with(&prefix) {
                continue;
            }
            let items: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect();
            builder = builder
                .set_override(env_key(&var), items)
                .map_err(|e| describe(&e))?;
        }
        let raw = builder.build().map_err(|e| from_env(describe(&e)))?;
        let mut settings: Settings = raw.try_deserialize().map_err(|e| from_env(describe(&e)))?;
        settings.resolve_secret_files()?;
        settings.validate(purpose)?;
        Ok(settings)
    }

    /// Reads every `<secret>_file` into its secret.
    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        resolve_one(
            "server.admin_token",
            &mut self.server.admin_token,
            &self.server.admin_token_file,
        )?;
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
        resolve_one(
            "coaching.auth_header",
            &mut self.coaching.auth_header,
            &self.coaching.auth_header_file,
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
    std::fs::read_to_string(path).map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::PermissionDenied => format!(
                "cannot read {path}: permission denied for uid {}; make the file readable by \
                 the daemon's user (`chown` it, or make it group-readable and add that group; \
                 the container runs as uid 10001)",
                current_uid().map_or_else(|| "?".to_owned(), |u| u.to_string())
            ),
            std::io::ErrorKind::NotFound => format!("cannot read {path}: no such file"),
            _ => format!("cannot read {path}: {e}"),
        };
        ConfigError::invalid(key, what)
    })
}

/// The process's user id (from `/proc/self/status`, so no libc call is needed).
fn current_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// An empty value is allowed (the feature is off or the default applies); anything else must
/// be an http(s) URL with a host.
pub(super) fn check_url(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Ok(());
    }
    let shown = redact_url(value.trim());
    match reqwest::Url::parse(value.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        Ok(url) => Err(ConfigError::invalid(
            key,
            format!(
                "{shown:?} is not an http(s) URL with a host (scheme {:?})",
                url.scheme()
            ),
        )),
        Err(e) => Err(ConfigError::invalid(
            key,
            format!("{shown:?} is not a URL: {e}"),
        )),
    }
}

/// A URL fit to print: a password in it and every query value become `[redacted]` (keys
/// embedded in URLs are secrets too). Text that does not parse as a URL is redacted whole
/// when it contains `@` or `?`.
pub fn redact_url(value: &str) -> String {
    const R: &str = "[redacted]";
    match reqwest::Url::parse(value) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some(R));
            }
            // A user name alone can be the credential (`https://TOKEN@host`).
            if !url.username().is_empty() {
                let _ = url.set_username(R);
            }
            if url.query().is_some() {
                let pairs: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(k, _)| (k.into_owned(), R.to_owned()))
                    .collect();
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            url.to_string().replace("%5Bredacted%5D", R)
        }
        Err(_) if value.contains('@') || value.contains('?') => R.to_owned(),
        Err(_) => value.to_owned(),
    }
}

/// A parser's message without the values it quotes: a TOML error shows the offending line
/// of the file (the `N | …` and caret lines), and serde's type errors quote the string it
/// could not use (`invalid type: string "…"`). Either may be a secret (a token with a `\`,
/// a secret given as a string where a list is expected), and the message goes to stderr,
/// which is logged. Where the error is stays: line and column, the key.
fn without_values(text: &str) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            let t = line.trim_start();
            let gutter = t.trim_start_matches(|c: char| c.is_ascii_digit());
            !(t.starts_with('|') || (gutter.len() < t.len() && gutter.starts_with(" |")))
        })
        .collect();
    let mut out = kept.join("\n");
    for what in [" string \"", " char '"] {
        let quote = what.chars().last().unwrap_or('"');
        while let Some(start) = out.find(what) {
            let value_start = start + what.len();
            // The value ends at the quote before ", expected …" (or the last quote).
            let rest = &out[value_start..];
            let end = rest
                .find(&format!("{quote}, expected"))
                .or_else(|| rest.rfind(quote))
                .unwrap_or(rest.len());
            let after = (value_start + end + quote.len_utf8()).min(out.len());
            out.replace_range(
                start..after,
                &format!("{} (value not shown)", &what[..what.len() - 2]),
            );
        }
    }
    out
}

/// Turns a `config` crate error into one message that names the key.
fn describe(error: &config::ConfigError) -> ConfigError {
    let text = without_values(&error.to_string());
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
