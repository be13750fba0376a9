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
    /// replaces the jittered backoff.
    pub fn next_wait(
        &self,
        attempt: u32,
        elapsed: Duration,
        server_wait: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let wait = server_wait.unwrap_or_else(|| self.backoff(attempt));
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

/// Parses `Retry-After`: delta seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
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
}
