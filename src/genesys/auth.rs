//! Client-credentials tokens: fetched from the login host with HTTP Basic auth
//! (docs/genesys-api.md §1.2), cached, refreshed ahead of expiry, and shared by every caller
//! through one single-flight refresh.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::endpoint::Endpoint;
use super::error::GenesysError;
use super::models::{AuthErrorResponse, TokenResponse};
use crate::domain::Secret;
use crate::domain::retry::RetryPolicy;
use crate::telemetry::metrics::Metrics;

/// A bearer token handed to one request. `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<SecretString>,
    generation: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessToken(generation {}, [redacted])", self.generation)
    }
}

impl AccessToken {
    /// The `Authorization` header value.
    pub(crate) fn header_value(&self) -> String {
        format!("Bearer {}", self.value.expose_secret())
    }
}

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
    /// Handed out until then: a little before the login host said it stops working, so a
    /// request sent with it does not arrive after it expired.
    usable_until: Instant,
}

/// What the cache holds for a caller.
enum Held {
    /// A token not yet due for refresh.
    Ready(AccessToken),
    /// Due for refresh, and still usable meanwhile.
    Due(AccessToken),
    /// Nothing usable.
    Missing,
}

/// After a failed refresh ahead of expiry, how long the still-valid token is used before
/// the next try.
const REFRESH_RETRY: Duration = Duration::from_secs(15);

/// The most a token's end is brought forward (see [`Cached::usable_until`]).
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// The token cache of one OAuth client.
pub struct TokenCache {
    http: reqwest::Client,
    token_url: Url,
    login_host: String,
    client_id: String,
    client_secret: Secret,
    /// `base64(client_id:client_secret)`, as the token request's Basic header carries it.
    basic_credential: String,
    skew: Duration,
    default_lifetime: Duration,
    retry: RetryPolicy,
    metrics: Metrics,
    state: Mutex<Option<Cached>>,
    /// Held by the one caller fetching a token (single flight). The state lock is not held
    /// during a fetch, so while a still-usable token is refreshed, every other caller goes
    /// on with it instead of waiting for the login host.
    flight: Mutex<()>,
    generations: AtomicU64,
    /// Token fetches that failed, and what the last one said: a caller that waited for a
    /// fetch that failed gets that failure, instead of running a retry cycle of its own
    /// after it (N waiters would otherwise hold every Genesys call for N cycles).
    failures: AtomicU64,
    last_failure: std::sync::Mutex<String>,
}

/// The longest token lifetime believed (Genesys issues at most 48 hours); a longer
/// `expires_in` counts as this.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 86_400);
/// The shortest token lifetime believed: a login host answering `expires_in: 0` (or 1)
/// would otherwise have every call fetch a token of its own. A token that really expires
/// sooner is answered 401, and refreshed then.
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

impl TokenCache {
    /// What a peer's error text must never carry: the client secret, the Basic credential
    /// made of it, and the current token.
    fn hidden(&self) -> Vec<&str> {
        match self.client_secret.expose() {
            Some(secret) => vec![secret, self.basic_credential.as_str()],
            None => Vec::new(),
        }
    }

    /// [`TokenCache::hidden`] with `token` (the one a failed request carried): for the
    /// error answers of the API.
    pub(crate) fn redact_answer(&self, body: &[u8], token: &AccessToken) -> Vec<u8> {
        let mut hidden = self.hidden();
        hidden.push(token.value.expose_secret());
        crate::domain::secret::redact_json(body, &hidden)
    }
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish_non_exhaustive()
    }
}

/// What the cache needs to know.
pub struct TokenSettings {
    /// `{login}/oauth/token`.
    pub token_url: Url,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: Secret,
    /// Refresh this long before expiry (capped at a tenth of the lifetime).
    pub skew: Duration,
    /// Lifetime assumed when `expires_in` is absent.
    pub default_lifetime: Duration,
}

impl TokenCache {
    /// A cache that fetches with `http`, retrying transient failures per `retry`.
    pub fn new(
        http: reqwest::Client,
        settings: TokenSettings,
        retry: RetryPolicy,
        metrics: Metrics,
    ) -> TokenCache {
        let login_host = settings.token_url.host_str().unwrap_or("login").to_owned();
        let basic_credential = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                settings.client_id,
                settings.client_secret.expose().unwrap_or_default()
            ))
        };
        TokenCache {
            basic_credential,
            http,
            token_url: settings.token_url,
            login_host,
            client_id: settings.client_id,
            client_secret: settings.client_secret,
            skew: settings.skew,
            default_lifetime: settings.default_lifetime,
            retry,
            metrics,
            state: Mutex::new(None),
            flight: Mutex::new(()),
            generations: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_failure: std::sync::Mutex::new(String::new()),
        }
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// How many tokens have been fetched so far.
    pub fn fetch_count(&self) -> u64 {
        self.generations.load(Ordering::Relaxed)
    }

    /// A valid token: the cached one, or a new one if it is missing or due for refresh.
    /// Concurrent callers wait for the same fetch (single flight); while a token that is
    /// due for refresh still works, they use it instead of waiting.
    ///
    /// # Errors
    /// [`GenesysError::Auth`] when the credentials are refused, or a transport error.
    ///
    /// # Cancel safety
    /// Cancel-safe: a cancelled caller releases the locks; the next caller fetches.
    pub async fn get(&self) -> Result<AccessToken, GenesysError> {
        let failures = self.failures.load(Ordering::Acquire);
        let _flight = match (self.held().await, self.flight.try_lock()) {
            (Held::Ready(token), _) => return Ok(token),
            (_, Ok(flight)) => flight,
            // Another caller is refreshing: go on with the token that still works.
            (Held::Due(token), Err(_)) => return Ok(token),
            (Held::Missing, Err(_)) => self.flight.lock().await,
        };
        // Someone may have fetched while this caller waited.
        let usable = match self.held().await {
            Held::Ready(token) => return Ok(token),
            Held::Due(_) => true,
            Held::Missing => false,
        };
        if !usable && self.failures.load(Ordering::Acquire) != failures {
            // The fetch this caller waited for failed (after its own retries): the same
            // answer, now, rather than another cycle.
            let last = self
                .last_failure
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            return Err(GenesysError::Transport {
                endpoint: Endpoint::Token,
                message: format!("the token request in flight failed: {last}"),
                timeout: false,
            });
        }
        match self.fetch().await {
            Ok(fetched) => {
                let token = fetched.token.clone();
                *self.state.lock().await = Some(fetched);
                Ok(token)
            }
            // Only a passing failure is shared (after its retry cycle); a refusal is quick
            // to ask again and keeps its own kind and hint.
            Err(e) if e.is_retryable() => {
                let now = Instant::now();
                let mut state = self.state.lock().await;
                if let Some(cached) = state.as_mut()
                    && now < cached.usable_until
                {
                    // A refresh ahead of expiry failed, but the token still works: go on
                    // with it and try again shortly (before it expires).
                    cached.refresh_at = (now + REFRESH_RETRY).min(cached.usable_until);
                    tracing::warn!(error = %e, left = ?cached.usable_until - now, "Cannot refresh the Genesys token ahead of expiry; using the current one until it expires.");
                    return Ok(cached.token.clone());
                }
                drop(state);
                *self
                    .last_failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = e.to_string();
                self.failures.fetch_add(1, Ordering::Release);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// What the cache holds now.
    async fn held(&self) -> Held {
        let state = self.state.lock().await;
        let now = Instant::now();
        match state.as_ref() {
            Some(c) if now < c.refresh_at && now < c.usable_until => Held::Ready(c.token.clone()),
            Some(c) if now < c.usable_until => Held::Due(c.token.clone()),
            _ => Held::Missing,
        }
    }

    /// Drops `token` from the cache if it is still the cached one (after a 401), so the
    /// next [`TokenCache::get`] fetches a new token. Concurrent 401s for the same token
    /// cause one refresh, not many.
    pub async fn invalidate(&self, token: &AccessToken) {
        let mut state = self.state.lock().await;
        if state
            .as_ref()
            .is_some_and(|c| c.token.generation == token.generation)
        {
            *state = None;
        }
    }

    async fn fetch(&self) -> Result<Cached, GenesysError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.fetch_once().await;
            match result {
                Ok(cached) => return Ok(cached),
                Err((e, retry_after)) if e.is_retryable() => {
                    // A 429 or 503 from the login host may say how long to wait.
                    let Some(wait) = self
                        .retry
                        .next_wait(attempt, started.elapsed(), retry_after)
                    else {
                        return Err(GenesysError::Exhausted {
                            attempts: attempt,
                            elapsed: started.elapsed(),
                            last: Box::new(e),
                        });
                    };
                    tracing::warn!(attempt, wait = ?wait, error = %e, "Token request failed; retrying.");
                    tokio::time::sleep(wait).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// One token request; a failure carries the login host's `Retry-After`, if any.
    async fn fetch_once(&self) -> Result<Cached, (GenesysError, Option<Duration>)> {
        let secret = self.client_secret.expose().unwrap_or_default();
        let response = self
            .http
            .post(self.token_url.clone())
            .basic_auth(&self.client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                self.metrics.genesys_request(Endpoint::Token.label(), None);
                return Err((super::transport_error(Endpoint::Token, &e), None));
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::domain::retry::parse_retry_after)
            // Slept with every caller waiting for the token: a short wait at most.
            .map(|d| d.min(Duration::from_secs(30)));
        self.metrics
            .genesys_request(Endpoint::Token.label(), Some(status));
        let (bytes, _) = super::body::read_capped(response, super::body::MAX_ERROR_BYTES)
            .await
            .map_err(|e| (super::transport_error(Endpoint::Token, &e), None))?;
        if !(200..300).contains(&status) {
            if super::error::is_retryable_status(status) {
                let error = GenesysError::Transport {
                    endpoint: Endpoint::Token,
                    message: format!("login host answered {status}"),
                    timeout: false,
                };
                return Err((error, retry_after));
            }
            let body: AuthErrorResponse =
                serde_json::from_slice(&crate::domain::secret::redact_json(&bytes, &self.hidden()))
                    .unwrap_or_default();
            let error = GenesysError::Auth {
                login_host: self.login_host.clone(),
                status,
                error: body.error.map(|e| crate::domain::printable(&e, 200)),
                description: body
                    .error_description
                    .or(body.description)
                    .map(|d| crate::domain::printable(&d, 500)),
            };
            return Err((error, None));
        }
        let parsed: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| {
            let error = GenesysError::Decode {
                endpoint: Endpoint::Token,
                message: e.to_string(),
            };
            (error, None)
        })?;
        let lifetime = parsed
            .expires_in
            .map_or(self.default_lifetime, Duration::from_secs)
            .clamp(MIN_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME);
        if parsed
            .expires_in
            .is_some_and(|s| Duration::from_secs(s) < MIN_TOKEN_LIFETIME)
        {
            tracing::warn!(
                expires_in = parsed.expires_in,
                "The login host gave the access token a lifetime under a minute; it is used for a minute (or until Genesys refuses it) rather than fetching one per call."
            );
        }
        let skew = self.skew.min(lifetime / 10);
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(lifetime = ?lifetime, generation, "Fetched a Genesys access token.");
        let now = Instant::now();
        Ok(Cached {
            token: AccessToken {
                value: Arc::new(SecretString::from(parsed.access_token)),
                generation,
            },
            refresh_at: now + lifetime.saturating_sub(skew),
            usable_until: now + lifetime.saturating_sub(EXPIRY_MARGIN.min(lifetime / 20)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> TokenCache {
        // Nothing listens on port 1 of loopback: every token request fails to connect.
        TokenCache::new(
            // No proxy from the environment: the request must fail to connect, not be
            // answered by a proxy.
            reqwest::Client::builder().no_proxy().build().unwrap(),
            TokenSettings {
                token_url: Url::parse("http://127.0.0.1:1/oauth/token").unwrap(),
                client_id: "client".into(),
                client_secret: Secret::new("secret".to_owned()),
                skew: Duration::from_secs(60),
                default_lifetime: Duration::from_secs(3600),
            },
            RetryPolicy {
                max_attempts: 1,
                max_total: Duration::from_secs(1),
                base: Duration::from_millis(1),
                cap: Duration::from_millis(1),
            },
            Metrics::new(),
        )
    }

    async fn holding(cache: &TokenCache, refresh_in: i64, expires_in: i64) -> AccessToken {
        let at = |s: i64| {
            let now = Instant::now();
            if s >= 0 {
                now + Duration::from_secs(s.unsigned_abs())
            } else {
                now.checked_sub(Duration::from_secs(s.unsigned_abs()))
                    .unwrap_or(now)
            }
        };
        let token = AccessToken {
            value: Arc::new(SecretString::from("still-good".to_owned())),
            generation: 7,
        };
        *cache.state.lock().await = Some(Cached {
            token: token.clone(),
            refresh_at: at(refresh_in),
            usable_until: at(expires_in),
        });
        token
    }

    #[tokio::test]
    async fn a_failed_refresh_ahead_of_expiry_keeps_using_the_valid_token() {
        let cache = cache();
        // Due for refresh, 50 s left before it expires; the login host cannot be reached.
        let held = holding(&cache, -10, 50).await;
        let got = cache.get().await.expect("the still-valid token");
        assert_eq!(got.generation, held.generation);
        assert_eq!(got.header_value(), "Bearer still-good");
        // The next caller does not wait for another failing request: it is tried again in
        // REFRESH_RETRY, before the token expires.
        let state = cache.state.lock().await;
        let cached = state.as_ref().unwrap();
        assert!(cached.refresh_at > Instant::now() + Duration::from_secs(10));
        assert!(cached.refresh_at <= cached.usable_until);
    }

    #[tokio::test]
    async fn while_one_caller_refreshes_the_others_use_the_valid_token_without_waiting() {
        use futures_util::FutureExt;
        let cache = cache();
        let held = holding(&cache, -10, 50).await;
        let _refreshing = cache.flight.lock().await;
        let got = cache
            .get()
            .now_or_never()
            .expect("answered at once, not after the refresh")
            .expect("the still-valid token");
        assert_eq!(got.generation, held.generation);
        // With nothing usable, a caller waits for the refresh instead.
        holding(&cache, -20, -5).await;
        assert!(cache.get().now_or_never().is_none(), "waits for the fetch");
    }

    #[tokio::test]
    async fn a_failed_refresh_of_an_expired_token_is_an_error() {
        let cache = cache();
        holding(&cache, -20, -5).await;
        let err = cache
            .get()
            .await
            .expect_err("an expired token is not handed out");
        assert!(err.is_retryable(), "{err}");
        assert!(!err.to_string().contains("still-good"), "{err}");
    }
}
