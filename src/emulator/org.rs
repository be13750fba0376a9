//! The synthetic contact center: agents, queues and conversations generated from a seed,
//! with per-agent sentiment processes whose true trend is known.
//!
//! Each agent has a mean quality (0–100) that is stable, drifts linearly, or steps once.
//! A conversation's quality is drawn from a Beta distribution around the agent's mean at
//! that moment, so scores use most of their range: within one agent and window the standard
//! deviation is at least 15 points. Volumes are uneven (log-normal, plus a tenth of agents
//! with only a handful of conversations), halved two days in seven, inside business hours.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, LogNormal, Poisson};
use serde::Serialize;

use crate::domain::ScoreScale;

/// Beta concentration of per-conversation quality: SD = 100·√(m(1−m)/(κ+1)) ≥ 15 points
/// for means between 30 and 70.
pub const CONCENTRATION: f64 = 8.0;
/// Business hours (UTC) in which conversations start.
const OPEN_HOUR: i64 = 8;
const CLOSE_HOUR: i64 = 20;

/// How big the injected changes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum EffectSizes {
    /// Two thirds large (10–16 points between windows), one third small (3–6 points).
    Mixed,
    /// Only large changes (every changing agent is clearly detectable with enough data).
    Large,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrgSpec {
    /// Seed: the same seed (and end) gives the same org.
    pub seed: u64,
    /// Number of agents.
    pub agents: usize,
    /// Number of queues.
    pub queues: usize,
    /// Days of history ending at `end`.
    pub days: u32,
    /// Conversations per (week)day across the org.
    pub conversations_per_day: f64,
    /// Share of conversations with no STA analysis (404 on the STA endpoint).
    pub unanalysed_share: f64,
    /// End of the history (exclusive), normally a UTC midnight.
    pub end: DateTime<Utc>,
    /// The window length the ground truth compares by default.
    pub window_days: u32,
    /// Share of agents that are stable; the rest split evenly between improving and
    /// declining.
    pub stable_share: f64,
    /// Effect sizes of the changes.
    pub effects: EffectSizes,
    /// Scale the STA endpoint reports scores on.
    pub score_scale: ScoreScale,
    /// Scale the transcript aggregates report `oSentimentScore` on.
    pub aggregate_scale: ScoreScale,
    /// How much queues differ in customer sentiment: the easiest queue's conversations run
    /// this many quality points above an agent's own level, the hardest this many below
    /// (Sales and VIP easy, Retention and Claims hard). 0: queues do not matter.
    pub queue_effect_points: f64,
    /// Share of agents (taken from the stable ones) whose work moves from an easy queue to a
    /// hard one, or back, at the window boundary, with no change in how they do within
    /// either: truth label `mix_only`.
    pub mix_only_share: f64,
}

impl OrgSpec {
    /// A small default org ending at the start of today (UTC).
    pub fn new(seed: u64) -> OrgSpec {
        OrgSpec {
            seed,
            agents: 40,
            queues: 4,
            days: 28,
            conversations_per_day: 1000.0,
            unanalysed_share: 0.05,
            end: today_midnight(),
            window_days: 7,
            stable_share: 0.6,
            effects: EffectSizes::Mixed,
            score_scale: ScoreScale::Unit,
            aggregate_scale: ScoreScale::Unit,
            queue_effect_points: 0.0,
            mix_only_share: 0.0,
        }
    }
}

/// The start of the current UTC day.
pub fn today_midnight() -> DateTime<Utc> {
    let now = Utc::now();
    now.date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
}

/// An agent's true sentiment process, in quality points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "pattern", rename_all = "snake_case")]
pub enum Process {
    /// Constant mean.
    Stable,
    /// Linear change of `per_day` points a day from `from`, crossing the base mean at
    /// `through` (so the path stays centred on the base).
    Drift {
        /// When the drift starts.
        from: DateTime<Utc>,
        /// When the mean equals the base.
        through: DateTime<Utc>,
        /// Points per day.
        per_day: f64,
    },
    /// A jump of `delta` points at `at`.
    Step {
        /// When the step happens.
        at: DateTime<Utc>,
        /// Size of the step.
        delta: f64,
    },
}

/// One agent.
#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    /// Genesys user id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The queue most of their conversations come through.
    pub home_queue: usize,
    /// A `mix_only` agent's move: from this time on their home queue is the second value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moves_to: Option<(DateTime<Utc>, usize)>,
    /// Mean quality before any change.
    pub base: f64,
    /// How the mean evolves.
    pub process: Process,
    /// Expected conversations per weekday.
    pub daily_rate: f64,
    /// Left the org since (Genesys user state `inactive`): `GET /api/v2/users` leaves them
    /// out unless asked for `state=any` or `inactive`, though their conversations remain.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub departed: bool,
}

impl Agent {
    /// The home queue at `t`.
    pub fn home_at(&self, t: DateTime<Utc>) -> usize {
        match self.moves_to {
            Some((at, q)) if t >= at => q,
            _ => self.home_queue,
        }
    }

    /// The true mean quality at `t` (of the agent's own work, before any queue effect).
    pub fn mean_at(&self, t: DateTime<Utc>) -> f64 {
        match self.process {
            Process::Stable => self.base,
            Process::Drift {
                from,
                through,
                per_day,
            } => {
                let days = (t.max(from) - through).num_seconds() as f64 / 86_400.0;
                self.base + per_day * days
            }
            Process::Step { at, delta } => self.base + if t >= at { delta } else { 0.0 },
        }
    }
}

/// One queue.
#[derive(Debug, Clone, Serialize)]
pub struct Queue {
    /// Genesys queue id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Quality points the queue's customers add to (or take from) an agent's own level.
    pub effect_points: f64,
}

/// One conversation, compactly.
#[derive(Debug, Clone, Copy)]
pub struct Conversation {
    /// UUID bits of the conversation id.
    pub id: u128,
    /// Start (Unix ms).
    pub start_ms: i64,
    /// Duration (ms).
    pub duration_ms: u32,
    /// Index into [`Org::agents`].
    pub agent: u32,
    /// Index into [`Org::queues`].
    pub queue: u16,
    /// 0 voice, 1 chat, 2 message.
    pub media: u8,
    /// Whether STA analysed it.
    pub analysed: bool,
    /// Overall sentiment on the unit scale [−1, 1].
    pub score: f32,
    /// Sentiment trend on the unit scale.
    pub trend: f32,
}

impl Conversation {
    /// The conversation id as Genesys writes it.
    pub fn id_string(&self) -> String {
        uuid::Uuid::from_u128(self.id).to_string()
    }

    /// Start time.
    pub fn start(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.start_ms).expect("valid time")
    }

    /// End time.
    pub fn end(&self) -> DateTime<Utc> {
        self.start() + TimeDelta::milliseconds(i64::from(self.duration_ms))
    }

    /// Media type name.
    pub fn media_type(&self) -> &'static str {
        match self.media {
            0 => "voice",
            1 => "chat",
            _ => "message",
        }
    }

    /// Quality score (0–100) under the linear-v1 formula.
    pub fn quality(&self) -> f64 {
        (f64::from(self.score) + 1.0) * 50.0
    }
}

/// The generated org.
#[derive(Debug)]
pub struct Org {
    /// What it was generated from.
    pub spec: OrgSpec,
    /// Agents.
    pub agents: Vec<Agent>,
    /// Queues.
    pub queues: Vec<Queue>,
    /// Conversations sorted by start.
    pub conversations: Vec<Conversation>,
    by_id: HashMap<u128, u32>,
}

const FIRST: [&str; 24] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Dennis",
    "Radia",
    "Tim",
    "Katherine",
    "Linus",
    "Hedy",
    "John",
    "Shafi",
    "Leslie",
    "Sophie",
    "Niklaus",
    "Anita",
    "Vint",
    "Joan",
    "Robin",
];
const LAST: [&str; 16] = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
    "Ritchie", "Perlman", "Lee", "Johnson", "Torvalds", "Lamarr", "McCarthy",
];
/// How easy each of [`QUEUE_NAMES`] is, from −1 (hardest) to 1 (easiest), times
/// [`OrgSpec::queue_effect_points`].
const QUEUE_EASE: [f64; 8] = [0.1, -0.1, 1.0, -1.0, -0.6, 0.4, -0.4, 0.6];
const QUEUE_NAMES: [&str; 8] = [
    "Billing",
    "Technical Support",
    "Sales",
    "Retention",
    "Claims",
    "Onboarding",
    "Returns",
    "VIP",
];

fn uuid_from(rng: &mut ChaCha8Rng) -> u128 {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .as_u128()
}

/// Volume factor of the day starting at `day`: the two days before each 7-day boundary
/// counted back from `end` are "weekend" days at half volume. Relative to `end` (not the
/// calendar) so an org generated for any end date is the same org, shifted in time: a seed
/// gives the same verdicts whatever day the tests run.
fn weekday_factor(day: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    let days_before_end = (end - day).num_days();
    if matches!(days_before_end.rem_euclid(7), 1 | 2) {
        0.5
    } else {
        1.0
    }
}

impl Org {
    /// Generates the org. Deterministic in `spec`.
    pub fn generate(spec: OrgSpec) -> Org {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let queues: Vec<Queue> = (0..spec.queues.max(1))
            .map(|i| Queue {
                id: uuid::Uuid::from_u128(uuid_from(&mut rng)).to_string(),
                name: if i < QUEUE_NAMES.len() {
                    QUEUE_NAMES[i].to_owned()
                } else {
                    format!("Queue {}", i + 1)
                },
                effect_points: QUEUE_EASE.get(i).copied().unwrap_or(0.0) * spec.queue_effect_points,
            })
            .collect();
        let mut agents = Self::agents(&spec, &queues, &mut rng);
        Self::move_some(&spec, &queues, &mut agents);
        let mut conversations = Self::conversations(&spec, &agents, &queues, &mut rng);
        conversations.sort_by_key(|c| (c.start_ms, c.id));
        let by_id = conversations
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i as u32))
            .collect();
        Org {
            spec,
            agents,
            queues,
            conversations,
            by_id,
        }
    }

    fn agents(spec: &OrgSpec, queues: &[Queue], rng: &mut ChaCha8Rng) -> Vec<Agent> {
        let n = spec.agents.max(1);
        let window = TimeDelta::days(i64::from(spec.window_days));
        let current_start = spec.end - window;
        let previous_start = current_start - window;
        // Patterns in a seeded random order: stable, then improving/declining halves.
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            order.swap(i, j);
        }
        let stable = ((n as f64) * spec.stable_share).round() as usize;
        let changing = n - stable;
        let lognormal = LogNormal::new(0.0, 0.5).expect("valid log-normal");
        let mut rates: Vec<f64> = (0..n)
            .map(|_| {
                if rng.random_bool(0.1) {
                    -1.0
                } else {
                    lognormal.sample(rng)
                }
            })
            .collect();
        let handful_rate = |rng: &mut ChaCha8Rng| rng.random_range(0.2..0.8);
        let big_total: f64 = rates.iter().filter(|r| **r > 0.0).sum();
        let handfuls = rates.iter().filter(|r| **r < 0.0).count() as f64;
        let budget = (spec.conversations_per_day - handfuls * 0.5).max(1.0);
        for r in &mut rates {
            *r = if *r < 0.0 {
                handful_rate(rng)
            } else {
                *r / big_total.max(1e-9) * budget
            };
        }
        let mut agents = Vec::with_capacity(n);
        for (i, &daily_rate) in rates.iter().enumerate() {
            let rank = order.iter().position(|&o| o == i).expect("permutation");
            let direction = if rank < stable {
                0.0
            } else if (rank - stable) < changing / 2 {
                -1.0
            } else {
                1.0
            };
            let large = match spec.effects {
                EffectSizes::Large => true,
                EffectSizes::Mixed => rng.random_bool(2.0 / 3.0),
            };
            let magnitude = if large {
                rng.random_range(10.0..16.0)
            } else {
                rng.random_range(3.0..6.0)
            };
            // Paths stay within 30–70 points, where the per-conversation SD is ≥ 15.
            let (base, process) = if direction == 0.0 {
                (rng.random_range(42.0..62.0), Process::Stable)
            } else if rng.random_bool(0.5) {
                // Drift across both windows, centred on the boundary: the window means
                // differ by per_day · window_days.
                let process = Process::Drift {
                    from: previous_start,
                    through: current_start,
                    per_day: direction * magnitude / f64::from(spec.window_days.max(1)),
                };
                (rng.random_range(46.0..54.0), process)
            } else {
                // A step near the window boundary.
                let offset_h = rng.random_range(-36..36);
                let process = Process::Step {
                    at: current_start + TimeDelta::hours(offset_h),
                    delta: direction * magnitude,
                };
                let base = if direction < 0.0 {
                    rng.random_range(52.0..60.0)
                } else {
                    rng.random_range(40.0..48.0)
                };
                (base, process)
            };
            let first = FIRST[rng.random_range(0..FIRST.len())];
            let last = LAST[rng.random_range(0..LAST.len())];
            agents.push(Agent {
                id: uuid::Uuid::from_u128(uuid_from(rng)).to_string(),
                name: format!("{first} {last} ({:03})", i + 1),
                home_queue: i % queues.len(),
                moves_to: None,
                base,
                process,
                daily_rate,
                // One agent in 20 has left since (not drawn: the seeded stream is unchanged).
                departed: i % 20 == 7,
            });
        }
        agents
    }

    /// Picks the `mix_only` agents among the stable ones (from their own seeded stream, so
    /// an org without them is unchanged) and moves each between an easy and a hard queue at
    /// the window boundary, half of them each way.
    fn move_some(spec: &OrgSpec, queues: &[Queue], agents: &mut [Agent]) {
        let wanted = (agents.len() as f64 * spec.mix_only_share.clamp(0.0, 1.0)).round() as usize;
        if wanted == 0 || queues.len() < 2 {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x6d69_785f_6f6e_6c79);
        let mut by_ease: Vec<usize> = (0..queues.len()).collect();
        by_ease.sort_by(|a, b| {
            queues[*b]
                .effect_points
                .total_cmp(&queues[*a].effect_points)
        });
        let half = (queues.len() / 2).max(1);
        let (easy, hard) = by_ease.split_at(half);
        let boundary = spec.end - TimeDelta::days(i64::from(spec.window_days.max(1)));
        let mut stable: Vec<usize> = (0..agents.len())
            .filter(|i| agents[*i].process == Process::Stable)
            .collect();
        for i in (1..stable.len()).rev() {
            let j = rng.random_range(0..=i);
            stable.swap(i, j);
        }
        for (k, &i) in stable.iter().take(wanted).enumerate() {
            let e = easy[rng.random_range(0..easy.len())];
            let h = hard[rng.random_range(0..hard.len())];
            let (from, to) = if k % 2 == 0 { (e, h) } else { (h, e) };
            agents[i].home_queue = from;
            agents[i].moves_to = Some((boundary, to));
        }
    }

    fn conversations(
        spec: &OrgSpec,
        agents: &[Agent],
        queues: &[Queue],
        rng: &mut ChaCha8Rng,
    ) -> Vec<Conversation> {
        let queue_count = queues.len();
        let start = spec.end - TimeDelta::days(i64::from(spec.days));
        let open_ms = (CLOSE_HOUR - OPEN_HOUR) * 3_600_000;
        let mut out = Vec::new();
        for (ai, agent) in agents.iter().enumerate() {
            for d in 0..spec.days {
                let day = start + TimeDelta::days(i64::from(d));
                let lambda = agent.daily_rate * weekday_factor(day, spec.end);
                let count = if lambda > 0.0 {
                    Poisson::new(lambda)
                        .map(|p| p.sample(rng) as u32)
                        .unwrap_or(0)
                } else {
                    0
                };
                for _ in 0..count {
                    let at = day
                        + TimeDelta::milliseconds(
                            OPEN_HOUR * 3_600_000 + rng.random_range(0..open_ms),
                        );
                    // The queue is drawn after the score (as it always was, so the seeded
                    // stream is unchanged); with queue effects, it is drawn first.
                    let pick_queue = |rng: &mut ChaCha8Rng| {
                        if rng.random_bool(0.85) {
                            agent.home_at(at)
                        } else {
                            rng.random_range(0..queue_count)
                        }
                    };
                    let early = (spec.queue_effect_points != 0.0).then(|| pick_queue(rng));
                    let queue_effect = early.map_or(0.0, |q| queues[q].effect_points);
                    let m = ((agent.mean_at(at) + queue_effect) / 100.0).clamp(0.02, 0.98);
                    let beta = Beta::new(m * CONCENTRATION, (1.0 - m) * CONCENTRATION)
                        .expect("valid beta parameters");
                    let quality: f64 = beta.sample(rng);
                    let score = (quality * 2.0 - 1.0).clamp(-1.0, 1.0);
                    let trend = (rng.random_range(-0.6..0.6) + score * 0.3).clamp(-1.0, 1.0);
                    let queue = match early {
                        Some(q) => q,
                        None => pick_queue(rng),
                    };
                    let media = match rng.random_range(0..10) {
                        0 => 1,
                        1 => 2,
                        _ => 0,
                    };
                    out.push(Conversation {
                        id: uuid_from(rng),
                        start_ms: at.timestamp_millis(),
                        duration_ms: rng.random_range(90_000..1_200_000),
                        agent: ai as u32,
                        queue: queue as u16,
                        media,
                        analysed: !rng.random_bool(spec.unanalysed_share.clamp(0.0, 1.0)),
                        score: score as f32,
                        trend: trend as f32,
                    });
                }
            }
        }
        out
    }

    /// Display names of every agent and queue, by id (for reports and dashboards).
    pub fn labels(&self) -> HashMap<String, String> {
        let agents = self.agents.iter().map(|a| (a.id.clone(), a.name.clone()));
        let queues = self.queues.iter().map(|q| (q.id.clone(), q.name.clone()));
        agents.chain(queues).collect()
    }

    /// The conversation with this id.
    pub fn find(&self, id: &str) -> Option<&Conversation> {
        let uuid = uuid::Uuid::parse_str(id).ok()?;
        self.by_id
            .get(&uuid.as_u128())
            .map(|i| &self.conversations[*i as usize])
    }

    /// Conversations starting in `[from, to)`, in start order.
    pub fn starting_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> &[Conversation] {
        let (a, b) = (from.timestamp_millis(), to.timestamp_millis());
        let lo = self.conversations.partition_point(|c| c.start_ms < a);
        let hi = self.conversations.partition_point(|c| c.start_ms < b);
        &self.conversations[lo..hi.max(lo)]
    }

    /// The first and last instant of the history.
    pub fn span(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            self.spec.end - TimeDelta::days(i64::from(self.spec.days)),
            self.spec.end,
        )
    }

    /// Ground truth for the windows `[end − 2w, end − w)` and `[end − w, end)`.
    pub fn ground_truth(&self, window_days: u32, end: DateTime<Utc>) -> GroundTruth {
        let w = TimeDelta::days(i64::from(window_days.max(1)));
        let current = (end - w, end);
        let previous = (end - w - w, end - w);
        let mut counts = vec![[0u64; 2]; self.agents.len()];
        for c in self.starting_between(previous.0, current.1) {
            if c.analysed {
                let slot = usize::from(c.start_ms >= current.0.timestamp_millis());
                counts[c.agent as usize][slot] += 1;
            }
        }
        let agents = self
            .agents
            .iter()
            .zip(counts)
            .map(|(a, [n_prev, n_cur])| {
                let mean_previous = expected_mean(a, previous.0, previous.1, self.spec.end);
                let mean_current = expected_mean(a, current.0, current.1, self.spec.end);
                let effect = mean_current - mean_previous;
                let mix_shift = self.expected_queue_effect(a, current.0)
                    - self.expected_queue_effect(a, previous.0);
                let trend = if effect.abs() < 1e-9 && mix_shift.abs() > 1e-9 {
                    "mix_only"
                } else if effect.abs() < 1e-9 {
                    "stable"
                } else if effect > 0.0 {
                    "improving"
                } else {
                    "declining"
                };
                let m = (mean_current / 100.0).clamp(0.02, 0.98);
                AgentTruth {
                    agent_id: a.id.clone(),
                    name: a.name.clone(),
                    queue_id: self.queues[a.home_at(current.0)].id.clone(),
                    trend,
                    process: a.process,
                    effect_points: round3(effect),
                    mix_shift_points: round3(mix_shift),
                    sd_points: round3(100.0 * (m * (1.0 - m) / (CONCENTRATION + 1.0)).sqrt()),
                    mean_previous: round3(mean_previous),
                    mean_current: round3(mean_current),
                    n_previous: n_prev,
                    n_current: n_cur,
                }
            })
            .collect();
        GroundTruth {
            seed: self.spec.seed,
            window_days,
            previous: Window {
                start: previous.0,
                end: previous.1,
            },
            current: Window {
                start: current.0,
                end: current.1,
            },
            agents,
        }
    }
}

impl Org {
    /// The expected queue effect on an agent's conversations from `t` on (85 % home queue,
    /// the rest spread over all queues).
    fn expected_queue_effect(&self, agent: &Agent, t: DateTime<Utc>) -> f64 {
        let all: f64 =
            self.queues.iter().map(|q| q.effect_points).sum::<f64>() / self.queues.len() as f64;
        0.85 * self.queues[agent.home_at(t)].effect_points + 0.15 * all
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The conversation-weighted expected mean over a window: business hours, weekends at half.
fn expected_mean(agent: &Agent, from: DateTime<Utc>, to: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    let (mut sum, mut weight) = (0.0, 0.0);
    let mut day = from;
    while day < to {
        let w = weekday_factor(day, end);
        let mut minute = OPEN_HOUR * 60;
        while minute < CLOSE_HOUR * 60 {
            let t = day + TimeDelta::minutes(minute);
            if t < to {
                sum += w * agent.mean_at(t);
                weight += w;
            }
            minute += 10;
        }
        day += TimeDelta::days(1);
    }
    if weight > 0.0 {
        sum / weight
    } else {
        agent.mean_at(from)
    }
}

/// A window in the ground truth.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Window {
    /// Start (inclusive).
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
}

/// One agent's truth for a pair of windows.
#[derive(Debug, Clone, Serialize)]
pub struct AgentTruth {
    /// Genesys user id.
    pub agent_id: String,
    /// Display name.
    pub name: String,
    /// Home queue id.
    pub queue_id: String,
    /// `stable`, `improving` or `declining` (the sign of the true effect), or `mix_only`
    /// (no change of their own; the raw mean moves only because their queue mix did).
    pub trend: &'static str,
    /// The process that generated the scores.
    pub process: Process,
    /// True change of the agent's own mean quality between the windows (points), before
    /// any queue effect: what a verdict should find.
    pub effect_points: f64,
    /// Expected change of the raw mean that the change of queue mix alone causes (points).
    pub mix_shift_points: f64,
    /// True per-conversation standard deviation in the current window (points).
    pub sd_points: f64,
    /// True mean quality, previous window.
    pub mean_previous: f64,
    /// True mean quality, current window.
    pub mean_current: f64,
    /// Analysed conversations generated in the previous window.
    pub n_previous: u64,
    /// Analysed conversations generated in the current window.
    pub n_current: u64,
}

/// What `GET /emulator/ground-truth` publishes.
#[derive(Debug, Clone, Serialize)]
pub struct GroundTruth {
    /// The seed.
    pub seed: u64,
    /// Window length.
    pub window_days: u32,
    /// The previous window.
    pub previous: Window,
    /// The current window.
    pub current: Window,
    /// Per agent.
    pub agents: Vec<AgentTruth>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_org_has_the_promised_shape() {
        let mut spec = OrgSpec::new(7);
        spec.end = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 6, 1, 0, 0, 0).unwrap();
        spec.agents = 60;
        spec.conversations_per_day = 2400.0;
        let org = Org::generate(spec);
        assert_eq!(org.agents.len(), 60);
        assert!(
            org.conversations
                .windows(2)
                .all(|w| w[0].start_ms <= w[1].start_ms)
        );
        let truth = org.ground_truth(7, org.spec.end);
        let count = |t: &str| truth.agents.iter().filter(|a| a.trend == t).count();
        assert_eq!(count("stable"), 36);
        assert!(count("declining") >= 10 && count("improving") >= 10);
        let handfuls = truth.agents.iter().filter(|a| a.n_current < 10).count();
        assert!(
            handfuls >= 1,
            "some agents have only a handful of conversations"
        );
        // Within one agent and window the quality spread is at least 15 points.
        let (cur_start, cur_end) = (truth.current.start, truth.current.end);
        for (i, a) in org.agents.iter().enumerate() {
            let scores: Vec<f64> = org
                .starting_between(cur_start, cur_end)
                .iter()
                .filter(|c| c.agent as usize == i)
                .map(Conversation::quality)
                .collect();
            if scores.len() < 200 {
                continue;
            }
            let mean = scores.iter().sum::<f64>() / scores.len() as f64;
            let sd = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>()
                / (scores.len() - 1) as f64)
                .sqrt();
            assert!(sd >= 14.0, "agent {} sd {sd}", a.name);
            assert!(
                truth.agents[i].sd_points >= 15.0,
                "true sd {}",
                truth.agents[i].sd_points
            );
            // Within 4.5 standard errors of the true mean.
            let se = truth.agents[i].sd_points / (scores.len() as f64).sqrt();
            assert!(
                (mean - truth.agents[i].mean_current).abs() < 4.5 * se,
                "{mean} vs {} ({:?}, n {})",
                truth.agents[i].mean_current,
                a.process,
                scores.len()
            );
        }
    }
}

#[cfg(test)]
mod shift_tests {
    use super::*;

    #[test]
    fn the_same_seed_is_the_same_org_whatever_the_end_date() {
        let at = |end: DateTime<Utc>| {
            let mut spec = OrgSpec::new(3);
            spec.end = end;
            spec.agents = 10;
            Org::generate(spec)
        };
        let a = at(chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 6, 1, 0, 0, 0).unwrap());
        let b = at(chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 9, 17, 0, 0, 0).unwrap());
        let shift = (b.spec.end - a.spec.end).num_milliseconds();
        assert_eq!(a.conversations.len(), b.conversations.len());
        for (x, y) in a.conversations.iter().zip(&b.conversations) {
            assert_eq!((x.id, x.score, x.agent), (y.id, y.score, y.agent));
            assert_eq!(x.start_ms + shift, y.start_ms);
        }
        let (ta, tb) = (a.ground_truth(7, a.spec.end), b.ground_truth(7, b.spec.end));
        for (x, y) in ta.agents.iter().zip(&tb.agents) {
            assert_eq!(
                (x.trend, x.effect_points, x.n_current),
                (y.trend, y.effect_points, y.n_current)
            );
        }
    }
}
