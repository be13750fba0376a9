//! Background work: pulling from Genesys (and, later, the scheduled batch and the
//! forwarder).

pub mod pull;
