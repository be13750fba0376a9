//! Value types used by the settings: durations written like `15m`, and secrets that
//! never print.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written the way operators write them: `500ms`, `10s`, `15m`, `76h`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Builds a duration from whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// The wrapped [`Duration`].
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl From<Duration> for HumanDuration {
    fn from(value: Duration) -> Self {
        Self(value)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"500ms\", \"10s\", \"15m\", \"76h\" or \"7d\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                humantime::parse_duration(v.trim())
                    .map(HumanDuration)
                    .map_err(|e| {
                        E::custom(format!(
                            "invalid duration {v:?} ({e}); write a number and a unit, such as \"10s\", \"15m\" or \"7d\""
                        ))
                    })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                if v == 0 {
                    Ok(HumanDuration(Duration::ZERO))
                } else {
                    Err(E::custom(format!(
                        "invalid duration {v}: a bare number has no unit; write \"{v}s\" or \"{v}ms\""
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::custom(format!("invalid duration {v}: it is negative"))),
                }
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

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
    fn durations_parse_with_units_and_reject_bare_numbers() {
        let d: HumanDuration = serde_json::from_str("\"15m\"").unwrap();
        assert_eq!(d.get(), Duration::from_secs(900));
        let d: HumanDuration = serde_json::from_str("\"7d\"").unwrap();
        assert_eq!(d.get(), Duration::from_secs(7 * 86_400));
        let err = serde_json::from_str::<HumanDuration>("15").unwrap_err();
        assert!(err.to_string().contains("no unit"), "{err}");
        let err = serde_json::from_str::<HumanDuration>("\"fast\"").unwrap_err();
        assert!(err.to_string().contains("invalid duration"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
        assert_eq!(s.expose(), Some("hunter2"));
        assert!(!Secret::new("").is_set());
    }
}
