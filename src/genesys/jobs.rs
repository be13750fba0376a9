//! Asynchronous conversation details jobs (docs/genesys-api.md §3): submit, poll with backoff
//! until `FULFILLED`, read results page by page with `cursor` until it is absent, and never
//! ask for data after the datalake's availability date.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::Stream;
use reqwest::Method;
use tokio::time::Instant;

use super::details::DetailsFilter;
use super::models::{
    AnalyticsConversation, AsyncQueryResponse, AsyncQueryResultsPage, AsyncQueryStatus,
    ConversationQuery, DataAvailabilityResponse, Interval,
};
use super::{Endpoint, GenesysClient, GenesysError};

/// Path of the jobs collection.
pub const JOBS_PATH: &str = "/api/v2/analytics/conversations/details/jobs";
/// Path of the availability endpoint.
pub const AVAILABILITY_PATH: &str = "/api/v2/analytics/conversations/details/jobs/availability";

/// Most result pages one job is read for (at `genesys.job_page_size` each: millions of
/// conversations, far more than a run's chunk holds); past it the results count as endless.
pub const MAX_JOB_PAGES: u32 = 10_000;

/// Empty result pages in a row that still carry a cursor, at most.
const MAX_EMPTY_JOB_PAGES: u32 = 3;

/// A submitted job whose interval was clamped to the availability date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmittedJob {
    /// Job id.
    pub job_id: String,
    /// The interval actually asked for (end ≤ availability date).
    pub interval: Interval,
    /// Data before this date is settled; later data was not asked for.
    pub availability: DateTime<Utc>,
    /// Whether the requested end was after the availability date.
    pub clamped: bool,
}

impl GenesysClient {
    /// The date before which job data is guaranteed complete, at most now.
    ///
    /// # Errors
    /// Any [`GenesysError`]; a missing date, or one more than five minutes ahead of this
    /// machine's clock (a clock or a proxy gone wrong: days still taking conversations would
    /// be settled, and a settled day is never listed again), is a decode error. The batch
    /// then settles no day.
    pub async fn details_availability(&self) -> Result<DateTime<Utc>, GenesysError> {
        let r: DataAvailabilityResponse = self
            .send_json(
                Endpoint::JobAvailability,
                Method::GET,
                AVAILABILITY_PATH,
                &[],
                None::<&()>,
            )
            .await?;
        let date = r
            .data_availability_date
            .ok_or_else(|| GenesysError::Decode {
                endpoint: Endpoint::JobAvailability,
                message: "no dataAvailabilityDate in the answer".into(),
            })?;
        // Genesys's date trails now by minutes to hours; one ahead of this machine's clock by
        // more than a small skew cannot be trusted to say what has settled.
        let now = Utc::now();
        if date > now + chrono::TimeDelta::minutes(5) {
            return Err(GenesysError::Decode {
                endpoint: Endpoint::JobAvailability,
                message: format!(
                    "dataAvailabilityDate {} lies in the future (this machine's clock says {}); no day is taken as settled",
                    super::models::time_format::format(&date),
                    super::models::time_format::format(&now)
                ),
            });
        }
        Ok(date.min(now))
    }

    /// Submits a job for `interval`, clamped to the availability date.
    ///
    /// # Errors
    /// [`GenesysError::InvalidQuery`] when nothing in the interval is available yet; any
    /// request error.
    pub async fn submit_details_job(
        &self,
        interval: Interval,
        filter: &DetailsFilter,
    ) -> Result<SubmittedJob, GenesysError> {
        let g = &self.settings().genesys;
        super::details::validate_interval(interval, g.retention.get(), Utc::now())?;
        let availability = self.details_availability().await?;
        self.submit_settled_job(interval, filter, availability)
            .await
    }

    /// Submits a job for `interval` clamped to `availability` (the data availability date
    /// just read).
    ///
    /// # Errors
    /// [`GenesysError::InvalidQuery`] when nothing in the interval is available yet; any
    /// request error.
    pub(crate) async fn submit_settled_job(
        &self,
        interval: Interval,
        filter: &DetailsFilter,
        availability: DateTime<Utc>,
    ) -> Result<SubmittedJob, GenesysError> {
        if interval.start >= availability {
            return Err(GenesysError::InvalidQuery(format!(
                "interval {interval} starts after the data availability date {}; jobs only \
                 serve settled data, use the synchronous query for recent conversations",
                super::models::time_format::format(&availability)
            )));
        }
        let clamped = interval.end > availability;
        let interval = Interval::new(interval.start, interval.end.min(availability));
        let body = ConversationQuery {
            interval: Some(interval),
            order: Some("asc".into()),
            order_by: Some("conversationStart".into()),
            conversation_filters: filter.conversation_filters(),
            segment_filters: filter.segment_filters(),
            ..Default::default()
        };
        let r: AsyncQueryResponse = self
            .send_json(
                Endpoint::JobSubmit,
                Method::POST,
                JOBS_PATH,
                &[],
                Some(&body),
            )
            .await?;
        tracing::info!(job_id = %r.job_id, %interval, clamped, "Submitted an analytics details job.");
        Ok(SubmittedJob {
            job_id: r.job_id,
            interval,
            availability,
            clamped,
        })
    }

    /// The job's current status.
    ///
    /// # Errors
    /// Any [`GenesysError`].
    pub async fn details_job_status(&self, job_id: &str) -> Result<AsyncQueryStatus, GenesysError> {
        let path = format!("{JOBS_PATH}/{}", GenesysClient::segment(job_id));
        self.send_json(Endpoint::JobStatus, Method::GET, &path, &[], None::<&()>)
            .await
    }

    /// Cancels a job (`DELETE …/jobs/{jobId}`), best effort: a failure is logged, the job
    /// then ends at its `expirationDate`.
    pub async fn cancel_details_job(&self, job_id: &str) {
        let path = format!("{JOBS_PATH}/{}", GenesysClient::segment(job_id));
        match self
            .execute(Endpoint::JobCancel, Method::DELETE, &path, &[], None)
            .await
        {
            Ok(_) => tracing::info!(
                job_id = %crate::domain::printable(job_id, 100),
                "Cancelled an analytics details job given up on."
            ),
            Err(error) => tracing::warn!(
                job_id = %crate::domain::printable(job_id, 100),
                %error,
                "Could not cancel an analytics details job given up on; it ends when it expires."
            ),
        }
    }

    /// Waits, at most `within`, for the deletions of jobs given up on that are still being
    /// sent: a one-shot command calls it before it exits, which would abort them.
    pub async fn settle(&self, within: Duration) {
        let tracker = &self.inner.cancellations;
        tracker.close();
        if tokio::time::timeout(within, tracker.wait()).await.is_err() {
            tracing::warn!(
                within = ?within,
                "Deleting an analytics details job given up on is taking too long; it ends when it expires."
            );
        }
        tracker.reopen();
    }

    /// Polls until the job is `FULFILLED`, waiting `job_poll_min`, doubling up to
    /// `job_poll_max`, for at most `job_timeout` (a job still running then is cancelled).
    ///
    /// # Errors
    /// [`GenesysError::Job`] for `FAILED`, `CANCELLED`, `EXPIRED` (with Genesys's message)
    /// or a timeout; request errors.
    pub async fn wait_for_job(&self, job_id: &str) -> Result<AsyncQueryStatus, GenesysError> {
        let g = &self.settings().genesys;
        let deadline = Instant::now() + g.job_timeout.get();
        let mut wait = g.job_poll_min.get();
        // Until it is fulfilled or over: a status error or a stopped run deletes it.
        let mut guard = JobGuard::new(self.clone(), job_id.to_owned());
        loop {
            let status = self.details_job_status(job_id).await?;
            match status.state.as_str() {
                "FULFILLED" => {
                    guard.disarm();
                    return Ok(status);
                }
                "QUEUED" | "PENDING" => {}
                other => {
                    guard.disarm();
                    if !matches!(other, "FAILED" | "CANCELLED" | "EXPIRED") {
                        // A state this build does not know (RUNNING, say) may be a job
                        // still at work: given up on, so cancelled like a timed-out one.
                        self.cancel_details_job(job_id).await;
                    }
                    // Peer text, bound for logs and the run's record: escaped and cut.
                    return Err(GenesysError::Job {
                        job_id: crate::domain::printable(job_id, 100),
                        state: crate::domain::printable(other, 40),
                        message: status
                            .error_message
                            .map(|m| crate::domain::printable(&m, 500)),
                    });
                }
            }
            if Instant::now() + wait > deadline {
                // Given up on: cancelled, so it stops counting against the org's jobs.
                guard.disarm();
                self.cancel_details_job(job_id).await;
                return Err(GenesysError::Job {
                    job_id: job_id.to_owned(),
                    state: "TIMEOUT".into(),
                    message: Some(format!(
                        "still {} after genesys.job_timeout ({:?})",
                        crate::domain::printable(&status.state, 40),
                        g.job_timeout.get()
                    )),
                });
            }
            tracing::debug!(job_id, state = %status.state, wait = ?wait, "Analytics job not ready.");
            tokio::time::sleep(wait).await;
            wait = (wait * 2)
                .min(g.job_poll_max.get())
                .max(Duration::from_millis(1));
        }
    }

    /// One page of a fulfilled job's results.
    ///
    /// # Errors
    /// Any [`GenesysError`].
    pub async fn details_job_page(
        &self,
        job_id: &str,
        cursor: Option<&str>,
    ) -> Result<AsyncQueryResultsPage, GenesysError> {
        let path = format!("{JOBS_PATH}/{}/results", GenesysClient::segment(job_id));
        // Always send pageSize explicitly (the Go SDK sends 0 otherwise, §3).
        let mut query = vec![(
            "pageSize",
            self.settings().genesys.job_page_size.to_string(),
        )];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_owned()));
        }
        self.send_json(
            Endpoint::JobResults,
            Method::GET,
            &path,
            &query,
            None::<&()>,
        )
        .await
    }

    /// Every conversation of a fulfilled job, following `cursor` until it is absent (an
    /// error when the results do not end: see [`MAX_JOB_PAGES`]).
    pub fn details_job_results(
        &self,
        job_id: String,
    ) -> impl Stream<Item = Result<AnalyticsConversation, GenesysError>> + Send + 'static {
        struct State {
            client: GenesysClient,
            job_id: String,
            /// Deletes the job when the results are given up on (an error, endless pages,
            /// the run stopped).
            guard: JobGuard,
            cursor: Option<String>,
            started: bool,
            pages: u32,
            empty_in_a_row: u32,
            /// Digests of the cursors already followed (a cycle A, B, A… never ends).
            cursors: std::collections::HashSet<u128>,
            buffer: std::collections::VecDeque<AnalyticsConversation>,
        }
        impl State {
            /// Marks every page read (the job is not deleted when the state goes).
            fn finish(&mut self) {
                self.guard.disarm();
            }
        }
        let state = State {
            client: self.clone(),
            guard: JobGuard::new(self.clone(), job_id.clone()),
            job_id,
            cursor: None,
            started: false,
            pages: 0,
            empty_in_a_row: 0,
            cursors: Default::default(),
            buffer: Default::default(),
        };
        futures_util::stream::try_unfold(state, |mut s| async move {
            loop {
                if let Some(c) = s.buffer.pop_front() {
                    return Ok(Some((c, s)));
                }
                if s.started && s.cursor.is_none() {
                    s.finish();
                    return Ok(None);
                }
                let page = s
                    .client
                    .details_job_page(&s.job_id, s.cursor.as_deref())
                    .await?;
                s.started = true;
                s.pages += 1;
                let next = page.cursor.filter(|c| !c.is_empty());
                let page_sent = page.conversations.unwrap_or_default();
                s.client.set_aside(
                    Endpoint::JobResults,
                    page_sent.items.len(),
                    &page_sent.malformed,
                    s.client.settings().genesys.job_page_size as usize,
                )?;
                s.empty_in_a_row = if page_sent.items.is_empty() && next.is_some() {
                    s.empty_in_a_row + 1
                } else {
                    0
                };
                // A cursor already followed (the same again, or a cycle), pages that stay
                // empty, or more pages than a job can hold: the listing would never end.
                let stuck = next
                    .as_deref()
                    .is_some_and(|c| !s.cursors.insert(crate::domain::events::key_digest(c)));
                if stuck || s.empty_in_a_row > MAX_EMPTY_JOB_PAGES || s.pages > MAX_JOB_PAGES {
                    return Err(GenesysError::Job {
                        job_id: s.job_id.clone(),
                        state: "ENDLESS_RESULTS".to_owned(),
                        message: Some(format!(
                            "the results did not end after {} pages ({}); the job is not trusted, and the run retries it",
                            s.pages,
                            if stuck {
                                "a cursor already followed"
                            } else if s.empty_in_a_row > MAX_EMPTY_JOB_PAGES {
                                "empty pages with a cursor"
                            } else {
                                "more pages than a job holds"
                            }
                        )),
                    });
                }
                s.cursor = next;
                s.buffer.extend(page_sent.items);
            }
        })
    }
}

/// A job still wanted: dropped while armed (an error, a stopped run, results given up on),
/// it deletes the job, so it does not hold one of the org's concurrent jobs until it
/// expires. The deletion is sent in the background (a drop cannot wait), tracked so that a
/// one-shot command can wait for it ([`GenesysClient::settle`]).
struct JobGuard {
    client: GenesysClient,
    job_id: String,
    armed: bool,
}

impl JobGuard {
    fn new(client: GenesysClient, job_id: String) -> JobGuard {
        JobGuard {
            client,
            job_id,
            armed: true,
        }
    }

    /// The job is over, or its results were read to the end: nothing to delete.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            let job_id = std::mem::take(&mut self.job_id);
            let tracker = self.client.inner.cancellations.clone();
            tracker.spawn_on(
                async move { client.cancel_details_job(&job_id).await },
                &runtime,
            );
        }
    }
}
