//! Issue 5: normalization, aggregation and trend verdicts.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use genesys_sentiment::analytics::aggregate::Aggregator;
use genesys_sentiment::analytics::normalize::{NormalizeError, Normalizer};
use genesys_sentiment::analytics::report::{Direction, Windows};
use genesys_sentiment::analytics::{Dimension, TrendConfig, trend};
use genesys_sentiment::cli::evaluate::{EvalConfig, evaluate};
use genesys_sentiment::config::{NormalizationKind, Settings};
use genesys_sentiment::domain::{
    AgentId, ConversationId, Polarity, QueueId, RawSentiment, ScoreScale, SentimentRecord,
};
use proptest::prelude::*;

fn normalizers() -> Vec<Normalizer> {
    let mut s = Settings::defaults().analytics;
    let mut out = vec![Normalizer::from_settings(&s)];
    s.normalization = NormalizationKind::Piecewise;
    out.push(Normalizer::from_settings(&s));
    s.normalization = NormalizationKind::Banded;
    out.push(Normalizer::from_settings(&s));
    out
}

fn scale_strategy() -> impl Strategy<Value = ScoreScale> {
    prop_oneof![Just(ScoreScale::Unit), Just(ScoreScale::Percent)]
}

proptest! {
    #[test]
    fn normalization_is_monotonic_and_within_0_to_100(a in -1.0f64..=1.0, b in -1.0f64..=1.0, scale in scale_strategy()) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let k = scale.max_abs();
        for n in normalizers() {
            let ql = n.quality(RawSentiment { value: lo * k, scale }).unwrap();
            let qh = n.quality(RawSentiment { value: hi * k, scale }).unwrap();
            prop_assert!((0.0..=100.0).contains(&ql) && (0.0..=100.0).contains(&qh));
            prop_assert!(ql <= qh, "{} maps {lo} to {ql} above {hi} to {qh}", n.version());
        }
    }

    #[test]
    fn scores_outside_the_scale_are_rejected_not_clamped(excess in 1e-9f64..1e6, negative in any::<bool>(), scale in scale_strategy()) {
        let value = (scale.max_abs() + excess) * if negative { -1.0 } else { 1.0 };
        for n in normalizers() {
            let r = n.read(RawSentiment { value, scale }, None);
            prop_assert!(matches!(r, Err(NormalizeError::OutOfRange { .. })), "{value} gave {r:?}");
        }
    }
}

#[test]
fn nan_and_infinities_are_rejected() {
    for n in normalizers() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(
                n.read(
                    RawSentiment {
                        value: v,
                        scale: ScoreScale::Unit
                    },
                    None
                ),
                Err(NormalizeError::NotFinite(_))
            ));
        }
    }
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()
}

prop_compose! {
    fn record()(agent in 0u8..4, queue in 0u8..3, minutes in 0i64..(20 * 1440), value in -1.2f64..1.2,
                has_agent in prop::bool::weighted(0.9), polarity in prop::option::of(0u8..3)) -> SentimentRecord {
        SentimentRecord {
            conversation_id: ConversationId(format!("c{minutes}")),
            agent_id: has_agent.then(|| AgentId(format!("agent-{agent}"))),
            queue_id: Some(QueueId(format!("queue-{queue}"))),
            time: base_time() + TimeDelta::minutes(minutes),
            raw: RawSentiment { value, scale: ScoreScale::Unit },
            polarity: polarity.map(|p| [Polarity::Positive, Polarity::Neutral, Polarity::Negative][p as usize]),
            media_type: None,
        }
    }
}

fn aggregate(records: &[SentimentRecord]) -> Aggregator {
    let mut a = Aggregator::new(Normalizer::default());
    for r in records {
        let _ = a.push(r);
    }
    a
}

fn assert_same(a: &Aggregator, b: &Aggregator) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.counts(), b.counts());
    let (sa, sb) = (a.snapshot(), b.snapshot());
    prop_assert_eq!(sa.len(), sb.len());
    for ((k, x), (k2, y)) in sa.iter().zip(sb.iter()) {
        prop_assert_eq!(k, k2);
        prop_assert_eq!(
            (x.n, x.detailed, x.polarity, x.action_required),
            (y.n, y.detailed, y.polarity, y.action_required)
        );
        prop_assert_eq!((x.min, x.max), (y.min, y.max));
        prop_assert_eq!(x.histogram(), y.histogram());
        prop_assert_eq!(
            (x.sum_nano, x.sum_sq_nano),
            (y.sum_nano, y.sum_sq_nano),
            "sums merge exactly"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn merging_parts_equals_aggregating_the_concatenation(
        records in prop::collection::vec(record(), 0..300),
        cut1 in 0usize..300, cut2 in 0usize..300,
    ) {
        let n = records.len();
        let (i, j) = { let (a, b) = (cut1.min(n), cut2.min(n)); (a.min(b), a.max(b)) };
        let whole = aggregate(&records);
        let (a, b, c) = (aggregate(&records[..i]), aggregate(&records[i..j]), aggregate(&records[j..]));
        // (a ⊕ b) ⊕ c
        let mut left = a.clone();
        left.merge(&b);
        left.merge(&c);
        assert_same(&left, &whole)?;
        // a ⊕ (b ⊕ c): associative
        let mut bc = b.clone();
        bc.merge(&c);
        let mut right = a.clone();
        right.merge(&bc);
        assert_same(&right, &whole)?;
        // c ⊕ a ⊕ b: commutative
        let mut swapped = c.clone();
        swapped.merge(&a);
        swapped.merge(&b);
        assert_same(&swapped, &whole)?;
        // Order of records does not matter.
        let mut reversed = records.clone();
        reversed.reverse();
        assert_same(&aggregate(&reversed), &whole)?;
    }
}

#[test]
fn memory_grows_with_groups_not_records() {
    let mut a = Aggregator::new(Normalizer::default());
    for i in 0..200_000i64 {
        let r = SentimentRecord {
            conversation_id: ConversationId(String::new()),
            agent_id: Some(AgentId(format!("agent-{}", i % 10))),
            queue_id: Some(QueueId(format!("queue-{}", i % 3))),
            time: base_time() + TimeDelta::minutes(i % (14 * 1440)),
            raw: RawSentiment {
                value: ((i % 200) as f64 - 100.0) / 100.0,
                scale: ScoreScale::Unit,
            },
            polarity: None,
            media_type: None,
        };
        a.push(&r).unwrap();
    }
    assert_eq!(a.counts().accepted, 200_000);
    assert_eq!(
        a.cell_count(),
        14 * (1 + 10 + 3),
        "cells = days × (overall + agents + queues)"
    );
}

fn synthetic(agent: &str, day: i64, quality: f64) -> SentimentRecord {
    SentimentRecord {
        conversation_id: ConversationId(format!("{agent}-{day}-{quality}")),
        agent_id: Some(AgentId(agent.into())),
        queue_id: Some(QueueId("q".into())),
        time: base_time() + TimeDelta::days(day) + TimeDelta::hours(10),
        raw: RawSentiment {
            value: quality / 50.0 - 1.0,
            scale: ScoreScale::Unit,
        },
        polarity: None,
        media_type: None,
    }
}

#[test]
fn small_groups_get_insufficient_data_and_verdicts_carry_their_evidence() {
    let mut a = Aggregator::new(Normalizer::default());
    // "few": 10 conversations per window; "big": 80 per window with a 20-point drop.
    for i in 0..14 {
        for k in 0..6 {
            let q = 40.0 + ((k * 13) % 30) as f64;
            if k < 1 {
                let _ = a.push(&synthetic("few", i, q));
            }
            let drop = if i >= 7 { 20.0 } else { 0.0 };
            let _ = a.push(&synthetic("big", i, q + 20.0 - drop));
            let _ = a.push(&synthetic("big", i, q + 15.0 - drop));
        }
    }
    let windows = Windows::ending_at(base_time() + TimeDelta::days(14), 7);
    let report = trend::build_report(
        &a,
        windows,
        &TrendConfig::from_settings(&Settings::defaults().analytics),
        Utc::now(),
        None,
        "test",
    );
    let few = report.groups.iter().find(|g| g.key == "few").unwrap();
    assert_eq!(few.verdict.direction, Direction::InsufficientData);
    assert!(few.verdict.q_value.is_none());
    let big = report.groups.iter().find(|g| g.key == "big").unwrap();
    assert_eq!(big.verdict.direction, Direction::Declining);
    assert_eq!(
        big.polarity_shift,
        Direction::Declining,
        "compat field follows the verdict"
    );
    assert!((big.verdict.effect_points.unwrap() + 20.0).abs() < 0.01);
    assert!(big.verdict.q_value.unwrap() < 0.05);
    assert!(big.verdict.sen_slope_per_day.unwrap() < 0.0);
    assert!(big.verdict.tests.welch.is_some() && big.verdict.tests.mann_kendall.is_some());
    assert!(big.verdict.tests.negative_share.is_some());
    assert_eq!((big.verdict.n_current, big.verdict.n_previous), (84, 84));
    // One queue: trend-v2's stratified comparison is the plain Welch test.
    assert_eq!(big.verdict.method, "stratified_welch_t+benjamini_hochberg");
    assert_eq!(big.verdict.raw_effect_points, big.verdict.effect_points);
    assert!(big.current.p10.is_some() && big.current.p50.is_some() && big.current.p90.is_some());
    assert_eq!(
        big.positive_count + big.neutral_count + big.negative_count,
        84
    );
}

#[test]
fn five_hundred_stable_groups_are_not_flagged_by_chance() {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut a = Aggregator::new(Normalizer::default());
    for agent in 0..500 {
        for day in 0..14 {
            for _ in 0..8 {
                let q: f64 = (rng.random_range(0.0..1.0) + rng.random_range(0.0..1.0)) * 50.0;
                let _ = a.push(&synthetic(&format!("agent-{agent}"), day, q));
            }
        }
    }
    let windows = Windows::ending_at(base_time() + TimeDelta::days(14), 7);
    let cfg = TrendConfig::from_settings(&Settings::defaults().analytics);
    let report = trend::build_report(&a, windows, &cfg, Utc::now(), None, "test");
    let agents: Vec<_> = report.groups_of(Dimension::Agent).collect();
    let raw_significant = agents
        .iter()
        .filter(|g| g.verdict.p_value.unwrap() < 0.05)
        .count();
    let flagged = agents
        .iter()
        .filter(|g| {
            matches!(
                g.verdict.direction,
                Direction::Improving | Direction::Declining
            )
        })
        .count();
    assert!(
        raw_significant >= 10,
        "uncorrected tests would flag about 25: {raw_significant}"
    );
    assert!(
        flagged <= 1,
        "false-discovery control keeps chance flags away: {flagged}"
    );
}

#[test]
fn the_count_margin_rule_stays_available_and_documented_as_chosen() {
    let mut settings = Settings::defaults().analytics;
    settings.trend_rule = genesys_sentiment::config::TrendRule::CountMargin;
    let mut a = Aggregator::new(Normalizer::from_settings(&settings));
    for day in 7..14 {
        for _ in 0..5 {
            let _ = a.push(&synthetic("happy", day, 90.0));
        }
    }
    let windows = Windows::ending_at(base_time() + TimeDelta::days(14), 7);
    let report = trend::build_report(
        &a,
        windows,
        &TrendConfig::from_settings(&settings),
        Utc::now(),
        None,
        "t",
    );
    let g = report.groups.iter().find(|g| g.key == "happy").unwrap();
    assert_eq!(
        g.count_margin_shift,
        Direction::Improving,
        "35 positives, 0 negatives"
    );
    assert_eq!(
        g.polarity_shift,
        Direction::Improving,
        "polarity_shift follows the chosen rule"
    );
    assert_eq!(
        g.verdict.direction,
        Direction::InsufficientData,
        "no previous window to compare"
    );
}

#[test]
fn verdicts_match_the_emulator_truth_over_five_seeds() {
    let cfg = EvalConfig::new(5, Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap());
    assert!(cfg.agents >= 300, "several hundred agents");
    let e = evaluate(&cfg, &Settings::defaults().analytics);
    let m = &e.statistical;
    assert!(
        m.false_positive_rate() <= 0.05,
        "FPR {}",
        m.false_positive_rate()
    );
    assert!(
        m.declining.recall() >= 0.90 && m.improving.recall() >= 0.90,
        "{m:?}"
    );
    assert!(
        m.declining.eligible >= 50 && m.improving.eligible >= 50,
        "enough eligible agents: {m:?}"
    );
    assert!(m.precision() >= 0.95, "precision {}", m.precision());
    // A fifth of the agents only changed queue: trend-v2 leaves them alone, trend-v1 does not.
    assert!(m.mix_only_tested >= 300, "{m:?}");
    assert!(
        m.mix_only_flag_rate() <= 0.05,
        "mix-only flagged {}",
        m.mix_only_flag_rate()
    );
    assert!(
        e.trend_v1.mix_only_flag_rate() >= 0.5,
        "trend-v1 {}",
        e.trend_v1.mix_only_flag_rate()
    );
    // The count-margin rule is reported beside it, and is far worse on stable agents.
    let c = &e.count_margin;
    assert!(c.false_positive_rate() > m.false_positive_rate());
    let md = genesys_sentiment::cli::evaluate::markdown(&e, "cmd");
    assert!(md.contains("count-margin rule") && md.contains("statistical"));
    // The diagnostic beside it: both versions again without the movers, so neither has any
    // to flag, and the markdown shows those rows.
    let (a, b) = e
        .without_mix_only
        .as_ref()
        .expect("orgs with movers get the diagnostic");
    assert_eq!((a.mix_only_tested, b.mix_only_tested), (0, 0));
    assert_eq!(a.stable_tested, m.stable_tested);
    assert!(md.contains("diagnostic: trend-v1, the `mix_only` agents' conversations left out"));
    // The oracle: trend-v1 with the true queue effects taken out leaves the movers alone
    // too, and trend-v2, which works from the data only, recalls within two points of it.
    let o = e
        .oracle
        .as_ref()
        .expect("orgs whose queues differ get the oracle");
    assert!(o.mix_only_flag_rate() <= 0.05, "oracle {o:?}");
    assert!(
        o.recall_small() - m.recall_small() <= 0.02,
        "trend-v2 {} against the oracle's {}",
        m.recall_small(),
        o.recall_small()
    );
    assert!(md.contains("(oracle)") && md.contains("Oracle (a reference, not a bound)"));
}
