//! `genesys-sentiment doctor`: a pre-flight against the configured org. Each check prints
//! one line (✓ passed, ✗ failed, ! warning, - skipped) and, when it did not pass, the fix.
//! The exit status is 0 only when every required check passed.
//!
//! The checks, in order: the token; every permission the configured features need (each
//! endpoint probed, a 403 naming the permission); STA data present (a recent conversation
//! with a sentiment score); the scale of the scores seen against `genesys.sentiment_scale`;
//! which of the topics the daemon consumes the org offers to triggers and to EventBridge;
//! the coaching URL (a `HEAD`, or with `--send-test` a signed test delivery to a test path).

use std::fmt::Write as _;

use chrono::{TimeDelta, Utc};
use serde_json::json;

use crate::config::Settings;
use crate::domain::{BatchSource, ScoreScale};
use crate::genesys::aggregates::{AggregateQuery, SENTIMENT_METRICS};
use crate::genesys::details::{DetailsFilter, query_body};
use crate::genesys::models::Interval;
use crate::genesys::names::NameKind;
use crate::genesys::sta::StaOutcome;
use crate::genesys::{Endpoint, GenesysClient, GenesysError};
use crate::outbox::coaching::{Attempt, CoachingClient};
use crate::telemetry::metrics::Metrics;

/// The topics the daemon consumes: the sentiment topic, and the detail events it takes
/// the agent from (`.acw`, the documented fallback) or fetches a score on (`.customer.end`).
pub const CONSUMED_TOPICS: [&str; 3] = [
    "v2.speechandtextanalytics.conversation.{id}.sentiment",
    "v2.detail.events.conversation.{id}.acw",
    "v2.detail.events.conversation.{id}.customer.end",
];

/// Conversations asked for STA scores at most (the most recent first).
const STA_PROBES: usize = 25;
/// Scores enough to judge the scale by.
const SCORES_WANTED: usize = 5;

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// ✓
    Pass,
    /// ✗: counts against the exit status when the check is required.
    Fail,
    /// !: worth knowing, never fails the run.
    Warn,
    /// -: not applicable to this configuration.
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether a failure fails the run.
    pub required: bool,
    /// How it ended.
    pub outcome: Outcome,
    /// What was seen.
    pub detail: String,
    /// What to do, when it did not pass.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            required: true,
            outcome: Outcome::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            required: true,
            outcome: Outcome::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn skip(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            required: false,
            outcome: Outcome::Skip,
            detail: detail.into(),
            fix: None,
        }
    }

    /// The same check, not required: a failure becomes a warning.
    fn optional(mut self) -> Check {
        self.required = false;
        if self.outcome == Outcome::Fail {
            self.outcome = Outcome::Warn;
        }
        self
    }

    fn mark(&self) -> &'static str {
        match self.outcome {
            Outcome::Pass => "✓",
            Outcome::Fail => "✗",
            Outcome::Warn => "!",
            Outcome::Skip => "-",
        }
    }
}

/// Options of one doctor run.
#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// Send a signed test delivery to the coaching platform's test path.
    pub send_test: bool,
    /// Where the test delivery goes (default: `coaching.url` + `/test`).
    pub test_url: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Print each line as soon as its check ends (the command line), so a slow org shows
    /// progress.
    pub echo: bool,
}

impl Report {
    /// Adds a check (and prints it when echoing).
    pub fn push(&mut self, check: Check) {
        if self.echo {
            print!("{}", Self::line(&check));
            let _ = std::io::Write::flush(&mut std::io::stdout());
        }
        self.checks.push(check);
    }

    fn line(c: &Check) -> String {
        let mut out = format!("{} {}: {}\n", c.mark(), c.name, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "    fix: {fix}");
        }
        out
    }

    /// Whether every required check passed.
    pub fn ok(&self) -> bool {
        self.failed_required() == 0
    }

    /// Required checks that failed.
    fn failed_required(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.required && c.outcome == Outcome::Fail)
            .count()
    }

    /// The closing summary line (after a blank line).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let count = |o: Outcome| self.checks.iter().filter(|c| c.outcome == o).count();
        let failed_required = self.failed_required();
        let _ = writeln!(
            out,
            "\n{} passed, {} failed, {} warnings, {} skipped: {}",
            count(Outcome::Pass),
            count(Outcome::Fail),
            count(Outcome::Warn),
            count(Outcome::Skip),
            if failed_required == 0 {
                "ready to serve".to_owned()
            } else {
                format!("{failed_required} required check(s) failed")
            }
        );
        out
    }
}

/// The line for a call that failed: a 403 names the permission to add.
fn failed_call(name: &str, endpoint: Endpoint, e: &GenesysError) -> Check {
    match e {
        GenesysError::Forbidden { missing, .. } => {
            let missing = missing.strip_prefix("permission ").unwrap_or(missing);
            Check::fail(
                name,
                format!(
                    "{} answered 403: the role is missing {missing}",
                    endpoint.describe()
                ),
                format!(
                    "add {missing} to the OAuth client's role (Admin > Roles / Permissions); the endpoint needs {}",
                    endpoint.permissions()
                ),
            )
        }
        other => Check::fail(
            name,
            format!("{}: {other}", endpoint.describe()),
            super::commands::hint(other).to_owned(),
        ),
    }
}

/// The doctor's own retry policy: a pre-flight answers within seconds, it does not ride out
/// an outage the way the daemon does.
fn doctor_settings(g: &crate::config::GenesysSettings) -> crate::config::GenesysSettings {
    use crate::config::HumanDuration;
    let mut g = g.clone();
    g.max_attempts = std::num::NonZeroU32::new(2).expect("2 is not zero");
    g.max_retry_time = HumanDuration::from_secs(15);
    g.retry_after_cap = HumanDuration::from_secs(10);
    let cap = std::time::Duration::from_secs(15);
    if g.request_timeout.get().is_zero() || g.request_timeout.get() > cap {
        g.request_timeout = HumanDuration(cap);
    }
    g
}

/// Runs every check against the configured org; with `echo`, each line is printed as soon
/// as its check ends.
pub async fn run(settings: &Settings, options: &DoctorOptions, echo: bool) -> Report {
    let mut report = Report {
        echo,
        ..Report::default()
    };
    match settings.check_for_serve() {
        Ok(()) => report.push(Check::pass(
            "configuration",
            "serve accepts it (check-config prints it in full)",
        )),
        Err(e) => report.push(Check::fail(
            "configuration",
            format!("serve refuses it: {e}"),
            "fix the key it names; check-config runs the same check",
        )),
    }
    let g = doctor_settings(&settings.genesys);
    let client = match GenesysClient::new(&g, Metrics::new()) {
        Ok(c) => c,
        Err(e) => {
            report.push(Check::fail(
                "genesys client",
                e.to_string(),
                "fix genesys.region / genesys.base_url / genesys.login_url",
            ));
            return report;
        }
    };
    let token_url = crate::config::redact_url(client.settings().token_url.as_str());
    match client.tokens().get().await {
        Ok(_) => report.push(Check::pass(
            "token",
            format!(
                "client credentials accepted by {token_url} for client {}",
                g.client_id
            ),
        )),
        Err(e) => {
            report.push(Check::fail(
                "token",
                format!("{token_url}: {e}"),
                super::commands::hint(&e),
            ));
            // Nothing else can be asked without a token.
            return report;
        }
    }

    // The details query the batch makes (ended conversations, the batch's queue and media
    // filters), newest first, over six whole days ending an hour ago: scores need a few
    // minutes after a conversation ends, and the query touches at most seven days.
    let end = Utc::now() - TimeDelta::hours(1);
    let recent = Interval::new(end - TimeDelta::days(6), end);
    let filter = DetailsFilter::for_batch(&settings.batch);
    let mut query = query_body(recent, &filter, STA_PROBES as u32, 1);
    query.order = Some("desc".into());
    let name = "details query (analytics:conversationDetail:view)";
    let conversations = match client.details_page(&query).await {
        Ok(page) => {
            let conversations = page.conversations.unwrap_or_default().items;
            report.push(Check::pass(
                name,
                format!(
                    "answered: {} ended conversation(s) on the first page of the six days before the last hour",
                    conversations.len()
                ),
            ));
            Some(conversations)
        }
        Err(e) => {
            report.push(failed_call(name, Endpoint::DetailsQuery, &e));
            None
        }
    };
    // Jobs serve only days with more conversations than one query can page through; the
    // batch goes on without the availability date.
    let name = "details jobs availability (heavy days)";
    match client.details_availability().await {
        Ok(date) => report.push(Check::pass(
            name,
            format!("answered: data available up to {date}"),
        )),
        Err(e) => report.push(failed_call(name, Endpoint::JobAvailability, &e).optional()),
    }
    let name = "conversation details (agent attribution of webhooks)";
    match conversations.as_deref().and_then(<[_]>::first) {
        Some(first) => match client.conversation(&first.conversation_id).await {
            Ok(_) => report.push(Check::pass(
                name,
                format!("{} answered", Endpoint::ConversationDetails.describe()),
            )),
            Err(e) => report.push(failed_call(name, Endpoint::ConversationDetails, &e)),
        },
        None => report.push(Check::skip(
            name,
            "not checked: no recent conversation to ask about",
        )),
    }

    sta_checks(&client, settings, conversations.as_deref(), &mut report).await;
    if settings.batch.source == BatchSource::Aggregates {
        // The batch's current window (whole days).
        let windows = crate::batch::run::windows_at(Utc::now(), settings.batch.window_days());
        let query = AggregateQuery {
            interval: Interval::new(windows.current.start, windows.current.end),
            granularity: "P1D".into(),
            time_zone: None,
            group_by: vec!["userId".into()],
            filter: filter.clone(),
            metrics: SENTIMENT_METRICS.iter().map(|m| (*m).to_owned()).collect(),
        };
        let name = "transcript aggregates (analytics:speechAndTextAnalyticsAggregates:view)";
        match client.transcript_aggregates(&query).await {
            Ok(cells) => report.push(Check::pass(
                name,
                format!(
                    "answered ({} cell(s) for the batch's current window)",
                    cells.len()
                ),
            )),
            Err(e) => report.push(failed_call(name, Endpoint::TranscriptAggregates, &e)),
        }
    } else {
        report.push(Check::skip(
            "transcript aggregates",
            "batch.source = \"conversations\" does not use them",
        ));
    }
    names_checks(
        &client,
        settings,
        conversations.as_deref().unwrap_or_default(),
        &mut report,
    )
    .await;
    topic_checks(&client, &mut report).await;
    coaching_check(settings, options, &mut report).await;
    report
}

/// The STA endpoint's name in the report (it needs both permissions).
const STA_CHECK: &str =
    "STA conversations (speechAndTextAnalytics:data:view, recording:recording:view)";

async fn sta_checks(
    client: &GenesysClient,
    settings: &Settings,
    conversations: Option<&[crate::genesys::models::AnalyticsConversation]>,
    report: &mut Report,
) {
    let mut scores: Vec<(String, f64)> = Vec::new();
    let mut answered = 0usize;
    let mut errors: Vec<GenesysError> = Vec::new();
    // Without a recent conversation a made-up id still shows the permission: 404 means the
    // role may ask, 403 names what it lacks.
    let ids: Vec<String> = match conversations {
        Some(c) if !c.is_empty() => c.iter().map(|c| c.conversation_id.clone()).collect(),
        _ => vec!["00000000-0000-0000-0000-000000000000".to_owned()],
    };
    for id in ids.iter().take(STA_PROBES) {
        match client.conversation_sentiment(id).await {
            Ok(StaOutcome::Analysed(s)) => {
                answered += 1;
                scores.push((id.clone(), s.score.value));
                if scores.len() >= SCORES_WANTED {
                    break;
                }
            }
            Ok(StaOutcome::NotAnalysed) => answered += 1,
            // A missing permission is the answer; anything else may be one conversation's.
            Err(e @ GenesysError::Forbidden { .. }) => {
                errors = vec![e];
                answered = 0;
                break;
            }
            Err(e) => errors.push(e),
        }
    }
    if answered == 0 {
        let e = errors.pop().expect("a probe that did not answer failed");
        report.push(failed_call(STA_CHECK, Endpoint::StaConversation, &e));
        report.push(Check::skip(
            "STA data present",
            "not checked: the STA endpoint could not be read",
        ));
        report.push(Check::skip(
            "score scale",
            "not checked: no scores could be read",
        ));
        return;
    }
    let failed = if errors.is_empty() {
        String::new()
    } else {
        format!(" ({} other request(s) failed: {})", errors.len(), errors[0])
    };
    report.push(Check::pass(
        STA_CHECK,
        format!(
            "{} answered for {answered} conversation(s){failed}",
            Endpoint::StaConversation.describe()
        ),
    ));
    let prerequisites = "STA scores need recording on, Speech & Text Analytics voice transcription enabled for the queue or flow, \
        a supported language and an STA licence (docs/genesys-setup.md, prerequisites); scores appear a few minutes after a conversation ends";
    match (scores.first(), conversations) {
        (Some((id, value)), _) => report.push(Check::pass(
            "STA data present",
            format!(
                "{} of {answered} recent conversation(s) have a sentiment score (e.g. {id}: {value})",
                scores.len()
            ),
        )),
        (None, None) => report.push(Check::skip(
            "STA data present",
            "not checked: the details query failed, so there were no conversations to ask about",
        )),
        (None, Some([])) => report.push(Check::fail(
            "STA data present",
            "no ended conversation in the six days before the last hour (within batch.queue_ids / batch.media_type)",
            format!("check genesys.region, the batch filters and that the org takes conversations; {prerequisites}"),
        )),
        (None, Some(_)) => report.push(Check::fail(
            "STA data present",
            format!("none of the {answered} most recent ended conversation(s) has a sentiment score"),
            prerequisites,
        )),
    }
    report.push(scale_check(
        settings.genesys.sentiment_scale,
        &scores.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
    ));
}

/// The scale the scores seen suggest, against `genesys.sentiment_scale`.
pub fn scale_check(configured: ScoreScale, values: &[f64]) -> Check {
    let name = "score scale";
    if values.is_empty() {
        return Check::skip(name, "no scores to judge by");
    }
    let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    match configured {
        ScoreScale::Unit if largest > 1.0 => Check::fail(
            name,
            format!(
                "genesys.sentiment_scale = \"unit\" but a score of magnitude {largest} was seen (outside [-1, 1]: they would be rejected)"
            ),
            "set genesys.sentiment_scale = \"percent\"",
        ),
        ScoreScale::Percent if values.len() >= 3 && largest <= 1.0 => Check::fail(
            name,
            format!(
                "genesys.sentiment_scale = \"percent\" but all {} scores seen lie within [-1, 1] (largest magnitude {largest})",
                values.len()
            ),
            "these look like unit scores: set genesys.sentiment_scale = \"unit\" (or check again with more data)",
        )
        .optional(),
        _ => Check::pass(
            name,
            format!(
                "{} score(s) seen, largest magnitude {largest}: consistent with genesys.sentiment_scale = \"{}\"",
                values.len(),
                configured.as_str()
            ),
        ),
    }
}

async fn names_checks(
    client: &GenesysClient,
    settings: &Settings,
    conversations: &[crate::genesys::models::AnalyticsConversation],
    report: &mut Report,
) {
    if !settings.genesys.resolve_names {
        report.push(Check::skip(
            "names of agents and queues",
            "genesys.resolve_names = false",
        ));
        return;
    }
    let mut users = Vec::new();
    let mut queues = Vec::new();
    for c in conversations.iter().take(5) {
        for p in &c.participants {
            if let Some(u) = &p.user_id {
                users.push(u.clone());
            }
            for s in &p.sessions {
                for seg in &s.segments {
                    if let Some(q) = &seg.queue_id {
                        queues.push(q.clone());
                    }
                }
            }
        }
    }
    users.sort();
    users.dedup();
    queues.sort();
    queues.dedup();
    for (kind, ids, name, endpoint) in [
        (
            NameKind::User,
            users,
            "agent names (users)",
            Endpoint::Users,
        ),
        (
            NameKind::Queue,
            queues,
            "queue names (permission routing:queue:view)",
            Endpoint::Queues,
        ),
    ] {
        let ids: Vec<String> = ids.into_iter().take(5).collect();
        let check = match client.names(kind, &ids).await {
            Ok(found) => Check::pass(
                name,
                format!(
                    "{} answered ({} of {} id(s) named)",
                    endpoint.describe(),
                    found.len(),
                    ids.len()
                ),
            ),
            Err(e) => {
                let mut c = failed_call(name, endpoint, &e);
                c.detail.push_str("; reports show ids instead of names");
                c
            }
        };
        // The daemon works without names: reports show ids.
        report.push(check.optional());
    }
}

/// Whether a transport list names `wanted` (spellings are UNVERIFIED: case and punctuation
/// are ignored, and `All` counts for every transport).
fn carries(transports: &[String], wanted: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let wanted = norm(wanted);
    transports
        .iter()
        .map(|t| norm(t))
        .any(|t| t == wanted || t == "all")
}

async fn topic_checks(client: &GenesysClient, report: &mut Report) {
    let triggers = client.trigger_topics().await;
    let available = client.available_topics().await;
    if let Err(e) = &triggers {
        let mut check = failed_call(
            "topics offered to Process Automation triggers",
            Endpoint::TriggerTopics,
            e,
        )
        .optional();
        if matches!(e, GenesysError::Forbidden { .. }) {
            // Only this check reads the list: the setup guide keeps the permission off the
            // daemon's role, so the advice must not be to add it.
            check.fix = Some(
                "optional: the daemon does not need processautomation:trigger:view; see the \
                 trigger editor's topic list instead (docs/genesys-setup.md §6.1), or grant it \
                 for doctor's sake"
                    .into(),
            );
        }
        report.push(check);
    }
    if let Err(e) = &available {
        report.push(
            failed_call(
                "topics offered to EventBridge",
                Endpoint::AvailableTopics,
                e,
            )
            .optional(),
        );
    }
    for topic in CONSUMED_TOPICS {
        let to_triggers = triggers.as_ref().ok().map(|t| t.iter().any(|n| n == topic));
        let to_eventbridge = available.as_ref().ok().map(|a| {
            a.iter()
                .find(|t| t.id == topic)
                .and_then(|t| t.transports.as_deref())
                .is_some_and(|tr| carries(tr, "EventBridge"))
        });
        let say = |v: Option<bool>| match v {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        let detail = format!(
            "triggers: {}, EventBridge: {}",
            say(to_triggers),
            say(to_eventbridge)
        );
        let name = format!("topic {topic}");
        // Only one path is needed (a trigger or EventBridge), and the batch works without
        // either: these lines inform, they do not fail the run.
        report.push(match (to_triggers, to_eventbridge) {
            (Some(true), _) | (_, Some(true)) => Check::pass(name, detail),
            (None, None) => Check::skip(name, "the topic lists could not be read"),
            _ => Check::fail(
                name,
                format!("{detail}: not offered where it could be read"),
                if topic.ends_with(".sentiment") {
                    "use the documented fallback: a trigger or EventBridge rule on v2.detail.events.conversation.{id}.acw (docs/genesys-setup.md)"
                } else {
                    "ask Genesys support whether the topic can be enabled for the org; the batch works without webhooks"
                },
            )
            .optional(),
        });
    }
}

async fn coaching_check(settings: &Settings, options: &DoctorOptions, report: &mut Report) {
    let name = "coaching platform";
    let client = match CoachingClient::new(&settings.coaching) {
        Ok(Some(c)) => c,
        Ok(None) => {
            report.push(Check::skip(
                name,
                "coaching.url is empty: nothing is forwarded",
            ));
            return;
        }
        Err(e) => {
            report.push(Check::fail(name, e, "fix coaching.url / coaching.secret"));
            return;
        }
    };
    let shown = crate::config::redact_url(client.url().as_str());
    if !options.send_test {
        report.push(match client.probe().await {
            // 2xx, or 405 from an endpoint that takes only POST: something answers there.
            Ok(status @ (200..=299 | 405)) => Check::pass(
                name,
                format!("{shown} answers (HTTP {status} to HEAD; nothing delivered: --send-test sends a signed test delivery)"),
            ),
            Ok(status @ (401 | 403)) => Check::fail(
                name,
                format!("{shown} answers HTTP {status} to an unsigned HEAD"),
                "that may be right for a signed endpoint: --send-test checks coaching.secret / coaching.auth_header with a signed delivery",
            )
            .optional(),
            Ok(status) => Check::fail(
                name,
                format!(
                    "{shown} answers HTTP {status} to HEAD: {}",
                    match status {
                        300..=399 => "a redirect (deliveries do not follow redirects)",
                        404 | 410 => "no such endpoint",
                        500..=599 => "the platform is failing",
                        _ => "not what a webhook endpoint answers",
                    }
                ),
                "check coaching.url (the final address, its path) and the platform",
            ),
            Err(cause) => Check::fail(
                name,
                format!("{shown} does not answer: {cause}"),
                "check coaching.url and that this machine can reach it",
            ),
        });
        return;
    }
    let test_url = match &options.test_url {
        Some(u) => reqwest::Url::parse(u).map_err(|e| format!("--test-url: {e}")),
        None => {
            let mut u = client.url().clone();
            let path = format!("{}/test", u.path().trim_end_matches('/'));
            u.set_path(&path);
            Ok(u)
        }
    };
    let test_url = match test_url {
        Ok(u) => u,
        Err(e) => {
            report.push(Check::fail(name, e, "give an absolute URL"));
            return;
        }
    };
    let event_id = format!(
        "doctor-test-{}-{}",
        Utc::now().timestamp_micros(),
        std::process::id()
    );
    let body = json!({
        "event_type": "test",
        "event_id": event_id,
        "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
    .to_string();
    let shown_test = crate::config::redact_url(test_url.as_str());
    let signed = if client.signs() {
        "signed"
    } else {
        "unsigned (coaching.secret is empty)"
    };
    report.push(
        match client
            .deliver_to(&test_url, &event_id, body.as_bytes())
            .await
        {
            Attempt::Delivered { status } => Check::pass(
                name,
                format!("{signed} test delivery {event_id} to {shown_test} answered {status}"),
            ),
            Attempt::Retry { status, error, .. } => Check::fail(
                name,
                format!(
                    "test delivery to {shown_test} failed{}: {error}",
                    status.map(|s| format!(" ({s})")).unwrap_or_default()
                ),
                "check that the platform is up; real deliveries would be retried",
            ),
            Attempt::Reject { status, error } => Check::fail(
                name,
                format!("test delivery to {shown_test} refused ({status}): {error}"),
                if status == 401 || status == 403 {
                    "check coaching.secret / coaching.auth_header against what the platform expects"
                } else {
                    "check coaching.url and the platform's test path (--test-url)"
                },
            ),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_check_fails_unit_above_one_and_warns_percent_within_one() {
        let unit_seen_percent = scale_check(ScoreScale::Unit, &[0.4, -63.0]);
        assert_eq!(
            (unit_seen_percent.outcome, unit_seen_percent.required),
            (Outcome::Fail, true)
        );
        assert!(unit_seen_percent.fix.unwrap().contains("\"percent\""));
        let percent_seen_unit = scale_check(ScoreScale::Percent, &[0.4, -0.6, 0.1]);
        assert_eq!(
            (percent_seen_unit.outcome, percent_seen_unit.required),
            (Outcome::Warn, false)
        );
        // Two small scores are too few to judge a percent scale by.
        assert_eq!(
            scale_check(ScoreScale::Percent, &[0.4, -0.6]).outcome,
            Outcome::Pass
        );
        assert_eq!(scale_check(ScoreScale::Unit, &[]).outcome, Outcome::Skip);
        assert_eq!(
            scale_check(ScoreScale::Unit, &[1.0, -1.0]).outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn transports_match_ignoring_case_and_punctuation_and_all_counts() {
        let t = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(carries(&t(&["Websocket", "EventBridge"]), "EventBridge"));
        assert!(carries(&t(&["event_bridge"]), "EventBridge"));
        assert!(carries(&t(&["All"]), "EventBridge"));
        assert!(!carries(&t(&["Websocket"]), "EventBridge"));
    }
}
