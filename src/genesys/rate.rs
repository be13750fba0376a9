//! One request budget per client, shared by every task that uses it.
//!
//! A sliding-window log: no window of `window` length ever holds more than `limit` grants,
//! which also keeps every fixed window Genesys may count in under the limit. The budget
//! also obeys pauses (a 429's `Retry-After`) and the server's `inin-ratelimit-*` headers
//! (docs/genesys-api.md §5.1, §5.2).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Who a request is for: the batch may use only part of the budget, so real-time work
/// (webhook enrichment and attribution, name lookups) always finds some left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// The scheduled batch and one-shot pulls: at most `1 − realtime_share` of the limit.
    #[default]
    Batch,
    /// Real-time work: the whole limit.
    Realtime,
}

/// The shared request budget.
#[derive(Debug)]
pub struct RateBudget {
    window: Duration,
    headroom: f64,
    realtime_share: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    configured: usize,
    limit: usize,
    granted: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

/// The server's view from `inin-ratelimit-count` / `-allowed` / `-reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRateView {
    /// Requests counted in the server's current window.
    pub count: u64,
    /// Requests allowed per window.
    pub allowed: u64,
    /// Seconds until the server's window resets.
    pub reset_secs: u64,
}

impl ServerRateView {
    /// Reads the three headers; `None` unless all are present and numeric.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<ServerRateView> {
        let num =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        Some(ServerRateView {
            count: num("inin-ratelimit-count")?,
            allowed: num("inin-ratelimit-allowed")?,
            reset_secs: num("inin-ratelimit-reset")?,
        })
    }
}

impl RateBudget {
    /// `limit` grants per `window`; `headroom` is the fraction of the server's allowance
    /// kept in reserve when the server reports more use than this budget made;
    /// `realtime_share` of the limit is never granted to [`Priority::Batch`].
    pub fn new(limit: u32, window: Duration, headroom: f64, realtime_share: f64) -> RateBudget {
        let limit = limit.max(1) as usize;
        RateBudget {
            window,
            headroom,
            realtime_share: realtime_share.clamp(0.0, 0.9),
            state: Mutex::new(State {
                configured: limit,
                limit,
                granted: VecDeque::with_capacity(limit),
                paused_until: None,
            }),
        }
    }

    /// The most grants `priority` may hold in one window.
    fn cap(&self, limit: usize, priority: Priority) -> usize {
        match priority {
            Priority::Realtime => limit,
            Priority::Batch => {
                let reserve = (limit as f64 * self.realtime_share).ceil() as usize;
                limit.saturating_sub(reserve).max(1)
            }
        }
    }

    /// Waits for a grant for `priority` and records it.
    ///
    /// # Cancel safety
    /// Cancel-safe: nothing is recorded until the grant is returned.
    pub async fn acquire(&self, priority: Priority) -> Instant {
        loop {
            let wait_until = {
                let mut s = self.lock();
                let now = Instant::now();
                while s.granted.front().is_some_and(|t| *t + self.window <= now) {
                    s.granted.pop_front();
                }
                match s.paused_until {
                    Some(until) if until > now => until,
                    _ => {
                        s.paused_until = None;
                        let cap = self.cap(s.limit, priority);
                        if s.granted.len() < cap {
                            s.granted.push_back(now);
                            return now;
                        }
                        // When enough of the oldest grants have left the window.
                        s.granted[s.granted.len() - cap] + self.window
                    }
                }
            };
            tokio::time::sleep_until(wait_until).await;
        }
    }

    /// The state; a panic elsewhere while it was held leaves it usable (every update to it
    /// is a single assignment, so it is never half-written).
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops every grant until `duration` from now (a 429's `Retry-After`, capped by the
    /// caller); a duration past what an `Instant` can hold pauses for a day.
    pub fn pause_for(&self, duration: Duration) {
        let now = Instant::now();
        let until = now
            .checked_add(duration)
            .unwrap_or(now + Duration::from_secs(86_400));
        let mut s = self.lock();
        if s.paused_until.is_none_or(|p| p < until) {
            s.paused_until = Some(until);
        }
    }

    /// Takes the server's counters into account: adopt a lower server allowance, and when
    /// the server has counted more than this budget granted (another consumer of the same
    /// OAuth client), stop short of the server's limit until its window resets.
    pub fn observe(&self, view: ServerRateView) {
        if view.allowed == 0 {
            return;
        }
        let mut s = self.lock();
        let allowed = usize::try_from(view.allowed).unwrap_or(usize::MAX);
        s.limit = s.configured.min(allowed);
        let now = Instant::now();
        let ours = s.granted.iter().filter(|t| **t + self.window > now).count() as u64;
        let reserve = ((view.allowed as f64) * self.headroom).ceil().max(1.0) as u64;
        if view.count > ours && view.count.saturating_add(reserve) >= view.allowed {
            // The server's window resets within one of ours; a later reset is not believed
            // (a peer's header must not pause every Genesys call for longer).
            let reset = view.reset_secs.clamp(1, self.window.as_secs().max(1));
            let until = now + Duration::from_secs(reset);
            if s.paused_until.is_none_or(|p| p < until) {
                tracing::info!(
                    count = view.count,
                    allowed = view.allowed,
                    reset = view.reset_secs,
                    "Genesys reports the rate limit nearly used by other consumers; pausing until it resets."
                );
                s.paused_until = Some(until);
            }
        }
    }

    /// The limit currently enforced.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_batch_leaves_the_realtime_share_free() {
        let budget = RateBudget::new(100, Duration::from_secs(60), 0.1, 0.3);
        let start = Instant::now();
        for _ in 0..70 {
            budget.acquire(Priority::Batch).await;
        }
        assert!(
            Instant::now() - start < Duration::from_secs(1),
            "70 batch grants at once"
        );
        // The 71st batch grant waits for the window; real-time ones do not.
        for _ in 0..30 {
            let at = budget.acquire(Priority::Realtime).await;
            assert!(at - start < Duration::from_secs(1), "the reserve is there");
        }
        let at = budget.acquire(Priority::Batch).await;
        assert!(at - start >= Duration::from_secs(60), "{:?}", at - start);
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_holds_more_than_the_limit() {
        let budget = std::sync::Arc::new(RateBudget::new(60, Duration::from_secs(60), 0.1, 0.0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..150 {
            let b = budget.clone();
            tasks.push(tokio::spawn(
                async move { b.acquire(Priority::Batch).await },
            ));
        }
        let mut grants = Vec::new();
        for t in tasks {
            grants.push(t.await.unwrap());
        }
        grants.sort();
        for (i, g) in grants.iter().enumerate() {
            let in_window = grants[i..]
                .iter()
                .take_while(|t| **t < *g + Duration::from_secs(60))
                .count();
            assert!(
                in_window <= 60,
                "{in_window} grants within 60 s of grant {i}"
            );
        }
        assert!(grants[149] - start >= Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller() {
        let budget = RateBudget::new(100, Duration::from_secs(60), 0.1, 0.0);
        let start = Instant::now();
        budget.pause_for(Duration::from_secs(7));
        let granted = budget.acquire(Priority::Batch).await;
        assert!(granted - start >= Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn server_counts_from_other_consumers_slow_us_down() {
        let budget = RateBudget::new(300, Duration::from_secs(60), 0.1, 0.0);
        let start = Instant::now();
        budget.acquire(Priority::Batch).await;
        budget.observe(ServerRateView {
            count: 10,
            allowed: 300,
            reset_secs: 30,
        });
        assert!(
            budget.acquire(Priority::Batch).await - start < Duration::from_secs(1),
            "plenty left: no pause"
        );
        budget.observe(ServerRateView {
            count: 280,
            allowed: 300,
            reset_secs: 30,
        });
        assert!(
            budget.acquire(Priority::Batch).await - start >= Duration::from_secs(30),
            "pauses until reset"
        );
        budget.observe(ServerRateView {
            count: 1,
            allowed: 100,
            reset_secs: 60,
        });
        assert_eq!(budget.limit(), 100, "a lower server allowance is adopted");
    }

    #[tokio::test(start_paused = true)]
    async fn a_servers_absurd_counters_pause_for_one_window_at_most_and_never_panic() {
        let budget = RateBudget::new(300, Duration::from_secs(60), 0.1, 0.0);
        let start = Instant::now();
        budget.observe(ServerRateView {
            count: u64::MAX,
            allowed: u64::MAX,
            reset_secs: u64::MAX,
        });
        let granted = budget.acquire(Priority::Batch).await - start;
        assert!(
            granted >= Duration::from_secs(60) && granted <= Duration::from_secs(61),
            "paused for the window, not for ever: {granted:?}"
        );
        // A Retry-After past what an Instant holds pauses, and grants resume.
        budget.pause_for(Duration::MAX);
        let again = budget.acquire(Priority::Batch).await - start;
        assert!(again >= Duration::from_secs(86_400), "{again:?}");
    }
}
