//! The command line: [`args`] defines every subcommand, [`run`] carries one out and maps its
//! result to the exit status (0 success, 1 failure, 2 invalid configuration or arguments).
//! The emulator wing (`emulate`, `coaching-sink`, `demo`, `evaluate`) is built only with the
//! `emulator` feature.

pub mod args;
pub mod commands;
#[cfg(feature = "emulator")]
pub mod demo;
pub mod doctor;
#[cfg(feature = "emulator")]
pub mod evaluate;
#[cfg(feature = "emulator")]
pub mod lab;

use std::process::ExitCode;

pub use args::{AnalyzeArgs, AuditCommand, Cli, Command};

use crate::config::{ConfigError, Purpose, Settings};
use crate::startup::{Application, shutdown_signal};
use crate::telemetry;

/// Loads the configuration for `cli`'s command, starts telemetry and runs the command.
pub fn run(cli: Cli) -> ExitCode {
    if matches!(cli.command, Command::Completions { .. } | Command::Man) {
        // Printed from the CLI definition alone: no configuration is read.
        return from_definition(&cli.command);
    }
    let purpose = match &cli.command {
        // check-config refuses what serve would refuse (credentials, webhook authentication).
        Command::Serve | Command::CheckConfig => Purpose::Serve,
        Command::Analyze(a) if a.input.is_none() && !a.uses_emulator() => Purpose::Pull,
        Command::Doctor(_) => Purpose::Pull,
        _ => Purpose::Inspect,
    };
    let settings = match Settings::load(cli.config.as_deref(), std::env::vars(), purpose) {
        Ok(s) => s,
        Err(e) => return config_failure(&e),
    };
    let mut log = settings.log.clone();
    let quiet = matches!(cli.command, Command::Doctor(_));
    #[cfg(feature = "emulator")]
    let quiet = quiet || matches!(cli.command, Command::Demo(_));
    if quiet && std::env::var_os("RUST_LOG").is_none() {
        // The demo and doctor print their own lines; keep routine logs out of them (the
        // doctor's report says what a retry warning would, so it shows errors only).
        let level = if matches!(cli.command, Command::Doctor(_)) {
            "error"
        } else {
            "warn"
        };
        log.level = crate::config::LogFilter::parse(level).expect("a valid filter");
    }
    telemetry::init(&log);
    let json = log.format == crate::config::LogFormat::Json;
    match dispatch(cli.command, settings) {
        Ok(code) => code,
        Err(e) => {
            fatal(json, &causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, leaving out a cause its effect already quotes
/// (most of ours name their source in their own message: "cannot listen on …: Address
/// already in use" once, not twice).
fn causes(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// A fatal error: one JSON line under `log.format = "json"` (what log shippers parse), else
/// `error: …`.
fn fatal(json: bool, message: &str) {
    if json {
        let line = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": "ERROR",
            "target": "genesys_sentiment",
            "message": "Fatal error; exiting.",
            "error": message,
        });
        eprintln!("{line}");
    } else {
        eprintln!("error: {message}");
    }
}

/// Whether the environment or the defaults ask for JSON logs, for errors that happen
/// before the configuration could be loaded (read from the environment variable only: a
/// file that does not parse cannot say).
fn json_requested() -> bool {
    std::env::var("GENESYS_SENTIMENT__LOG__FORMAT")
        .is_ok_and(|f| f.trim().eq_ignore_ascii_case("json"))
}

/// `completions SHELL` and `man`: printed from the CLI definition.
fn from_definition(command: &Command) -> ExitCode {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let result = match command {
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut cmd,
                "genesys-sentiment",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        _ => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config_failure(e: &ConfigError) -> ExitCode {
    fatal(json_requested(), &e.to_string());
    ExitCode::from(2)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

fn dispatch(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
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
        #[cfg(feature = "emulator")]
        Command::Emulate(args) => {
            runtime()?.block_on(lab::emulate(*args, shutdown_signal()))?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "emulator")]
        Command::CoachingSink(args) => {
            runtime()?.block_on(lab::coaching_sink(args, shutdown_signal()))?;
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
        #[cfg(feature = "emulator")]
        Command::Demo(args) => {
            runtime()?.block_on(demo::run(&args, &settings))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Verify {
            store: Some(url), ..
        }) => {
            let url = if url.is_empty() {
                settings.store.url().to_owned()
            } else {
                url
            };
            Ok(if runtime()?.block_on(commands::audit_verify_store(&url)) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Audit(AuditCommand::Verify { dir, archive, .. }) => {
            let dir = dir.unwrap_or_else(|| settings.journal.dir.clone().into());
            Ok(if commands::audit_verify(&dir, archive.as_deref()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Audit(AuditCommand::Replay {
            dead_letters: _,
            dir,
        }) => {
            let url = settings.store.url();
            if dir.is_none() && (url.starts_with("postgres://") || url.starts_with("postgresql://"))
            {
                let n = runtime()?.block_on(commands::audit_replay_store(&settings))?;
                println!(
                    "{n} dead-lettered event(s) put back in the shared outbox; a replica sends them."
                );
                return Ok(ExitCode::SUCCESS);
            }
            let dir = dir.unwrap_or_else(|| settings.journal.dir.clone().into());
            let n = runtime()?.block_on(commands::audit_replay(&settings, &dir))?;
            println!("{n} dead-lettered event(s) queued for delivery at the next start.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { .. } | Command::Man => Ok(from_definition(&command)),
        Command::Doctor(args) => {
            let options = doctor::DoctorOptions {
                send_test: args.send_test,
                test_url: args.test_url,
            };
            let report = runtime()?.block_on(doctor::run(&settings, &options, true));
            print!("{}", report.summary());
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        #[cfg(feature = "emulator")]
        Command::Evaluate(args) => {
            println!("{}", lab::evaluate(&args, &settings));
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::causes;

    #[test]
    fn a_cause_the_message_already_quotes_is_not_repeated() {
        let os = std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address already in use");
        let e = anyhow::Error::new(crate::startup::StartupError::Bind {
            key: "server.listen",
            addr: "127.0.0.1:8080".parse().unwrap(),
            source: os,
        });
        assert_eq!(
            causes(&e),
            "cannot listen on 127.0.0.1:8080 (server.listen): Address already in use"
        );
        // A context that does not quote its cause keeps it.
        let e = anyhow::Error::msg("inner failure").context("outer step");
        assert_eq!(causes(&e), "outer step: inner failure");
    }
}
