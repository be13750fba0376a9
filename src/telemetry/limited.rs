//! Log lines a peer can cause (a refused webhook) are rate-limited: at most
//! [`LogLimiter::PER_MINUTE`] a minute, then one line saying how many were left out. A
//! flood of bad requests cannot fill the disk through the logs; the metrics count them all.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A per-minute budget of log lines.
#[derive(Debug)]
pub struct LogLimiter {
    state: Mutex<(Instant, u32, u64)>,
}

impl Default for LogLimiter {
    fn default() -> Self {
        LogLimiter {
            state: Mutex::new((Instant::now(), 0, 0)),
        }
    }
}

impl LogLimiter {
    /// Lines allowed per minute.
    pub const PER_MINUTE: u32 = 20;

    /// Whether to log this one; `Some(n)` when allowed, `n` being how many were left out
    /// since the last allowed line.
    pub fn allow(&self) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now.duration_since(s.0) >= Duration::from_secs(60) {
            s.0 = now;
            s.1 = 0;
        }
        if s.1 < Self::PER_MINUTE {
            s.1 += 1;
            Some(std::mem::take(&mut s.2))
        } else {
            s.2 += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_to_the_budget_and_the_rest_counted() {
        let l = LogLimiter::default();
        let allowed = (0..1000).filter(|_| l.allow().is_some()).count();
        assert_eq!(allowed, LogLimiter::PER_MINUTE as usize);
        assert_eq!(
            l.state.lock().unwrap().2,
            1000 - u64::from(LogLimiter::PER_MINUTE)
        );
    }
}
