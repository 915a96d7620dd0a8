//! Rate limits per client: at most `requests` operations per `window_seconds` for each
//! caller of a client (the signed-in subject, or the client as a whole for anonymous
//! calls). Counted in fixed windows, in memory (one gateway process) or in Redis
//! (`RATE_LIMIT_REDIS_URL`), so that every replica counts against one budget.
//!
//! An operation over the limit gets 429 RATE_LIMITED with `Retry-After`. When Redis
//! cannot be reached the request is let through (and the outage logged): a broken
//! counter must not take the shop down. Clients without a configured limit are not
//! counted; anonymous browser traffic is expected to be limited per address at the
//! edge (load balancer or CDN), which sees the address this gateway cannot trust.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hive_router::GraphQLError;
use hive_router::executor::plugins::hooks::on_graphql_params::{
    OnGraphQLParamsStartHookPayload, OnGraphQLParamsStartHookResult,
};
use hive_router::executor::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::executor::plugins::plugin_trait::{RouterPlugin, StartHookPayload, from_graphql_error_to_bytes};
use hive_router::ntex;
use serde::Deserialize;

use super::RequestClient;
use super::identity::VerifiedIdentity;
use super::redis_link::RedisLink;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub requests: u64,
    pub window_seconds: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    #[serde(default)]
    pub clients: BTreeMap<String, RateLimit>,
    /// `RATE_LIMIT_REDIS_URL` overrides it.
    #[serde(default)]
    pub redis_url: Option<String>,
}

/// Where the counts are kept.
enum Counter {
    /// key → (window index, count)
    Memory(Mutex<HashMap<String, (u64, u64)>>),
    Redis(RedisLink),
}

const REDIS_PREFIX: &str = "gateway:ratelimit:";
/// The in-memory counter forgets old windows once it holds this many keys.
const MEMORY_SWEEP_AT: usize = 100_000;

impl Counter {
    /// Counts one request for `key` in window `window` and returns the count so far;
    /// `None` when the count is unknown (Redis down).
    async fn hit(&self, key: &str, window: u64, window_seconds: u64) -> Option<u64> {
        match self {
            Counter::Memory(counts) => {
                let mut counts = counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if counts.len() >= MEMORY_SWEEP_AT {
                    counts.retain(|_, (at, _)| *at >= window);
                }
                let entry = counts.entry(key.to_owned()).or_insert((window, 0));
                if entry.0 != window {
                    *entry = (window, 0);
                }
                entry.1 += 1;
                Some(entry.1)
            }
            Counter::Redis(link) => {
                let mut connection = link.connection().await?;
                let redis_key = format!("{REDIS_PREFIX}{key}:{window}");
                let counted: redis::RedisResult<(u64,)> = redis::pipe()
                    .atomic()
                    .incr(&redis_key, 1u64)
                    .expire(
                        &redis_key,
                        i64::try_from(window_seconds.saturating_mul(2)).unwrap_or(i64::MAX),
                    )
                    .ignore()
                    .query_async(&mut connection)
                    .await;
                link.note(counted).map(|(count,)| count)
            }
        }
    }
}

pub struct RateLimits {
    clients: BTreeMap<String, RateLimit>,
    counter: Counter,
}

/// The answer to a request over its limit.
#[derive(Debug, PartialEq, Eq)]
pub struct OverLimit {
    pub retry_after_seconds: u64,
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

impl RateLimits {
    /// # Errors
    /// When the Redis URL is not one.
    pub fn new(config: RateLimitsConfig) -> anyhow::Result<Self> {
        let redis_url = crate::settings::current()?.rate_limit_redis_url.or(config.redis_url);
        let counter = match redis_url {
            Some(url) => Counter::Redis(RedisLink::open(&url, "rate limits")?),
            None => Counter::Memory(Mutex::new(HashMap::new())),
        };
        Ok(Self {
            clients: config.clients,
            counter,
        })
    }

    /// Counts a request of `caller` through `client` at `at` (since the epoch).
    ///
    /// # Errors
    /// When it is over the client's limit.
    pub async fn admit(&self, client: Option<&str>, caller: Option<&str>, at: Duration) -> Result<(), OverLimit> {
        let Some((name, limit)) = client.and_then(|name| self.clients.get_key_value(name)) else {
            return Ok(());
        };
        let window_seconds = limit.window_seconds.max(1);
        let window = at.as_secs() / window_seconds;
        let key = format!("{name}:{}", caller.unwrap_or("anonymous"));
        match self.counter.hit(&key, window, window_seconds).await {
            Some(count) if count > limit.requests => Err(OverLimit {
                retry_after_seconds: (window + 1) * window_seconds - at.as_secs(),
            }),
            _ => Ok(()),
        }
    }
}

#[hive_router::async_trait]
impl RouterPlugin for RateLimits {
    type Config = RateLimitsConfig;

    fn plugin_name() -> &'static str {
        "rate_limits"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        let plugin = Self::new(config).map_err(|err| err.to_string())?;
        payload.initialize_plugin(plugin)
    }

    async fn on_graphql_params<'exec>(
        &'exec self,
        payload: OnGraphQLParamsStartHookPayload<'exec>,
    ) -> OnGraphQLParamsStartHookResult<'exec> {
        let client = payload.context.get_ref::<RequestClient>().and_then(|c| c.0.clone());
        let subject = payload
            .context
            .get_ref::<VerifiedIdentity>()
            .map(|identity| identity.subject.clone());
        match self.admit(client.as_deref(), subject.as_deref(), now()).await {
            Ok(()) => payload.proceed(),
            Err(over) => {
                tracing::info!(client = client.as_deref().unwrap_or("anonymous"), "rate limit reached");
                let error = GraphQLError::from_message_and_code(
                    format!(
                        "too many requests for this client; retry in {} s",
                        over.retry_after_seconds
                    ),
                    "RATE_LIMITED",
                );
                let response = ntex::http::Response::build(ntex::http::StatusCode::TOO_MANY_REQUESTS)
                    .content_type("application/json")
                    .header("retry-after", over.retry_after_seconds.to_string())
                    .body(from_graphql_error_to_bytes(error));
                payload.end_with_response(response)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(redis_url: Option<String>) -> RateLimits {
        RateLimits::new(RateLimitsConfig {
            clients: [(
                "acme".to_owned(),
                RateLimit {
                    requests: 3,
                    window_seconds: 60,
                },
            )]
            .into(),
            redis_url,
        })
        .unwrap()
    }

    async fn admitted(limits: &RateLimits, caller: &str, at: u64, times: usize) -> usize {
        let mut admitted = 0;
        for _ in 0..times {
            if limits
                .admit(Some("acme"), Some(caller), Duration::from_secs(at))
                .await
                .is_ok()
            {
                admitted += 1;
            }
        }
        admitted
    }

    #[tokio::test]
    async fn a_caller_gets_its_clients_budget_per_window_and_then_429() {
        let limits = limits(None);
        assert_eq!(admitted(&limits, "a", 120, 5).await, 3);
        assert_eq!(
            admitted(&limits, "b", 130, 5).await,
            3,
            "another caller has its own budget"
        );
        assert_eq!(
            limits.admit(Some("acme"), Some("a"), Duration::from_secs(150)).await,
            Err(OverLimit {
                retry_after_seconds: 30
            })
        );
        assert_eq!(admitted(&limits, "a", 180, 5).await, 3, "the next window starts afresh");
        assert!(
            limits.admit(Some("web"), None, Duration::from_secs(150)).await.is_ok(),
            "a client without a limit is not counted"
        );
    }

    /// Against the Redis server of these machines: two gateway replicas share a budget.
    #[tokio::test]
    async fn replicas_share_the_budget_in_redis() {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let (one, two) = (limits(Some(url.clone())), limits(Some(url.clone())));
        let caller = format!("test-{}-{}", std::process::id(), now().as_nanos());
        let at = now().as_secs();
        let first = admitted(&one, &caller, at, 2).await;
        let second = admitted(&two, &caller, at, 2).await;
        if first + second == 4 && std::env::var_os("REQUIRE_REDIS").is_none() {
            eprintln!("skipped: Redis is not reachable at {url}");
            return;
        }
        assert_eq!((first, second), (2, 1));
    }

    #[tokio::test]
    async fn an_unreachable_redis_lets_requests_through() {
        let limits = limits(Some("redis://127.0.0.1:1".into()));
        assert_eq!(admitted(&limits, "a", 120, 5).await, 5);
    }
}
