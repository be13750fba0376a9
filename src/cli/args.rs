//! The command line: every subcommand and its options. The emulator wing (`emulate`,
//! `coaching-sink`, `demo`, `evaluate`, `analyze --emulator`) exists only with the
//! `emulator` cargo feature.

#[cfg(feature = "emulator")]
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::domain::ScoreScale;
#[cfg(feature = "emulator")]
use crate::emulator::org::EffectSizes;

/// genesys-sentiment: Genesys Cloud conversation sentiment → quality scores, honest
/// trends, a tamper-evident audit journal and coaching insights.
#[derive(Debug, Parser)]
#[command(name = "genesys-sentiment", version = crate::domain::VERSION, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML), layered over the built-in defaults; environment variables
    /// GENESYS_SENTIMENT__<SECTION>__<KEY> override both.
    #[arg(
        long,
        short,
        global = true,
        env = "GENESYS_SENTIMENT_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: webhook intake, scheduled batch, trends API, metrics, dashboard.
    Serve,
    /// Validate the configuration and print the effective values (secrets redacted).
    CheckConfig,
    /// Run a local Genesys Cloud emulator with a synthetic org (and a coaching sink).
    #[cfg(feature = "emulator")]
    Emulate(Box<EmulateArgs>),
    /// Run a stand-in coaching platform that counts and verifies deliveries.
    #[cfg(feature = "emulator")]
    CoachingSink(SinkArgs),
    /// Run the daemon's client against an embedded emulator and print the trend table.
    #[cfg(feature = "emulator")]
    Demo(DemoArgs),
    /// One-shot trend report: from exported records (--input) or pulled from Genesys.
    Analyze(AnalyzeArgs),
    /// Score the trend verdicts against the emulator's ground truth over several seeds.
    #[cfg(feature = "emulator")]
    Evaluate(EvaluateArgs),
    /// Check or act on the audit journal.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Pre-flight against the configured org: token, permissions, STA data, score scale,
    /// topics, coaching platform. One ✓/✗ line per check with the fix; exit 0 only when
    /// every required check passes.
    Doctor(DoctorArgs),
    /// Print a shell completion script, e.g. `genesys-sentiment completions bash >
    /// /etc/bash_completion.d/genesys-sentiment`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `genesys-sentiment man > genesys-sentiment.1`.
    Man,
}

/// Options of `doctor`.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Also send a signed test delivery (`event_type: "test"`) to the coaching platform's
    /// test path; without it the coaching URL is only asked for its headers (HEAD).
    #[arg(long)]
    pub send_test: bool,
    /// Where the test delivery goes (default: coaching.url with `/test` appended).
    #[arg(long, value_name = "URL", requires = "send_test")]
    pub test_url: Option<String>,
}

/// A number in [0, 1] (a share of agents, conversations or requests).
#[cfg(feature = "emulator")]
fn share(text: &str) -> Result<f64, String> {
    finite_in(text, 0.0, 1.0)
}

/// Quality points in [0, 40] (how much queues differ).
#[cfg(feature = "emulator")]
fn points_0_to_40(text: &str) -> Result<f64, String> {
    finite_in(text, 0.0, 40.0)
}

#[cfg(feature = "emulator")]
fn finite_in(text: &str, low: f64, high: f64) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if v.is_finite() && (low..=high).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{text} is outside [{low}, {high}]"))
    }
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain; exit 1 naming the first bad seq on any edit, deletion,
    /// reordering or truncation. Without --archive: the live journal, from seq 1 or from the
    /// checkpoint it begins with once old segments were archived (checked against ANCHOR).
    Verify {
        /// Journal directory (default: journal.dir).
        dir: Option<PathBuf>,
        /// Also verify the archived segments in this directory: the whole history from seq 1
        /// across the archive into the live journal.
        #[arg(long, value_name = "DIR", conflicts_with = "store")]
        archive: Option<PathBuf>,
        /// Verify the journal shared by replicas in PostgreSQL instead: this URL, or without
        /// a value the configured store.url (store.url_file keeps a password off the
        /// command line).
        #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "", conflicts_with = "dir")]
        store: Option<String>,
    },
    /// Put dead-lettered events back in the delivery queue (journaled as replay_requested;
    /// the daemon delivers them at its next start). The daemon must be stopped.
    Replay {
        /// Replay every dead-lettered event.
        #[arg(long, required = true)]
        dead_letters: bool,
        /// Journal directory (default: journal.dir).
        dir: Option<PathBuf>,
    },
}

/// Options of `analyze`.
#[derive(Debug, Clone, Args)]
pub struct AnalyzeArgs {
    /// Exported records: JSON lines, or CSV when the name ends in .csv. Without it the
    /// records are pulled from the configured Genesys org (or, with the emulator feature,
    /// from an embedded emulator: --emulator).
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Start of the current window (a date, UTC). The previous window is the same length
    /// before it. Default: --to minus batch.window.
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// End of the current window (exclusive, a date, UTC). Default: for --input, the day
    /// after the latest record; otherwise today.
    #[arg(long)]
    pub to: Option<chrono::NaiveDate>,
    /// Pull from an embedded emulator instead of the configured org.
    #[cfg(feature = "emulator")]
    #[arg(long, conflicts_with = "input")]
    pub emulator: bool,
    /// Seed of the embedded emulator.
    #[cfg(feature = "emulator")]
    #[arg(long, default_value_t = 1, requires = "emulator")]
    pub seed: u64,
    /// Which groups to show (repeatable): overall, agent, queue, day, agent_day, queue_day.
    /// Default: analytics.groups.
    #[arg(long, value_parser = parse_group)]
    pub group_by: Vec<crate::config::GroupDimension>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::analytics::render::Format::Table)]
    pub format: crate::analytics::render::Format,
    /// Scale of raw scores in --input rows without a `scale` column (default:
    /// genesys.sentiment_scale).
    #[arg(long)]
    pub scale: Option<ScoreScale>,
}

fn parse_group(s: &str) -> Result<crate::config::GroupDimension, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        format!("unknown group {s:?}; expected overall, agent, queue, day, agent_day or queue_day")
    })
}

/// Options of `demo`.
#[cfg(feature = "emulator")]
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Seed of the synthetic org.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Agents in the synthetic org.
    #[arg(long, default_value_t = 24)]
    pub agents: usize,
    /// Conversations per weekday across the org.
    #[arg(long, default_value_t = 600.0)]
    pub conversations_per_day: f64,
    /// Webhooks to push through the real-time path.
    #[arg(long, default_value_t = 300)]
    pub webhooks: usize,
    /// Where the daemon's public listener (webhooks, probes) binds.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// Where its admin listener (dashboard at /, /v1/*, /metrics) binds.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub admin_listen: std::net::SocketAddr,
    /// Keep the daemon and dashboard running after the demo, until Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
}

/// Options of `evaluate`.
#[cfg(feature = "emulator")]
#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    /// Number of seeds (orgs) to evaluate: 1..=N.
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Agents per org.
    #[arg(long, default_value_t = 400)]
    pub agents: usize,
    /// Conversations per weekday per org.
    #[arg(long, default_value_t = 12_000.0)]
    pub conversations_per_day: f64,
    /// End of the evaluated history (fixed by default so results are reproducible).
    #[arg(long, default_value = "2026-06-01T00:00:00Z")]
    pub end: chrono::DateTime<chrono::Utc>,
    /// Quality points between the easiest (and hardest) queue and an agent's own level.
    #[arg(long, default_value_t = 9.0, value_parser = points_0_to_40)]
    pub queue_effects: f64,
    /// Share of agents whose only change is a move between an easy and a hard queue.
    #[arg(long, default_value_t = 0.2, value_parser = share)]
    pub mix_only_share: f64,
    /// Print a markdown section (for docs/benchmarks.md) instead of JSON.
    #[arg(long)]
    pub markdown: bool,
}

/// Options of `emulate`.
#[cfg(feature = "emulator")]
#[derive(Debug, Clone, Args)]
pub struct EmulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// Seed of the synthetic org (same seed, same data).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// OAuth client id the emulator accepts.
    #[arg(long, default_value = crate::emulator::DEFAULT_CLIENT_ID)]
    pub client_id: String,
    /// OAuth client secret the emulator accepts.
    #[arg(long, default_value = crate::emulator::DEFAULT_CLIENT_SECRET)]
    pub client_secret: String,
    /// Number of agents.
    #[arg(long, default_value_t = 40)]
    pub agents: usize,
    /// Number of queues.
    #[arg(long, default_value_t = 4)]
    pub queues: usize,
    /// Days of history, ending at --end.
    #[arg(long, default_value_t = 28)]
    pub days: u32,
    /// Conversations per weekday across the org.
    #[arg(long, default_value_t = 1000.0)]
    pub conversations_per_day: f64,
    /// Share of conversations without STA analysis.
    #[arg(long, default_value_t = 0.05, value_parser = share)]
    pub unanalysed_share: f64,
    /// Window length (days) the ground truth compares.
    #[arg(long, default_value_t = 7)]
    pub window_days: u32,
    /// Size of the injected trend changes.
    #[arg(long, value_enum, default_value_t = EffectSizes::Mixed)]
    pub effects: EffectSizes,
    /// Quality points between the easiest (and hardest) queue and an agent's own level
    /// (0: queues do not matter).
    #[arg(long, default_value_t = 0.0, value_parser = points_0_to_40)]
    pub queue_effects: f64,
    /// Share of agents (from the stable ones) whose only change is a move between an easy
    /// and a hard queue at the window boundary (truth label `mix_only`).
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub mix_only_share: f64,
    /// End of the history (RFC 3339); default: the start of today (UTC).
    #[arg(long)]
    pub end: Option<chrono::DateTime<chrono::Utc>>,
    /// Lifetime of issued tokens (e.g. 30s to watch expiry).
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub token_lifetime: std::time::Duration,
    /// Requests per token per minute before 429.
    #[arg(long, default_value_t = 300)]
    pub rate_limit: u64,
    /// How far the jobs availability date lags the end of the history.
    #[arg(long, default_value = "6h", value_parser = humantime::parse_duration)]
    pub availability_lag: std::time::Duration,
    /// Scale of STA scores: unit [-1, 1] or percent [-100, 100].
    #[arg(long, default_value = "unit")]
    pub score_scale: ScoreScale,
    /// Scale of oSentimentScore in transcript aggregates.
    #[arg(long, default_value = "unit")]
    pub aggregate_scale: ScoreScale,
    /// Fault: share of API requests answered 500/503.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub error_rate: f64,
    /// Fault: added latency per API request (milliseconds).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fault: share of answers with a truncated JSON body.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub malformed_rate: f64,
    /// Fault: answer every API request 429 for this many seconds from start.
    #[arg(long, default_value_t = 0)]
    pub storm_seconds: u64,
    /// Fault: analytics jobs end FAILED.
    #[arg(long)]
    pub fail_jobs: bool,
    /// Fault: every API request is answered 403 (a role without the permission).
    #[arg(long)]
    pub forbid: bool,
    /// Fault: requests that need this permission are answered 403, naming it (repeatable),
    /// e.g. `--forbid-permission speechAndTextAnalytics:data:view`.
    #[arg(long, value_name = "PERMISSION")]
    pub forbid_permission: Vec<String>,
    /// A topic the emulated org does not offer to any transport (repeatable), e.g.
    /// `--unoffer-topic 'v2.speechandtextanalytics.conversation.{id}.sentiment'`.
    #[arg(long, value_name = "TOPIC")]
    pub unoffer_topic: Vec<String>,
    /// Standard Webhooks secret the coaching sink (under /sink) verifies with.
    #[arg(long)]
    pub sink_secret: Option<String>,
}

/// Options of `coaching-sink`.
#[cfg(feature = "emulator")]
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9091")]
    pub listen: SocketAddr,
    /// Standard Webhooks secret (`whsec_…`) to verify deliveries with.
    #[arg(long)]
    pub secret: Option<String>,
}

impl AnalyzeArgs {
    /// Whether the records come from an embedded emulator (`--emulator`).
    pub fn uses_emulator(&self) -> bool {
        #[cfg(feature = "emulator")]
        return self.emulator;
        #[cfg(not(feature = "emulator"))]
        return false;
    }
}

#[cfg(feature = "emulator")]
impl EmulateArgs {
    /// The emulator configuration these options describe.
    pub fn to_config(&self) -> crate::emulator::EmulatorConfig {
        let mut c = crate::emulator::EmulatorConfig::new(self.seed);
        c.client_id = self.client_id.clone();
        c.client_secret = self.client_secret.clone();
        c.org.agents = self.agents;
        c.org.queues = self.queues;
        c.org.days = self.days;
        c.org.conversations_per_day = self.conversations_per_day;
        c.org.unanalysed_share = self.unanalysed_share;
        c.org.window_days = self.window_days;
        c.org.effects = self.effects;
        c.org.queue_effect_points = self.queue_effects;
        c.org.mix_only_share = self.mix_only_share;
        if let Some(end) = self.end {
            c.org.end = end;
        }
        c.org.score_scale = self.score_scale;
        c.org.aggregate_scale = self.aggregate_scale;
        c.token_lifetime = self.token_lifetime;
        c.rate_limit_per_minute = self.rate_limit;
        c.availability_lag = self.availability_lag;
        c.faults = crate::emulator::Faults {
            error_rate: self.error_rate,
            latency_ms: self.latency_ms,
            malformed_rate: self.malformed_rate,
            storm_seconds: self.storm_seconds,
            revoke_tokens: false,
            fail_jobs: self.fail_jobs,
            forbidden: self.forbid,
            forbid_paths: vec![],
            forbid_permissions: self.forbid_permission.clone(),
            ongoing: vec![],
            max_filter_predicates: 0,
        };
        c.sink = crate::emulator::sink::SinkConfig {
            secret: self.sink_secret.clone(),
        };
        c.unoffered_topics = self.unoffer_topic.clone();
        c
    }
}
