//! Durations written the way operators write them (`500ms`, `10s`, `15m`, `7d`).

use std::fmt;
use std::time::Duration;

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

/// Printed in the largest unit that states it exactly, the way it is configured: `548d`,
/// `76h`, `90s`, `500ms` (never humantime's `1year 6months 2h 38m 24s`, whose years and
/// months are averages).
impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if !d.subsec_nanos().is_multiple_of(1_000_000) {
            return write!(f, "{}", humantime::format_duration(d));
        }
        let ms = d.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ] {
            if ms.is_multiple_of(size) {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
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
    fn durations_print_in_the_largest_exact_unit_and_read_back_equal() {
        for (written, printed) in [
            ("548d", "548d"),
            ("400d", "400d"),
            ("120h", "5d"),
            ("76h", "76h"),
            ("90s", "90s"),
            ("15m", "15m"),
            ("1500ms", "1500ms"),
            ("0s", "0s"),
        ] {
            let d: HumanDuration = serde_json::from_str(&format!("\"{written}\"")).unwrap();
            assert_eq!(d.to_string(), printed, "{written}");
            let back: HumanDuration = serde_json::from_str(&format!("\"{d}\"")).unwrap();
            assert_eq!(back, d, "{written}");
        }
    }
}
