//! `[server]`: the HTTP listener.

use std::net::SocketAddr;

use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration, Secret};

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// The public listener, e.g. `0.0.0.0:8080`: only the webhook routes, `/healthz` and
    /// `/readyz` (what Genesys and a load balancer need).
    pub listen: SocketAddr,
    /// The admin listener: `/v1/*`, the dashboard, `/metrics` (and the probes). Keep it on
    /// loopback or a private network.
    pub admin_listen: SocketAddr,
    /// When set, admin routes (except the dashboard page itself) require
    /// `Authorization: Bearer <admin_token>`.
    pub admin_token: Secret,
    /// File holding `admin_token`.
    pub admin_token_file: String,
    /// Without `admin_token`, the host names (besides `localhost` and IP addresses) that
    /// requests to the admin listener may be addressed to, such as a compose service name.
    pub admin_hosts: Vec<String>,
    /// A connection that has not sent a whole request head within this is closed.
    pub header_read_timeout: HumanDuration,
    /// Most connections open at once on the public listener; more are closed at once.
    pub max_connections: NonZeroUsize,
    /// Longest time one request may take before it is answered 503.
    pub request_timeout: HumanDuration,
    /// Largest accepted request body in bytes (413 above it).
    pub body_limit_bytes: usize,
    /// How long a SIGTERM drain may take before the process exits anyway.
    pub shutdown_deadline: HumanDuration,
    /// On SIGTERM, how long readiness answers 503 while the listeners still serve.
    pub drain_delay: HumanDuration,
    /// This replica's name in `/v1/runs`; empty: the host name.
    pub replica_name: String,
}

impl ServerSettings {
    /// This replica's name: `replica_name`, else the host name (`HOSTNAME`, then
    /// `/etc/hostname`), else `localhost`.
    pub fn replica(&self) -> String {
        let configured = self.replica_name.trim();
        if !configured.is_empty() {
            return configured.to_owned();
        }
        std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.drain_delay.get() >= self.shutdown_deadline.get() {
            return Err(ConfigError::invalid(
                "server.drain_delay",
                "must be shorter than server.shutdown_deadline (the delay is part of the drain)",
            ));
        }
        if self.header_read_timeout.get().is_zero() {
            return Err(ConfigError::invalid(
                "server.header_read_timeout",
                "must be greater than zero",
            ));
        }
        if self.admin_listen == self.listen && self.listen.port() != 0 {
            return Err(ConfigError::invalid(
                "server.admin_listen",
                "must differ from server.listen (the admin routes must not be on the public port)",
            ));
        }
        if let Some(bad) = self.admin_hosts.iter().position(|h| !is_host_name(h)) {
            return Err(ConfigError::invalid(
                "server.admin_hosts",
                format!(
                    "item {} is not a host name (letters, digits, '-', '_' and '.'; no port)",
                    bad + 1
                ),
            ));
        }
        if self
            .admin_token
            .expose()
            .is_some_and(|t| t.chars().count() < super::MIN_SECRET_CHARS)
        {
            return Err(ConfigError::invalid(
                "server.admin_token",
                format!("is shorter than {} characters", super::MIN_SECRET_CHARS),
            ));
        }
        Ok(())
    }
}

/// A DNS name as a `Host` header carries it, without a port.
fn is_host_name(name: &str) -> bool {
    // A trailing dot (the root) is allowed; `_` appears in compose service names.
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
