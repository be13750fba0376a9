//! The Genesys Cloud client: the daemon's one way to talk to Genesys, shared by the batch
//! task and the webhook path.
//!
//! One client = one token cache, one rate budget, one retry policy. Every request goes
//! through [`GenesysClient::execute`]: take a token, take a grant from the budget, send,
//! then classify the answer (401 → one refresh and one retry; 429 → pause everyone for
//! `Retry-After`; 5xx except 501, timeouts and connection errors → backoff with full
//! jitter; other 4xx → typed error). `docs/genesys-api.md` is the contract; the
//! sections are cited where a choice depends on it.

pub mod aggregates;
pub mod auth;
pub mod body;
pub mod conversation;
pub mod details;
pub mod endpoint;
pub mod error;
pub mod jobs;
pub mod models;
pub mod names;
pub mod rate;
pub mod sta;
pub mod topics;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::config::GenesysSettings;
use crate::domain::ScoreScale;
use crate::telemetry::metrics::Metrics;

pub use endpoint::Endpoint;
pub use error::{ApiFailure, ErrorBody, ErrorKind, GenesysError};
pub use models::Interval;

use crate::domain::region;
use crate::domain::retry::{RetryPolicy, parse_retry_after};
use auth::{AccessToken, TokenCache, TokenSettings};
pub use rate::Priority;
use rate::{RateBudget, ServerRateView};

/// Settings the client needs, resolved from [`GenesysSettings`].
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// API base URL.
    pub api_base: Url,
    /// Token endpoint URL.
    pub token_url: Url,
    /// The raw settings (page sizes, scales, retention, …).
    pub genesys: GenesysSettings,
}

impl ClientSettings {
    /// Resolves the region and the overrides: `base_url` replaces the region's API host;
    /// `login_url` replaces the login host, which otherwise is the API host with `//api.`
    /// replaced by `//login.` (docs/genesys-api.md §1.1), or the base URL itself when it has no `api.` host
    /// (the emulator serves both).
    ///
    /// # Errors
    /// [`GenesysError::InvalidQuery`] for an unknown region or unparseable URL (config
    /// validation normally catches these first).
    pub fn resolve(genesys: &GenesysSettings) -> Result<ClientSettings, GenesysError> {
        let region = genesys.region;
        let api = if genesys.base_url.trim().is_empty() {
            region.api_base.to_owned()
        } else {
            genesys.base_url.trim().trim_end_matches('/').to_owned()
        };
        let login = if !genesys.login_url.trim().is_empty() {
            genesys.login_url.trim().trim_end_matches('/').to_owned()
        } else if api.contains("//api.") {
            region::login_base_for(&api)
        } else {
            api.clone()
        };
        let parse = |s: &str| {
            Url::parse(s).map_err(|e| GenesysError::InvalidQuery(format!("bad URL {s:?}: {e}")))
        };
        Ok(ClientSettings {
            api_base: parse(&api)?,
            token_url: parse(&format!("{login}/oauth/token"))?,
            genesys: genesys.clone(),
        })
    }
}

/// Counters a caller can snapshot to report what a job cost.
#[derive(Debug, Default)]
pub struct RequestStats {
    requests: AtomicU64,
    rate_limited: AtomicU64,
    /// Records set aside because they did not decode.
    set_aside: AtomicU64,
}

/// Smallest full page whose malformed majority fails the answer.
pub const MIN_PAGE_TO_TRUST: usize = 3;

/// A snapshot of [`RequestStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// API requests sent (token requests excluded).
    pub requests: u64,
    /// 429 answers received.
    pub rate_limited: u64,
}

impl StatsSnapshot {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests - earlier.requests,
            rate_limited: self.rate_limited - earlier.rate_limited,
        }
    }
}

/// The shared Genesys Cloud client. Cheap to clone; [`GenesysClient::realtime`] gives a
/// handle to the same client whose requests may use the budget's real-time reserve.
#[derive(Clone, Debug)]
pub struct GenesysClient {
    inner: Arc<Inner>,
    priority: Priority,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    settings: ClientSettings,
    tokens: TokenCache,
    budget: RateBudget,
    retry: RetryPolicy,
    metrics: Metrics,
    stats: RequestStats,
    /// Deletions of jobs given up on, still being sent (see [`GenesysClient::settle`]).
    cancellations: tokio_util::task::TaskTracker,
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl GenesysClient {
    /// Builds a client from the `[genesys]` settings.
    ///
    /// # Errors
    /// [`GenesysError::InvalidQuery`] when the region or URLs do not resolve.
    pub fn new(genesys: &GenesysSettings, metrics: Metrics) -> Result<GenesysClient, GenesysError> {
        let settings = ClientSettings::resolve(genesys)?;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("genesys-sentiment/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the bearer token elsewhere; Genesys does not send them.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(genesys.connect_timeout.get())
            .pool_idle_timeout(Duration::from_secs(90));
        if !genesys.request_timeout.get().is_zero() {
            builder = builder.timeout(genesys.request_timeout.get());
        } else {
            // Without a request timeout nothing needs the idle reaper's timer either; this
            // keeps paused-clock tests free of timers that are not the client's own.
            builder = builder.pool_idle_timeout(None);
        }
        let http = builder
            .build()
            .map_err(|e| GenesysError::InvalidQuery(format!("cannot build HTTP client: {e}")))?;
        let retry = RetryPolicy {
            max_attempts: genesys.max_attempts.get(),
            max_total: genesys.max_retry_time.get(),
            base: genesys.backoff_base.get(),
            cap: genesys.backoff_cap.get(),
        };
        let tokens = TokenCache::new(
            http.clone(),
            TokenSettings {
                token_url: settings.token_url.clone(),
                client_id: genesys.client_id.clone(),
                client_secret: genesys.client_secret.clone(),
                skew: genesys.token_refresh_skew.get(),
                default_lifetime: genesys.default_token_lifetime.get(),
            },
            retry,
            metrics.clone(),
        );
        // The request counter exists from the start for every endpoint (status 200 at 0),
        // so dashboards and `rate()` see the series before the first request.
        for endpoint in Endpoint::ALL {
            let _ =
                metrics
                    .genesys_requests
                    .get_or_create(&crate::telemetry::metrics::RequestLabels {
                        endpoint: endpoint.label(),
                        status: "200".to_owned(),
                    });
        }
        let budget = RateBudget::new(
            genesys.requests_per_minute.get(),
            Duration::from_secs(60),
            genesys.rate_headroom,
            genesys.realtime_share,
        );
        Ok(GenesysClient {
            inner: Arc::new(Inner {
                http,
                settings,
                tokens,
                budget,
                retry,
                metrics,
                stats: RequestStats::default(),
                cancellations: tokio_util::task::TaskTracker::new(),
            }),
            priority: Priority::Batch,
        })
    }

    /// The same client (token cache, budget, counters) for real-time work: its requests may
    /// use the share of the budget the batch leaves free (`genesys.realtime_share`).
    pub fn realtime(&self) -> GenesysClient {
        GenesysClient {
            inner: self.inner.clone(),
            priority: Priority::Realtime,
        }
    }

    /// Reports the items of an answer from `endpoint` that did not decode and were set aside:
    /// one warning an answer (naming the first few), counted per endpoint.
    ///
    /// # Errors
    /// [`GenesysError::Decode`] when most of a full page (`page_size` items, at least
    /// [`MIN_PAGE_TO_TRUST`]) did not decode: that is a change of shape (a new Genesys field
    /// type, a proxy rewriting answers), not a few bad records. A short page (a day's last)
    /// never fails this way, so where a few bad records happen to fall cannot stop a run.
    pub(crate) fn set_aside(
        &self,
        endpoint: Endpoint,
        decoded: usize,
        malformed: &[String],
        page_size: usize,
    ) -> Result<(), GenesysError> {
        if malformed.is_empty() {
            return Ok(());
        }
        let full = decoded + malformed.len() >= page_size.max(MIN_PAGE_TO_TRUST);
        if full && malformed.len() > decoded {
            return Err(GenesysError::Decode {
                endpoint,
                message: format!(
                    "{} of the {} conversations in the answer did not decode (first: {}); has the answer's shape changed?",
                    malformed.len(),
                    malformed.len() + decoded,
                    malformed[0]
                ),
            });
        }
        self.inner
            .stats
            .set_aside
            .fetch_add(malformed.len() as u64, Ordering::Relaxed);
        self.inner
            .metrics
            .genesys_malformed_records
            .get_or_create(&crate::telemetry::metrics::EndpointLabel {
                endpoint: endpoint.label(),
            })
            .inc_by(malformed.len() as u64);
        tracing::warn!(
            endpoint = endpoint.label(),
            count = malformed.len(),
            first = %malformed.iter().take(3).cloned().collect::<Vec<_>>().join("; "),
            "Genesys sent records this build cannot read; they are left out (counted in genesys_sentiment_genesys_malformed_records_total), the rest of the answer is used, and their day is listed again at the next run."
        );
        Ok(())
    }

    /// How many records have been set aside so far ([`GenesysClient::set_aside`]).
    pub fn set_aside_so_far(&self) -> u64 {
        self.inner.stats.set_aside.load(Ordering::Relaxed)
    }

    /// The resolved settings.
    pub fn settings(&self) -> &ClientSettings {
        &self.inner.settings
    }

    /// The API base URL.
    pub fn api_base(&self) -> &Url {
        &self.inner.settings.api_base
    }

    /// The shared token cache.
    pub fn tokens(&self) -> &TokenCache {
        &self.inner.tokens
    }

    /// The shared rate budget.
    pub fn budget(&self) -> &RateBudget {
        &self.inner.budget
    }

    /// Scale of STA scores and sentiment events (`genesys.sentiment_scale`).
    pub fn sentiment_scale(&self) -> ScoreScale {
        self.inner.settings.genesys.sentiment_scale
    }

    /// Counters since the client was built.
    pub fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.inner.stats.requests.load(Ordering::Relaxed),
            rate_limited: self.inner.stats.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// An id as one URL path segment: everything but unreserved characters percent-encoded,
    /// so an id can never add segments (`../`) or a query to the path it is put into.
    pub fn segment(id: &str) -> String {
        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
        const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~');
        utf8_percent_encode(id, SEGMENT).to_string()
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.inner.settings.api_base.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url
    }

    /// Sends a JSON request and decodes a JSON answer. A 2xx body that does not decode
    /// (truncated in transit) is fetched again, within the same attempt and time bounds,
    /// except a job submission's (the job exists: asking again would submit another).
    ///
    /// # Errors
    /// Any [`GenesysError`] from [`GenesysClient::execute`], or a decode error.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
    ) -> Result<T, GenesysError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| GenesysError::InvalidQuery(format!("cannot encode request: {e}")))?
            .map(Bytes::from);
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = self
                .execute(endpoint, method.clone(), path, query, body.clone())
                .await?;
            let error = match serde_json::from_slice(&answer.body) {
                Ok(value) => return Ok(value),
                Err(e) => GenesysError::Decode {
                    endpoint,
                    message: e.to_string(),
                },
            };
            // A job submission answered 2xx created its job: sent again, it would make
            // another (each counting against Genesys's concurrent-job limit).
            if endpoint == Endpoint::JobSubmit {
                return Err(error);
            }
            let Some(wait) = self.inner.retry.next_wait(attempt, started.elapsed(), None) else {
                return Err(error);
            };
            tracing::warn!(endpoint = endpoint.label(), attempt, error = %error, "Undecodable answer; asking again.");
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends one request with the token, budget and retry rules described on the module.
    ///
    /// # Errors
    /// A typed [`GenesysError`] carrying status, Genesys `code`, `message` and correlation id.
    pub async fn execute(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Bytes>,
    ) -> Result<Answer, GenesysError> {
        let inner = &self.inner;
        let url = self.url(path);
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            // The grant first, then the token: a request that waited out a long pause must not
            // be sent with a token fetched before it (it may have expired meanwhile).
            inner.budget.acquire(self.priority).await;
            let token = inner.tokens.get().await?;
            inner.stats.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = self
                .send_once(endpoint, &method, &url, query, body.clone(), &token)
                .await;
            let cap = inner.settings.genesys.retry_after_cap.get();
            let (error, server_wait, rate_limited) = match outcome {
                Ok(answer) => return Ok(answer),
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Unauthorized(failure)) => {
                    if refreshed {
                        return Err(GenesysError::Unauthorized {
                            failure: Box::new(failure),
                            client_id: inner.tokens.client_id().to_owned(),
                            api_host: inner.settings.api_base.host_str().unwrap_or("").to_owned(),
                        });
                    }
                    tracing::info!(
                        endpoint = endpoint.label(),
                        "Token refused (401); refreshing once."
                    );
                    inner.tokens.invalidate(&token).await;
                    refreshed = true;
                    attempt -= 1;
                    continue;
                }
                Err(Attempt::RateLimited(failure, retry_after)) => {
                    inner.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    inner.metrics.genesys_rate_limited.inc();
                    let over_cap = retry_after.is_some_and(|ra| ra > cap);
                    let error = GenesysError::RateLimited {
                        failure: Box::new(failure),
                        retry_after,
                        over_cap,
                    };
                    if over_cap {
                        // This request gives up; everyone sharing the budget still stops
                        // sending into the limit (for the cap, not a peer's year).
                        inner.budget.pause_for(cap);
                        return Err(error);
                    }
                    (error, retry_after, true)
                }
                Err(Attempt::Retryable(error, retry_after)) => (error, retry_after, false),
            };
            let Some(wait) = inner
                .retry
                .next_wait(attempt, started.elapsed(), server_wait)
            else {
                if let (true, Some(server)) = (rate_limited, server_wait) {
                    // Out of retries on a 429: the others still wait as asked.
                    inner.budget.pause_for(server.min(cap));
                }
                return Err(GenesysError::Exhausted {
                    attempts: attempt,
                    elapsed: started.elapsed(),
                    last: Box::new(error),
                });
            };
            if rate_limited {
                tracing::warn!(endpoint = endpoint.label(), attempt, wait = ?wait, "Rate limited (429); every request waits.");
                // Everyone sharing the budget waits; this request waits in acquire().
                inner.budget.pause_for(wait);
            } else {
                tracing::warn!(endpoint = endpoint.label(), attempt, wait = ?wait, error = %error, "Genesys request failed; retrying.");
                tokio::time::sleep(wait).await;
            }
        }
    }

    async fn send_once(
        &self,
        endpoint: Endpoint,
        method: &Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<Bytes>,
        token: &AccessToken,
    ) -> Result<Answer, Attempt> {
        let inner = &self.inner;
        let mut request = inner
            .http
            .request(method.clone(), url.clone())
            .header(reqwest::header::AUTHORIZATION, token.header_value())
            .header(reqwest::header::ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            // Not connected: the request never left, whatever it was.
            Err(e) if e.is_connect() || endpoint.resendable() => {
                inner.metrics.genesys_request(endpoint.label(), None);
                return Err(Attempt::Retryable(transport_error(endpoint, &e), None));
            }
            Err(e) => {
                inner.metrics.genesys_request(endpoint.label(), None);
                return Err(Attempt::Final(not_resent(transport_error(endpoint, &e))));
            }
        };
        let status = response.status().as_u16();
        inner
            .metrics
            .genesys_request(endpoint.label(), Some(status));
        let headers = response.headers().clone();
        if let Some(view) = ServerRateView::from_headers(&headers) {
            inner.budget.observe(view);
        }
        let ok = (200..300).contains(&status);
        let max = if ok {
            endpoint.max_answer_bytes()
        } else {
            body::MAX_ERROR_BYTES
        };
        let body = match body::read_capped(response, max).await {
            Ok((_, true)) if ok => {
                // The pages whose size is a setting say which one to lower.
                let hint = match endpoint {
                    Endpoint::JobResults => "; lower genesys.job_page_size",
                    Endpoint::DetailsQuery => "; lower genesys.page_size",
                    _ => "",
                };
                return Err(Attempt::Final(GenesysError::Decode {
                    endpoint,
                    message: format!("the answer is larger than {max} bytes{hint}"),
                }));
            }
            Ok((b, _)) => b,
            Err(e) if endpoint.resendable() => {
                return Err(Attempt::Retryable(transport_error(endpoint, &e), None));
            }
            Err(e) => return Err(Attempt::Final(not_resent(transport_error(endpoint, &e)))),
        };
        if ok {
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
        // A peer may echo the request's token (or the client secret) in its error.
        let body = inner.tokens.redact_answer(&body, token);
        let failure = api_failure(endpoint, status, &headers, &body);
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        Err(match status {
            401 => Attempt::Unauthorized(failure),
            429 => Attempt::RateLimited(failure, retry_after),
            403 => {
                let missing = failure
                    .body
                    .as_ref()
                    .and_then(error::permission_from_body)
                    .map(|p| format!("permission {}", crate::domain::printable(&p, 300)))
                    .unwrap_or_else(|| {
                        format!(
                            "a permission this endpoint needs ({})",
                            endpoint.permissions()
                        )
                    });
                Attempt::Final(GenesysError::Forbidden {
                    failure: Box::new(failure),
                    missing,
                })
            }
            // 503 is refused before the work (as 429 is); a 500, 502 or 504 may come after a
            // job was made.
            s if error::is_retryable_status(s) && (endpoint.resendable() || s == 503) => {
                Attempt::Retryable(GenesysError::Api(Box::new(failure)), retry_after)
            }
            s if error::is_retryable_status(s) => {
                Attempt::Final(not_resent(GenesysError::Api(Box::new(failure))))
            }
            _ => Attempt::Final(GenesysError::Api(Box::new(failure))),
        })
    }
}

/// A request that may have been acted on and cannot be sent again ([`Endpoint::resendable`]):
/// logged, and returned as it came (the next run submits anew).
fn not_resent(error: GenesysError) -> GenesysError {
    tracing::warn!(%error, "A details job submission failed after it may have reached Genesys; not sent again (a second job could be made), the next run submits it anew.");
    error
}

/// How one attempt ended, before the retry decision.
enum Attempt {
    Unauthorized(ApiFailure),
    RateLimited(ApiFailure, Option<Duration>),
    Retryable(GenesysError, Option<Duration>),
    Final(GenesysError),
}

fn api_failure(endpoint: Endpoint, status: u16, headers: &HeaderMap, body: &[u8]) -> ApiFailure {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let header_id = headers
        .get("inin-correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // What the peer wrote is logged and journaled: escaped and bounded.
    let peer = |s: &String| crate::domain::printable(s, 500);
    ApiFailure {
        endpoint,
        status,
        code: parsed.as_ref().and_then(|b| b.code.as_ref()).map(peer),
        message: parsed.as_ref().and_then(|b| b.message.as_ref()).map(peer),
        correlation_id: parsed
            .as_ref()
            .and_then(|b| b.context_id.as_ref())
            .map(peer)
            .or(header_id.as_ref().map(peer)),
        body: parsed,
    }
}

/// A transport failure as a typed error: what failed, the URL with any credentials or
/// query values redacted (`genesys.base_url` may carry them), then the causes.
pub(crate) fn transport_error(endpoint: Endpoint, e: &reqwest::Error) -> GenesysError {
    let mut message = match e.url() {
        Some(url) => format!(
            "{} ({})",
            describe_kind(e),
            crate::config::redact_url(url.as_str())
        ),
        None => describe_kind(e),
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    GenesysError::Transport {
        endpoint,
        message,
        timeout: e.is_timeout(),
    }
}

/// What kind of transport failure `e` is, without its URL.
fn describe_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else if e.is_body() || e.is_decode() {
        "failed reading the answer".to_owned()
    } else {
        "request failed".to_owned()
    }
}
