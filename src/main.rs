//! Entry point: parse the command line and run it (see `cli`).

use std::process::ExitCode;

use clap::Parser;
use genesys_sentiment::cli::{self, Cli};

/// mimalloc instead of glibc malloc: the webhook path allocates small, short-lived buffers
/// on every request, and glibc's allocator was over a tenth of the daemon's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cli::run(Cli::parse())
}
