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
//! Two flows: webhooks → [`http`] → [`ingest`] → [`journal`] → [`outbox`] → coaching
//! platform; Genesys → [`genesys`] → [`batch`] → [`analytics`] → reports. Modules, lowest
//! layer first; a module only imports from modules listed before it (its lower layers),
//! never from one after it or in the same group (`tests/it/layout.rs` checks).
//!
//! - [`domain`]: ids, scores, polarity, the event vocabulary, secrets, signatures, regions.
//! - [`config`]: layered settings; each section parses and checks itself (exit 2 on a bad key).
//! - [`telemetry`]: tracing subscriber and the Prometheus registry.
//! - [`genesys`]: the Genesys Cloud client (token cache, rate budget, retries, wire models).
//! - [`analytics`]: normalization, streaming aggregation, trend statistics; no I/O.
//! - [`journal`]: the append-only hash-chained log: codec, writer, scan, recovery.
//! - [`store`]: conversations, coverage, names, reports and runs (SQLite or PostgreSQL).
//! - `emulator` (feature `emulator`): a local Genesys Cloud, its ground truth and a coaching sink.
//! - [`outbox`]: owed deliveries, the forwarder and the coaching-platform client.
//! - [`batch`]: the scheduler, pull, analyzer, report store and coaching alerts.
//! - [`ingest`]: webhook parsing, dedupe, the durable intake, attribution, STA enrichment.
//! - [`http`]: the router — webhook intake, probes, `/v1/*`, metrics, dashboard.
//! - [`startup`]: the composition root; builds, spawns and drains every task.
//! - [`cli`]: the command line and the commands behind it (`demo`, `evaluate` with the feature).

pub mod domain;

pub mod config;

pub mod telemetry;

pub mod analytics;
pub mod genesys;
pub mod journal;
pub mod store;

#[cfg(feature = "emulator")]
pub mod emulator;
pub mod outbox;

pub mod batch;
pub mod ingest;

pub mod http;

pub mod startup;

pub mod cli;
