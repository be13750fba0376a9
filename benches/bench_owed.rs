//! Memory of the running daemon with many owed deliveries (a coaching-platform outage),
//! against the same daemon on the same events all delivered (so the same dedupe set),
//! measured in the same run.
//!
//! Writes a journal of N accepted scores that were never delivered (default 100 000), then
//! starts the real binary (`serve`, batch off) on a copy of it, with `coaching.url` at a
//! loopback sink that answers every delivery `503` with `Retry-After: 600` — the outage.
//! Once every owed event has been attempted once (each read back from the journal), it
//! reads the daemon's resident memory (`VmRSS`) and peak (`VmHWM`) from `/proc`.
//!
//! Run: `cargo bench --bench bench_owed` (`-- --owed N` to change the size; `-- --write-to
//! DIR` only writes the journal there, to profile a daemon on it by hand).

mod common;
#[path = "common/journal.rs"]
mod journal_fill;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use genesys_sentiment::config::Settings;
use genesys_sentiment::journal::Journal;
use genesys_sentiment::telemetry::metrics::Metrics;

/// Every phase of one measurement ends within this.
const PHASE_LIMIT: Duration = Duration::from_secs(300);

/// A journal of `n` accepted scores in `dir`, each followed by its `delivered` record when
/// `delivered`.
fn write_journal(dir: &std::path::Path, n: usize, delivered: bool) {
    let mut settings = Settings::defaults().journal;
    settings.dir = dir.to_string_lossy().into_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (journal, _) = Journal::open(&settings, Metrics::new()).unwrap();
        journal_fill::fill(&journal, 0, n, delivered).await;
        journal.close().await;
    });
}

/// A sink that answers every request `503` with `Retry-After: 600`, counting requests.
fn outage_sink() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    counter.fetch_add(1, Ordering::Relaxed);
                    let answer = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 600\r\nContent-Length: 0\r\n\r\n";
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, count)
}

/// Whether `GET /readyz` answers 200.
fn ready(address: &str) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return false;
    };
    let request = format!("GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Measured {
    rss: u64,
    peak: u64,
    startup: Duration,
}

/// Starts the daemon on a copy of `journal` and measures it once every owed event has been
/// attempted.
fn measure(journal: &std::path::Path, owed: usize, owed_in_memory: usize) -> Measured {
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dir = work.path().join("journal");
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(journal).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name != "LOCK" {
            std::fs::copy(entry.path(), dir.join(name)).unwrap();
        }
    }
    let (sink, attempts) = outage_sink();
    let store = format!("sqlite://{}", work.path().join("store.db").display());
    let started = Instant::now();
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_genesys-sentiment"))
        .arg("serve")
        .env_remove("RUST_LOG")
        .envs([
            ("GENESYS_SENTIMENT__SERVER__LISTEN", "127.0.0.1:0"),
            ("GENESYS_SENTIMENT__SERVER__ADMIN_LISTEN", "127.0.0.1:0"),
            ("GENESYS_SENTIMENT__LOG__FORMAT", "json"),
            ("GENESYS_SENTIMENT__BATCH__ENABLED", "false"),
            // Never called (the batch is off and every score names its agent).
            ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "bench"),
            ("GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET", "bench-secret"),
            ("GENESYS_SENTIMENT__GENESYS__BASE_URL", "http://127.0.0.1:9"),
            ("GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED", "true"),
            ("GENESYS_SENTIMENT__JOURNAL__DIR", dir.to_str().unwrap()),
            ("GENESYS_SENTIMENT__STORE__URL", store.as_str()),
            ("GENESYS_SENTIMENT__COACHING__URL", sink.as_str()),
            (
                "GENESYS_SENTIMENT__COACHING__OWED_IN_MEMORY",
                owed_in_memory.to_string().as_str(),
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the daemon starts");
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Listening.") {
                let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
                let _ = tx.send(v["address"].as_str().unwrap().to_owned());
            }
        }
    });
    let address = rx
        .recv_timeout(PHASE_LIMIT)
        .expect("the daemon starts listening");
    let deadline = Instant::now() + PHASE_LIMIT;
    // Ready: the journal is recovered and every owed event queued.
    while !ready(&address) {
        assert!(Instant::now() < deadline, "ready within {PHASE_LIMIT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let startup = started.elapsed();
    while attempts.load(Ordering::Relaxed) < owed as u64 {
        assert!(
            Instant::now() < deadline,
            "every owed event attempted within {PHASE_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let measured = Measured {
        rss: status_kib(pid, "VmRSS:"),
        peak: status_kib(pid, "VmHWM:"),
        startup,
    };
    let _ = child.kill();
    let _ = child.wait();
    measured
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let n: usize = common::flag("--owed", 100_000);
    let write_to: String = common::flag("--write-to", String::new());
    if !write_to.is_empty() {
        write_journal(std::path::Path::new(&write_to), n, false);
        return;
    }
    let owed = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    write_journal(owed.path(), n, false);
    let settled = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    write_journal(settled.path(), n, true);
    let default = Settings::defaults().coaching.owed_in_memory;
    let baseline = measure(settled.path(), 0, default);
    let held = measure(owed.path(), n, n * 2);
    let bounded = measure(owed.path(), n, default);
    let per_event = |m: &Measured| (m.rss.saturating_sub(baseline.rss) * 1024) as f64 / n as f64;

    println!("## Memory with {n} owed deliveries\n");
    println!(
        "Command: `cargo bench --bench bench_owed` (the release binary, `serve` with the batch off, on a journal of {n} accepted scores never delivered; the coaching sink answers every delivery `503` + `Retry-After: 600`; measured once every owed event was attempted, so each was read back; `VmRSS`/`VmHWM` from `/proc`)\n"
    );
    println!(
        "| daemon | start-up until ready | RSS | peak RSS | RSS per owed event over the baseline |"
    );
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| baseline: the same {n} scores accepted and delivered (the same dedupe set), nothing owed | {:.2} s | {:.1} MiB | {:.1} MiB | — |",
        baseline.startup.as_secs_f64(),
        mib(baseline.rss),
        mib(baseline.peak)
    );
    println!(
        "| {n} owed, every event held in memory (`coaching.owed_in_memory = {}`) | {:.2} s | {:.1} MiB | {:.1} MiB | {:.0} bytes |",
        n * 2,
        held.startup.as_secs_f64(),
        mib(held.rss),
        mib(held.peak),
        per_event(&held)
    );
    println!(
        "| {n} owed, default (`coaching.owed_in_memory = {default}`, the rest read back from the journal) | {:.2} s | {:.1} MiB | {:.1} MiB | {:.0} bytes |",
        bounded.startup.as_secs_f64(),
        mib(bounded.rss),
        mib(bounded.peak),
        per_event(&bounded)
    );
    println!(
        "\nRatio (RSS with {n} owed, default / nothing owed): {:.2}; (default / every event held): {:.2}. Memory an owed event costs beyond what an accepted one does: {:.0} bytes by default, {:.0} bytes held in full.",
        bounded.rss as f64 / baseline.rss as f64,
        bounded.rss as f64 / held.rss as f64,
        per_event(&bounded),
        per_event(&held),
    );
}
