//! Issue 17: agent verdicts adjusted for queue mix (trend-v2).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use genesys_sentiment::analytics::aggregate::Aggregator;
use genesys_sentiment::analytics::normalize::Normalizer;
use genesys_sentiment::analytics::report::{Direction, GroupReport, TrendReport, Windows};
use genesys_sentiment::analytics::stats::{StratumSample, stratified_welch, welch};
use genesys_sentiment::analytics::{TrendConfig, trend};
use genesys_sentiment::config::{Settings, TrendVersion};
use genesys_sentiment::domain::{
    AgentId, ConversationId, QueueId, RawSentiment, ScoreScale, SentimentRecord,
};
use proptest::prelude::*;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()
}

fn windows() -> Windows {
    Windows::ending_at(start() + TimeDelta::days(14), 7)
}

/// One conversation of `agent` in `queue` on `day` (0–13) with this quality score.
fn record(agent: &str, queue: &str, day: i64, minute: i64, quality: f64) -> SentimentRecord {
    SentimentRecord {
        conversation_id: ConversationId(format!("{agent}-{queue}-{day}-{minute}")),
        agent_id: Some(AgentId(agent.into())),
        queue_id: Some(QueueId(queue.into())),
        time: start() + TimeDelta::days(day) + TimeDelta::hours(9) + TimeDelta::minutes(minute),
        raw: RawSentiment {
            value: quality / 50.0 - 1.0,
            scale: ScoreScale::Unit,
        },
        polarity: None,
        media_type: None,
    }
}

/// `n` conversations in a window (previous: days 0–6, current: 7–13) with mean `mean`:
/// alternately 2 points below and above it, so every within-queue mean is known exactly.
fn block(agent: &str, queue: &str, current: bool, n: usize, mean: f64) -> Vec<SentimentRecord> {
    (0..n)
        .map(|i| {
            let day = (i % 7) as i64 + if current { 7 } else { 0 };
            let q = if i % 2 == 0 { mean - 2.0 } else { mean + 2.0 };
            record(agent, queue, day, i as i64, q)
        })
        .collect()
}

fn report(records: &[SentimentRecord], version: TrendVersion) -> TrendReport {
    let mut settings = Settings::defaults().analytics;
    settings.trend_version = version;
    let mut agg = Aggregator::new(Normalizer::default());
    for r in records {
        agg.push(r).unwrap();
    }
    trend::build_report(
        &agg,
        windows(),
        &TrendConfig::from_settings(&settings),
        start(),
        None,
        "test",
    )
}

fn agent<'a>(r: &'a TrendReport, key: &str) -> &'a GroupReport {
    r.groups.iter().find(|g| g.key == key).unwrap()
}

/// Even counts per block keep the ±2 alternation balanced, so each block's mean is exact.
fn two_queue_agent(within_a: f64, within_b: f64) -> Vec<SentimentRecord> {
    let mut r = Vec::new();
    // Previous window: mostly the easy queue A (mean 80), some of the hard queue B (60).
    r.extend(block("ada", "A", false, 30, 80.0));
    r.extend(block("ada", "B", false, 10, 60.0));
    // Current window: mostly B.
    r.extend(block("ada", "A", true, 10, 80.0 + within_a));
    r.extend(block("ada", "B", true, 30, 60.0 + within_b));
    r
}

#[test]
fn a_move_to_a_harder_queue_alone_is_not_a_decline() {
    // Nothing changed within either queue; the raw mean falls from 75 to 65.
    let records = two_queue_agent(0.0, 0.0);
    let v2 = report(&records, TrendVersion::V2);
    let g = agent(&v2, "ada");
    assert_eq!(v2.algorithm_version, "trend-v2");
    assert_eq!(g.verdict.raw_effect_points, Some(-10.0));
    assert_eq!(g.verdict.effect_points, Some(0.0));
    assert_eq!(g.verdict.mix_shift_points, Some(-10.0));
    assert_eq!(g.verdict.direction, Direction::Stable);
    assert_eq!(g.verdict.notes, vec!["queue_mix".to_owned()]);
    assert_eq!(g.verdict.method, "stratified_welch_t+benjamini_hochberg");
    let adj = g.verdict.adjustment.as_ref().unwrap();
    assert_eq!(
        (adj.strata_used, adj.strata_left_out, adj.n_left_out),
        (2, 0, 0)
    );
    // trend-v1 (still selectable) calls the same agent declining.
    let v1 = report(&records, TrendVersion::V1);
    let g1 = agent(&v1, "ada");
    assert_eq!(v1.algorithm_version, "trend-v1");
    assert_eq!(g1.verdict.effect_points, Some(-10.0));
    assert_eq!(g1.verdict.direction, Direction::Declining);
    assert!(g1.verdict.adjustment.is_none());
}

#[test]
fn the_adjusted_effect_of_a_two_queue_example_is_the_weighted_within_queue_change() {
    // Within A: −4 (30 then 10 conversations: weight 30·10/40 = 7.5).
    // Within B: −10 (10 then 30: weight 7.5) → adjusted (−4 − 10) / 2 = −7.
    let g = report(&two_queue_agent(-4.0, -10.0), TrendVersion::V2);
    let g = agent(&g, "ada");
    assert_eq!(g.verdict.effect_points, Some(-7.0));
    // Raw: previous (30·80 + 10·60)/40 = 75; current (10·76 + 30·50)/40 = 56.5.
    assert_eq!(g.verdict.raw_effect_points, Some(-18.5));
    assert_eq!(g.verdict.mix_shift_points, Some(-11.5));
    assert_eq!(g.verdict.direction, Direction::Declining);

    // Unequal weights: B with 10 and 10 (weight 5) beside A's 7.5:
    // (7.5·(−4) + 5·(−10)) / 12.5 = −6.4, computed exactly by the test itself.
    let mut records = Vec::new();
    records.extend(block("bo", "A", false, 30, 80.0));
    records.extend(block("bo", "B", false, 10, 60.0));
    records.extend(block("bo", "A", true, 10, 76.0));
    records.extend(block("bo", "B", true, 10, 50.0));
    let r = report(&records, TrendVersion::V2);
    assert_eq!(agent(&r, "bo").verdict.effect_points, Some(-6.4));
    let side = |n: f64, mean: f64| (mean, 4.0 * n / (n - 1.0), n);
    let w = stratified_welch(&[
        StratumSample {
            previous: side(30.0, 80.0),
            current: side(10.0, 76.0),
        },
        StratumSample {
            previous: side(10.0, 60.0),
            current: side(10.0, 50.0),
        },
    ])
    .unwrap();
    assert!((w.difference + 6.4).abs() < 1e-12, "{}", w.difference);
}

#[test]
fn queues_and_overall_stay_unadjusted_and_an_empty_adjust_for_is_trend_v1() {
    let records = two_queue_agent(0.0, 0.0);
    let mut settings = Settings::defaults().analytics;
    settings.adjust_for = vec![];
    let mut agg = Aggregator::new(Normalizer::default());
    for r in &records {
        agg.push(r).unwrap();
    }
    let cfg = TrendConfig::from_settings(&settings);
    let none = trend::build_report(&agg, windows(), &cfg, start(), None, "t");
    let v1 = report(&records, TrendVersion::V1);
    let v2 = report(&records, TrendVersion::V2);
    for (a, b) in none.groups.iter().zip(&v1.groups) {
        assert_eq!(
            a.verdict.effect_points, b.verdict.effect_points,
            "{}",
            a.key
        );
        assert_eq!(a.verdict.p_value, b.verdict.p_value, "{}", a.key);
        assert_eq!(a.verdict.method, b.verdict.method);
    }
    for (a, b) in v2.groups.iter().zip(&v1.groups) {
        if a.dimension != genesys_sentiment::analytics::Dimension::Agent {
            // Same numbers; only the q-value differs, as the agent's p-value in the same
            // Benjamini–Hochberg family did.
            let (mut va, mut vb) = (a.verdict.clone(), b.verdict.clone());
            va.q_value = None;
            vb.q_value = None;
            assert_eq!(va, vb, "{} {}", a.dimension.as_str(), a.key);
        }
    }
}

prop_compose! {
    fn conversation()(agent in 0u8..3, queue in 0u8..3, current in any::<bool>(), i in 0i64..600,
                      q in 0.0f64..=100.0) -> SentimentRecord {
        let day = i % 7 + if current { 7 } else { 0 };
        record(&format!("agent-{agent}"), &format!("queue-{queue}"), day, i, q)
    }
}

fn records() -> impl Strategy<Value = Vec<SentimentRecord>> {
    prop::collection::vec(conversation(), 60..400)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_adjusted_effect_ignores_the_order_of_conversations(
        (records, shuffled) in records().prop_flat_map(|r| (Just(r.clone()), Just(r).prop_shuffle()))
    ) {
        let a = report(&records, TrendVersion::V2);
        let b = report(&shuffled, TrendVersion::V2);
        prop_assert_eq!(a.groups, b.groups);
    }

    #[test]
    fn a_queue_the_agent_never_worked_changes_nothing_for_them(
        records in records(),
        others in prop::collection::vec((1u8..3, any::<bool>(), 0i64..600, 0.0f64..=100.0), 1..100)
    ) {
        let before = report(&records, TrendVersion::V2);
        let mut more = records.clone();
        for (agent, current, i, q) in others {
            let day = i % 7 + if current { 7 } else { 0 };
            more.push(record(&format!("agent-{agent}"), "queue-new", day, i, q));
        }
        let after = report(&more, TrendVersion::V2);
        let (a, b) = (agent(&before, "agent-0"), agent(&after, "agent-0"));
        prop_assert_eq!(a.verdict.effect_points, b.verdict.effect_points);
        prop_assert_eq!(a.verdict.raw_effect_points, b.verdict.raw_effect_points);
        prop_assert_eq!(a.verdict.p_value, b.verdict.p_value);
        prop_assert_eq!(&a.verdict.adjustment, &b.verdict.adjustment);
    }

    #[test]
    fn with_a_single_queue_the_adjusted_effect_is_the_raw_effect(records in records()) {
        let one: Vec<SentimentRecord> = records
            .into_iter()
            .map(|mut r| {
                r.queue_id = Some(QueueId("queue-0".into()));
                r
            })
            .collect();
        let v2 = report(&one, TrendVersion::V2);
        let v1 = report(&one, TrendVersion::V1);
        for g in v2.groups_of(genesys_sentiment::analytics::Dimension::Agent) {
            let g1 = agent(&v1, &g.key);
            prop_assert_eq!(g.verdict.effect_points, g.verdict.raw_effect_points);
            prop_assert_eq!(g.verdict.effect_points, g1.verdict.effect_points);
            prop_assert_eq!(g.verdict.direction, g1.verdict.direction);
            match (g.verdict.p_value, g1.verdict.p_value) {
                // The same test; only the pooled variance's (n−1)·s²/(n−1) rounds differently.
                (Some(a), Some(b)) => prop_assert!((a - b).abs() <= 1e-9 * b.max(1e-300), "{a} vs {b}"),
                (a, b) => prop_assert_eq!(a, b),
            }
        }
    }
}

#[test]
fn single_queue_equals_welch_exactly() {
    let (p, c) = ((70.0, 120.0, 40.0), (64.0, 90.0, 25.0));
    let s = stratified_welch(&[StratumSample {
        previous: p,
        current: c,
    }])
    .unwrap();
    let w = welch(p.0, p.1, p.2, c.0, c.1, c.2).unwrap();
    assert_eq!(
        (s.difference, s.t, s.df, s.p),
        (w.difference, w.t, w.df, w.p)
    );
}
