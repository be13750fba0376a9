//! Which replica runs the scheduled batch, when replicas share a PostgreSQL store: the one
//! holding a session advisory lock, on a connection kept for as long as it leads. A replica
//! that dies drops its connection, PostgreSQL releases the lock, and the next replica to
//! try at its next interval takes it. With SQLite (one node) this replica always leads.

use sqlx::{AnyConnection, Row};
use tokio::sync::Mutex;

use super::{Backend, Store, StoreError};

/// The advisory lock key for the scheduled batch (`genesys-sentiment batch`, hashed).
const BATCH_LOCK: i64 = 0x6773_6261_7463_6831;

/// The batch lease of this replica. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct BatchLease {
    store: Store,
    /// Taken out of the pool, so closing the pool at shutdown does not wait for it.
    held: Mutex<Option<AnyConnection>>,
}

impl BatchLease {
    /// A lease on `store` (not yet tried).
    pub fn new(store: Store) -> BatchLease {
        BatchLease {
            store,
            held: Mutex::new(None),
        }
    }

    /// Whether this replica leads now: it held the lock and its connection still answers,
    /// or it has just taken the lock.
    ///
    /// # Errors
    /// [`StoreError::Database`] when PostgreSQL cannot be asked (then nobody should assume
    /// it leads).
    pub async fn lead(&self) -> Result<bool, StoreError> {
        if self.store.backend() == Backend::Sqlite {
            return Ok(true);
        }
        let mut held = self.held.lock().await;
        if let Some(conn) = held.as_mut() {
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return Ok(true);
            }
            // The connection (and with it the lock) is gone: try again from scratch.
            *held = None;
        }
        let mut conn = self.store.pool().acquire().await?.detach();
        let row = sqlx::query("SELECT pg_try_advisory_lock($1) AS taken")
            .bind(BATCH_LOCK)
            .fetch_one(&mut conn)
            .await?;
        let taken: bool = row.try_get("taken")?;
        if taken {
            *held = Some(conn);
        }
        Ok(taken)
    }
}
