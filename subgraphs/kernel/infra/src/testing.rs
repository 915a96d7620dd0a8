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

/// The types of the events waiting in `db`'s outbox, oldest first.
///
/// # Panics
/// When the outbox cannot be read.
pub async fn pending_event_types(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    crate::outbox::pending(db)
        .await
        .expect("the outbox is readable")
        .iter()
        .map(|envelope| envelope.event_type.to_string())
        .collect()
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

/// A real SMTP server for tests: `aiosmtpd` (from PyPI, installed with pip on first
/// use) listening on a free port, keeping every message it receives in a maildir.
/// Stopped when dropped.
pub struct SmtpServer {
    /// `smtp://127.0.0.1:<port>`, as `notifications.smtp_url` takes it.
    pub url: String,
    port: u16,
    maildir: std::path::PathBuf,
    child: tokio::process::Child,
}

/// The aiosmtpd release the tests run.
const AIOSMTPD: &str = "aiosmtpd==1.4.6";

impl SmtpServer {
    /// Starts one; `None` when aiosmtpd cannot be had (no Python, no PyPI).
    ///
    /// # Panics
    /// When `REQUIRE_SMTP=1` (as CI sets it) and it cannot be started.
    pub async fn start() -> Option<Self> {
        match Self::try_start().await {
            Ok(server) => Some(server),
            Err(err) => {
                assert!(
                    std::env::var("REQUIRE_SMTP").as_deref() != Ok("1"),
                    "an SMTP server is required but could not be started: {err}"
                );
                eprintln!("no SMTP server ({err}); skipping");
                None
            }
        }
    }

    async fn try_start() -> anyhow::Result<Self> {
        let python = |args: &[&str]| {
            std::process::Command::new("python3")
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        if !python(&["-c", "import aiosmtpd"]) && !python(&["-m", "pip", "install", "--quiet", AIOSMTPD]) {
            anyhow::bail!("aiosmtpd is not installed and `pip install {AIOSMTPD}` failed");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let maildir = std::env::temp_dir()
            .join("ecommerce-tests")
            .join(format!("mail-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(maildir.parent().unwrap_or(&maildir))?;
        let child = spawn_aiosmtpd(port, &maildir)?;
        let server = Self {
            url: format!("smtp://127.0.0.1:{port}"),
            port,
            maildir,
            child,
        };
        wait_listening(port).await?;
        Ok(server)
    }

    /// Every message received so far, as the raw text that arrived, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(std::time::SystemTime, String)> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir.join(sub)).ok())
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let modified = entry.metadata().ok()?.modified().ok()?;
                Some((modified, std::fs::read_to_string(entry.path()).ok()?))
            })
            .collect();
        files.sort_by_key(|(modified, _)| *modified);
        files.into_iter().map(|(_, text)| text).collect()
    }

    /// Stops the server (kills it) and removes what it received.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.maildir);
    }

    /// Stops accepting mail for a while: the server is killed, and [`restart`]
    /// starts it again on the same port and maildir.
    ///
    /// [`restart`]: Self::restart
    pub async fn pause(&mut self) {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
    }

    /// Starts the server again after [`pause`](Self::pause).
    ///
    /// # Panics
    /// When it cannot be started again.
    pub async fn restart(&mut self) {
        self.child = spawn_aiosmtpd(self.port, &self.maildir).expect("aiosmtpd starts again");
        wait_listening(self.port).await.expect("aiosmtpd listens again");
    }
}

fn spawn_aiosmtpd(port: u16, maildir: &std::path::Path) -> std::io::Result<tokio::process::Child> {
    tokio::process::Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
}

async fn wait_listening(port: u16) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "aiosmtpd did not start listening on {port}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}
