//! Throttles: at most `limit` attempts per key (an account, a caller) in a fixed
//! window, then RATE_LIMITED with the seconds until the window ends.
//!
//! Counted in Redis when `rate_limit.redis_url` (`RATE_LIMIT_REDIS_URL`) is set, so the
//! limit holds across every replica of a service; in this process's memory otherwise.
//! When Redis cannot be reached the count falls back to memory (and the outage is
//! logged once): a throttle is a defence, so it never simply lets everything through.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_graphql::{Error, ErrorExtensions};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

/// The in-memory counts forget ended windows once they hold this many keys.
const MEMORY_SWEEP_AT: usize = 100_000;

static REDIS_URL: OnceLock<Option<String>> = OnceLock::new();

/// Makes every throttle of this process count in Redis at `rate_limit.redis_url` when
/// it is set. Called once at start, before any throttle is made.
pub fn install(common: &crate::config::Common) {
    let _ = REDIS_URL.set(common.rate_limit.redis_url.clone());
}

/// Why an attempt is refused: over the limit until the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

impl Throttled {
    /// RATE_LIMITED, with `retryAfter` in whole seconds.
    pub fn error(self, message: &str) -> Error {
        let seconds = self.retry_after.as_secs().max(1);
        Error::new(format!("{message}; try again in {seconds} s")).extend_with(|_, ext| {
            ext.set("code", "RATE_LIMITED");
            ext.set("retryAfter", seconds);
        })
    }
}

/// A named limit on attempts per key.
pub struct Throttle {
    name: &'static str,
    limit: u64,
    window: Duration,
    memory: Mutex<HashMap<String, (u64, u64)>>,
    redis: Option<Redis>,
}

struct Redis {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    failing: Mutex<bool>,
}

impl Throttle {
    /// At most `limit` attempts per key every `window`, counted where [`install`] says.
    pub fn new(name: &'static str, limit: u64, window: Duration) -> Self {
        let url = REDIS_URL.get().cloned().flatten();
        Self::counted_in(name, limit, window, url.as_deref())
    }

    /// As [`Throttle::new`], counted in the Redis at `url` (memory when `None`).
    pub fn counted_in(name: &'static str, limit: u64, window: Duration, url: Option<&str>) -> Self {
        let redis = url.and_then(|url| match redis::Client::open(url) {
            Ok(client) => Some(Redis {
                client,
                connection: OnceCell::new(),
                failing: Mutex::new(false),
            }),
            Err(err) => {
                tracing::error!(error = %err, throttle = name, "not a Redis URL; counting in memory");
                None
            }
        });
        Self {
            name,
            limit: limit.max(1),
            window: window.max(Duration::from_secs(1)),
            memory: Mutex::new(HashMap::new()),
            redis,
        }
    }

    /// Counts one attempt for `key`.
    ///
    /// # Errors
    /// [`Throttled`] when this attempt is over the limit (it is counted all the same).
    pub async fn hit(&self, key: &str) -> Result<(), Throttled> {
        self.count(key, 1).await
    }

    /// Whether `key` is over the limit now, without counting an attempt.
    ///
    /// # Errors
    /// [`Throttled`] when it is.
    pub async fn check(&self, key: &str) -> Result<(), Throttled> {
        self.count(key, 0).await
    }

    /// Forgets `key`'s attempts (a successful sign-in clears its failures).
    pub async fn clear(&self, key: &str) {
        let window = self.window_index(now());
        self.memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
        if let Some(mut connection) = self.redis_connection().await {
            let result: redis::RedisResult<()> = redis::cmd("DEL")
                .arg(self.redis_key(key, window))
                .query_async(&mut connection)
                .await;
            self.note(result);
        }
    }

    async fn count(&self, key: &str, by: u64) -> Result<(), Throttled> {
        let at = now();
        let window = self.window_index(at);
        let count = match self.count_in_redis(key, window, by).await {
            Some(count) => count,
            None => self.count_in_memory(key, window, by),
        };
        // Checking refuses at the limit (the next attempt would be over it); an attempt
        // counted is refused only past it.
        let over = if by == 0 {
            count >= self.limit
        } else {
            count > self.limit
        };
        if over {
            let window_secs = self.window.as_secs();
            let ends = (window + 1) * window_secs;
            Err(Throttled {
                retry_after: Duration::from_secs(ends.saturating_sub(at.as_secs()).max(1)),
            })
        } else {
            Ok(())
        }
    }

    fn window_index(&self, at: Duration) -> u64 {
        at.as_secs() / self.window.as_secs()
    }

    fn count_in_memory(&self, key: &str, window: u64, by: u64) -> u64 {
        let mut counts = self.memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() >= MEMORY_SWEEP_AT {
            counts.retain(|_, (at, _)| *at >= window);
        }
        let entry = counts.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += by;
        entry.1
    }

    async fn count_in_redis(&self, key: &str, window: u64, by: u64) -> Option<u64> {
        let mut connection = self.redis_connection().await?;
        let redis_key = self.redis_key(key, window);
        let ttl = i64::try_from(self.window.as_secs().saturating_mul(2)).unwrap_or(i64::MAX);
        let counted: redis::RedisResult<(u64,)> = redis::pipe()
            .atomic()
            .incr(&redis_key, by)
            .expire(&redis_key, ttl)
            .ignore()
            .query_async(&mut connection)
            .await;
        self.note(counted).map(|(count,)| count)
    }

    fn redis_key(&self, key: &str, window: u64) -> String {
        format!("throttle:{}:{key}:{window}", self.name)
    }

    async fn redis_connection(&self) -> Option<ConnectionManager> {
        let redis = self.redis.as_ref()?;
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)));
        let connected = redis
            .connection
            .get_or_try_init(|| ConnectionManager::new_with_config(redis.client.clone(), config))
            .await
            .cloned();
        self.note(connected)
    }

    fn note<T>(&self, result: redis::RedisResult<T>) -> Option<T> {
        let redis = self.redis.as_ref()?;
        let mut failing = redis.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(value) => {
                *failing = false;
                Some(value)
            }
            Err(err) => {
                if !*failing {
                    tracing::warn!(error = %err, throttle = self.name, "Redis is unavailable; counting in memory");
                }
                *failing = true;
                None
            }
        }
    }
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}
