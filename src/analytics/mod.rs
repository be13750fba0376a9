//! Normalization, streaming aggregation and trend verdicts. Pure and deterministic: no I/O.

pub mod normalize;
