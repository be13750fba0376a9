//! Entry point: parse the command line, load configuration, start telemetry, run.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use genesys_sentiment::cli::{AuditCommand, Cli, Command};
use genesys_sentiment::config::{ConfigError, Purpose, Settings};
use genesys_sentiment::startup::{Application, shutdown_signal};
use genesys_sentiment::{commands, telemetry};

/// mimalloc instead of glibc malloc: the webhook path allocates small, short-lived buffers
/// on every request, and glibc's allocator was over a tenth of the daemon's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let purpose = match &cli.command {
        Command::Serve => Purpose::Serve,
        Command::Analyze(a) if a.input.is_none() && !a.emulator => Purpose::Pull,
        _ => Purpose::Inspect,
    };
    let settings = match Settings::load(cli.config.as_deref(), std::env::vars(), purpose) {
        Ok(s) => s,
        Err(e) => return config_failure(&e),
    };
    let mut log = settings.log.clone();
    if matches!(cli.command, Command::Demo(_)) && std::env::var_os("RUST_LOG").is_none() {
        // The demo prints its own narrative; keep routine logs out of it.
        log.level = "warn".into();
    }
    telemetry::init(&log);
    match run(cli.command, settings) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_failure(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::CheckConfig => {
            print!("{}", settings.to_redacted_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            runtime()?.block_on(async {
                let app = Application::build(settings).await?;
                app.run_until_stopped(shutdown_signal()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Emulate(args) => {
            runtime()?.block_on(commands::emulate(args, shutdown_signal()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CoachingSink(args) => {
            runtime()?.block_on(commands::coaching_sink(args, shutdown_signal()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Analyze(args) => {
            let result = match args.input.clone() {
                Some(path) => commands::analyze_file(&args, &settings, &path),
                None => runtime()?.block_on(commands::analyze_pull(&args, &settings)),
            };
            match result {
                Ok(out) => {
                    print!("{out}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    if let commands::CommandError::Genesys(g) = &e {
                        eprintln!("hint: {}", commands::hint(g));
                    }
                    Ok(ExitCode::from(e.exit_code()))
                }
            }
        }
        Command::Demo(args) => {
            runtime()?.block_on(genesys_sentiment::demo::run(&args, &settings))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Verify { dir }) => {
            let dir = dir.unwrap_or_else(|| settings.journal.dir.clone().into());
            Ok(if commands::audit_verify(&dir) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Audit(AuditCommand::Replay {
            dead_letters: _,
            dir,
        }) => {
            let dir = dir.unwrap_or_else(|| settings.journal.dir.clone().into());
            let n = runtime()?.block_on(commands::audit_replay(&settings, &dir))?;
            println!("{n} dead-lettered event(s) queued for delivery at the next start.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Evaluate(args) => {
            println!("{}", commands::evaluate(&args, &settings));
            Ok(ExitCode::SUCCESS)
        }
    }
}
