//! The commands behind the CLI that are more than a call into one module.

use std::future::Future;

use crate::cli::{EmulateArgs, SinkArgs};
use crate::emulator;

/// `emulate`: serve a synthetic Genesys Cloud until `stop` resolves.
///
/// # Errors
/// When the address cannot be bound.
pub async fn emulate(args: EmulateArgs, stop: impl Future<Output = ()>) -> std::io::Result<()> {
    let config = args.to_config();
    let running = emulator::spawn(config, args.listen).await?;
    let org = &running.state.org;
    println!("Genesys Cloud emulator listening on {}", running.url());
    println!(
        "  org: seed {}, {} agents, {} queues, {} conversations over {} days ending {}",
        org.spec.seed,
        org.agents.len(),
        org.queues.len(),
        org.conversations.len(),
        org.spec.days,
        org.spec.end.format("%Y-%m-%d %H:%M UTC"),
    );
    println!("  OAuth client id: {}", args.client_id);
    println!(
        "  OAuth client secret: {} (emulator credentials)",
        args.client_secret
    );
    println!(
        "  rate limit: {} requests per token per minute",
        args.rate_limit
    );
    println!("  ground truth: {}/emulator/ground-truth", running.url());
    println!("  faults: {}/emulator/faults (GET/PUT)", running.url());
    println!(
        "  coaching sink: {}/sink/coaching (report at /sink/report)",
        running.url()
    );
    println!("Point the daemon at it with:");
    println!("  GENESYS_SENTIMENT__GENESYS__BASE_URL={}", running.url());
    println!("  GENESYS_SENTIMENT__GENESYS__CLIENT_ID={}", args.client_id);
    println!("  GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET=<the secret above>");
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
        crate::signature::SigningKey::from_text(secret).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("--secret: {e}"))
        })?;
    }
    let sink = emulator::sink::Sink::new(emulator::sink::SinkConfig {
        secret: args.secret.clone(),
    });
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!(
        "Coaching sink listening on http://{}",
        listener.local_addr()?
    );
    println!("  deliveries: POST /coaching   report: GET /report   faults: PUT /faults");
    axum::serve(listener, sink.router())
        .with_graceful_shutdown(stop)
        .await
}
