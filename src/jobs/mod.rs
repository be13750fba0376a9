//! Background work: pulling from Genesys, the forwarder, the enricher (and the scheduled
//! batch).

pub mod batch;
pub mod enrich;
pub mod forwarder;
pub mod pull;
pub mod scheduler;
