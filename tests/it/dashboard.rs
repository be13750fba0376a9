//! Issue 7: the dashboard in headless Chromium, from a running daemon with a real report.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use genesys_sentiment::analytics::Dimension;
use genesys_sentiment::emulator::org::AgentTruth;

use crate::helpers::emulator::{batch_org, use_emulator};

const CANDIDATES: [&str; 3] = [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];

/// The browser: `CHROMIUM` when set, else `chromium` / `chromium-browser` / `google-chrome`
/// on the `PATH`, else the first of the usual paths that exists.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(path.exists(), "CHROMIUM={} does not exist", path.display());
        return Some(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).find_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .map(|name| dir.join(name))
                .find(|p| p.is_file())
        })
    });
    on_path.or_else(|| CANDIDATES.iter().map(PathBuf::from).find(|p| p.exists()))
}

/// Whether a missing browser fails the test: in CI (`CI` set) or with `REQUIRE_BROWSER=1`.
fn browser_required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
        || std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// The browser to use, or `None` after printing the SKIPPED line (past the test harness's
/// output capture, so it shows in a plain `cargo test`); panics when a browser is required.
fn browser_or_skip() -> Option<PathBuf> {
    if let Some(path) = chromium() {
        return Some(path);
    }
    assert!(
        !browser_required(),
        "no Chromium found for the dashboard browser test (looked at $CHROMIUM and {}); \
         `apt-get install chromium` (.ci/run does) or set CHROMIUM=/path/to/chrome",
        CANDIDATES.join(", ")
    );
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: dashboard browser test (no Chromium; apt-get install chromium)"
    );
    None
}

/// Runs Chromium headless on `url` with extra `args`, giving the page's scripts time to
/// fetch and render (virtual time only advances once the page is idle).
fn headless(browser: &std::path::Path, url: &str, args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--virtual-time-budget=15000",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.path().display()));
    cmd.args(args).arg(url);
    cmd.output().expect("chromium runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_charts_and_the_declining_agents() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let emu = crate::helpers::emulator::start(batch_org(1)).await;
    let org = emu.state.org.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(&dir);
    use_emulator(&mut settings, &emu);
    let mut app = genesys_sentiment::startup::Application::build(settings)
        .await
        .unwrap();
    app.start().await.unwrap();
    let url = format!("http://{}/", app.admin_address());
    let services = app.state().services().unwrap().clone();
    services.reports.wait_for_runs(1).await;
    let report = services.reports.latest().unwrap();
    let flagged: Vec<(&str, &str)> = report
        .groups_of(Dimension::Agent)
        .filter(|g| g.verdict.direction == genesys_sentiment::analytics::Direction::Declining)
        .map(|g| (g.key.as_str(), g.label.as_deref().unwrap()))
        .collect();
    let truth = org.ground_truth(org.spec.window_days, org.spec.end);
    let declared: Vec<&AgentTruth> = truth
        .agents
        .iter()
        .filter(|t| t.trend == "declining" && t.n_current >= 30 && t.n_previous >= 30)
        .collect();
    assert_eq!(flagged.len(), declared.len());

    let page = tokio::task::spawn_blocking({
        let (url, browser) = (url.clone(), browser.clone());
        move || headless(&browser, &url, &["--dump-dom"])
    })
    .await
    .unwrap();
    assert!(
        page.status.success(),
        "{}",
        String::from_utf8_lossy(&page.stderr)
    );
    let dom = String::from_utf8_lossy(&page.stdout);
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page loaded its data: {}",
        &dom[..dom.len().min(2000)]
    );
    // Polarity mix: a stacked bar per day (14 days × 3 polarities).
    assert_eq!(dom.matches("class=\"bar-positive\"").count(), 14);
    assert_eq!(dom.matches("class=\"bar-negative\"").count(), 14);
    // Mean quality per queue: one line per queue, named in the legend.
    assert_eq!(dom.matches("class=\"series\"").count(), 4);
    for q in &org.queues {
        assert!(dom.contains(&q.name), "legend names {}", q.name);
    }
    // The agents table: the declining agents, by name, with their verdict.
    for t in &declared {
        let row = format!(
            "data-agent-id=\"{}\" data-verdict=\"declining\"",
            t.agent_id
        );
        assert!(dom.contains(&row), "row for {} ({})", t.name, t.agent_id);
        assert!(dom.contains(&t.name), "{} is shown by name", t.name);
    }
    assert!(
        dom.contains("batch") || dom.contains("succeeded"),
        "runs table filled"
    );

    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    let png = target.join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    let shot = tokio::task::spawn_blocking({
        let png = png.clone();
        move || {
            headless(
                &browser,
                &url,
                &[
                    &format!("--screenshot={}", png.display()),
                    "--window-size=1400,1500",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "a real screenshot at {}: {size} bytes",
        png.display()
    );
    tokio::time::timeout(Duration::from_secs(15), app.shutdown())
        .await
        .unwrap()
        .unwrap();
}
