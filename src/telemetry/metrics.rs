//! Prometheus metrics: every name in one place, low-cardinality labels only.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Metric names (without the `_total` suffix OpenMetrics adds to counters).
pub mod names {
    /// Webhooks by outcome (accepted, duplicate, unauthorized, invalid, unavailable, …).
    pub const WEBHOOKS: &str = "genesys_sentiment_webhooks";
    /// Seconds from submitting a journal append to it being durable.
    pub const JOURNAL_APPEND_SECONDS: &str = "genesys_sentiment_journal_append_seconds";
    /// Journal records written.
    pub const JOURNAL_RECORDS: &str = "genesys_sentiment_journal_records";
    /// Coaching deliveries by outcome (delivered, failed, dead_lettered).
    pub const DELIVERIES: &str = "genesys_sentiment_deliveries";
    /// Events currently dead-lettered.
    pub const DEAD_LETTERS: &str = "genesys_sentiment_dead_letters";
    /// Events waiting for delivery.
    pub const PENDING_DELIVERIES: &str = "genesys_sentiment_pending_deliveries";
    /// Genesys requests by endpoint and HTTP status.
    pub const GENESYS_REQUESTS: &str = "genesys_sentiment_genesys_requests";
    /// Genesys 429 answers.
    pub const GENESYS_RATE_LIMITED: &str = "genesys_sentiment_genesys_rate_limited";
    /// Records of a Genesys answer that did not decode and were set aside, by endpoint.
    pub const GENESYS_MALFORMED_RECORDS: &str = "genesys_sentiment_genesys_malformed_records";
    /// Batch runs by outcome.
    pub const BATCH_RUNS: &str = "genesys_sentiment_batch_runs";
    /// Unix time of the last scheduled batch run that succeeded (0: none since start).
    pub const BATCH_LAST_SUCCESS: &str = "genesys_sentiment_batch_last_success_timestamp_seconds";
    /// 1, labelled with the version (`genesys_sentiment_build_info{version="…"}`).
    pub const BUILD_INFO: &str = "genesys_sentiment_build_info";
    /// Batch run duration.
    pub const BATCH_DURATION_SECONDS: &str = "genesys_sentiment_batch_duration_seconds";
    /// Report groups by dimension and verdict (latest report).
    pub const TREND_GROUPS: &str = "genesys_sentiment_trend_groups";
    /// 1 while the daemon is ready for traffic.
    pub const READY: &str = "genesys_sentiment_ready";
    /// Attribution decisions for real-time scores, by source (event, acw, user_end,
    /// details, unknown, late_link, lookup_failed).
    pub const ATTRIBUTIONS: &str = "genesys_sentiment_attributions";
    /// Real-time scores waiting for their agent.
    pub const ATTRIBUTION_HELD: &str = "genesys_sentiment_attribution_held";
    /// Name lookups (users, queues) by outcome.
    pub const NAME_LOOKUPS: &str = "genesys_sentiment_name_lookups";
    /// Conversations of the windows still waiting for an STA score in the current run.
    pub const BACKFILL_REMAINING: &str = "genesys_sentiment_backfill_remaining";
    /// Real-time scores not written to the store (its queue was full); the batch fetches them.
    pub const STORE_WRITES_DROPPED: &str = "genesys_sentiment_store_writes_dropped";
    /// Forwarder faults recovered from: a delivery attempt that panicked (requeued), a
    /// worker restarted.
    pub const FORWARDER_FAULTS: &str = "genesys_sentiment_forwarder_faults";
    /// 1 while deliveries are due but none has completed for 2 × `coaching.timeout` + 1 min.
    pub const FORWARDER_STALLED: &str = "genesys_sentiment_forwarder_stalled";
    /// Requests refused before the intake (connection cap, full journal queue), by reason.
    pub const SHED: &str = "genesys_sentiment_shed";
    /// Age of the oldest event still owed to the coaching platform (0: none owed).
    pub const OLDEST_PENDING_AGE: &str = "genesys_sentiment_oldest_pending_delivery_age_seconds";
    /// Seconds from a webhook's body being read to its answer (the journal append
    /// included), by answer class (2xx, 4xx, 503, 5xx).
    pub const WEBHOOK_SECONDS: &str = "genesys_sentiment_webhook_duration_seconds";
    /// Delivery attempts to the coaching platform by status class (2xx, 3xx, 4xx, 5xx,
    /// transport: no HTTP answer).
    pub const DELIVERY_ATTEMPTS: &str = "genesys_sentiment_delivery_attempts";
    /// Conversation-end events waiting for their STA score to be fetched.
    pub const ENRICHMENT_BACKLOG: &str = "genesys_sentiment_enrichment_backlog";
    /// Conversation-end events whose STA score could not be had (journaled as
    /// `enrichment_failed`).
    pub const ENRICHMENT_FAILURES: &str = "genesys_sentiment_enrichment_failures";
    /// Bytes of the live journal segments on disk (file journal; 0 on PostgreSQL).
    pub const JOURNAL_BYTES: &str = "genesys_sentiment_journal_bytes";
}

/// Content type of the classic Prometheus text format ([`Metrics::render_text`]).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label set with one `class` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabel {
    /// The class, from a fixed small set.
    pub class: &'static str,
}

/// A label set with one `outcome` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// The outcome, from a fixed small set.
    pub outcome: &'static str,
}

/// The labels of `build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    /// `CARGO_PKG_VERSION`.
    pub version: &'static str,
    /// The git commit the binary was built from ([`crate::domain::COMMIT`]).
    pub commit: &'static str,
}

/// Labels of a Genesys request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Endpoint template, e.g. `details_query`.
    pub endpoint: &'static str,
    /// HTTP status, or `error` for transport failures.
    pub status: String,
}

/// A label set with one `endpoint` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    /// Endpoint template, e.g. `details_query`.
    pub endpoint: &'static str,
}

/// Labels of a trend group count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    /// Group dimension.
    pub dimension: &'static str,
    /// Verdict direction.
    pub verdict: &'static str,
}

/// The daemon's metrics. Cheap to clone; every clone updates the same series.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// See [`names::WEBHOOKS`].
    pub webhooks: Family<OutcomeLabel, Counter>,
    /// See [`names::JOURNAL_APPEND_SECONDS`].
    pub journal_append_seconds: Histogram,
    /// See [`names::JOURNAL_RECORDS`].
    pub journal_records: Counter,
    /// See [`names::DELIVERIES`].
    pub deliveries: Family<OutcomeLabel, Counter>,
    /// See [`names::DEAD_LETTERS`].
    pub dead_letters: Gauge,
    /// See [`names::PENDING_DELIVERIES`].
    pub pending_deliveries: Gauge,
    /// See [`names::GENESYS_REQUESTS`].
    pub genesys_requests: Family<RequestLabels, Counter>,
    /// See [`names::GENESYS_RATE_LIMITED`].
    pub genesys_rate_limited: Counter,
    /// See [`names::GENESYS_MALFORMED_RECORDS`].
    pub genesys_malformed_records: Family<EndpointLabel, Counter>,
    /// See [`names::BATCH_RUNS`].
    pub batch_runs: Family<OutcomeLabel, Counter>,
    /// See [`names::BATCH_LAST_SUCCESS`].
    pub batch_last_success: Gauge,
    /// See [`names::BATCH_DURATION_SECONDS`].
    pub batch_duration_seconds: Histogram,
    /// See [`names::TREND_GROUPS`].
    pub trend_groups: Family<VerdictLabels, Gauge>,
    /// See [`names::READY`].
    pub ready: Gauge,
    /// See [`names::ATTRIBUTIONS`].
    pub attributions: Family<OutcomeLabel, Counter>,
    /// See [`names::ATTRIBUTION_HELD`].
    pub attribution_held: Gauge,
    /// See [`names::NAME_LOOKUPS`].
    pub name_lookups: Family<OutcomeLabel, Counter>,
    /// See [`names::BACKFILL_REMAINING`].
    pub backfill_remaining: Gauge,
    /// See [`names::STORE_WRITES_DROPPED`].
    pub store_writes_dropped: Counter,
    /// See [`names::FORWARDER_FAULTS`].
    pub forwarder_faults: Family<OutcomeLabel, Counter>,
    /// See [`names::FORWARDER_STALLED`].
    pub forwarder_stalled: Gauge,
    /// See [`names::SHED`].
    pub shed: Family<OutcomeLabel, Counter>,
    /// See [`names::OLDEST_PENDING_AGE`] (set at each scrape).
    pub oldest_pending_age: Gauge,
    /// See [`names::WEBHOOK_SECONDS`].
    pub webhook_seconds: Family<ClassLabel, Histogram>,
    /// See [`names::DELIVERY_ATTEMPTS`].
    pub delivery_attempts: Family<ClassLabel, Counter>,
    /// See [`names::ENRICHMENT_BACKLOG`].
    pub enrichment_backlog: Gauge,
    /// See [`names::ENRICHMENT_FAILURES`].
    pub enrichment_failures: Counter,
    /// See [`names::JOURNAL_BYTES`] (set at each scrape).
    pub journal_bytes: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let webhooks = Family::<OutcomeLabel, Counter>::default();
        r.register(
            names::WEBHOOKS,
            "Webhooks received, by outcome",
            webhooks.clone(),
        );
        let journal_append_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        r.register(
            names::JOURNAL_APPEND_SECONDS,
            "Time from submitting a journal append to it being durable",
            journal_append_seconds.clone(),
        );
        let journal_records = Counter::default();
        r.register(
            names::JOURNAL_RECORDS,
            "Journal records written",
            journal_records.clone(),
        );
        let deliveries = Family::<OutcomeLabel, Counter>::default();
        r.register(
            names::DELIVERIES,
            "Coaching deliveries, by outcome",
            deliveries.clone(),
        );
        let dead_letters = Gauge::default();
        r.register(
            names::DEAD_LETTERS,
            "Events currently dead-lettered",
            dead_letters.clone(),
        );
        let pending_deliveries = Gauge::default();
        r.register(
            names::PENDING_DELIVERIES,
            "Events waiting for delivery to the coaching platform",
            pending_deliveries.clone(),
        );
        let genesys_requests = Family::<RequestLabels, Counter>::default();
        r.register(
            names::GENESYS_REQUESTS,
            "Genesys Cloud requests, by endpoint and status",
            genesys_requests.clone(),
        );
        let genesys_rate_limited = Counter::default();
        r.register(
            names::GENESYS_RATE_LIMITED,
            "Genesys Cloud 429 answers",
            genesys_rate_limited.clone(),
        );
        let genesys_malformed_records = Family::<EndpointLabel, Counter>::default();
        r.register(
            names::GENESYS_MALFORMED_RECORDS,
            "Records of Genesys Cloud answers that did not decode and were set aside, by endpoint",
            genesys_malformed_records.clone(),
        );
        let batch_runs = Family::<OutcomeLabel, Counter>::default();
        r.register(
            names::BATCH_RUNS,
            "Scheduled batch runs, by outcome",
            batch_runs.clone(),
        );
        let batch_duration_seconds = Histogram::new(exponential_buckets(0.1, 2.0, 14));
        r.register(
            names::BATCH_DURATION_SECONDS,
            "Duration of batch runs",
            batch_duration_seconds.clone(),
        );
        let trend_groups = Family::<VerdictLabels, Gauge>::default();
        r.register(
            names::TREND_GROUPS,
            "Groups of the latest trend report, by dimension and verdict",
            trend_groups.clone(),
        );
        let ready = Gauge::default();
        r.register(
            names::READY,
            "1 while the daemon is ready for traffic",
            ready.clone(),
        );
        let attributions = Family::<OutcomeLabel, Counter>::default();
        r.register(
            names::ATTRIBUTIONS,
            "Attribution decisions for real-time scores, by source",
            attributions.clone(),
        );
        let attribution_held = Gauge::default();
        r.register(
            names::ATTRIBUTION_HELD,
            "Real-time scores whose delivery waits for their agent",
            attribution_held.clone(),
        );
        let name_lookups = Family::<OutcomeLabel, Counter>::default();
        r.register(
            names::NAME_LOOKUPS,
            "User and queue name lookups, by outcome",
            name_lookups.clone(),
        );
        let backfill_remaining = Gauge::default();
        r.register(
            names::BACKFILL_REMAINING,
            "Conversations of the windows still waiting for an STA score in the current run",
            backfill_remaining.clone(),
        );
        let store_writes_dropped = Counter::default();
        r.register(
            names::STORE_WRITES_DROPPED,
            "Real-time scores not written to the store because its queue was full",
            store_writes_dropped.clone(),
        );
        let forwarder_faults = Family::<OutcomeLabel, Counter>::default();
        r.register(
            names::FORWARDER_FAULTS,
            "Forwarder faults recovered from (attempt_panicked, worker_restarted)",
            forwarder_faults.clone(),
        );
        let forwarder_stalled = Gauge::default();
        r.register(
            names::FORWARDER_STALLED,
            "1 while deliveries are due but none has completed for 2 x coaching.timeout + 1 min",
            forwarder_stalled.clone(),
        );
        let shed = Family::<OutcomeLabel, Counter>::default();
        r.register(
            names::SHED,
            "Requests or connections refused to protect the daemon, by reason",
            shed.clone(),
        );
        let batch_last_success = Gauge::default();
        r.register(
            names::BATCH_LAST_SUCCESS,
            "Unix time of the last batch run that succeeded (0: none since start)",
            batch_last_success.clone(),
        );
        let build_info = Family::<VersionLabel, Gauge>::default();
        r.register(
            names::BUILD_INFO,
            "1, labelled with the daemon's version",
            build_info.clone(),
        );
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
                commit: crate::domain::COMMIT,
            })
            .set(1);
        let oldest_pending_age = Gauge::default();
        r.register(
            names::OLDEST_PENDING_AGE,
            "Age in seconds of the oldest event still owed to the coaching platform (0: none)",
            oldest_pending_age.clone(),
        );
        let webhook_seconds = Family::<ClassLabel, Histogram>::new_with_constructor(
            webhook_histogram as fn() -> Histogram,
        );
        r.register(
            names::WEBHOOK_SECONDS,
            "Seconds from a webhook's body being read to its answer (journal included), by answer class",
            webhook_seconds.clone(),
        );
        let delivery_attempts = Family::<ClassLabel, Counter>::default();
        r.register(
            names::DELIVERY_ATTEMPTS,
            "Delivery attempts to the coaching platform, by status class",
            delivery_attempts.clone(),
        );
        let enrichment_backlog = Gauge::default();
        r.register(
            names::ENRICHMENT_BACKLOG,
            "Conversation-end events waiting for their STA score to be fetched",
            enrichment_backlog.clone(),
        );
        let enrichment_failures = Counter::default();
        r.register(
            names::ENRICHMENT_FAILURES,
            "Conversation-end events whose STA score could not be had",
            enrichment_failures.clone(),
        );
        let journal_bytes = Gauge::default();
        r.register(
            names::JOURNAL_BYTES,
            "Bytes of the live journal segments on disk (0 with the PostgreSQL journal)",
            journal_bytes.clone(),
        );
        for class in ["2xx", "3xx", "4xx", "5xx", "transport"] {
            let _ = delivery_attempts.get_or_create(&ClassLabel { class });
        }
        for class in WEBHOOK_CLASSES {
            let _ = webhook_seconds.get_or_create(&ClassLabel { class });
        }
        // Every outcome a rule may alert on exists from the start, at 0: `increase(…[1h])`
        // sees the first failure after a restart.
        for (family, outcomes) in [
            (&batch_runs, &["succeeded", "failed", "interrupted"][..]),
            (
                &webhooks,
                &[
                    "accepted",
                    "duplicate",
                    "validated",
                    "not_ready",
                    "unsupported_media_type",
                    "payload_too_large",
                    "bad_request",
                    "body_timeout",
                    "malformed_json",
                    "unauthorized",
                    "stale_signature",
                    "invalid_event",
                    "in_progress",
                    "journal_unavailable",
                    "overloaded",
                ][..],
            ),
            (&deliveries, &["delivered", "failed", "dead_lettered"][..]),
            (
                &attributions,
                &[
                    "event",
                    "acw",
                    "user_end",
                    "details",
                    "unknown",
                    "late_link",
                    "lookup_failed",
                ][..],
            ),
            (
                &shed,
                &[
                    "journal_queue_full",
                    "outbox_lag",
                    "enrichment_full",
                    "max_connections",
                ][..],
            ),
            (
                &forwarder_faults,
                &[
                    "worker_restarted",
                    "attempt_panicked",
                    "unreadable",
                    "read_failed",
                ][..],
            ),
        ] {
            for &outcome in outcomes {
                let _ = family.get_or_create(&OutcomeLabel { outcome });
            }
        }
        Metrics {
            registry: Arc::new(r),
            batch_last_success,
            webhooks,
            journal_append_seconds,
            journal_records,
            deliveries,
            dead_letters,
            pending_deliveries,
            genesys_requests,
            genesys_rate_limited,
            genesys_malformed_records,
            batch_runs,
            batch_duration_seconds,
            trend_groups,
            ready,
            attributions,
            attribution_held,
            name_lookups,
            backfill_remaining,
            store_writes_dropped,
            forwarder_faults,
            forwarder_stalled,
            shed,
            oldest_pending_age,
            webhook_seconds,
            delivery_attempts,
            enrichment_backlog,
            enrichment_failures,
            journal_bytes,
        }
    }

    /// Counts one delivery attempt by the status it got (`None`: no HTTP answer).
    pub fn delivery_attempt(&self, status: Option<u16>) {
        let class = match status {
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(_) => "5xx",
            None => "transport",
        };
        self.delivery_attempts
            .get_or_create(&ClassLabel { class })
            .inc();
    }

    /// Observes how long a webhook took to answer with `status`.
    pub fn webhook_duration(&self, status: u16, seconds: f64) {
        let class = match status {
            200..=299 => "2xx",
            503 => "503",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.webhook_seconds
            .get_or_create(&ClassLabel { class })
            .observe(seconds);
    }

    /// Counts a forwarder fault.
    pub fn forwarder_fault(&self, outcome: &'static str) {
        self.forwarder_faults
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Counts a shed request or connection.
    pub fn shed(&self, reason: &'static str) {
        self.shed
            .get_or_create(&OutcomeLabel { outcome: reason })
            .inc();
    }

    /// Counts one attribution decision.
    pub fn attribution(&self, outcome: &'static str) {
        self.attributions
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Counts one webhook outcome.
    pub fn webhook(&self, outcome: &'static str) {
        self.webhooks.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// Counts one delivery outcome.
    pub fn delivery(&self, outcome: &'static str) {
        self.deliveries
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Counts one Genesys request.
    pub fn genesys_request(&self, endpoint: &'static str, status: Option<u16>) {
        let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        self.genesys_requests
            .get_or_create(&RequestLabels { endpoint, status })
            .inc();
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    /// The classic Prometheus text format (what `/metrics` answers unless OpenMetrics is
    /// asked for): the OpenMetrics exposition with counters' `# HELP`/`# TYPE` named as
    /// their `_total` samples, and without `# UNIT` and `# EOF`.
    pub fn render_text(&self) -> String {
        openmetrics_to_text(&self.render())
    }
}

/// Answer classes of [`names::WEBHOOK_SECONDS`].
const WEBHOOK_CLASSES: [&str; 4] = ["2xx", "4xx", "503", "5xx"];

/// Buckets of the webhook latency histogram: 100 µs to about 3 s.
fn webhook_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

/// Rewrites an OpenMetrics exposition in the classic text format.
pub fn openmetrics_to_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
        {
            counters.insert(name.to_owned());
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_names_counters_by_their_samples_and_has_no_eof() {
        let m = Metrics::new();
        m.delivery_attempt(Some(503));
        let text = m.render_text();
        assert!(text.contains("# TYPE genesys_sentiment_delivery_attempts_total counter\n"));
        assert!(text.contains("genesys_sentiment_delivery_attempts_total{class=\"5xx\"} 1\n"));
        assert!(text.contains("# TYPE genesys_sentiment_ready gauge\n"));
        assert!(!text.contains("# EOF"));
        assert!(m.render().ends_with("# EOF\n"));
    }
}
