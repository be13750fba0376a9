//! Issue 18: the operations kit under `deploy/` matches the daemon. Every metric the alert
//! rules and the Grafana dashboard use is exported from start-up; `/metrics` passes
//! `promtool check metrics` (classic text format by default, OpenMetrics on request); the
//! compose file's and the Kubernetes manifest's settings pass `check-config`; the
//! manifest's probes, pre-stop pause and grace period fit the daemon's drain.

use std::collections::BTreeSet;
use std::path::Path;

use crate::helpers::{TestApp, run_bin};

fn deploy(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every `genesys_sentiment_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("genesys_sentiment_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        // `genesys_sentiment_…` also starts words like the scrape job's name: only names
        // with a metric after the prefix count.
        if end > start + "genesys_sentiment_".len() {
            out.insert(text[start..end].to_owned());
        }
        i = end;
    }
    out
}

/// Sample names and family names (`# TYPE`) of an exposition.
fn exported(exposition: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            out.insert(rest.split(' ').next().unwrap_or("").to_owned());
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            out.insert(name.to_owned());
        }
    }
    out
}

#[tokio::test]
async fn every_metric_the_alert_rules_and_the_dashboard_use_is_exported_at_start_up() {
    let t = TestApp::started(|_| {}).await;
    let text = t.get("/metrics").await.text().await.unwrap();
    let have = exported(&text);
    let rules = deploy("prometheus/alerts.yml");
    let dashboard = deploy("grafana/genesys-sentiment.json");
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard JSON");
    let expressions: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(expressions.len() >= 15, "{expressions:?}");
    let used: BTreeSet<String> = metric_names(&rules)
        .into_iter()
        .chain(expressions.iter().flat_map(|e| metric_names(e)))
        .collect();
    assert!(used.len() >= 20, "{used:?}");
    let missing: Vec<&String> = used.iter().filter(|m| !have.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "used but not exported: {missing:?}\n{text}"
    );
    // The series the alerts select on exist as samples, at 0, so `increase()` sees the
    // first change after a restart.
    for sample in [
        "genesys_sentiment_ready 1",
        "genesys_sentiment_dead_letters 0",
        "genesys_sentiment_oldest_pending_delivery_age_seconds 0",
        "genesys_sentiment_forwarder_stalled 0",
        "genesys_sentiment_webhooks_total{outcome=\"journal_unavailable\"} 0",
        "genesys_sentiment_delivery_attempts_total{class=\"5xx\"} 0",
        "genesys_sentiment_enrichment_failures_total 0",
    ] {
        assert!(
            text.contains(&format!("{sample}\n")),
            "{sample} missing:\n{text}"
        );
    }
    t.stop().await;
}

#[tokio::test]
async fn metrics_are_classic_text_unless_openmetrics_is_asked_for_and_promtool_accepts_them() {
    let t = TestApp::started(|_| {}).await;
    let classic = t.get("/metrics").await;
    assert!(
        classic.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let classic = classic.text().await.unwrap();
    assert!(!classic.contains("# EOF"));
    assert!(classic.contains("# TYPE genesys_sentiment_webhooks_total counter\n"));
    let open = t
        .client
        .get(t.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert!(
        open.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let open = open.text().await.unwrap();
    assert!(open.ends_with("# EOF\n"));
    assert!(open.contains("# TYPE genesys_sentiment_webhooks counter\n"));
    t.stop().await;

    // promtool (Debian's `prometheus` package; .ci/run installs it) lints the classic text.
    let promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match promtool {
        Ok(c) => c,
        Err(e) if std::env::var_os("REQUIRE_PROMTOOL").is_none() => {
            eprintln!("SKIPPED promtool check metrics: {e}");
            return;
        }
        Err(e) => panic!("promtool is required here (REQUIRE_PROMTOOL): {e}"),
    };
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(classic.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `environment` of a compose service, or the `env` of a container, as pairs.
fn env_pairs(env: &serde_norway::Value, secrets: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(map) = env.as_mapping() {
        for (k, v) in map {
            out.push((
                k.as_str().unwrap().to_owned(),
                v.as_str().map_or_else(|| format!("{v:?}"), str::to_owned),
            ));
        }
    } else if let Some(list) = env.as_sequence() {
        for e in list {
            let name = e["name"].as_str().unwrap().to_owned();
            let value = match e["value"].as_str() {
                // A secret file of the manifest: a stand-in with a plausible value.
                Some(path) if path.starts_with("/run/secrets/") => {
                    let file = secrets.join(path.rsplit('/').next().unwrap());
                    let value = if path.ends_with("store-url") {
                        "postgres://genesys:pw@127.0.0.1:1/genesys_sentiment"
                    } else if path.ends_with("coaching-secret") {
                        "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u"
                    } else {
                        "0123456789abcdef0123456789abcdef"
                    };
                    std::fs::write(&file, value).unwrap();
                    file.to_string_lossy().into_owned()
                }
                Some(v) => v.to_owned(),
                // valueFrom (the pod name).
                None => "pod-0".to_owned(),
            };
            out.push((name, value));
        }
    }
    out
}

fn check_config(env: &[(String, String)]) -> std::process::Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_bin(&["check-config"], &env)
}

#[test]
fn the_compose_file_and_the_kubernetes_manifest_configure_a_daemon_that_serve_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let compose: serde_norway::Value =
        serde_norway::from_str(&deploy("docker-compose.yml")).expect("compose YAML");
    let env = env_pairs(&compose["services"]["daemon"]["environment"], dir.path());
    assert!(env.len() >= 5, "{env:?}");
    let out = check_config(&env);
    assert!(
        out.status.success(),
        "compose: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let docs: Vec<serde_norway::Value> =
        serde_norway::Deserializer::from_str(&deploy("kubernetes/genesys-sentiment.yaml"))
            .map(|d| serde::Deserialize::deserialize(d).expect("manifest YAML"))
            .collect();
    // A StatefulSet: a pod restarted or rolled keeps its name, which is its replica name
    // (what it holds in memory is taken up again only under the same name).
    let set = docs
        .iter()
        .find(|d| d["kind"] == "StatefulSet")
        .expect("a StatefulSet");
    assert!(
        docs.iter()
            .any(|d| d["kind"] == "Service" && d["metadata"]["name"] == set["spec"]["serviceName"]),
        "its governing Service"
    );
    let pod = &set["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let env = env_pairs(&container["env"], dir.path());
    let out = check_config(&env);
    assert!(
        out.status.success(),
        "kubernetes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Probes on the admin port: readiness on /readyz, liveness on /healthz.
    let admin_port = container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "admin")
        .expect("an admin port")["containerPort"]
        .as_u64()
        .unwrap();
    assert_eq!(admin_port, 8081);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    // The grace period covers the pre-stop pause and the drain deadline (10 s in
    // config/default.toml, the 5 s drain delay included).
    let pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .expect("a preStop sleep");
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > pre_stop + 10,
        "grace {grace} s, preStop {pre_stop} s"
    );
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(docs.iter().any(|d| d["kind"] == "Service"), "no Service");

    // The ServiceMonitor selects one Service with the admin port: with two, every pod is
    // scraped twice (alerts fire twice, sums double).
    let monitor: serde_norway::Value =
        serde_norway::from_str(&deploy("kubernetes/servicemonitor.yaml")).expect("YAML");
    let wanted = monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .expect("matchLabels");
    let port = &monitor["spec"]["endpoints"][0]["port"];
    let scraped: Vec<_> = docs
        .iter()
        .filter(|d| d["kind"] == "Service")
        .filter(|d| {
            wanted
                .iter()
                .all(|(k, v)| &d["metadata"]["labels"][k.as_str().unwrap()] == v)
        })
        .filter(|d| {
            d["spec"]["ports"]
                .as_sequence()
                .is_some_and(|ports| ports.iter().any(|p| &p["name"] == port))
        })
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        scraped,
        ["genesys-sentiment-admin"],
        "scraped through {scraped:?}"
    );
}
