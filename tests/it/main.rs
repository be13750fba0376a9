//! Integration tests: one binary, shared helpers (zero-to-production layout).

mod config;
mod foundation;
mod helpers;
