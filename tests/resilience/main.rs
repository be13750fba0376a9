//! The resilience suite, in one go, against the real binary:
//!
//! 1. a SIGKILL loop under a stream of webhooks (`--rounds`, default 10 under `cargo test`);
//! 2. a coaching-platform outage while webhooks keep coming (`--outage-secs`);
//! 3. a Genesys fault mix during a scheduled batch: 20 % 5xx, a 429 storm and a revoked
//!    token (`--storm-secs`);
//! 4. two replicas on one PostgreSQL behind a round-robin "load balancer", one of them
//!    SIGKILLed and restarted in `--replica-rounds` rounds (default 10) while the coaching
//!    platform is down for `--replica-outage-secs` (default 60); skipped without a
//!    PostgreSQL server (`TEST_POSTGRES_URL`), except under CI where that fails.
//!
//! It prints acknowledged vs journaled vs delivered counts and exits 1 on any loss. It prints
//! the seed of its random kill timings; `--seed N` replays them.
//! `cargo test` runs the short version (`.ci/run` too); `bench/resilience` the full one.
//! Everything talks to loopback only; every loop is bounded in count and time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../common/binary.rs"]
mod binary;
#[path = "../it/helpers/postgres.rs"]
mod postgres;
use binary::{RunningBinary, Signal};

use genesys_sentiment::emulator::sink::{Sink, SinkConfig, SinkFault, SinkMode};
use genesys_sentiment::emulator::{self, EmulatorConfig, Faults};
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

const SECRET: &str = "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u";

struct Options {
    rounds: usize,
    outage: Duration,
    replica_rounds: usize,
    replica_outage: Duration,
    storm: Duration,
    /// Seed of the kill timings; `--seed N` replays a run (the suite prints the one it used).
    seed: Option<u64>,
    /// The whole suite's time budget (`--budget-secs`): past it the watchdog reports what
    /// was running and fails the suite instead of letting CI time out in silence.
    budget: Duration,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seed = args
        .iter()
        .position(|a| a == "--seed")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("--seed takes a number"));
    Options {
        rounds: value("--rounds", 10) as usize,
        outage: Duration::from_secs(value("--outage-secs", 5)),
        replica_rounds: value("--replica-rounds", 10) as usize,
        replica_outage: Duration::from_secs(value("--replica-outage-secs", 60)),
        storm: Duration::from_secs(value("--storm-secs", 3)),
        seed,
        budget: Duration::from_secs(value("--budget-secs", 1200)),
    }
}

/// What the watchdog reports when the suite overruns its budget: the step it is in, and
/// the daemons it started (pid, whether still running, last log lines).
#[derive(Default)]
struct Watch {
    step: Mutex<String>,
    daemons: Mutex<Vec<(u32, LogTail)>>,
}

/// The last log lines of a daemon, shared with its stderr reader.
type LogTail = Arc<Mutex<std::collections::VecDeque<String>>>;

/// A phase of the suite: its name and what runs it.
type Phase<'a> = (&'static str, &'a dyn Fn() -> Result<String, String>);

static WATCH: std::sync::LazyLock<Watch> = std::sync::LazyLock::new(Watch::default);

/// Records the step the suite is in, for the watchdog.
fn step(what: impl Into<String>) {
    *WATCH.step.lock().unwrap_or_else(|e| e.into_inner()) = what.into();
}

/// Fails the suite after `budget`: prints the step, the tail of each daemon's log, and
/// (where gdb is installed) every thread's stack of the suite and of each live daemon, so a
/// hang is diagnosable from CI's output. Then exits 1.
fn watchdog(budget: Duration, started: Instant) {
    std::thread::spawn(move || {
        std::thread::sleep(budget);
        let step = WATCH.step.lock().unwrap_or_else(|e| e.into_inner()).clone();
        println!(
            "FAIL the suite overran its budget of {budget:?} ({:.0} s in); stuck at: {step}",
            started.elapsed().as_secs_f64()
        );
        let mut pids = vec![(std::process::id(), "the suite".to_owned())];
        for (pid, tail) in WATCH
            .daemons
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let alive = Path::new(&format!("/proc/{pid}")).exists();
            println!(
                "--- daemon {pid} ({}), last log lines:",
                if alive { "running" } else { "exited" }
            );
            for line in tail.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                println!("{line}");
            }
            if alive {
                pids.push((*pid, format!("daemon {pid}")));
            }
        }
        for (pid, what) in pids {
            println!("--- stacks of {what}:");
            match std::process::Command::new("gdb")
                .args(["-p", &pid.to_string(), "-batch", "-nx"])
                .args(["-ex", "thread apply all bt 30"])
                .stdin(std::process::Stdio::null())
                .output()
            {
                Ok(out) => print!("{}", String::from_utf8_lossy(&out.stdout)),
                Err(e) => println!("(gdb not available: {e})"),
            }
        }
        std::process::exit(1);
    });
}

/// A daemon process on a fresh port, with the suite's settings.
struct Daemon {
    bin: RunningBinary,
    base: String,
    admin: String,
}

impl Daemon {
    fn start(journal: &Path, extra: &[(&str, String)]) -> Daemon {
        let defaults = [
            (
                "GENESYS_SENTIMENT__SERVER__LISTEN",
                "127.0.0.1:0".to_owned(),
            ),
            (
                "GENESYS_SENTIMENT__SERVER__ADMIN_LISTEN",
                "127.0.0.1:0".to_owned(),
            ),
            ("GENESYS_SENTIMENT__LOG__FORMAT", "json".to_owned()),
            // Stops are part of the scenario, not of a rollout behind a load balancer.
            ("GENESYS_SENTIMENT__SERVER__DRAIN_DELAY", "0s".to_owned()),
            (
                "GENESYS_SENTIMENT__GENESYS__CLIENT_ID",
                emulator::DEFAULT_CLIENT_ID.to_owned(),
            ),
            (
                "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET",
                emulator::DEFAULT_CLIENT_SECRET.to_owned(),
            ),
            (
                "GENESYS_SENTIMENT__GENESYS__BASE_URL",
                "http://127.0.0.1:9".to_owned(),
            ),
            (
                "GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED",
                "true".to_owned(),
            ),
            ("GENESYS_SENTIMENT__BATCH__ENABLED", "false".to_owned()),
            // No Genesys to attribute agent-less scores with: deliver them at once.
            (
                "GENESYS_SENTIMENT__WEBHOOK__ATTRIBUTION_MAX_WAIT",
                "0s".to_owned(),
            ),
            (
                "GENESYS_SENTIMENT__JOURNAL__DIR",
                journal.to_string_lossy().into_owned(),
            ),
            (
                "GENESYS_SENTIMENT__STORE__URL",
                format!(
                    "sqlite://{}/genesys-sentiment.db",
                    journal.parent().unwrap().display()
                ),
            ),
            (
                "GENESYS_SENTIMENT__JOURNAL__SEGMENT_MAX_BYTES",
                "65536".to_owned(),
            ),
            ("GENESYS_SENTIMENT__COACHING__SECRET", SECRET.to_owned()),
            (
                "GENESYS_SENTIMENT__COACHING__BACKOFF_BASE",
                "50ms".to_owned(),
            ),
            ("GENESYS_SENTIMENT__COACHING__BACKOFF_CAP", "2s".to_owned()),
            // Fast retries for a test, so the attempt bound is raised to match the outage.
            (
                "GENESYS_SENTIMENT__COACHING__MAX_ATTEMPTS",
                "100000".to_owned(),
            ),
        ];
        let env: Vec<(&str, String)> = defaults.iter().chain(extra.iter()).cloned().collect();
        let bin = RunningBinary::start(&["serve"], &env);
        if let Some(pid) = bin.pid() {
            let mut daemons = WATCH.daemons.lock().unwrap_or_else(|e| e.into_inner());
            daemons.retain(|(p, _)| Path::new(&format!("/proc/{p}")).exists());
            daemons.push((pid, bin.tail()));
        }
        let (address, admin) = bin.wait_for_addresses(Duration::from_secs(30));
        Daemon {
            bin,
            base: format!("http://{address}"),
            admin: format!("http://{admin}"),
        }
    }

    fn signal(&self, signal: Signal) {
        self.bin.signal(signal);
    }

    fn wait(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        self.bin.wait_exit(within)
    }
}

/// The suite's HTTP client: a request that gets no answer in 20 s counts as not
/// acknowledged (a sender's timeout), so a stalled daemon shows up as a failure, not a hang.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an HTTP client")
}

/// Checks `cond` every 25 ms until it holds (true) or `within` passes (false).
async fn holds_within(within: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

async fn until(what: &str, within: Duration, cond: impl AsyncFnMut() -> bool) {
    assert!(
        holds_within(within, cond).await,
        "timed out after {within:?} waiting for {what}"
    );
}

async fn ready(client: &reqwest::Client, base: &str) {
    until("readiness", Duration::from_secs(30), async || {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}

#[derive(Default)]
struct Ledger {
    acked: BTreeMap<String, String>,
    unacked: BTreeSet<String>,
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    conversation: &str,
    ledger: &Mutex<Ledger>,
) -> bool {
    let body = json!({"interactionId": conversation, "sentiment": {"score": -0.3, "polarity": "negative"}});
    let answer: Option<Value> = match client
        .post(format!("{base}/webhooks/genesys"))
        .json(&body)
        .send()
        .await
    {
        Ok(r) if r.status() == 202 || r.status() == 200 => r.json().await.ok(),
        _ => None,
    };
    let mut l = ledger.lock().unwrap();
    match answer.as_ref().and_then(|v| v["id"].as_str()) {
        Some(id) => {
            l.acked.insert(conversation.to_owned(), id.to_owned());
            l.unacked.remove(conversation);
            true
        }
        None => {
            if !l.acked.contains_key(conversation) {
                l.unacked.insert(conversation.to_owned());
            }
            false
        }
    }
}

/// Streams `conversations` with 8 senders until done or `stop`.
async fn stream(
    client: &reqwest::Client,
    base: &str,
    conversations: Vec<String>,
    ledger: &Arc<Mutex<Ledger>>,
    stop: &tokio_util::sync::CancellationToken,
) {
    let work = Arc::new(Mutex::new(
        conversations.into_iter().rev().collect::<Vec<_>>(),
    ));
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let (work, ledger, client, base, stop) = (
                work.clone(),
                ledger.clone(),
                client.clone(),
                base.to_owned(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    let Some(c) = work.lock().unwrap().pop() else {
                        break;
                    };
                    if !send(&client, &base, &c, &ledger).await {
                        break;
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
}

fn journal_records(journal: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for seg in genesys_sentiment::journal::scan::list_segments(journal).unwrap() {
        for line in std::fs::read_to_string(seg.path).unwrap().lines() {
            out.push(serde_json::from_str(line).unwrap());
        }
    }
    out
}

struct Tally {
    acknowledged: usize,
    journaled_once: usize,
    delivered: usize,
    problems: Vec<String>,
}

/// The `webhook-id`s the sink received for each conversation (more than one would be a bug).
fn webhook_ids_per_conversation(sink: &Sink) -> HashMap<String, BTreeSet<String>> {
    let mut ids: HashMap<String, BTreeSet<String>> = HashMap::new();
    for d in sink.events() {
        if let Some(c) = d.body["conversation_id"].as_str() {
            ids.entry(c.to_owned())
                .or_default()
                .insert(d.webhook_id.clone());
        }
    }
    ids
}

fn tally(ledger: &Ledger, journal: &Path, sink: &Sink) -> Tally {
    let mut problems = Vec::new();
    if let Err(e) = genesys_sentiment::journal::verify(journal) {
        problems.push(format!("journal does not verify: {e}"));
    }
    let mut received: HashMap<String, usize> = HashMap::new();
    for r in journal_records(journal) {
        if r["type"] == "webhook_received" {
            *received
                .entry(r["event_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        if r["type"] == "dead_lettered" {
            problems.push(format!("dead-lettered: {}", r["event_id"]));
        }
    }
    let counts = sink.counts();
    let ids_per_conversation = webhook_ids_per_conversation(sink);
    let (mut journaled_once, mut delivered) = (0, 0);
    for (conversation, id) in &ledger.acked {
        match received.get(id) {
            Some(1) => journaled_once += 1,
            other => problems.push(format!("{conversation} ({id}) journaled {other:?} times")),
        }
        if counts.contains_key(id) {
            delivered += 1;
        } else {
            problems.push(format!("{conversation} ({id}) not delivered"));
        }
        if ids_per_conversation
            .get(conversation)
            .is_some_and(|ids| ids.len() > 1)
        {
            problems.push(format!("{conversation} delivered under several ids"));
        }
    }
    Tally {
        acknowledged: ledger.acked.len(),
        journaled_once,
        delivered,
        problems,
    }
}

fn spawn_sink(rt: &tokio::runtime::Runtime) -> (Sink, String) {
    rt.block_on(async {
        let sink = Sink::new(SinkConfig {
            secret: Some(SECRET.into()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/coaching", listener.local_addr().unwrap());
        let router = sink.router();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (sink, url)
    })
}

/// Phase 1 and 2: SIGKILL rounds under load, then a coaching outage.
fn kills_and_outage(
    rt: &tokio::runtime::Runtime,
    opts: &Options,
    seed: u64,
) -> Result<String, String> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (sink, sink_url) = spawn_sink(rt);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let extra = [("GENESYS_SENTIMENT__COACHING__URL", sink_url.clone())];
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let client = client();
    let mut next = 0u64;
    let mut report = String::new();
    for round in 0..opts.rounds {
        step(format!("kills: round {round}"));
        let mut daemon = Daemon::start(&journal, &extra);
        rt.block_on(ready(&client, &daemon.base));
        let retries: Vec<String> = ledger.lock().unwrap().unacked.iter().cloned().collect();
        let fresh: Vec<String> = (next..next + 1500).map(|i| format!("crash-{i}")).collect();
        next += 1500;
        let kill_after = Duration::from_millis(rng.random_range(30..300));
        let stop = tokio_util::sync::CancellationToken::new();
        rt.block_on(async {
            let load = stream(
                &client,
                &daemon.base,
                retries.into_iter().chain(fresh).collect(),
                &ledger,
                &stop,
            );
            tokio::pin!(load);
            // Kill at the random point, or as soon as the stream ends if it ends first
            // (a release build can send 1 500 webhooks in less than 300 ms).
            let finished_first = tokio::select! {
                () = &mut load => true,
                () = tokio::time::sleep(kill_after) => false,
            };
            daemon.signal(Signal::Kill);
            stop.cancel();
            if !finished_first {
                load.await;
            }
        });
        assert!(
            daemon.wait(Duration::from_secs(10)).is_some(),
            "round {round}: the daemon did not exit after SIGKILL"
        );
    }
    let kills = opts.rounds;

    // Outage: the sink answers 500 for the outage; webhooks keep coming meanwhile.
    step("outage: webhooks during the coaching outage");
    let mut daemon = Daemon::start(&journal, &extra);
    rt.block_on(ready(&client, &daemon.base));
    let before_outage = ledger.lock().unwrap().acked.len();
    sink.set_fault(SinkFault {
        mode: SinkMode::Fail,
        seconds: opts.outage.as_secs(),
        retry_after: 1,
    });
    let outage_started = Instant::now();
    let retries: Vec<String> = ledger.lock().unwrap().unacked.iter().cloned().collect();
    rt.block_on(async {
        let stop = tokio_util::sync::CancellationToken::new();
        stream(&client, &daemon.base, retries, &ledger, &stop).await;
        let mut n = next;
        while outage_started.elapsed() < opts.outage && n < next + 200_000 {
            let batch: Vec<String> = (n..n + 50).map(|i| format!("outage-{i}")).collect();
            n += 50;
            stream(&client, &daemon.base, batch, &ledger, &stop).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let during_outage = ledger.lock().unwrap().acked.len() - before_outage;
    let failed_during_outage = sink.report().failed_on_purpose;
    let acked = ledger.lock().unwrap().acked.len() as u64;
    step("outage: waiting for every acknowledged event to reach the sink");
    let delivered_all = rt.block_on(holds_within(
        opts.outage + Duration::from_secs(90),
        async || sink.report().unique >= acked,
    ));
    if !delivered_all {
        let records = journal_records(&journal);
        let count = |t: &str| records.iter().filter(|r| r["type"] == t).count();
        return Err(format!(
            "not every acknowledged event reached the sink: sink {:?}; acknowledged {acked}; journal: received {}, delivered {}, failed attempts {}, dead-lettered {}",
            sink.report(),
            count("webhook_received"),
            records
                .iter()
                .filter(|r| r["type"] == "delivered_batch")
                .map(|r| r["deliveries"].as_array().map_or(0, Vec::len))
                .sum::<usize>(),
            count("delivery_failed"),
            count("dead_lettered")
        ));
    }
    daemon.signal(Signal::Term);
    let status = daemon
        .wait(Duration::from_secs(15))
        .ok_or("the daemon did not drain")?;
    if !status.success() {
        return Err(format!("drain exit status {status}"));
    }
    let t = tally(&ledger.lock().unwrap(), &journal, &sink);
    report.push_str(&format!(
        "SIGKILL rounds: {kills}; coaching outage: {:?} ({during_outage} webhooks accepted during it, {failed_during_outage} delivery attempts refused)\n\
         acknowledged {} · journaled exactly once {} · delivered {} · duplicate deliveries {} (same webhook-id)\n",
        opts.outage,
        t.acknowledged,
        t.journaled_once,
        t.delivered,
        sink.report().duplicates.len(),
    ));
    if t.problems.is_empty() {
        Ok(report)
    } else {
        Err(format!("{report}{}", t.problems.join("\n")))
    }
}

/// Sends one webhook through the "load balancer": to one replica, and to the other when the
/// first refuses or is down (what a load balancer and the sender's retry do together).
async fn send_balanced(
    client: &reqwest::Client,
    bases: &Mutex<[String; 2]>,
    turn: usize,
    conversation: &str,
    ledger: &Mutex<Ledger>,
) -> bool {
    for attempt in 0..2 {
        let base = bases.lock().unwrap()[(turn + attempt) % 2].clone();
        if send(client, &base, conversation, ledger).await {
            return true;
        }
    }
    false
}

/// Phase 4: two replicas on one PostgreSQL; one SIGKILLed and restarted each round while
/// the coaching platform is down; every acknowledged webhook stored once and delivered.
fn replicas_on_postgres(
    rt: &tokio::runtime::Runtime,
    opts: &Options,
    seed: u64,
) -> Result<String, String> {
    let Some(url) = rt.block_on(postgres::fresh_database("resilience_replicas")) else {
        return Ok("SKIPPED: no PostgreSQL server (source .ci/postgres.sh)\n".into());
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let (sink, sink_url) = spawn_sink(rt);
    let dir = tempfile::tempdir().unwrap();
    let start = |name: &str| {
        let journal = dir.path().join(name).join("journal");
        std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
        Daemon::start(
            &journal,
            &[
                ("GENESYS_SENTIMENT__COACHING__URL", sink_url.clone()),
                ("GENESYS_SENTIMENT__STORE__URL", url.clone()),
                ("GENESYS_SENTIMENT__SERVER__REPLICA_NAME", name.to_owned()),
                // A killed replica's claims run out fast, so the other takes over in a test.
                ("GENESYS_SENTIMENT__JOURNAL__OUTBOX_LEASE", "3s".to_owned()),
            ],
        )
    };
    let names = ["replica-a", "replica-b"];
    let mut daemons = [start(names[0]), start(names[1])];
    let client = client();
    for d in &daemons {
        rt.block_on(ready(&client, &d.base));
    }
    let bases = Arc::new(Mutex::new([
        daemons[0].base.clone(),
        daemons[1].base.clone(),
    ]));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    sink.set_fault(SinkFault {
        mode: SinkMode::Fail,
        seconds: opts.replica_outage.as_secs(),
        retry_after: 1,
    });
    let outage_started = Instant::now();
    // Load: 4 senders, round-robin across the replicas, until stopped (bounded in count).
    let stop = tokio_util::sync::CancellationToken::new();
    let senders: Vec<_> = (0..4)
        .map(|s| {
            let (client, bases, ledger, stop) =
                (client.clone(), bases.clone(), ledger.clone(), stop.clone());
            rt.spawn(async move {
                let mut i = 0usize;
                while !stop.is_cancelled() && i < 200_000 {
                    let conversation = format!("replica-{s}-{i}");
                    if !send_balanced(&client, &bases, s + i, &conversation, &ledger).await {
                        // Both down for a moment (one restarting, one just killed): back off.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let mut kills = 0;
    for round in 0..opts.replica_rounds {
        step(format!("replicas: round {round}"));
        std::thread::sleep(Duration::from_millis(rng.random_range(800..3000)));
        let victim = round % 2;
        daemons[victim].signal(Signal::Kill);
        if daemons[victim].wait(Duration::from_secs(10)).is_none() {
            return Err(format!(
                "round {round}: {} did not exit after SIGKILL",
                names[victim]
            ));
        }
        kills += 1;
        daemons[victim] = start(names[victim]);
        rt.block_on(ready(&client, &daemons[victim].base));
        bases.lock().unwrap()[victim] = daemons[victim].base.clone();
    }
    step("replicas: stopping the senders");
    stop.cancel();
    for s in senders {
        rt.block_on(s).unwrap();
    }
    step("replicas: sending again what was never acknowledged, then waiting for delivery");
    // What was never acknowledged is sent again (the sender's retry), through either replica.
    let retries: Vec<String> = ledger.lock().unwrap().unacked.iter().cloned().collect();
    rt.block_on(async {
        for (i, c) in retries.iter().enumerate() {
            send_balanced(&client, &bases, i, c, &ledger).await;
        }
    });
    let outage = outage_started.elapsed();
    let failed_during_outage = sink.report().failed_on_purpose;
    let acked: BTreeMap<String, String> = ledger.lock().unwrap().acked.clone();
    let unacked = ledger.lock().unwrap().unacked.len();
    let delivered_all = rt.block_on(holds_within(
        opts.replica_outage + Duration::from_secs(120),
        async || {
            let counts = sink.counts();
            acked.values().all(|id| counts.contains_key(id))
        },
    ));
    for d in &mut daemons {
        d.signal(Signal::Term);
    }
    for (d, name) in daemons.iter_mut().zip(names) {
        match d.wait(Duration::from_secs(20)) {
            Some(status) if status.success() => {}
            other => return Err(format!("{name} did not drain: {other:?}")),
        }
    }
    let mut problems = Vec::new();
    if !delivered_all {
        let counts = sink.counts();
        let missing = acked
            .values()
            .filter(|id| !counts.contains_key(*id))
            .count();
        problems.push(format!(
            "{missing} acknowledged events never reached the sink"
        ));
    }
    let verified = rt.block_on(genesys_sentiment::journal::postgres::verify(&url));
    match &verified {
        Ok(v) if v.unsealed == 0 => {}
        Ok(v) => problems.push(format!(
            "{} records left unsealed after both drained",
            v.unsealed
        )),
        Err(e) => problems.push(format!("the shared journal does not verify: {e}")),
    }
    let stored: Vec<String> = rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query_scalar(
            "SELECT COALESCE(entry, line)::jsonb->>'event_id' FROM journal_records WHERE kind = 'webhook_received'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
    });
    let mut times: HashMap<&str, usize> = HashMap::new();
    for id in &stored {
        *times.entry(id.as_str()).or_default() += 1;
    }
    let ids_per_conversation = webhook_ids_per_conversation(&sink);
    let mut once = 0;
    for (conversation, id) in &acked {
        match times.get(id.as_str()) {
            Some(1) => once += 1,
            other => problems.push(format!("{conversation} ({id}) stored {other:?} times")),
        }
        if ids_per_conversation
            .get(conversation)
            .is_some_and(|ids| ids.len() > 1)
        {
            problems.push(format!("{conversation} delivered under several ids"));
        }
    }
    if times.values().any(|&n| n > 1) {
        problems.push("an event is stored more than once".into());
    }
    let report = format!(
        "replicas: 2 on one PostgreSQL; SIGKILL rounds: {kills}; coaching outage {:?} (load ran {outage:.1?}; {failed_during_outage} delivery attempts refused)\n\
         acknowledged {} · stored exactly once {once} · never acknowledged {unacked} · delivered {} (duplicate deliveries, same webhook-id: {}) · sealed records {}\n",
        opts.replica_outage,
        acked.len(),
        sink.report().unique,
        sink.report().duplicates.len(),
        verified.as_ref().map_or(0, |v| v.records),
    );
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(format!("{report}{}", problems.join("\n")))
    }
}

/// Phase 3: a scheduled batch while Genesys misbehaves.
fn batch_under_faults(rt: &tokio::runtime::Runtime, opts: &Options) -> Result<String, String> {
    let emu = rt.block_on(async {
        let mut c = EmulatorConfig::new(5);
        c.org.agents = 24;
        c.org.days = 14;
        c.org.conversations_per_day = 400.0;
        c.org.end = emulator::org::today_midnight();
        c.rate_limit_per_minute = 60_000;
        c.faults = Faults {
            error_rate: 0.2,
            ..Faults::default()
        };
        emulator::spawn(c, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let extra = [
        ("GENESYS_SENTIMENT__GENESYS__BASE_URL", emu.url()),
        (
            "GENESYS_SENTIMENT__GENESYS__REQUESTS_PER_MINUTE",
            "60000".to_owned(),
        ),
        ("GENESYS_SENTIMENT__GENESYS__MAX_ATTEMPTS", "12".to_owned()),
        (
            "GENESYS_SENTIMENT__GENESYS__BACKOFF_BASE",
            "20ms".to_owned(),
        ),
        (
            "GENESYS_SENTIMENT__GENESYS__BACKOFF_CAP",
            "500ms".to_owned(),
        ),
        ("GENESYS_SENTIMENT__BATCH__ENABLED", "true".to_owned()),
        (
            "GENESYS_SENTIMENT__BATCH__RUN_AT_STARTUP",
            "true".to_owned(),
        ),
    ];
    step("Genesys faults: the batch under a fault mix");
    let mut daemon = Daemon::start(&journal, &extra);
    let client = client();
    let stats = emu.state.stats.clone();
    rt.block_on(until(
        "the batch to start pulling",
        Duration::from_secs(30),
        async || {
            stats
                .api_requests
                .load(std::sync::atomic::Ordering::Relaxed)
                > 200
        },
    ));
    emu.state.apply_faults(Faults {
        error_rate: 0.2,
        storm_seconds: opts.storm.as_secs(),
        revoke_tokens: true,
        ..Faults::default()
    });
    let mut run = Value::Null;
    rt.block_on(until(
        "the batch run to finish",
        Duration::from_secs(120) + opts.storm,
        async || {
            run = match client.get(format!("{}/v1/runs", daemon.admin)).send().await {
                Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null)["runs"][0].clone(),
                Err(_) => Value::Null,
            };
            // `/v1/runs` lists a run while it is still going (with its progress).
            run["outcome"].as_str().is_some_and(|o| o != "running")
        },
    ));
    daemon.signal(Signal::Term);
    daemon.wait(Duration::from_secs(15));
    let org = &emu.state.org;
    let end = org.spec.end;
    let expected = org
        .starting_between(end - chrono::TimeDelta::days(14), end)
        .iter()
        .filter(|c| c.analysed)
        .count() as u64;
    let (api, limited, tokens) = (
        stats
            .api_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        stats
            .rate_limited
            .load(std::sync::atomic::Ordering::Relaxed),
        stats
            .tokens_issued
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    let report = format!(
        "Genesys faults during a batch (20 % 5xx, a {:?} 429 storm, tokens revoked): run {}, {} of {expected} analysed conversations aggregated; \
         {api} API requests for them, {limited} answered 429, {tokens} tokens issued\n",
        opts.storm,
        run["outcome"].as_str().unwrap_or("?"),
        run["records"],
    );
    let mut problems = Vec::new();
    if run["outcome"] != "succeeded" {
        problems.push(format!("the batch failed: {}", run["error"]));
    }
    if run["records"].as_u64() != Some(expected) {
        problems.push(format!("lost records: {} of {expected}", run["records"]));
    }
    if limited == 0 || tokens < 2 {
        problems.push("the storm or the revocation did not happen".into());
    }
    if let Err(e) = genesys_sentiment::journal::verify(&journal) {
        problems.push(format!("journal does not verify: {e}"));
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(format!("{report}{}", problems.join("\n")))
    }
}

fn main() {
    let opts = options();
    if std::env::args().any(|a| a == "--list") {
        // `cargo test -- --list` (IDEs): nothing to enumerate in a harness-less suite.
        return;
    }
    let seed: u64 = opts.seed.unwrap_or_else(|| rand::rng().random());
    let started = Instant::now();
    watchdog(opts.budget, started);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "resilience suite (seed {seed}; replay with --seed {seed}): {} SIGKILL rounds, {:?} coaching outage, {:?} 429 storm",
        opts.rounds, opts.outage, opts.storm
    );
    let mut failed = false;
    let phases: [Phase; 3] = [
        ("kills + outage", &|| kills_and_outage(&rt, &opts, seed)),
        ("Genesys faults", &|| batch_under_faults(&rt, &opts)),
        ("replicas on PostgreSQL", &|| {
            replicas_on_postgres(&rt, &opts, seed)
        }),
    ];
    // Each phase prints its result as soon as it ends.
    for (name, phase) in phases {
        match phase() {
            Ok(report) => print!("PASS {name}\n{report}"),
            Err(report) => {
                failed = true;
                print!("FAIL {name}\n{report}\n");
            }
        }
    }
    println!("finished in {:.1} s", started.elapsed().as_secs_f64());
    if failed {
        std::process::exit(1);
    }
}
