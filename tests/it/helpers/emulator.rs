//! Helpers for tests that run against the emulator: a fixed small org, starting it, and a
//! client pointed at it.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use genesys_sentiment::config::{Secret, Settings};
use genesys_sentiment::emulator::org::{EffectSizes, today_midnight};
use genesys_sentiment::emulator::sink::{Sink, SinkConfig};
use genesys_sentiment::emulator::{self, EmulatorConfig, RunningEmulator};
use genesys_sentiment::genesys::GenesysClient;
use genesys_sentiment::telemetry::metrics::Metrics;
use serde_json::Value;

/// A fixed end so every run sees the same org.
pub fn fixed_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
}

pub fn small_config(seed: u64) -> EmulatorConfig {
    let mut c = EmulatorConfig::new(seed);
    c.org.end = fixed_end();
    c.org.agents = 12;
    c.org.days = 14;
    c.org.conversations_per_day = 240.0;
    c
}

pub async fn start(config: EmulatorConfig) -> RunningEmulator {
    emulator::spawn(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

pub fn client_for(emu: &RunningEmulator, configure: impl FnOnce(&mut Settings)) -> GenesysClient {
    let mut s = Settings::defaults();
    s.genesys.base_url = emu.url();
    s.genesys.client_id = emulator::DEFAULT_CLIENT_ID.into();
    s.genesys.client_secret = Secret::new(emulator::DEFAULT_CLIENT_SECRET);
    s.genesys.request_timeout = Duration::ZERO.into();
    s.genesys.backoff_base = Duration::from_millis(10).into();
    s.genesys.retention = Duration::from_secs(10 * 365 * 86_400).into();
    configure(&mut s);
    GenesysClient::new(&s.genesys, Metrics::new()).unwrap()
}

pub fn batch_org(seed: u64) -> EmulatorConfig {
    let mut c = EmulatorConfig::new(seed);
    c.org.agents = 24;
    c.org.queues = 4;
    c.org.days = 14;
    c.org.conversations_per_day = 600.0;
    c.org.effects = EffectSizes::Large;
    c.org.end = today_midnight();
    c.rate_limit_per_minute = 60_000;
    c
}

/// Points the daemon at the emulator, with the batch on and running at start-up.
pub fn use_emulator(s: &mut Settings, emu: &RunningEmulator) {
    s.genesys.base_url = emu.url();
    s.genesys.client_id = emulator::DEFAULT_CLIENT_ID.into();
    s.genesys.client_secret = Secret::new(emulator::DEFAULT_CLIENT_SECRET);
    s.genesys.requests_per_minute = std::num::NonZero::new(60_000).unwrap();
    s.genesys.sta_concurrency = std::num::NonZero::new(32).unwrap();
    s.batch.enabled = true;
    s.batch.run_at_startup = true;
}

/// A stand-in coaching platform on a free loopback port; returns it and its delivery URL.
pub async fn spawn_sink(secret: Option<&str>) -> (Sink, String) {
    let sink = Sink::new(SinkConfig {
        secret: secret.map(str::to_owned),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/coaching", listener.local_addr().unwrap());
    let router = sink.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (sink, url)
}

/// A bearer token from the emulator's token endpoint.
pub async fn token(emu: &RunningEmulator) -> String {
    let r: Value = reqwest::Client::new()
        .post(format!("{}/oauth/token", emu.url()))
        .basic_auth(
            emulator::DEFAULT_CLIENT_ID,
            Some(emulator::DEFAULT_CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}
