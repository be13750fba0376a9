//! The real-time path up to the journal: webhook bodies parsed into domain events
//! ([`parse`]), deduplicated ([`dedupe`]), normalized and journaled durably ([`intake`]),
//! then handed to the outbox once the score's agent is known ([`attribution`]);
//! conversation-end events get their score fetched from STA ([`enrich`]).

pub mod attribution;
pub mod dedupe;
pub mod enrich;
pub mod intake;
pub mod parse;
pub mod recorder;

pub use dedupe::Dedupe;
pub use intake::{Intake, IntakeError, Outcome};
pub use parse::{Format, Incoming, ParseError};
