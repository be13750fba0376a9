//! The emulator wing's commands: `emulate`, `coaching-sink`, `evaluate`, and the embedded
//! emulator behind `analyze --emulator`. Built only with the `emulator` feature.

use std::future::Future;

use super::args::{EmulateArgs, EvaluateArgs, SinkArgs};
use super::commands::CommandError;
use crate::analytics::Windows;
use crate::config::Settings;
use crate::domain::Secret;
use crate::emulator::{self, RunningEmulator};

/// Writes a line to standard output, ignoring a closed stdout: a long-running command must
/// not die because nobody reads its banner.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// `emulate`: serve a synthetic Genesys Cloud until `stop` resolves.
///
/// # Errors
/// When the address cannot be bound.
pub async fn emulate(args: EmulateArgs, stop: impl Future<Output = ()>) -> std::io::Result<()> {
    let config = args.to_config();
    let running = emulator::spawn(config, args.listen).await?;
    let mut out = std::io::stdout().lock();
    let org = &running.state.org;
    say!(out, "Genesys Cloud emulator listening on {}", running.url());
    say!(
        out,
        "  org: seed {}, {} agents, {} queues, {} conversations over {} days ending {}",
        org.spec.seed,
        org.agents.len(),
        org.queues.len(),
        org.conversations.len(),
        org.spec.days,
        org.spec.end.format("%Y-%m-%d %H:%M UTC"),
    );
    say!(out, "  OAuth client id: {}", args.client_id);
    say!(
        out,
        "  OAuth client secret: {} (emulator credentials)",
        args.client_secret
    );
    say!(
        out,
        "  rate limit: {} requests per token per minute",
        args.rate_limit
    );
    say!(
        out,
        "  ground truth: {}/emulator/ground-truth",
        running.url()
    );
    say!(out, "  faults: {}/emulator/faults (GET/PUT)", running.url());
    say!(
        out,
        "  coaching sink: {}/sink/coaching (report at /sink/report)",
        running.url()
    );
    say!(out, "Point the daemon at it with:");
    say!(
        out,
        "  GENESYS_SENTIMENT__GENESYS__BASE_URL={}",
        running.url()
    );
    say!(
        out,
        "  GENESYS_SENTIMENT__GENESYS__CLIENT_ID={}",
        args.client_id
    );
    say!(
        out,
        "  GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET=<the secret above>"
    );
    drop(out);
    stop.await;
    running.stop();
    Ok(())
}

/// `coaching-sink`: serve a stand-in coaching platform until `stop` resolves.
///
/// # Errors
/// When the address cannot be bound or the secret is not a Standard Webhooks secret.
pub async fn coaching_sink(
    args: SinkArgs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some(secret) = &args.secret {
        crate::domain::signature::SigningKey::from_text(secret).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("--secret: {e}"))
        })?;
    }
    let sink = emulator::sink::Sink::new(emulator::sink::SinkConfig {
        secret: args.secret.clone(),
    });
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    say!(
        std::io::stdout(),
        "Coaching sink listening on http://{}",
        listener.local_addr()?
    );
    say!(
        std::io::stdout(),
        "  deliveries: POST /coaching   report: GET /report   faults: PUT /faults"
    );
    axum::serve(listener, sink.router())
        .with_graceful_shutdown(stop)
        .await
}

/// `evaluate`: accuracy against the emulator's ground truth.
pub fn evaluate(args: &EvaluateArgs, settings: &crate::config::Settings) -> String {
    let mut cfg = super::evaluate::EvalConfig::new(args.seeds, args.end);
    cfg.agents = args.agents;
    cfg.conversations_per_day = args.conversations_per_day;
    cfg.queue_effect_points = args.queue_effects;
    cfg.mix_only_share = args.mix_only_share;
    let result = super::evaluate::evaluate(&cfg, &settings.analytics);
    if args.markdown {
        let command = format!(
            "genesys-sentiment evaluate --seeds {} --agents {} --conversations-per-day {} --queue-effects {} --mix-only-share {} --markdown",
            args.seeds,
            args.agents,
            args.conversations_per_day,
            args.queue_effects,
            args.mix_only_share
        );
        super::evaluate::markdown(&result, &command)
    } else {
        serde_json::to_string_pretty(&result).expect("serializable")
    }
}

/// Starts the emulator `analyze --emulator` pulls from (its history ends at the current
/// window's end, so the output is reproducible) and points `settings` at it. Names come
/// from its users and queues endpoints, like from a real org.
///
/// # Errors
/// When the emulator cannot bind a loopback port.
pub async fn analyze_emulator(
    seed: u64,
    windows: Windows,
    settings: &mut Settings,
) -> Result<RunningEmulator, CommandError> {
    let mut config = emulator::EmulatorConfig::new(seed);
    config.org.end = windows.current.end;
    config.org.days = ((windows.current.end - windows.previous.start).num_days()) as u32;
    config.rate_limit_per_minute = super::demo::DEMO_RATE_LIMIT;
    let emu = emulator::spawn(config, "127.0.0.1:0".parse().expect("loopback")).await?;
    settings.genesys.base_url = emu.url();
    settings.genesys.login_url = String::new();
    settings.genesys.client_id = emulator::DEFAULT_CLIENT_ID.into();
    settings.genesys.client_secret = Secret::new(emulator::DEFAULT_CLIENT_SECRET);
    settings.genesys.requests_per_minute =
        std::num::NonZeroU32::new(super::demo::DEMO_RATE_LIMIT as u32).expect("non-zero");
    settings.genesys.retention = std::time::Duration::from_secs(3650 * 86_400).into();
    Ok(emu)
}
