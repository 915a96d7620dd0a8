//! Where automatic persisted queries are kept: hash → query text, for a while.
//!
//! In memory by default (one gateway process); in Redis when configured, so every
//! replica answers a hash that any of them registered. A store that cannot be reached
//! behaves as a miss: the client then sends the text, and nothing is lost.

use std::time::Duration;

use moka::future::Cache;
use redis::AsyncCommands;

use super::redis_link::RedisLink;

pub enum ApqStore {
    Memory(Cache<String, String>),
    Redis { link: RedisLink, ttl: Duration },
}

const REDIS_PREFIX: &str = "gateway:apq:";

impl ApqStore {
    pub fn memory(capacity: u64, ttl: Duration) -> Self {
        Self::Memory(Cache::builder().max_capacity(capacity).time_to_live(ttl).build())
    }

    /// # Errors
    /// When the URL is not a Redis URL.
    pub fn redis(url: &str, ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self::Redis {
            link: RedisLink::open(url, "APQ store")?,
            ttl,
        })
    }

    pub async fn get(&self, hash: &str) -> Option<String> {
        match self {
            Self::Memory(cache) => cache.get(hash).await,
            Self::Redis { link, .. } => {
                let mut connection = link.connection().await?;
                let found: redis::RedisResult<Option<String>> = connection.get(format!("{REDIS_PREFIX}{hash}")).await;
                link.note(found).flatten()
            }
        }
    }

    pub async fn put(&self, hash: &str, query: &str) {
        match self {
            Self::Memory(cache) => cache.insert(hash.to_owned(), query.to_owned()).await,
            Self::Redis { link, ttl } => {
                if let Some(mut connection) = link.connection().await {
                    let stored: redis::RedisResult<()> = connection
                        .set_ex(format!("{REDIS_PREFIX}{hash}"), query, ttl.as_secs().max(1))
                        .await;
                    link.note(stored);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_keeps_what_was_put() {
        let store = ApqStore::memory(10, Duration::from_secs(60));
        assert_eq!(store.get("h").await, None);
        store.put("h", "{ me { id } }").await;
        assert_eq!(store.get("h").await.as_deref(), Some("{ me { id } }"));
    }

    /// Against the Redis server of these machines (127.0.0.1:6379): what one store
    /// (one gateway replica) puts, another reads.
    #[tokio::test]
    async fn redis_is_shared_between_stores() {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let writer = ApqStore::redis(&url, Duration::from_secs(60)).unwrap();
        let reader = ApqStore::redis(&url, Duration::from_secs(60)).unwrap();
        let hash = format!("test-{}", std::process::id());
        writer.put(&hash, "{ shared }").await;
        match reader.get(&hash).await {
            Some(query) => assert_eq!(query, "{ shared }"),
            None if std::env::var_os("REQUIRE_REDIS").is_none() => {
                eprintln!("skipped: Redis is not reachable at {url}");
            }
            None => panic!("Redis at {url} did not return what was stored"),
        }
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_a_miss() {
        let store = ApqStore::redis("redis://127.0.0.1:1", Duration::from_secs(60)).unwrap();
        store.put("h", "{ a }").await;
        assert_eq!(store.get("h").await, None);
    }
}
