//! Integration tests: one binary, shared helpers (zero-to-production layout). Modules that
//! need the emulator are built with the `emulator` feature (on by default).

#[cfg(feature = "emulator")]
mod analytics;
#[cfg(feature = "emulator")]
mod analyze;
#[cfg(feature = "emulator")]
mod attribution;
#[cfg(feature = "emulator")]
mod batch;
mod case_mix;
mod client;
mod config;
#[cfg(feature = "emulator")]
mod conformance;
#[cfg(feature = "emulator")]
mod dashboard;
mod deploy;
#[cfg(feature = "emulator")]
mod doctor;
#[cfg(feature = "emulator")]
mod emulator;
mod fake_genesys;
mod foundation;
mod hardening;
mod helpers;
#[cfg(feature = "emulator")]
mod incremental;
mod journal;
mod layout;
#[cfg(feature = "emulator")]
mod names;
#[cfg(feature = "emulator")]
mod operations;
#[cfg(feature = "emulator")]
mod replicas;
mod retention;
mod setup_guide;
mod store;
#[cfg(feature = "emulator")]
mod webhooks;
