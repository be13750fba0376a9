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
