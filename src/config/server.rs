//! `[server]`: the HTTP listener.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::HumanDuration;

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to bind, e.g. `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// Longest time one request may take before it is answered 503.
    pub request_timeout: HumanDuration,
    /// Largest accepted request body in bytes (413 above it).
    pub body_limit_bytes: usize,
    /// How long a SIGTERM drain may take before the process exits anyway.
    pub shutdown_deadline: HumanDuration,
}
