//! Issue 18: `genesys-sentiment doctor`, the real binary against the emulator: every check
//! passes on a well-set-up org; a missing permission, a wrong score scale, a bad secret or a
//! topic the org does not offer each gets its own line, and only required checks fail the run.

use genesys_sentiment::domain::ScoreScale;
use genesys_sentiment::emulator::org::today_midnight;
use genesys_sentiment::emulator::{self, EmulatorConfig, Faults};

use crate::helpers::emulator::small_config;
use crate::helpers::run_bin;

const SINK_SECRET: &str = "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u";

struct Run {
    code: i32,
    stdout: String,
}

/// An org whose history ends today, so the doctor's "last 7 days" finds conversations.
fn recent_org() -> EmulatorConfig {
    let mut c = small_config(41);
    c.org.end = today_midnight();
    c.sink.secret = Some(SINK_SECRET.into());
    c
}

/// Runs `doctor` (with `args`) against `config`'s emulator, its sink as coaching platform.
async fn doctor(
    config: EmulatorConfig,
    args: &[&str],
    extra: &[(&str, &str)],
) -> (Run, emulator::RunningEmulator) {
    let emu = crate::helpers::emulator::start(config).await;
    let mut env: Vec<(String, String)> = vec![
        ("GENESYS_SENTIMENT__GENESYS__BASE_URL".into(), emu.url()),
        (
            "GENESYS_SENTIMENT__GENESYS__CLIENT_ID".into(),
            emulator::DEFAULT_CLIENT_ID.into(),
        ),
        (
            "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET".into(),
            emulator::DEFAULT_CLIENT_SECRET.into(),
        ),
        (
            "GENESYS_SENTIMENT__COACHING__URL".into(),
            format!("{}/sink/coaching", emu.url()),
        ),
        (
            "GENESYS_SENTIMENT__COACHING__SECRET".into(),
            SINK_SECRET.into(),
        ),
        (
            "GENESYS_SENTIMENT__WEBHOOK__BEARER_TOKEN".into(),
            "a-webhook-token-long-enough".into(),
        ),
        ("RUST_LOG".into(), "off".into()),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let args: Vec<String> = std::iter::once("doctor".to_owned())
        .chain(args.iter().map(|a| (*a).to_owned()))
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_bin(&args, &env)
    })
    .await
    .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or_else(|| {
            panic!(
                "doctor ended by {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        }),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    };
    (run, emu)
}

/// The line of the check named `name`.
fn line<'a>(run: &'a Run, name: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| {
            l.split_once(' ')
                .is_some_and(|(_, rest)| rest.starts_with(&format!("{name}:")))
        })
        .unwrap_or_else(|| panic!("no {name:?} line in:\n{}", run.stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_the_emulator_every_check_passes_and_the_test_delivery_arrives() {
    let (run, emu) = doctor(recent_org(), &["--send-test"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    // All ✓: nothing failed, nothing warned (skips are checks this setup does not use).
    assert!(
        run.stdout
            .lines()
            .all(|l| !l.starts_with('✗') && !l.starts_with('!')),
        "{}",
        run.stdout
    );
    for name in [
        "configuration",
        "token",
        "details query (analytics:conversationDetail:view)",
        "STA conversations (speechAndTextAnalytics:data:view, recording:recording:view)",
        "STA data present",
        "score scale",
        "topic v2.speechandtextanalytics.conversation.{id}.sentiment",
        "topic v2.detail.events.conversation.{id}.acw",
        "coaching platform",
    ] {
        assert!(line(&run, name).starts_with('✓'), "{name}: {}", run.stdout);
    }
    assert!(
        line(
            &run,
            "topic v2.speechandtextanalytics.conversation.{id}.sentiment"
        )
        .contains("triggers: yes, EventBridge: yes"),
        "{}",
        run.stdout
    );
    // The signed test went to the test path, and no event reached the platform.
    let report = emu.state.sink.report();
    assert_eq!(report.test_deliveries, 1, "{report:?}");
    assert_eq!((report.received, report.refused_signature), (0, 0));
    assert!(run.stdout.contains("ready to serve"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_serve_would_refuse_is_not_called_ready() {
    // No webhook authentication: `serve` (and `check-config`) stop on it, so doctor fails
    // too, though every Genesys check passes.
    let (run, _emu) = doctor(
        recent_org(),
        &[],
        &[("GENESYS_SENTIMENT__WEBHOOK__BEARER_TOKEN", "")],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let configuration = line(&run, "configuration");
    assert!(
        configuration.starts_with('✗') && configuration.contains("no webhook authentication"),
        "{}",
        run.stdout
    );
    assert!(line(&run, "token").starts_with('✓'), "{}", run.stdout);
    assert!(!run.stdout.contains("ready to serve"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_send_test_nothing_is_delivered_and_a_wrong_path_fails() {
    let (run, emu) = doctor(recent_org(), &[], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(line(&run, "coaching platform").contains("answers (HTTP 405 to HEAD"));
    assert_eq!(emu.state.sink.report().test_deliveries, 0);
    // A mistyped path answers 404: that is no coaching platform.
    let (run, emu) = doctor(
        recent_org(),
        &[],
        &[(
            "GENESYS_SENTIMENT__COACHING__URL",
            "http://127.0.0.1:9/unused",
        )],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(line(&run, "coaching platform").starts_with('✗'));
    let wrong = format!("{}/sink/coachin", emu.url());
    let (run, _emu) = doctor(
        recent_org(),
        &[],
        &[("GENESYS_SENTIMENT__COACHING__URL", wrong.as_str())],
    )
    .await;
    let coaching = line(&run, "coaching platform");
    assert!(
        coaching.starts_with('✗') && coaching.contains("HTTP 404"),
        "{coaching}"
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_missing_the_sta_permission_gets_a_line_naming_it_and_exit_1() {
    let mut config = recent_org();
    config.faults = Faults {
        forbid_permissions: vec!["speechAndTextAnalytics:data:view".into()],
        ..Faults::default()
    };
    let (run, _emu) = doctor(config, &[], &[]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let sta = line(
        &run,
        "STA conversations (speechAndTextAnalytics:data:view, recording:recording:view)",
    );
    assert!(sta.starts_with('✗'), "{}", run.stdout);
    assert!(
        sta.contains("answered 403: the role is missing speechAndTextAnalytics:data:view"),
        "{sta}"
    );
    assert!(
        run.stdout
            .contains("fix: add speechAndTextAnalytics:data:view to the OAuth client's role"),
        "{}",
        run.stdout
    );
    // What needs other permissions still passes; what depends on STA is not judged.
    assert!(line(&run, "details query (analytics:conversationDetail:view)").starts_with('✓'));
    assert!(line(&run, "STA data present").starts_with('-'));
    assert!(
        run.stdout.contains("1 required check(s) failed"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percent_scores_read_as_unit_fail_the_scale_check_with_the_setting_to_change() {
    let mut config = recent_org();
    config.org.score_scale = ScoreScale::Percent;
    let (run, _emu) = doctor(config, &[], &[]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let scale = line(&run, "score scale");
    assert!(scale.starts_with('✗'), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("fix: set genesys.sentiment_scale = \"percent\""),
        "{}",
        run.stdout
    );
    // Configured as percent, the same org passes.
    let mut config = recent_org();
    config.org.score_scale = ScoreScale::Percent;
    let (run, _emu) = doctor(
        config,
        &[],
        &[("GENESYS_SENTIMENT__GENESYS__SENTIMENT_SCALE", "percent")],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(line(&run, "score scale").starts_with('✓'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_stops_at_the_token_and_a_missing_topic_only_warns() {
    let (run, _emu) = doctor(
        recent_org(),
        &[],
        &[(
            "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET",
            "not-the-secret",
        )],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(line(&run, "token").starts_with('✗'), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("fix: check genesys.client_id and the secret (genesys.client_secret_file")
    );
    assert!(!run.stdout.contains("not-the-secret"), "{}", run.stdout);

    let mut config = recent_org();
    config.unoffered_topics = vec!["v2.speechandtextanalytics.conversation.{id}.sentiment".into()];
    let (run, _emu) = doctor(config, &[], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let topic = line(
        &run,
        "topic v2.speechandtextanalytics.conversation.{id}.sentiment",
    );
    assert!(topic.starts_with('!'), "{}", run.stdout);
    assert!(topic.contains("triggers: no, EventBridge: no"), "{topic}");
    assert!(
        run.stdout
            .contains("v2.detail.events.conversation.{id}.acw (docs/genesys-setup.md)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_the_trigger_permission_of_the_setup_guide_only_warns() {
    // docs/genesys-setup.md keeps processautomation:trigger:view off the daemon's role.
    let mut config = recent_org();
    config.faults = Faults {
        forbid_permissions: vec!["processautomation:trigger:view".into()],
        ..Faults::default()
    };
    let (run, _emu) = doctor(config, &[], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        line(&run, "topics offered to Process Automation triggers").starts_with('!'),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("fix: optional: the daemon does not need processautomation:trigger:view"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout
            .contains("fix: add processautomation:trigger:view"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ready to serve"), "{}", run.stdout);
}
