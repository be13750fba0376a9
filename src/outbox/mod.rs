//! The outbox: what the daemon owes the coaching platform and how it pays. Owed events
//! wait in the [`queue`]; the [`forwarder`] sends them with the [`coaching`] client (signed,
//! retried with backoff, every outcome journaled) so a restart resumes where it stopped.

pub mod coaching;
pub mod forwarder;
pub mod queue;

pub use coaching::CoachingClient;
pub use forwarder::{DeliveryEntry, DeliveryLog, Forwarder, ForwarderHealth};
pub use queue::DeliveryQueue;
