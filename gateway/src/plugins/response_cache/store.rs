//! Where the response cache keeps its answers: in this process (a bounded `moka`
//! cache), or in Redis, where every gateway replica shares them.
//!
//! Both keep the same account. Every drop of a set of tags is one invalidation, counted;
//! each tag remembers the count at which it was last dropped, and the store remembers
//! when it was last emptied. An entry remembers the count at which its fetch began
//! (`since`) and is fresh while none of its tags was dropped after that, nor everything:
//! so an answer fetched while its data changed is refused when it is stored, and an
//! entry is never served after its data changed, whichever replica saw the change.
//!
//! Redis keeps, under its prefix (`response-cache:`): `gen` (the count), `emptied`, `dropped:<tag>`
//! (with a TTL longer than any entry lives) and `entry:<key>` (a hash of body, tags and
//! since, with the entry's TTL). Each step is one Lua script, so a lookup of a page of
//! entities is one round trip. When Redis fails, the store says it is unavailable and
//! the cache is bypassed; when Redis answers again it is emptied before it is used,
//! since drops may have been lost meanwhile. The cache's Redis must not evict `gen`,
//! `emptied` or `dropped:*` (no eviction, or `volatile-*` with memory to spare: every
//! key but `gen` and `emptied` has a TTL), nor persist them across a restart that
//! the gateways do not see.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::super::redis_link::RedisLink;

/// An entry's key: a digest of the subgraph, the request and (for an entity) its
/// representation.
pub type Key = [u8; 16];

/// The longest a fetch may take and still be stored: tags dropped are remembered for
/// at least this long beyond an entry's life, so a slower fetch could not be checked.
const LONGEST_FETCH: Duration = Duration::from_secs(60);

/// What a lookup found: each entry asked for, in order, and the invalidation count
/// when it looked, which the answers fetched after it are stored with.
pub struct Found {
    pub since: u64,
    pub bodies: Vec<Option<Bytes>>,
}

pub enum Store {
    Memory(MemoryStore),
    Redis(Arc<RedisStore>),
}

impl Store {
    pub fn memory(max_entries: u64, ttl: Duration) -> Self {
        Self::Memory(MemoryStore::new(max_entries, ttl))
    }

    /// # Errors
    /// When `url` is not a Redis URL.
    pub fn redis(url: &str, prefix: &str, ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self::Redis(Arc::new(RedisStore::new(url, prefix, ttl)?)))
    }

    /// `memory` or `redis`, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }

    /// Whether the store can be used: Redis answered its last call and, since it last
    /// failed, was emptied.
    pub fn available(&self) -> bool {
        match self {
            Self::Memory(_) => true,
            Self::Redis(redis) => redis.available.load(Ordering::SeqCst),
        }
    }

    /// The fresh entries under `keys`; `None` when the store cannot be reached.
    pub async fn lookup(&self, keys: &[Key]) -> Option<Found> {
        match self {
            Self::Memory(memory) => Some(memory.lookup(keys)),
            Self::Redis(redis) => redis.lookup(keys).await,
        }
    }

    /// Keeps an answer whose fetch began at invalidation `since` for at most `ttl`,
    /// unless what it holds changed meanwhile. Redis is written in the background.
    pub fn put(&self, key: Key, body: Bytes, tags: Vec<String>, since: u64, ttl: Duration) {
        match self {
            Self::Memory(memory) => memory.put(key, body, tags, since, ttl),
            Self::Redis(redis) => {
                let redis = redis.clone();
                tokio::spawn(async move { redis.put(key, body, tags, since, ttl).await });
            }
        }
    }

    /// Drops every entry holding one of `tags`.
    pub async fn drop_tags(&self, tags: &[String]) {
        match self {
            Self::Memory(memory) => memory.drop_tags(tags),
            Self::Redis(redis) => redis.drop_tags(tags).await,
        }
    }

    /// Drops everything.
    pub async fn empty(&self) {
        match self {
            Self::Memory(memory) => memory.empty(),
            Self::Redis(redis) => {
                redis.empty().await;
            }
        }
    }

    /// When the store is unavailable, tries to empty it, and makes it available again
    /// if that worked.
    pub async fn recover(&self) {
        if let Self::Redis(redis) = self
            && !redis.available.load(Ordering::SeqCst)
            && redis.empty().await
        {
            redis.available.store(true, Ordering::SeqCst);
            tracing::info!("the response cache's Redis answers; it was emptied and is in use again");
        }
    }
}

/// One cached answer in this process.
struct Entry {
    body: Bytes,
    tags: Vec<String>,
    since: u64,
    ttl: Duration,
}

/// Each entry lives its own TTL (its subgraph's max age, at most the cache's).
struct OwnTtl;

impl moka::Expiry<Key, Arc<Entry>> for OwnTtl {
    fn expire_after_create(&self, _key: &Key, entry: &Arc<Entry>, _created_at: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

pub struct MemoryStore {
    entries: moka::sync::Cache<Key, Arc<Entry>>,
    /// tag → the invalidation count at which it was last dropped.
    dropped: moka::sync::Cache<String, u64>,
    invalidations: AtomicU64,
    /// The invalidation count of the last time everything was dropped.
    emptied_at: AtomicU64,
}

impl MemoryStore {
    fn new(max_entries: u64, ttl: Duration) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(OwnTtl)
                .build(),
            dropped: moka::sync::Cache::builder().time_to_live(ttl + LONGEST_FETCH).build(),
            invalidations: AtomicU64::new(0),
            emptied_at: AtomicU64::new(0),
        }
    }

    fn fresh(&self, tags: &[String], since: u64) -> bool {
        self.emptied_at.load(Ordering::SeqCst) <= since
            && tags
                .iter()
                .all(|tag| self.dropped.get(tag).is_none_or(|dropped| dropped <= since))
    }

    fn lookup(&self, keys: &[Key]) -> Found {
        let since = self.invalidations.load(Ordering::SeqCst);
        let bodies = keys
            .iter()
            .map(|key| {
                let entry = self.entries.get(key)?;
                if self.fresh(&entry.tags, entry.since) {
                    Some(entry.body.clone())
                } else {
                    self.entries.invalidate(key);
                    None
                }
            })
            .collect();
        Found { since, bodies }
    }

    fn put(&self, key: Key, body: Bytes, tags: Vec<String>, since: u64, ttl: Duration) {
        if self.fresh(&tags, since) {
            self.entries.insert(key, Arc::new(Entry { body, tags, since, ttl }));
        }
    }

    fn drop_tags(&self, tags: &[String]) {
        let at = self.invalidations.fetch_add(1, Ordering::SeqCst) + 1;
        for tag in tags {
            self.dropped.insert(tag.clone(), at);
        }
    }

    fn empty(&self) {
        let at = self.invalidations.fetch_add(1, Ordering::SeqCst) + 1;
        self.emptied_at.store(at, Ordering::SeqCst);
        self.entries.invalidate_all();
    }
}

/// KEYS: the entries. ARGV: the prefix. Returns {gen, bodies}, a body false (nil) when
/// the entry is missing or stale (a stale one is deleted).
const LOOKUP: &str = r"
local prefix = ARGV[1]
local gen = tonumber(redis.call('GET', prefix .. 'gen') or '0')
local emptied = tonumber(redis.call('GET', prefix .. 'emptied') or '0')
local bodies = {}
for i, key in ipairs(KEYS) do
  local found = false
  local entry = redis.call('HMGET', key, 'body', 'tags', 'since')
  if entry[1] then
    local since = tonumber(entry[3])
    local fresh = emptied <= since and since <= gen
    if fresh then
      for tag in string.gmatch(entry[2], '%S+') do
        local dropped = redis.call('GET', prefix .. 'dropped:' .. tag)
        if dropped and tonumber(dropped) > since then
          fresh = false
          break
        end
      end
    end
    if fresh then found = entry[1] else redis.call('DEL', key) end
  end
  bodies[i] = found
end
return {gen, bodies}
";

/// KEYS[1]: the entry. ARGV: prefix, body, tags (space-separated), since, TTL seconds.
/// Stores the entry unless one of its tags (or everything) was dropped after `since`,
/// or Redis lost its count since (`since` is ahead of it). Returns 1 when stored.
const STORE: &str = r"
local prefix, since = ARGV[1], tonumber(ARGV[4])
local gen = tonumber(redis.call('GET', prefix .. 'gen') or '0')
local emptied = tonumber(redis.call('GET', prefix .. 'emptied') or '0')
if since > gen or emptied > since then return 0 end
for tag in string.gmatch(ARGV[3], '%S+') do
  local dropped = redis.call('GET', prefix .. 'dropped:' .. tag)
  if dropped and tonumber(dropped) > since then return 0 end
end
redis.call('HSET', KEYS[1], 'body', ARGV[2], 'tags', ARGV[3], 'since', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
";

/// ARGV: prefix, the TTL of a drop's memory in seconds, then the tags. Returns the
/// new count.
const DROP: &str = r"
local gen = redis.call('INCR', ARGV[1] .. 'gen')
for i = 3, #ARGV do
  redis.call('SET', ARGV[1] .. 'dropped:' .. ARGV[i], gen, 'EX', ARGV[2])
end
return gen
";

/// ARGV: prefix. Returns the new count.
const EMPTY: &str = r"
local gen = redis.call('INCR', ARGV[1] .. 'gen')
redis.call('SET', ARGV[1] .. 'emptied', gen)
return gen
";

pub struct RedisStore {
    link: RedisLink,
    /// Before every key, so that several deployments (or tests) can share one Redis.
    prefix: String,
    /// How long a drop is remembered: longer than any entry lives and any fetch takes.
    drop_memory: Duration,
    /// False from a failed call until Redis was emptied again; starts false, so a
    /// gateway uses the cache only once it reached Redis.
    available: AtomicBool,
    lookup: redis::Script,
    store: redis::Script,
    drop: redis::Script,
    empty: redis::Script,
}

impl RedisStore {
    fn new(url: &str, prefix: &str, ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            link: RedisLink::open(url, "response cache")?,
            prefix: prefix.to_owned(),
            drop_memory: ttl + LONGEST_FETCH,
            available: AtomicBool::new(false),
            lookup: redis::Script::new(LOOKUP),
            store: redis::Script::new(STORE),
            drop: redis::Script::new(DROP),
            empty: redis::Script::new(EMPTY),
        })
    }

    fn entry_key(&self, key: &Key) -> String {
        let mut text = String::with_capacity(self.prefix.len() + 6 + 32);
        text.push_str(&self.prefix);
        text.push_str("entry:");
        for byte in key {
            text.push_str(&format!("{byte:02x}"));
        }
        text
    }

    /// `result`'s value; on failure `None`, and the store is unavailable until
    /// [`Store::recover`] empties it.
    fn note<T>(&self, result: redis::RedisResult<T>) -> Option<T> {
        let value = self.link.note(result);
        if value.is_none() {
            self.available.store(false, Ordering::SeqCst);
        }
        value
    }

    async fn connection(&self) -> Option<redis::aio::ConnectionManager> {
        let connection = self.link.connection().await;
        if connection.is_none() {
            self.available.store(false, Ordering::SeqCst);
        }
        connection
    }

    async fn lookup(&self, keys: &[Key]) -> Option<Found> {
        let mut connection = self.connection().await?;
        let mut invocation = self.lookup.prepare_invoke();
        for key in keys {
            invocation.key(self.entry_key(key));
        }
        invocation.arg(&self.prefix);
        let (since, bodies): (u64, Vec<Option<Vec<u8>>>) = self.note(invocation.invoke_async(&mut connection).await)?;
        Some(Found {
            since,
            bodies: bodies.into_iter().map(|body| body.map(Bytes::from)).collect(),
        })
    }

    async fn put(&self, key: Key, body: Bytes, tags: Vec<String>, since: u64, ttl: Duration) {
        let Some(mut connection) = self.connection().await else {
            return;
        };
        let stored: redis::RedisResult<u8> = self
            .store
            .key(self.entry_key(&key))
            .arg(&self.prefix)
            .arg(body.as_ref())
            .arg(tags.join(" "))
            .arg(since)
            .arg(ttl.as_secs().max(1))
            .invoke_async(&mut connection)
            .await;
        self.note(stored);
    }

    async fn drop_tags(&self, tags: &[String]) {
        let Some(mut connection) = self.connection().await else {
            return;
        };
        let dropped: redis::RedisResult<u64> = self
            .drop
            .arg(&self.prefix)
            .arg(self.drop_memory.as_secs())
            .arg(tags)
            .invoke_async(&mut connection)
            .await;
        self.note(dropped);
    }

    /// Whether everything was dropped.
    async fn empty(&self) -> bool {
        let Some(mut connection) = self.connection().await else {
            return false;
        };
        let emptied: redis::RedisResult<u64> = self.empty.arg(&self.prefix).invoke_async(&mut connection).await;
        self.note(emptied).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    /// Both stores keep the same account: what changed during a fetch is refused,
    /// what changed after is dropped, everything else is served.
    async fn keeps_only_what_is_still_true(store: &Store) {
        let (a, b, c) = ([1u8; 16], [2u8; 16], [3u8; 16]);
        let ttl = Duration::from_secs(60);
        store.empty().await;
        let before = store.lookup(&[a, b, c]).await.expect("the store answers");
        assert_eq!(before.bodies, vec![None, None, None]);

        // `b`'s data changes while it is fetched: it is not kept.
        store.drop_tags(&tags(&["Product:b"])).await;
        store.put(
            a,
            Bytes::from_static(b"\"a\""),
            tags(&["Product:a", "Product:list"]),
            before.since,
            ttl,
        );
        store.put(b, Bytes::from_static(b"\"b\""), tags(&["Product:b"]), before.since, ttl);
        let now = eventually(store, &[a, b], |found| found.bodies[0].is_some()).await;
        assert_eq!(now.bodies, vec![Some(Bytes::from_static(b"\"a\"")), None]);

        // Fetched after the change, it is kept.
        store.put(b, Bytes::from_static(b"\"b2\""), tags(&["Product:b"]), now.since, ttl);
        let later = eventually(store, &[b], |found| found.bodies[0].is_some()).await;
        assert_eq!(later.bodies, vec![Some(Bytes::from_static(b"\"b2\""))]);

        // A list's tag drops `a` (which holds it) and leaves `b`.
        store.drop_tags(&tags(&["Product:list"])).await;
        let after = store.lookup(&[a, b]).await.expect("the store answers");
        assert_eq!(after.bodies, vec![None, Some(Bytes::from_static(b"\"b2\""))]);

        // Emptied, nothing is served, and nothing fetched before is kept.
        store.empty().await;
        store.put(c, Bytes::from_static(b"\"c\""), vec![], after.since, ttl);
        store.put(
            a,
            Bytes::from_static(b"\"a\""),
            vec![],
            store.lookup(&[]).await.unwrap().since,
            ttl,
        );
        let emptied = eventually(store, &[a, b, c], |found| found.bodies[0].is_some()).await;
        assert_eq!(emptied.bodies[1..], [None, None]);
    }

    /// Redis is written in the background: waits until `done` (at most 2 s).
    async fn eventually(store: &Store, keys: &[Key], done: impl Fn(&Found) -> bool) -> Found {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let found = store.lookup(keys).await.expect("the store answers");
            if done(&found) || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn memory_keeps_only_what_is_still_true() {
        keeps_only_what_is_still_true(&Store::memory(100, Duration::from_secs(60))).await;
    }

    /// A store in Redis under a prefix of its own, with its URL and prefix; `None`
    /// (skipped) when Redis does not answer and `REQUIRE_REDIS` is unset.
    async fn redis_store() -> Option<(Store, String, String)> {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("response-cache-test-{}:", uuid::Uuid::new_v4());
        let store = Store::redis(&url, &prefix, Duration::from_secs(60)).unwrap();
        store.recover().await;
        if !store.available() {
            assert!(
                std::env::var("REQUIRE_REDIS").is_err(),
                "REQUIRE_REDIS is set and Redis is not reachable"
            );
            eprintln!("skipped: no Redis at {url}");
            return None;
        }
        Some((store, url, prefix))
    }

    #[tokio::test]
    async fn redis_keeps_only_what_is_still_true() {
        let Some((store, url, prefix)) = redis_store().await else {
            return;
        };
        keeps_only_what_is_still_true(&store).await;
        forget(&url, &prefix).await;
    }

    /// Deletes the keys without a TTL a test store left.
    async fn forget(url: &str, prefix: &str) {
        let client = redis::Client::open(url).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("DEL")
            .arg(format!("{prefix}gen"))
            .arg(format!("{prefix}emptied"))
            .query_async(&mut connection)
            .await
            .unwrap();
    }

    /// A drop that failed left its entries in Redis: once Redis answers again, nothing
    /// kept before is served.
    #[tokio::test]
    async fn a_redis_that_failed_is_emptied_before_it_is_used_again() {
        let Some((store, url, prefix)) = redis_store().await else {
            return;
        };
        let Store::Redis(redis) = &store else { unreachable!() };
        let since = store.lookup(&[]).await.unwrap().since;
        store.put(
            [7; 16],
            Bytes::from_static(b"\"old\""),
            tags(&["Product:7"]),
            since,
            Duration::from_secs(60),
        );
        let kept = eventually(&store, &[[7; 16]], |found| found.bodies[0].is_some()).await;
        assert!(kept.bodies[0].is_some());

        // The drop of Product:7 fails (Redis is unreachable for it): the store says so.
        redis.note::<()>(Err(redis::RedisError::from(std::io::Error::other("connection reset"))));
        assert!(!store.available());
        store.recover().await;
        assert!(store.available());
        assert_eq!(store.lookup(&[[7; 16]]).await.unwrap().bodies, vec![None]);
        forget(&url, &prefix).await;
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_unavailable_until_it_was_emptied() {
        let store = Store::redis("redis://127.0.0.1:1", "response-cache:", Duration::from_secs(60)).unwrap();
        assert!(!store.available());
        assert!(store.lookup(&[[1; 16]]).await.is_none());
        store.recover().await;
        assert!(!store.available());
    }
}
