//! Secrets: values that never print (client secrets, tokens, passwords, signing keys).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret value (client secret, signing key, password).
///
/// It deserializes from a plain string, but its `Debug`, `Display` and `Serialize` forms are
/// always `[redacted]`, so it cannot leak through logs, errors or `check-config`.
#[derive(Clone, Default)]
pub struct Secret(Option<SecretString>);

/// What every secret prints as.
pub const REDACTED: &str = "[redacted]";

impl Secret {
    /// Wraps a value; an empty string counts as "not set".
    pub fn new(value: impl Into<String>) -> Self {
        let value: String = value.into();
        if value.is_empty() {
            Self(None)
        } else {
            Self(Some(SecretString::from(value)))
        }
    }

    /// Whether a non-empty value is present.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The secret itself, for the one place that needs it (a signature, an auth header).
    pub fn expose(&self) -> Option<&str> {
        self.0.as_ref().map(|s| s.expose_secret())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_set() {
            f.write_str(REDACTED)
        } else {
            f.write_str("\"\"")
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.is_set() { REDACTED } else { "" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Ok(Secret::new(value))
    }
}

/// A peer's JSON answer with every string in it cleared of `secrets` (each occurrence
/// becomes [`REDACTED`]): what a peer echoes back (a login host repeating the client
/// secret, an API repeating the `Authorization` header) is logged, shown in `/v1/runs` and
/// journaled for good. Secrets shorter than 4 characters are not looked for. An answer that
/// is not JSON comes back as it was (it is not read as JSON either).
pub fn redact_json(body: &[u8], secrets: &[&str]) -> Vec<u8> {
    let secrets: Vec<&str> = secrets.iter().copied().filter(|s| s.len() >= 4).collect();
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    fn walk(value: &mut serde_json::Value, secrets: &[&str]) {
        match value {
            serde_json::Value::String(s) => {
                for secret in secrets {
                    if s.contains(secret) {
                        *s = s.replace(secret, REDACTED);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| walk(v, secrets)),
            serde_json::Value::Object(map) => {
                map.values_mut().for_each(|v| walk(v, secrets));
            }
            _ => {}
        }
    }
    walk(&mut value, &secrets);
    serde_json::to_vec(&value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
        assert_eq!(s.expose(), Some("hunter2"));
        assert!(!Secret::new("").is_set());
    }
}
