//! The Genesys Cloud client.

pub mod region;
