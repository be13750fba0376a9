//! # genesys-sentiment
//!
//! A daemon for contact-center quality and coaching teams on Genesys Cloud. It pulls the
//! conversation sentiment that Genesys Speech & Text Analytics computes, normalizes it to a
//! versioned 0–100 quality score, aggregates polarity and trends per agent, queue and day,
//! and calls a trend improving or declining only when the statistics support it. It also
//! takes Genesys webhooks, records every decision in a hash-chained JSONL journal, and
//! forwards insights to a coaching platform, signed, retried and never lost.
//!
//! ## Layout
//!
//! - [`config`]: layered settings, secrets, validation (exit 2 on a bad key).
//! - [`domain`]: pure types (`SentimentRecord`, `Polarity`, ids).
//! - [`analytics`]: normalization, streaming aggregation, trend statistics; no I/O.
//! - [`http`]: router, probes, metrics endpoint.
//! - [`telemetry`]: tracing subscriber and the Prometheus registry.
//! - [`signature`]: Standard Webhooks and `X-Hub-Signature-256`, shared by webhook intake
//!   and the coaching forwarder (it sits at the top level rather than under `coaching`
//!   because both directions use it).
//! - [`startup`]: the composition root; spawns and drains every task.
//! - [`cli`]: the command line.

pub mod analytics;
pub mod analyzer;
pub mod cli;
pub mod coaching;
pub mod commands;
pub mod config;
pub mod demo;
pub mod domain;
pub mod emulator;
pub mod evaluation;
pub mod genesys;
pub mod http;
pub mod intake;
pub mod jobs;
pub mod journal;
pub mod reports;
pub mod signature;
pub mod startup;
pub mod telemetry;
