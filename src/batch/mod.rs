//! The scheduled batch: Genesys → pull → analytics → report. The [`scheduler`] runs a
//! [`run::Batch`] every `batch.interval`; a run pulls both windows ([`pull`] through the
//! [`analyzer`]), names its agents and queues ([`names`]), publishes the report to the
//! [`reports`] store (what `/v1/*` and the dashboard read) and issues coaching
//! recommendations ([`alerts`]).

pub mod alerts;
pub mod analyzer;
pub mod names;
pub mod pull;
pub mod reports;
pub mod run;
pub mod scheduler;

pub use alerts::{AlertState, Alerts};
pub use analyzer::{Analysis, Analyzer, Labels};
pub use names::NameResolver;
pub use reports::{ReportStore, RunInfo};
pub use run::{Batch, BatchError};
