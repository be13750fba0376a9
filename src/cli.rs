//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// genesys-sentiment: Genesys Cloud conversation sentiment → quality scores, honest
/// trends, a tamper-evident audit journal and coaching insights.
#[derive(Debug, Parser)]
#[command(name = "genesys-sentiment", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML), layered over the built-in defaults; environment variables
    /// GENESYS_SENTIMENT__<SECTION>__<KEY> override both.
    #[arg(
        long,
        short,
        global = true,
        env = "GENESYS_SENTIMENT_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: webhook intake, scheduled batch, trends API, metrics, dashboard.
    Serve,
    /// Validate the configuration and print the effective values (secrets redacted).
    CheckConfig,
}
