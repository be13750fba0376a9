//! Peak memory of processing one million records, against the same processing of 100 000
//! records in the same run: `genesys-sentiment analyze --input FILE` (streaming read,
//! normalize, aggregate, report) on generated JSON lines, peak RSS from `getrusage`.
//!
//! Run: `cargo bench --bench bench_memory` (`-- --records N` for the large run).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use chrono::{TimeDelta, TimeZone, Utc};
use rand::{RngExt, SeedableRng};

fn write_records(path: &std::path::Path, n: usize) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let start = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        let t = start + TimeDelta::seconds(rng.random_range(0..28 * 86_400));
        let score: f64 = rng.random_range(-1.0..1.0);
        writeln!(
            out,
            "{{\"conversation_id\":\"{}\",\"agent_id\":\"agent-{:04}\",\"queue_id\":\"queue-{}\",\"time\":\"{}\",\"raw_score\":{score:.4}}}",
            uuid::Uuid::from_u128(i as u128),
            rng.random_range(0..400),
            rng.random_range(0..8),
            t.to_rfc3339()
        )
        .unwrap();
    }
    out.flush().unwrap();
}

/// Runs `analyze --input path` and returns (peak RSS in KiB, seconds). The measurement runs
/// in a child copy of this bench (`--child-rss FILE`), whose only child is `analyze`, so
/// `getrusage(RUSAGE_CHILDREN)` there is exactly `analyze`'s peak.
fn peak_rss(path: &std::path::Path) -> (i64, f64) {
    let started = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--child-rss", path.to_str().unwrap()])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "analyze failed");
    let kib = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (kib, started.elapsed().as_secs_f64())
}

/// The `--child-rss FILE` mode: run `analyze` on FILE, print its peak RSS in KiB.
fn measure_child(path: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_genesys-sentiment"))
        .args([
            "analyze",
            "--input",
            path,
            "--to",
            "2026-05-29",
            "--format",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "analyze failed: {status}");
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    println!("{}", usage.max_rss());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child-rss") {
        measure_child(&args[i + 1]);
        return;
    }
    let big: usize = common::flag("--records", 1_000_000);
    let small = (big / 10).max(1);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (small_file, big_file) = (dir.path().join("small.jsonl"), dir.path().join("big.jsonl"));
    write_records(&small_file, small);
    write_records(&big_file, big);
    let (small_rss, small_s) = peak_rss(&small_file);
    let (big_rss, big_s) = peak_rss(&big_file);
    let mib = |kib: i64| kib as f64 / 1024.0;
    let big_mb = std::fs::metadata(&big_file).unwrap().len() as f64 / 1048576.0;
    println!("## Peak memory\n");
    println!(
        "Command: `cargo bench --bench bench_memory` (`genesys-sentiment analyze --input FILE --format json`: stream, normalize, aggregate, report; 400 agents, 8 queues, 28 days; peak RSS from getrusage)\n"
    );
    println!("| records | input | peak RSS | time |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| {small} (baseline) | {:.0} MiB | {:.1} MiB | {small_s:.2} s |",
        big_mb / 10.0,
        mib(small_rss)
    );
    println!(
        "| {big} | {big_mb:.0} MiB | {:.1} MiB | {big_s:.2} s |",
        mib(big_rss)
    );
    println!(
        "\nRatio (peak RSS for {big} / for {small}): {:.2}. Target: peak RSS below 100 MiB for one million records: {}.",
        big_rss as f64 / small_rss as f64,
        if big >= 1_000_000 && mib(big_rss) < 100.0 {
            "met"
        } else if big < 1_000_000 {
            "n/a (fewer records)"
        } else {
            "NOT met"
        }
    );
}
