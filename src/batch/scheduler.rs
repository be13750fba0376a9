//! The scheduler: runs a job every `interval`, optionally once at start-up. Runs never
//! overlap (each is awaited before the next tick is taken; ticks missed meanwhile are
//! skipped), a failing or panicking run is logged and retried at the next tick, and the
//! loop ends when `cancel` fires.

use std::future::Future;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// How long a run may take to end itself once cancelled before it is aborted.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Runs `job(run_number)` on the schedule until cancelled. `job` returns `Err(cause)` for
/// a failed run.
pub async fn run_every<F, Fut, E>(
    interval: Duration,
    at_start: bool,
    cancel: CancellationToken,
    mut job: F,
) where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let start = if at_start {
        tokio::time::Instant::now()
    } else {
        tokio::time::Instant::now() + interval
    };
    let mut ticks = tokio::time::interval_at(start, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut run = 0u64;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        run += 1;
        // A spawned task: a panic in the job is contained and reported here.
        let handle = tokio::spawn(job(run));
        let abort = handle.abort_handle();
        tokio::pin!(handle);
        let result = tokio::select! {
            _ = cancel.cancelled() => {
                // A run that watches the same token ends itself (and records that it was
                // interrupted); one that does not is aborted after a grace period.
                if tokio::time::timeout(STOP_GRACE, &mut handle).await.is_err() {
                    abort.abort();
                }
                return;
            }
            r = &mut handle => r,
        };
        match result {
            Ok(Ok(())) => {}
            Ok(Err(cause)) => {
                tracing::error!(run, %cause, "Batch run failed; retrying at the next tick.")
            }
            Err(e) => {
                tracing::error!(run, error = %e, "Batch run panicked; retrying at the next tick.")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn fires_on_the_interval_never_overlaps_and_survives_failures() {
        let cancel = CancellationToken::new();
        let started = Instant::now();
        let starts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicU64::new(0));
        let max_in_flight = Arc::new(AtomicU64::new(0));
        let (s, f, m, c) = (
            starts.clone(),
            in_flight.clone(),
            max_in_flight.clone(),
            cancel.clone(),
        );
        let scheduler = tokio::spawn(run_every(
            Duration::from_secs(60),
            true,
            cancel.clone(),
            move |run| {
                let (s, f, m, c) = (s.clone(), f.clone(), m.clone(), c.clone());
                async move {
                    s.lock().unwrap().push((run, started.elapsed()));
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    // Run 3 takes 150 s, longer than two intervals.
                    let work = if run == 3 { 150 } else { 5 };
                    tokio::time::sleep(Duration::from_secs(work)).await;
                    f.fetch_sub(1, Ordering::SeqCst);
                    if run == 6 {
                        c.cancel();
                    }
                    match run {
                        2 => Err("Genesys said 503".to_owned()),
                        4 => panic!("a bug in a run"),
                        _ => Ok(()),
                    }
                }
            },
        ));
        scheduler.await.unwrap();
        let starts = starts.lock().unwrap().clone();
        let runs: Vec<u64> = starts.iter().map(|(r, _)| *r).collect();
        assert_eq!(
            runs,
            vec![1, 2, 3, 4, 5, 6],
            "failed and panicking runs did not stop it"
        );
        let at: Vec<u64> = starts.iter().map(|(_, t)| t.as_secs()).collect();
        assert_eq!(
            &at[..3],
            &[0, 60, 120],
            "fires on the interval, the first at start-up"
        );
        assert!(at[3] >= 270, "the next run waits for the long one: {at:?}");
        assert_eq!(
            at[4] % 60,
            0,
            "then back on the schedule, missed ticks skipped: {at:?}"
        );
        assert!(at[4] - at[3] <= 60, "{at:?}");
        assert_eq!(
            max_in_flight.load(Ordering::SeqCst),
            1,
            "runs never overlap"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_run_at_startup_the_first_run_waits_one_interval() {
        let cancel = CancellationToken::new();
        let started = Instant::now();
        let first = Arc::new(std::sync::Mutex::new(None));
        let (f, c) = (first.clone(), cancel.clone());
        run_every(Duration::from_secs(900), false, cancel.clone(), move |_| {
            let (f, c) = (f.clone(), c.clone());
            async move {
                *f.lock().unwrap() = Some(started.elapsed());
                c.cancel();
                Ok::<(), String>(())
            }
        })
        .await;
        assert_eq!(first.lock().unwrap().unwrap(), Duration::from_secs(900));
    }
}
