//! Issue 2: configuration layers, secret files, errors and redaction.

use genesys_sentiment::config::{ConfigError, Purpose};

use crate::helpers::{load, run_bin};

#[test]
fn environment_beats_the_file_which_beats_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[genesys]\nclient_id = \"from-file\"\nregion = \"eu_west_1\"\n[batch]\ninterval = \"5m\"\n",
    )
    .unwrap();
    let s = load(
        Some(&file),
        &[
            ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "from-env"),
            ("UNRELATED", "x"),
        ],
        Purpose::Inspect,
    )
    .unwrap();
    assert_eq!(s.genesys.client_id, "from-env", "env wins over the file");
    assert_eq!(
        s.genesys.region.id, "eu_west_1",
        "the file wins over the defaults"
    );
    assert_eq!(s.batch.interval.get().as_secs(), 300);
    assert_eq!(
        s.genesys.requests_per_minute.get(),
        300,
        "untouched keys keep their default"
    );
}

#[test]
fn lists_and_numbers_come_from_the_environment_too() {
    let s = load(
        None,
        &[
            ("GENESYS_SENTIMENT__GENESYS__REQUESTS_PER_MINUTE", "120"),
            ("GENESYS_SENTIMENT__BATCH__QUEUE_IDS", "q1,q2"),
        ],
        Purpose::Inspect,
    )
    .unwrap();
    assert_eq!(s.genesys.requests_per_minute.get(), 120);
    assert_eq!(s.batch.queue_ids, vec!["q1", "q2"]);

    // Items are trimmed and empty ones dropped: an empty value is the empty list.
    let s = load(
        None,
        &[
            ("GENESYS_SENTIMENT__BATCH__QUEUE_IDS", " q1, q2 ,"),
            ("GENESYS_SENTIMENT__ANALYTICS__ADJUST_FOR", ""),
        ],
        Purpose::Inspect,
    )
    .unwrap();
    assert_eq!(s.batch.queue_ids, vec!["q1", "q2"]);
    assert!(
        s.analytics.adjust_for.is_empty(),
        "{:?}",
        s.analytics.adjust_for
    );
}

#[test]
fn a_secret_is_read_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client_secret");
    std::fs::write(&secret, "s3cr3t-from-file\n").unwrap();
    let s = load(
        None,
        &[
            ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "id"),
            (
                "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET_FILE",
                secret.to_str().unwrap(),
            ),
            ("GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED", "true"),
        ],
        Purpose::Serve,
    )
    .unwrap();
    assert_eq!(s.genesys.client_secret.expose(), Some("s3cr3t-from-file"));

    let both = load(
        None,
        &[
            ("GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET", "inline"),
            (
                "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET_FILE",
                secret.to_str().unwrap(),
            ),
        ],
        Purpose::Inspect,
    )
    .unwrap_err();
    assert!(
        matches!(both, ConfigError::Invalid { ref key, .. } if key == "genesys.client_secret"),
        "{both}"
    );

    let missing = load(
        None,
        &[(
            "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET_FILE",
            "/nonexistent/secret",
        )],
        Purpose::Inspect,
    )
    .unwrap_err();
    assert!(
        missing.to_string().contains("genesys.client_secret_file")
            && missing
                .to_string()
                .contains("/nonexistent/secret: no such file"),
        "{missing}"
    );
}

#[test]
fn serve_requires_credentials_and_webhook_authentication() {
    let e = load(None, &[], Purpose::Serve).unwrap_err();
    assert!(e.to_string().contains("genesys.client_id"), "{e}");
    let e = load(
        None,
        &[
            ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "id"),
            ("GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET", "secret"),
        ],
        Purpose::Serve,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("webhook.allow_unauthenticated"),
        "{e}"
    );
}

#[test]
fn a_bad_key_exits_2_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[genesys]\nclinet_id = \"typo\"\n").unwrap();
    let out = run_bin(&["--config", file.to_str().unwrap(), "check-config"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("genesys.clinet_id"), "{err}");
    assert_eq!(err.lines().count(), 1, "one message: {err}");

    for (key, value, named) in [
        (
            "GENESYS_SENTIMENT__GENESYS__REGION",
            "us-east-9",
            "genesys.region",
        ),
        (
            "GENESYS_SENTIMENT__GENESYS__BASE_URL",
            "not a url",
            "genesys.base_url",
        ),
        (
            "GENESYS_SENTIMENT__SERVER__SHUTDOWN_DEADLINE",
            "soon",
            "server.shutdown_deadline",
        ),
        (
            "GENESYS_SENTIMENT__BATCH__SOURCE",
            "carrier-pigeon",
            "batch.source",
        ),
        (
            "GENESYS_SENTIMENT__GENESYS__JOB_PAGE_SIZE",
            "0",
            "genesys.job_page_size",
        ),
        (
            "GENESYS_SENTIMENT__JOURNAL__SEGMENT_MAX_BYTES",
            "8589934592",
            "journal.segment_max_bytes",
        ),
        (
            "GENESYS_SENTIMENT__JOURNAL__DEDUPE_MAX_KEYS",
            "10",
            "journal.dedupe_max_keys",
        ),
        (
            "GENESYS_SENTIMENT__WEBHOOK__TOKEN_HEADER",
            "x-genesys-token:",
            "webhook.token_header",
        ),
        ("GENESYS_SENTIMENT__STORE__URL", "sqlite://", "store.url"),
        // Events write VOICE; the analytics filter would match nothing with it.
        (
            "GENESYS_SENTIMENT__BATCH__MEDIA_TYPE",
            "VOICE",
            "`batch.media_type`: must be empty (every media type) or one of callback",
        ),
    ] {
        // With credentials, so that checks made after them are reached too.
        let out = run_bin(
            &["check-config"],
            &[
                (key, value),
                ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "id"),
                ("GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET", "secret"),
                ("GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED", "true"),
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{key}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{key}={value}: {err}");
    }

    let out = run_bin(
        &["serve"],
        &[("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "id")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("genesys.client_secret"));
}

#[test]
fn check_config_never_prints_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[webhook]\nbasic_username = \"genesys\"\nbasic_password = \"pw-in-file-0001\"\n\
         standard_webhooks_secrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n",
    )
    .unwrap();
    let secret_file = dir.path().join("coaching_secret");
    std::fs::write(
        &secret_file,
        "whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u",
    )
    .unwrap();
    let out = run_bin(
        &["--config", file.to_str().unwrap(), "check-config"],
        &[
            ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "client-id-0001"),
            (
                "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET",
                "client-secret-in-env-0002",
            ),
            (
                "GENESYS_SENTIMENT__WEBHOOK__BEARER_TOKEN",
                "bearer-in-env-0003",
            ),
            (
                "GENESYS_SENTIMENT__COACHING__SECRET_FILE",
                secret_file.to_str().unwrap(),
            ),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for secret in [
        "pw-in-file-0001",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "client-secret-in-env-0002",
        "bearer-in-env-0003",
        "c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u",
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
    }
    assert!(
        stdout.contains("client_secret = \"[redacted]\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("basic_password = \"[redacted]\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("standard_webhooks_secrets = [\"[redacted]\"]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("basic_username = \"genesys\""),
        "non-secrets are shown: {stdout}"
    );
    // Durations as configured, the SQLite path in full, nested lists on one line.
    for shown in [
        "retention = \"548d\"",
        "dedupe_window = \"5d\"",
        "url = \"sqlite://./data/genesys-sentiment.db\"",
        "piecewise_points = [[-100.0, 0.0], [-20.0, 35.0], [20.0, 65.0], [100.0, 100.0]]",
    ] {
        assert!(stdout.contains(shown), "{shown} not in:\n{stdout}");
    }
    // A PostgreSQL URL is shown without its password.
    let out = run_bin(
        &["check-config"],
        &[
            ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "client-id-0001"),
            (
                "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET",
                "client-secret-in-env-0002",
            ),
            ("GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED", "true"),
            (
                "GENESYS_SENTIMENT__STORE__URL",
                "postgres://genesys:db-password-0004@db.internal:5432/sentiment",
            ),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("db-password-0004"), "{stdout}");
    assert!(stdout.contains("@db.internal:5432/sentiment"), "{stdout}");
}

/// Every key of `config/default.toml` has a row in the key table of docs/operations.md, so an
/// operator reading the guide sees every setting there is.
#[test]
fn every_configuration_key_is_in_the_operations_guide() {
    let defaults: toml::Table =
        toml::from_str(genesys_sentiment::config::DEFAULT_TOML).expect("defaults parse");
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .unwrap();
    let mut missing = Vec::new();
    for (section, table) in &defaults {
        let toml::Value::Table(table) = table else {
            continue;
        };
        for key in table.keys() {
            let row = format!("| `{section}.{key}` |");
            if !guide.contains(&row) {
                missing.push(format!("{section}.{key}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys without a row in docs/operations.md §4: {missing:?}"
    );
}

#[test]
fn check_config_refuses_what_serve_refuses_and_audit_needs_an_existing_journal() {
    let id = ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "client-id-0001");
    let secret = (
        "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET",
        "client-secret-0002",
    );
    let token = (
        "GENESYS_SENTIMENT__WEBHOOK__BEARER_TOKEN",
        "bearer-token-0003-long",
    );
    for (env, named) in [
        (vec![id, token], "genesys.client_secret"),
        (vec![id, secret], "webhook.allow_unauthenticated"),
    ] {
        let out = run_bin(&["check-config"], &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{named}: {err}");
        assert!(err.contains(named), "names {named}: {err}");
    }
    assert_eq!(
        run_bin(&["check-config"], &[id, secret, token])
            .status
            .code(),
        Some(0),
        "complete: accepted"
    );
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-journal-here");
    let out = run_bin(&["audit", "verify", missing.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is not a directory"));
    let out = run_bin(
        &[
            "audit",
            "replay",
            "--dead-letters",
            missing.to_str().unwrap(),
        ],
        &[],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(!missing.exists(), "replay does not create a journal");
}

#[test]
fn a_port_in_use_names_the_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let serve = |format: &str| {
        run_bin(
            &["serve"],
            &[
                ("GENESYS_SENTIMENT__LOG__FORMAT", format),
                ("GENESYS_SENTIMENT__SERVER__LISTEN", addr.as_str()),
                ("GENESYS_SENTIMENT__SERVER__ADMIN_LISTEN", "127.0.0.1:0"),
                ("GENESYS_SENTIMENT__GENESYS__CLIENT_ID", "client-id-0001"),
                (
                    "GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET",
                    "client-secret-0002",
                ),
                ("GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED", "true"),
                ("GENESYS_SENTIMENT__JOURNAL__DIR", journal.to_str().unwrap()),
            ],
        )
    };
    let out = serve("pretty");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&addr) && err.contains("server.listen"),
        "names the address and the key: {err}"
    );

    // Under log.format = "json" every line is JSON, the fatal one included, with flat
    // fields; so is a configuration error found before the configuration loads.
    let out = serve("json");
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let last = lines.last().expect("a fatal line");
    assert_eq!(last["level"], "ERROR", "{last}");
    assert!(
        last["error"].as_str().unwrap().contains("server.listen"),
        "{last}"
    );
    assert!(lines.iter().all(|l| l.get("fields").is_none()), "{lines:?}");
    let out = run_bin(
        &["serve"],
        &[
            ("GENESYS_SENTIMENT__LOG__FORMAT", "json"),
            ("GENESYS_SENTIMENT__SERVER__LISTEN", "not-an-address"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stderr).trim()).expect("one JSON line");
    assert!(
        line["error"].as_str().unwrap().contains("server.listen"),
        "{line}"
    );
}

#[test]
fn version_completions_and_man_page_come_from_the_cli_definition() {
    let out = run_bin(&["--version"], &[]);
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        version.contains(&format!("(commit {})", genesys_sentiment::domain::COMMIT)),
        "{version}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = run_bin(&["completions", shell], &[]);
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}");
        assert!(
            script.contains("doctor") && script.contains("send-test"),
            "{shell}: {script}"
        );
    }
    let out = run_bin(&["man"], &[]);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        page.starts_with(".ie") && page.contains(".TH genesys-sentiment 1"),
        "{page}"
    );
    assert!(page.contains("genesys\\-sentiment\\-doctor(1)"), "{page}");
    // No configuration is read: a broken one does not stop them.
    let out = run_bin(
        &["man"],
        &[("GENESYS_SENTIMENT__SERVER__LISTEN", "nonsense")],
    );
    assert!(out.status.success());
}

#[test]
fn a_setting_variable_spelled_with_one_underscore_is_refused_not_ignored() {
    let err = load(
        None,
        &[("GENESYS_SENTIMENT_GENESYS_CLIENT_ID", "my-client")],
        Purpose::Inspect,
    )
    .unwrap_err();
    assert!(
        matches!(&err, ConfigError::Invalid { key, .. } if key == "GENESYS_SENTIMENT_GENESYS_CLIENT_ID"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("e.g. GENESYS_SENTIMENT__GENESYS__CLIENT_ID"),
        "{err}"
    );
    // The daemon's own other variables are no settings and pass.
    load(
        None,
        &[
            (
                "GENESYS_SENTIMENT_CONFIG",
                "/etc/genesys-sentiment/config.toml",
            ),
            ("GENESYS_SENTIMENT_COMMIT", "abc123"),
        ],
        Purpose::Inspect,
    )
    .unwrap();
    // A misspelt key from the environment says where it came from.
    let err = load(
        None,
        &[("GENESYS_SENTIMENT__GENESYS__CLIENT_IDD", "my-client")],
        Purpose::Inspect,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown key")
            && err
                .to_string()
                .contains("set by the environment variable GENESYS_SENTIMENT__GENESYS__CLIENT_IDD"),
        "{err}"
    );
}

#[test]
fn the_region_can_be_written_as_the_domain_of_the_orgs_web_address() {
    let s = load(
        None,
        &[("GENESYS_SENTIMENT__GENESYS__REGION", "apps.mypurecloud.de")],
        Purpose::Inspect,
    )
    .unwrap();
    assert_eq!(s.genesys.region.id, "eu_central_1");
    let err = load(
        None,
        &[("GENESYS_SENTIMENT__GENESYS__REGION", "mypurecloud.example")],
        Purpose::Inspect,
    )
    .unwrap_err();
    // The message lists the ids with the domains an admin recognises.
    assert!(
        err.to_string().contains("eu_west_1 (mypurecloud.ie)"),
        "{err}"
    );
}

#[test]
fn a_malformed_configuration_names_the_place_but_never_quotes_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    for (toml, place) in [
        // A backslash in a basic string: TOML shows the offending line.
        (
            "[server]\nadmin_token = \"Adm1n\\Token-0123456789\"\n",
            "line 2",
        ),
        ("[genesys]\nclient_secret = Token-0123456789\n", "line 2"),
        ("[genesys]\nclient_secret = \"Token-0123456789\n", "line 2"),
        // A secret given as a string where a list is expected: serde quotes the string.
        (
            "[webhook]\nstandard_webhooks_secrets = \"whsec_Token-0123456789\"\n",
            "webhook.standard_webhooks_secrets",
        ),
    ] {
        std::fs::write(&file, toml).unwrap();
        for command in ["check-config", "serve", "doctor"] {
            let out = run_bin(&["--config", file.to_str().unwrap(), command], &[]);
            assert_eq!(out.status.code(), Some(2), "{toml}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!err.contains("Token-0123456789"), "{command} {toml}: {err}");
            assert!(err.contains(place), "{command} {toml}: {err}");
        }
    }
}
