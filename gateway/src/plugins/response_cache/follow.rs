//! Every gateway process follows each cached subgraph's invalidation stream
//! (`GET /cache-invalidations`, NDJSON: a heartbeat `{}` at least every 5 s, then one
//! line of tags per event) and drops the tags each event names. While a stream is not
//! followed, the cache is bypassed; when it is followed again, it is emptied first,
//! since events were missed meanwhile. A store in Redis that failed is emptied once it
//! answers again, before it is used.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hive_router::async_trait;
use hive_router::background_tasks::BackgroundTask;
use hive_router::opentelemetry::KeyValue;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::store::Store;
use super::{SupergraphFacts, count_invalidations, metrics};

/// The path of a subgraph's invalidation stream, beside its GraphQL path.
const FEED_PATH: &str = "/cache-invalidations";
/// A stream that says nothing (not even its heartbeat, every 5 s) this long is dead.
const FEED_SILENCE: Duration = Duration::from_secs(15);
/// How often a store that failed is tried again.
const RECOVERY_INTERVAL: Duration = Duration::from_millis(500);

/// Follows each cached subgraph's invalidation stream for as long as the gateway runs,
/// and brings a failed store back.
pub(super) struct FollowInvalidations {
    pub subgraphs: Vec<String>,
    pub configured_urls: BTreeMap<String, String>,
    pub supergraph: Arc<RwLock<SupergraphFacts>>,
    pub store: Arc<Store>,
    pub following: Arc<AtomicUsize>,
}

#[async_trait]
impl BackgroundTask for FollowInvalidations {
    fn id(&self) -> &str {
        "response_cache_invalidations"
    }

    async fn run(&self, token: CancellationToken) {
        let http = match reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
        {
            Ok(http) => http,
            Err(err) => {
                tracing::error!(error = %err, "the response cache cannot follow invalidations; it stays bypassed");
                return;
            }
        };
        let followers = self
            .subgraphs
            .iter()
            .map(|subgraph| self.follow(&http, subgraph, &token));
        tokio::join!(futures::future::join_all(followers), self.recover(&token));
    }
}

impl FollowInvalidations {
    async fn recover(&self, token: &CancellationToken) {
        while !token.is_cancelled() {
            self.store.recover().await;
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(RECOVERY_INTERVAL) => {}
            }
        }
    }

    fn feed_url(&self, subgraph: &str) -> Option<String> {
        let url = match self.configured_urls.get(subgraph) {
            Some(url) => url.clone(),
            None => self
                .supergraph
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .urls
                .get(subgraph)?
                .clone(),
        };
        let mut url = reqwest::Url::parse(&url).ok()?;
        url.set_path(FEED_PATH);
        url.set_query(None);
        Some(url.to_string())
    }

    /// Follows one subgraph's stream, again and again: connected, the cache may be
    /// used (once every stream is); disconnected, it is emptied and bypassed.
    async fn follow(&self, http: &reqwest::Client, subgraph: &str, token: &CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        while !token.is_cancelled() {
            let Some(url) = self.feed_url(subgraph) else {
                tokio::select! {
                    () = token.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                }
            };
            let started = Instant::now();
            tokio::select! {
                () = token.cancelled() => return,
                outcome = self.read(http, subgraph, &url) => {
                    if let Err(err) = outcome {
                        tracing::debug!(subgraph, error = %err, "invalidation stream ended; the cache is emptied and bypassed until it is back");
                    }
                }
            }
            if started.elapsed() > Duration::from_secs(10) {
                backoff = Duration::from_millis(100);
            }
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn read(&self, http: &reqwest::Client, subgraph: &str, url: &str) -> anyhow::Result<()> {
        let mut response = http.get(url).send().await?.error_for_status()?;
        let mut connected: Option<Connected<'_>> = None;
        let mut buffer: Vec<u8> = Vec::new();
        loop {
            let chunk = tokio::time::timeout(FEED_SILENCE, response.chunk())
                .await
                .map_err(|_| anyhow::anyhow!("{subgraph}'s invalidation stream fell silent"))??;
            let Some(chunk) = chunk else {
                anyhow::bail!("{subgraph}'s invalidation stream ended");
            };
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                if connected.is_none() {
                    // Following from here on: what happened before is not known, so
                    // whatever was kept before goes.
                    self.store.empty().await;
                    connected = Some(Connected::new(&self.following));
                    tracing::info!(subgraph, "following the invalidation stream");
                }
                self.apply(subgraph, &line).await;
            }
        }
    }

    async fn apply(&self, subgraph: &str, line: &[u8]) {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Invalidation {
            #[serde(default)]
            tags: Vec<String>,
            occurred_at: Option<chrono::DateTime<chrono::Utc>>,
        }
        let Ok(invalidation) = serde_json::from_slice::<Invalidation>(line) else {
            tracing::warn!(subgraph, "an invalidation that does not parse; everything is dropped");
            self.store.empty().await;
            return;
        };
        if invalidation.tags.is_empty() {
            return; // a heartbeat
        }
        self.store.drop_tags(&invalidation.tags).await;
        count_invalidations(subgraph, &invalidation.tags, "event");
        if let Some(at) = invalidation.occurred_at {
            let lag = (chrono::Utc::now() - at).num_microseconds().unwrap_or(0).max(0) as f64 / 1_000_000.0;
            metrics()
                .lag
                .record(lag, &[KeyValue::new("subgraph", subgraph.to_owned())]);
        }
    }
}

/// Counts a stream as followed while it lives.
struct Connected<'a> {
    following: &'a AtomicUsize,
}

impl<'a> Connected<'a> {
    fn new(following: &'a AtomicUsize) -> Self {
        following.fetch_add(1, Ordering::SeqCst);
        Self { following }
    }
}

impl Drop for Connected<'_> {
    fn drop(&mut self) {
        self.following.fetch_sub(1, Ordering::SeqCst);
    }
}
