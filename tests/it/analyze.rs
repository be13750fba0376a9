//! Issue 5: `analyze --input` from the command line; the demo binary.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::helpers::{BIN, run_bin};

fn write_records(dir: &std::path::Path) -> std::path::PathBuf {
    use std::fmt::Write as _;
    let mut text = String::new();
    for day in 0..14 {
        for i in 0..40 {
            let agent = if i % 2 == 0 { "agent-a" } else { "agent-b" };
            // agent-b drops by 0.4 on the unit scale (20 quality points) in the second week.
            let base = if agent == "agent-b" && day >= 7 {
                -0.3
            } else {
                0.1
            };
            let score = base + ((i * 37 % 60) as f64 - 30.0) / 100.0;
            let _ = writeln!(
                text,
                "{{\"conversation_id\":\"c-{day}-{i}\",\"agent_id\":\"{agent}\",\"queue_id\":\"q-1\",\"time\":\"2026-05-{:02}T10:{:02}:00Z\",\"raw_score\":{score:.3}}}",
                day + 1,
                i
            );
        }
    }
    text.push_str(
        "{\"conversation_id\":\"bad-1\",\"time\":\"2026-05-03T10:00:00Z\",\"raw_score\":7}\n",
    );
    text.push_str("this line is not json\n");
    text.push_str("{\"conversation_id\":\"bad-2\",\"time\":\"2026-05-03T10:00:00Z\",\"raw_score\":0.2,\"polarity\":\"ecstatic\"}\n");
    let path = dir.join("records.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn analyze_reports_bad_rows_by_line_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_records(dir.path());
    let input = path.to_str().unwrap();
    let out = run_bin(&["analyze", "--input", input, "--format", "json"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("records.jsonl:561: skipped"), "{stderr}");
    assert!(stderr.contains("records.jsonl:562: skipped"), "{stderr}");
    assert!(
        stderr.contains("records.jsonl:563: skipped") && stderr.contains("ecstatic"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["records"]["accepted"], 560);
    assert_eq!(report["records"]["rejected"]["score_out_of_range"], 1);
    assert_eq!(report["records"]["rejected"]["bad_json"], 1);
    assert_eq!(report["records"]["rejected"]["bad_polarity"], 1);
    assert_eq!(report["windows"]["current"]["end"], "2026-05-15T00:00:00Z");
    let groups = report["groups"].as_array().unwrap();
    let b = groups.iter().find(|g| g["key"] == "agent-b").unwrap();
    assert_eq!(b["verdict"]["direction"], "declining");
    assert_eq!(b["polarity_shift"], "declining");
    let a = groups.iter().find(|g| g["key"] == "agent-a").unwrap();
    assert_eq!(a["verdict"]["direction"], "stable");
    assert_eq!(report["normalization_version"], "linear-v1");

    let csv = run_bin(
        &[
            "analyze",
            "--input",
            input,
            "--format",
            "csv",
            "--group-by",
            "agent",
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&csv.stdout);
    assert!(text.starts_with("dimension,key,label,n_current"), "{text}");
    assert_eq!(text.lines().count(), 3, "header + two agents: {text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("agent,agent-b,") && l.contains(",declining,"))
    );

    let table = run_bin(&["analyze", "--input", input], &[]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("AGENTS") && text.contains("DECLINING"),
        "{text}"
    );
    assert!(text.contains("3 rejected"), "{text}");
}

#[test]
fn analyze_refuses_a_window_that_ends_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_records(dir.path());
    let input = path.to_str().unwrap();
    let out = run_bin(
        &[
            "analyze",
            "--input",
            input,
            "--from",
            "2026-05-10",
            "--to",
            "2026-05-03",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--from 2026-05-10 must be before --to 2026-05-03")
    );
}

#[test]
fn the_demo_prints_the_table_and_exits_zero_within_a_minute() {
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("QUEUES") && stdout.contains("AGENTS"),
        "{stdout}"
    );
    assert!(stdout.contains("DECLINING"), "{stdout}");
    // Every agent the emulator made decline is flagged, unless it had too little data;
    // nothing else is flagged declining.
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Truth check (declining)"))
        .unwrap();
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let [declared, flagged, thin, others] = numbers[..] else {
        panic!("{line}")
    };
    assert_eq!(flagged + thin, declared, "{line}");
    assert!(flagged >= 1, "{line}");
    assert_eq!(others, 0, "{line}");
}

fn analyze_emulator_json() -> serde_json::Value {
    let out = Command::new(BIN)
        .args([
            "analyze",
            "--emulator",
            "--seed",
            "3",
            "--from",
            "2026-05-25",
            "--to",
            "2026-06-01",
            "--group-by",
            "overall",
            "--group-by",
            "queue",
            "--group-by",
            "agent",
            "--format",
            "json",
        ])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn analyze_json_output_is_stable() {
    let report = analyze_emulator_json();
    assert_eq!(report["source"], "conversations");
    insta::assert_json_snapshot!("analyze_emulator_seed3", report, { ".generated_at" => "[generated_at]" });
}

async fn failing_analyze(
    configure: impl FnOnce(&mut genesys_sentiment::emulator::EmulatorConfig),
    secret: &str,
) -> (i32, String) {
    let mut config = crate::helpers::emulator::small_config(41);
    config.org.end = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    configure(&mut config);
    let emu = crate::helpers::emulator::start(config).await;
    let url = emu.url();
    let secret = secret.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["analyze", "--from", "2026-01-05", "--to", "2026-01-12"])
            .env("GENESYS_SENTIMENT__GENESYS__BASE_URL", &url)
            .env(
                "GENESYS_SENTIMENT__GENESYS__CLIENT_ID",
                genesys_sentiment::emulator::DEFAULT_CLIENT_ID,
            )
            .env("GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET", &secret)
            .env("GENESYS_SENTIMENT__GENESYS__RETENTION", "3650d")
            .env("RUST_LOG", "off")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_against_a_failing_org_exits_non_zero_with_a_clear_message() {
    let ok_secret = genesys_sentiment::emulator::DEFAULT_CLIENT_SECRET;
    let (code, err) = failing_analyze(|_| {}, "not-the-secret").await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("refused the client credentials"), "{err}");
    assert!(
        err.contains("hint: check genesys.client_id and the secret (genesys.client_secret_file"),
        "{err}"
    );

    let (code, err) = failing_analyze(|c| c.faults.forbidden = true, ok_secret).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("missing permission analytics:conversationDetail:view"),
        "{err}"
    );
    assert!(
        err.contains("hint: add the missing permission to the OAuth client's role"),
        "{err}"
    );

    let (code, err) = failing_analyze(|c| c.faults.storm_seconds = 900, ok_secret).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("rate limited") && err.contains("genesys.retry_after_cap"),
        "{err}"
    );
    assert!(
        err.contains("hint: Genesys is rate limiting this OAuth client"),
        "{err}"
    );

    // And with a working org the same command succeeds.
    let (code, err) = failing_analyze(|_| {}, ok_secret).await;
    assert_eq!(code, 0, "{err}");
}

#[test]
fn names_cannot_drive_the_terminal_forge_a_row_or_plant_a_spreadsheet_formula() {
    use std::fmt::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let hostile = [
        "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mFAKE ROW\u{1b}[0m",
        "=HYPERLINK(\"http://evil.example/\",\"click\")",
        "a\nOVERALL  9999  forged",
    ];
    let mut text = String::new();
    for day in 0..14 {
        for (i, agent) in hostile.iter().enumerate() {
            for k in 0..5 {
                let record = serde_json::json!({
                    "conversation_id": format!("c-{day}-{i}-{k}"),
                    "agent_id": agent,
                    "time": format!("2026-05-{:02}T10:{:02}:00Z", day + 1, k),
                    "raw_score": (k as f64 - 2.0) / 10.0,
                });
                let _ = writeln!(text, "{record}");
            }
        }
    }
    let input = dir.path().join("hostile.jsonl");
    std::fs::write(&input, text).unwrap();
    let input = input.to_str().unwrap();
    let table = run_bin(&["analyze", "--input", input, "--format", "table"], &[]);
    assert!(table.status.success());
    let out = String::from_utf8_lossy(&table.stdout);
    assert!(
        !out.contains('\u{1b}'),
        "no escape reaches the terminal: {out:?}"
    );
    assert!(!out.contains('\u{7}'), "{out:?}");
    assert!(
        !out.lines().any(|l| l.starts_with("OVERALL  9999")),
        "no forged row: {out}"
    );
    let csv = run_bin(&["analyze", "--input", input, "--format", "csv"], &[]);
    assert!(csv.status.success());
    let out = String::from_utf8_lossy(&csv.stdout);
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    let keys: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_owned()).collect();
    assert!(
        keys.iter().any(|k| k.starts_with("'=HYPERLINK")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .all(|k| !k.starts_with('=') && !k.contains('\n')),
        "{keys:?}"
    );
}
