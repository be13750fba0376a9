//! Retry timing: exponential backoff with full jitter, `Retry-After` parsing, and the
//! attempt and total-time bounds. Shared by the Genesys client and the coaching forwarder
//! (docs/genesys-api.md §5.2, §5.4). Pure: it computes waits, it never sleeps.

use std::time::{Duration, SystemTime};

use rand::RngExt;

/// When to retry and how long to wait.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Most attempts, the first included.
    pub max_attempts: u32,
    /// Most total time.
    pub max_total: Duration,
    /// First backoff ceiling.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub cap: Duration,
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` after `attempt` attempts and `elapsed` time, or
    /// `None` when the attempt or time bound is reached. `server_wait` (a `Retry-After`)
    /// is the least it waits: a peer answering `Retry-After: 0` (or a date in the past) to
    /// every attempt still gets the growing backoff, instead of the attempts running out in
    /// a tight loop.
    pub fn next_wait(
        &self,
        attempt: u32,
        elapsed: Duration,
        server_wait: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let backoff = self.backoff(attempt);
        let wait = server_wait.map_or(backoff, |server| server.max(backoff));
        (elapsed + wait <= self.max_total).then_some(wait)
    }

    /// Full jitter: uniform in `[0, min(cap, base · 2^(attempt-1))]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let ceiling = exp.min(self.cap);
        if ceiling.is_zero() {
            return Duration::ZERO;
        }
        let nanos = rand::rng().random_range(0..=ceiling.as_nanos().min(u64::MAX as u128) as u64);
        Duration::from_nanos(nanos)
    }
}

/// The longest `Retry-After` taken from a peer: anything longer (up to `1e20` or an HTTP
/// date in year 9999) counts as this long, which is beyond every configured cap. It keeps
/// all arithmetic on the value (instants, sums) far from overflowing.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(366 * 86_400);

/// Parses `Retry-After`: delta seconds or an HTTP date (RFC 9110 §10.2.3). Never panics: a
/// negative, non-finite or unreadable value is `None`, a huge one [`RETRY_AFTER_MAX`].
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.len() > 64 {
        return None;
    }
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(RETRY_AFTER_MAX));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(
            Duration::try_from_secs_f64(secs)
                .unwrap_or(RETRY_AFTER_MAX)
                .min(RETRY_AFTER_MAX),
        );
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(RETRY_AFTER_MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("42"), Some(Duration::from_secs(42)));
        let soon = SystemTime::now() + Duration::from_secs(90);
        let parsed = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(
            parsed <= Duration::from_secs(90) && parsed >= Duration::from_secs(88),
            "{parsed:?}"
        );
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(10));
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn a_hostile_retry_after_never_panics_and_is_capped() {
        for v in [
            "1e20",
            "18446744073709551615",
            "1e308",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_retry_after(v), Some(RETRY_AFTER_MAX), "{v}");
        }
        for v in [
            "-1",
            "NaN",
            "inf",
            "-inf",
            "",
            "1e",
            "9".repeat(100).as_str(),
        ] {
            assert_eq!(parse_retry_after(v), None, "{v}");
        }
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(RETRY_AFTER_MAX)
        );
        assert_eq!(parse_retry_after("2.5"), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn backoff_is_bounded_by_the_cap_and_attempts_and_time_are_bounded() {
        let p = RetryPolicy {
            max_attempts: 4,
            max_total: Duration::from_secs(10),
            base: Duration::from_millis(100),
            cap: Duration::from_millis(300),
        };
        for attempt in 1..10 {
            assert!(p.backoff(attempt) <= Duration::from_millis(300));
        }
        assert!(p.next_wait(3, Duration::ZERO, None).is_some());
        assert!(
            p.next_wait(4, Duration::ZERO, None).is_none(),
            "attempt bound"
        );
        assert!(
            p.next_wait(1, Duration::from_secs(9), Some(Duration::from_secs(2)))
                .is_none(),
            "time bound"
        );
        assert_eq!(
            p.next_wait(1, Duration::ZERO, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_retry_after_of_zero_does_not_turn_the_backoff_into_a_tight_loop() {
        // The coaching defaults: 1 s growing to 10 minutes.
        let p = RetryPolicy {
            max_attempts: 100,
            max_total: Duration::from_secs(72 * 3600),
            base: Duration::from_secs(1),
            cap: Duration::from_secs(600),
        };
        // Late in the schedule the ceiling is 10 minutes: twenty draws (uniform up to it)
        // average about 5 minutes, and a mean under one is as good as impossible.
        let total: Duration = (0..20)
            .map(|_| {
                p.next_wait(30, Duration::ZERO, Some(Duration::ZERO))
                    .unwrap()
            })
            .sum();
        assert!(total / 20 > Duration::from_secs(60), "{:?}", total / 20);
        // A longer Retry-After is still honoured in full.
        let asked = Duration::from_secs(900);
        assert!(p.next_wait(30, Duration::ZERO, Some(asked)).unwrap() >= asked);
    }
}
