//! A fresh PostgreSQL database per test, on the server `.ci/run` starts (`source
//! .ci/postgres.sh` exports `TEST_POSTGRES_URL`). Without one, a test prints SKIPPED — except
//! under CI or `REQUIRE_POSTGRES=1`, where it fails.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The URL of a new, empty database, or `None` (SKIPPED printed) without a server.
pub async fn fresh_database(test: &str) -> Option<String> {
    let Ok(admin) = std::env::var("TEST_POSTGRES_URL") else {
        let required = std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
            || std::env::var("CI").is_ok();
        assert!(
            !required,
            "TEST_POSTGRES_URL is not set: `source .ci/postgres.sh` starts a PostgreSQL server"
        );
        eprintln!("SKIPPED {test}: no PostgreSQL (source .ci/postgres.sh to start one)");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!(
        "gs_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut conn = sqlx::AnyConnection::connect(&admin)
        .await
        .expect("the test PostgreSQL server answers");
    // The name is made here from a pid and a counter, never from input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("a test database can be created");
    conn.close().await.ok();
    let (server, _) = admin
        .rsplit_once('/')
        .expect("TEST_POSTGRES_URL names a database");
    Some(format!("{server}/{name}"))
}
