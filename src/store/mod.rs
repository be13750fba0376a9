//! The conversation store: what the daemon knows about each conversation (listed by the
//! details query, scored by STA, by a webhook or by a fetch after a conversation-end
//! event), which days are covered, display names, and the latest reports and runs. It is
//! what makes the batch incremental and what `/v1/*` answers from after a restart.
//!
//! One interface over both backends: the embedded default is SQLite (`store.url =
//! "sqlite://./data/genesys-sentiment.db"`, created on first start); `postgres://…` is the
//! shared backend for replicas. The SQL is one dialect for both (sqlx's Any driver, runtime
//! queries, times as Unix milliseconds); the schema is versioned and migrated at start.
//! Nothing outside this module writes SQL; analytics never sees the database.
//!
//! The journal stays the audit trail and the outbox. The store holds state that can be
//! rebuilt from Genesys (a lost store costs a re-pull, never an acknowledged event).

pub mod conversations;
pub mod lease;
pub mod reports;
mod schema;

use std::path::Path;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

pub use conversations::{Coverage, Listed, ScoreSource, Scored, Selection};
pub use lease::BatchLease;
pub use reports::DailyAggregate;

/// Which database a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Why the store cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `store.url` is not a `sqlite://` or `postgres://` URL.
    #[error("store.url {0:?} is neither sqlite://PATH nor postgres://…")]
    Url(String),
    /// The SQLite file's directory cannot be created.
    #[error("cannot create the store's directory {dir} (store.url): {source}")]
    Directory {
        /// The directory (absolute: a relative one is from the working directory).
        dir: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The SQLite file cannot be created or opened.
    #[error("cannot open the store's file {path} (store.url): {source}")]
    File {
        /// The file (absolute, as above).
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database could not be reached or refused the connection.
    #[error("cannot connect to the store at {url} (store.url): {source}")]
    Connect {
        /// `store.url` without its password.
        url: String,
        /// What the driver said.
        source: sqlx::Error,
    },
    /// The database refused or failed.
    #[error("store: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value does not decode (a report or run written by a newer version?).
    #[error("store: a stored {what} does not decode: {message}")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// The database's schema is newer than this daemon knows.
    #[error(
        "the store's schema is version {found}, newer than this daemon's {known}; upgrade the daemon"
    )]
    NewerSchema {
        /// Version in the database.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
}

/// The store. Cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// `sqlite://./data/x.db` → `./data/x.db` (and the `sqlx` URL that creates it).
fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or(p))
}

impl Store {
    /// Opens (creating when needed) the store at `url` and migrates its schema.
    ///
    /// # Errors
    /// [`StoreError`] naming what failed.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let url = url.trim();
        let (backend, connect) = if let Some(path) = sqlite_path(url) {
            if path.is_empty() {
                return Err(StoreError::Url(crate::config::redact_url(url)));
            }
            if let Some(dir) = Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                crate::domain::files::create_private_dir(dir).map_err(|source| {
                    StoreError::Directory {
                        dir: shown_path(dir),
                        source,
                    }
                })?;
            }
            // Created 0600 before SQLite opens it: its -wal and -shm files take this mode.
            crate::domain::files::private_options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|source| StoreError::File {
                    path: shown_path(Path::new(path)),
                    source,
                })?;
            (Backend::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::Url(crate::config::redact_url(url)));
        };
        if backend == Backend::Postgres {
            // One connection first: the pool retries a refused one until its timeout and
            // then only says it timed out; this says why (refused, unknown host, password).
            let first = tokio::time::timeout(
                Duration::from_secs(10),
                <sqlx::AnyConnection as sqlx::Connection>::connect(&connect),
            )
            .await;
            if let Ok(first) = first {
                let conn = first.map_err(|source| StoreError::Connect {
                    url: crate::config::redact_url(url),
                    source,
                })?;
                let _ = sqlx::Connection::close(conn).await;
            }
        }
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        options = match backend {
            // One writer at a time is SQLite's rule; a small pool avoids lock contention.
            Backend::Sqlite => options.max_connections(4).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options.max_connections(8),
        };
        let pool = options
            .connect(&connect)
            .await
            .map_err(|source| StoreError::Connect {
                url: crate::config::redact_url(url),
                source,
            })?;
        let store = Store { pool, backend };
        schema::migrate(&store).await?;
        Ok(store)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool (for this module's queries).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`millis`] (out-of-range values clamp to the epoch).
pub(crate) fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A path for a message: absolute, so a relative one shows where it was looked for.
fn shown_path(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}
