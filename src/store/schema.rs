//! Versioned schema migrations, embedded in the binary and applied at start, each in its
//! own transaction, recorded in `schema_migrations`. A database newer than this build is
//! refused rather than misread. (Replicas starting together serialize on the PostgreSQL
//! advisory lock taken here.)

use sqlx::Row;

use super::{Backend, Store, StoreError, millis};

/// Every migration, in order: (version, what it does, SQL, whether SQLite applies it too).
const MIGRATIONS: &[(i64, &str, &str, bool)] = &[
    (
        1,
        "conversations, coverage, aggregates, names, reports, runs",
        include_str!("migrations/0001_conversations.sql"),
        true,
    ),
    (
        2,
        "the filter each conversation was listed under",
        include_str!("migrations/0002_listed_under.sql"),
        true,
    ),
    (
        3,
        "the shared journal, dedupe keys and outbox (replicas on PostgreSQL)",
        include_str!("migrations/0003_shared_journal.sql"),
        // One node keeps them in its file journal.
        false,
    ),
    (
        4,
        "conversations listed while still going on",
        include_str!("migrations/0004_open_conversations.sql"),
        true,
    ),
];

/// Arbitrary key of the advisory lock migrations take on PostgreSQL.
const MIGRATION_LOCK: i64 = 0x6765_6e73_656e_7401;

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

pub(super) async fn migrate(store: &Store) -> Result<(), StoreError> {
    let pool = store.pool();
    let mut conn = pool.acquire().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(&mut conn, store.backend()).await;
    if store.backend() == Backend::Postgres {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await;
    }
    result
}

async fn apply(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?
        .try_get("v")?;
    if current > latest() {
        return Err(StoreError::NewerSchema {
            found: current,
            known: latest(),
        });
    }
    for (version, description, sql, everywhere) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        // A PostgreSQL-only version is not recorded in SQLite either, so the build before
        // it still opens the embedded store (a rollback stays possible).
        if !*everywhere && backend != Backend::Postgres {
            continue;
        }
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for statement in statements(sql) {
            // Our own embedded migration text, never input.
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(*version)
        .bind(*description)
        .bind(millis(chrono::Utc::now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version, description, "Store schema migrated.");
    }
    Ok(())
}

/// The statements of a migration file: split on `;` at line ends, comments dropped.
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
