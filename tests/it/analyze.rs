//! Issue 5: `analyze --input` from the command line; the demo binary.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::helpers::BIN;

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
    let out = Command::new(BIN)
        .args([
            "analyze",
            "--input",
            path.to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
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

    let csv = Command::new(BIN)
        .args([
            "analyze",
            "--input",
            path.to_str().unwrap(),
            "--format",
            "csv",
            "--group-by",
            "agent",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&csv.stdout);
    assert!(text.starts_with("dimension,key,label,n_current"), "{text}");
    assert_eq!(text.lines().count(), 3, "header + two agents: {text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("agent,agent-b,") && l.contains(",declining,"))
    );

    let table = Command::new(BIN)
        .args(["analyze", "--input", path.to_str().unwrap()])
        .output()
        .unwrap();
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
    let out = Command::new(BIN)
        .args([
            "analyze",
            "--input",
            path.to_str().unwrap(),
            "--from",
            "2026-05-10",
            "--to",
            "2026-05-03",
        ])
        .output()
        .unwrap();
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
