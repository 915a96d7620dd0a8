//! Test databases: every persistence test runs its body on a fresh SQLite file and,
//! when the server is reachable, on a fresh PostgreSQL database.
//!
//! PostgreSQL is found at `TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). With `REQUIRE_POSTGRES=1` (as CI
//! sets it) an unreachable server fails the test instead of skipping it.

use sea_orm::{ConnectionTrait, Database};

/// A throw-away database.
pub struct TestDatabase {
    pub url: String,
    /// `sqlite` or `postgres`, for assertion messages.
    pub label: &'static str,
    postgres_name: Option<String>,
}

fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl TestDatabase {
    /// A new SQLite file in the temp directory.
    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join("ecommerce-tests");
        let path = dir.join(format!("{}.db", uuid::Uuid::now_v7().simple()));
        Self {
            url: format!("sqlite://{}", path.display()),
            label: "sqlite",
            postgres_name: None,
        }
    }

    /// A new PostgreSQL database, or `None` when no server answers.
    ///
    /// # Panics
    /// When `REQUIRE_POSTGRES=1` and no server answers.
    pub async fn postgres() -> Option<Self> {
        let admin_url = admin_url();
        let admin = match tokio::time::timeout(std::time::Duration::from_secs(5), Database::connect(&admin_url)).await {
            Ok(Ok(admin)) => admin,
            failure => {
                assert!(
                    std::env::var("REQUIRE_POSTGRES").as_deref() != Ok("1"),
                    "PostgreSQL is required but unreachable at {admin_url}: {failure:?}"
                );
                eprintln!("PostgreSQL unreachable at {admin_url}; running on SQLite only");
                return None;
            }
        };
        let name = format!("test_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating a test database");
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
        Some(Self {
            url: format!("{base}/{name}"),
            label: "postgres",
            postgres_name: Some(name),
        })
    }

    /// SQLite, then PostgreSQL when reachable.
    pub async fn all() -> Vec<Self> {
        let mut databases = vec![Self::sqlite()];
        databases.extend(Self::postgres().await);
        databases
    }

    /// Removes the database.
    pub async fn remove(self) {
        match self.postgres_name {
            Some(name) => {
                if let Ok(admin) = Database::connect(&admin_url()).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            }
            None => {
                let path = self.url.trim_start_matches("sqlite://");
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{path}{suffix}"));
                }
            }
        }
    }
}

/// The Redis for bus tests (`TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), or
/// `None` when it does not answer.
///
/// # Panics
/// When `REQUIRE_REDIS=1` (as CI sets it) and Redis does not answer.
pub async fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let answered = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), answered).await {
        Ok(Ok(_)) => Some(url),
        failure => {
            assert!(
                std::env::var("REQUIRE_REDIS").as_deref() != Ok("1"),
                "Redis is required but unreachable at {url}: {failure:?}"
            );
            eprintln!("Redis unreachable at {url}; skipping");
            None
        }
    }
}

/// Deletes every Redis key under `prefix` (a test's own namespace) and returns their
/// names.
///
/// # Panics
/// When Redis cannot be reached.
pub async fn remove_redis_keys(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.expect("Redis answers");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .expect("listing keys");
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut conn)
            .await
            .expect("deleting keys");
    }
    keys
}
