//! Helpers for tests that run against the emulator: a fixed small org, starting it, and a
//! client pointed at it.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use genesys_sentiment::config::{Secret, Settings};
use genesys_sentiment::emulator::{self, EmulatorConfig, RunningEmulator};
use genesys_sentiment::genesys::GenesysClient;
use genesys_sentiment::telemetry::metrics::Metrics;

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
