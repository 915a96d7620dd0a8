//! One lazily opened Redis connection for a plugin, that fails open: when Redis cannot
//! be reached the caller gets `None` and carries on (an APQ miss, an unmetered
//! request), and the failure is logged once until Redis answers again.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

pub struct RedisLink {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    /// What the link is for, in log lines.
    purpose: &'static str,
    /// Whether the last call failed, so a failure is logged once.
    failing: Mutex<bool>,
}

impl RedisLink {
    /// # Errors
    /// When `url` is not a Redis URL.
    pub fn open(url: &str, purpose: &'static str) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: OnceCell::new(),
            purpose,
            failing: Mutex::new(false),
        })
    }

    /// The connection, opened on first use; `None` when Redis cannot be reached.
    pub async fn connection(&self) -> Option<ConnectionManager> {
        // A request waits at most about a second for a Redis that is down.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)));
        let connected = self
            .connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned();
        self.note(connected)
    }

    /// `result`'s value, or `None` (logged once) when it failed.
    pub fn note<T>(&self, result: redis::RedisResult<T>) -> Option<T> {
        let mut failing = self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(value) => {
                *failing = false;
                Some(value)
            }
            Err(err) => {
                if !*failing {
                    tracing::warn!(error = %err, purpose = self.purpose, "Redis is unavailable; carrying on without it");
                }
                *failing = true;
                None
            }
        }
    }
}
