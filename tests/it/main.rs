//! Integration tests: one binary, shared helpers (zero-to-production layout).

mod analytics;
mod analyze;
mod batch;
mod client;
mod config;
mod dashboard;
mod emulator;
mod fake_genesys;
mod foundation;
mod helpers;
mod journal;
mod operations;
mod webhooks;
