//! A cache of subgraph answers that the shop's own events keep true.
//!
//! What may be cached is the subgraphs' word (`kernel_infra::cache`): a query's answer
//! that is public (it carries `extensions.cache = { maxAge, tags }`), kept at most
//! `maxAge` and at most `ttl_seconds`. It is keyed by the subgraph and the request body
//! (query and variables); an `_entities` request is cached per representation, so a
//! page of products finds the ones another page already fetched, and only the missing
//! ones are asked for. Nothing is shared between callers that the subgraph did not call
//! public, and staff (ADMIN) and services are never served from the cache nor stored.
//!
//! Entries carry tags: an entity's own (`Product:<id>`, from its representation) or
//! those its subgraph named (`Product:<id>`, `Product:list`). Every gateway process
//! follows each cached subgraph's invalidation stream (`GET /cache-invalidations`) and
//! drops the tags each event names; a mutation's answer names what it changed
//! (`x-cache-invalidate`) and is dropped before the gateway answers. An entry is
//! checked against the tags dropped since its fetch began, so an answer fetched while
//! its data changed is never stored. When a stream breaks, the cache is emptied and
//! bypassed until it is followed again: what cannot be proved fresh is not served.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use hive_router::async_trait;
use hive_router::background_tasks::BackgroundTask;
use hive_router::executor::executors::http::SubgraphHttpResponse;
use hive_router::executor::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::executor::plugins::hooks::on_subgraph_http_request::{
    OnSubgraphHttpRequestHookPayload, OnSubgraphHttpRequestHookResult,
};
use hive_router::executor::plugins::hooks::on_supergraph_load::{
    OnSupergraphLoadStartHookPayload, OnSupergraphLoadStartHookResult,
};
use hive_router::executor::plugins::plugin_trait::{EndHookPayload, RouterPlugin, StartHookPayload};
use hive_router::graphql_tools::parser::schema as s;
use hive_router::http::{HeaderMap, HeaderValue, StatusCode};
use hive_router::opentelemetry::KeyValue;
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest;
use tokio_util::sync::CancellationToken;

use super::identity::VerifiedIdentity;

/// The header a mutation's answer names the tags it changed in (kernel-infra's).
const INVALIDATE_HEADER: &str = "x-cache-invalidate";
/// The path of a subgraph's invalidation stream, beside its GraphQL path.
const FEED_PATH: &str = "/cache-invalidations";
/// A stream that says nothing (not even its heartbeat, every 5 s) this long is dead.
const FEED_SILENCE: Duration = Duration::from_secs(15);
/// The longest a fetch may take and still be stored: tags dropped are remembered for
/// at least this long, so a slower fetch could not be checked.
const LONGEST_FETCH: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseCacheConfig {
    /// The subgraphs whose answers may be cached; the gateway follows their
    /// invalidation streams.
    pub subgraphs: Vec<String>,
    /// The most any answer is kept, whatever its subgraph allows: a safety net, never
    /// the way data becomes fresh (events are).
    #[serde(default = "default_ttl_seconds")]
    pub ttl_seconds: u64,
    /// How many answers (entities and root fields) are kept at most.
    #[serde(default = "default_max_entries")]
    pub max_entries: u64,
    /// Where each subgraph's invalidation stream is, when not beside its URL in the
    /// supergraph (the launcher sets it with `gateway.subgraph_urls`).
    #[serde(default)]
    pub subgraph_urls: BTreeMap<String, String>,
}

fn default_ttl_seconds() -> u64 {
    600
}

fn default_max_entries() -> u64 {
    200_000
}

/// One cached answer: a whole response body, or one entity of an `_entities` answer.
struct Entry {
    body: bytes::Bytes,
    tags: Vec<String>,
    /// The invalidation count when its fetch began.
    fetched_after: u64,
}

/// The cached answers and what was dropped, in this process.
struct Store {
    entries: moka::sync::Cache<[u8; 16], Arc<Entry>>,
    /// tag → the invalidation count at which it was last dropped; remembered for as
    /// long as an entry lives, so any entry older than its tag's drop is seen as stale.
    dropped: moka::sync::Cache<String, u64>,
    /// How many invalidations there have been (each drop of a set of tags is one).
    invalidations: AtomicU64,
    /// The invalidation count of the last time everything was dropped.
    emptied_at: AtomicU64,
}

impl Store {
    fn new(config: &ResponseCacheConfig) -> Self {
        let ttl = Duration::from_secs(config.ttl_seconds.max(1));
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(config.max_entries)
                .time_to_live(ttl)
                .build(),
            // Longer than any entry lives, and than any fetch takes.
            dropped: moka::sync::Cache::builder().time_to_live(ttl + LONGEST_FETCH).build(),
            invalidations: AtomicU64::new(0),
            emptied_at: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.invalidations.load(Ordering::SeqCst)
    }

    /// Whether an entry fetched after invalidation `since` with these tags is still
    /// true: none of its tags was dropped since, nor everything.
    fn fresh(&self, tags: &[String], since: u64) -> bool {
        self.emptied_at.load(Ordering::SeqCst) <= since
            && tags
                .iter()
                .all(|tag| self.dropped.get(tag).is_none_or(|dropped| dropped <= since))
    }

    fn get(&self, key: &[u8; 16]) -> Option<Arc<Entry>> {
        let entry = self.entries.get(key)?;
        if self.fresh(&entry.tags, entry.fetched_after) {
            Some(entry)
        } else {
            self.entries.invalidate(key);
            None
        }
    }

    /// Keeps an answer whose fetch began at invalidation `since`, unless what it holds
    /// changed meanwhile. It lives the cache's own TTL.
    fn put(&self, key: [u8; 16], body: bytes::Bytes, tags: Vec<String>, since: u64) {
        if self.fresh(&tags, since) {
            self.entries.insert(
                key,
                Arc::new(Entry {
                    body,
                    tags,
                    fetched_after: since,
                }),
            );
        }
    }

    /// Drops every entry holding one of `tags`.
    fn drop_tags(&self, tags: &[String]) {
        let at = self.invalidations.fetch_add(1, Ordering::SeqCst) + 1;
        for tag in tags {
            self.dropped.insert(tag.clone(), at);
        }
    }

    /// Drops everything.
    fn empty(&self) {
        let at = self.invalidations.fetch_add(1, Ordering::SeqCst) + 1;
        self.emptied_at.store(at, Ordering::SeqCst);
        self.entries.invalidate_all();
    }
}

/// The gateway's metrics of the cache (Prometheus, at the metrics port). Made on first
/// use: the router installs its meter provider after the plugins are made.
struct Metrics {
    lookups: hive_router::opentelemetry::metrics::Counter<u64>,
    invalidations: hive_router::opentelemetry::metrics::Counter<u64>,
    lag: hive_router::opentelemetry::metrics::Histogram<f64>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

fn metrics() -> &'static Metrics {
    METRICS.get_or_init(|| {
        let meter = hive_router::opentelemetry::global::meter("gateway.response_cache");
        Metrics {
            lookups: meter
                .u64_counter("gateway_cache_lookups")
                .with_description(
                    "Lookups of the response cache, by subgraph, type and outcome (hit, miss, bypass, uncached)",
                )
                .build(),
            invalidations: meter
                .u64_counter("gateway_cache_invalidations")
                .with_description("Tags dropped, by subgraph, type and source (event, mutation)")
                .build(),
            lag: meter
                .f64_histogram("gateway_cache_invalidation_lag")
                .with_unit("s")
                .with_description("From a change's event to its tags being dropped at this gateway")
                .build(),
        }
    })
}

/// Counts the tags dropped, by their type (`Product` of `Product:<id>`).
fn count_invalidations(subgraph: &str, tags: &[String], source: &'static str) {
    for tag in tags {
        let kind = tag.split(':').next().unwrap_or(tag).to_owned();
        metrics().invalidations.add(
            1,
            &[
                KeyValue::new("subgraph", subgraph.to_owned()),
                KeyValue::new("type", kind),
                KeyValue::new("source", source),
            ],
        );
    }
}

/// The gauges, which read the plugin's own counts.
struct Gauges {
    _ratio: hive_router::opentelemetry::metrics::ObservableGauge<f64>,
    _following: hive_router::opentelemetry::metrics::ObservableGauge<u64>,
}

/// Hits and lookups of products (the Products subgraph's answers and every
/// subgraph's `Product` entities), for `product_cache_hit_ratio`.
#[derive(Default)]
struct ProductCounts {
    hits: AtomicU64,
    lookups: AtomicU64,
}

pub struct ResponseCache {
    config: ResponseCacheConfig,
    cached: HashSet<String>,
    store: Arc<Store>,
    /// How many of the followed streams are connected; the cache is used only when all
    /// of them are.
    following: Arc<AtomicUsize>,
    /// Each subgraph's URL in the current supergraph, and its entity types' key fields.
    supergraph: Arc<RwLock<SupergraphFacts>>,
    products: Arc<ProductCounts>,
    gauges: OnceLock<Gauges>,
}

#[derive(Default)]
struct SupergraphFacts {
    urls: HashMap<String, String>,
    /// (subgraph, type) → the key's fields, e.g. ("inventory", "Product") → ["id"].
    keys: HashMap<(String, String), Vec<String>>,
}

impl SupergraphFacts {
    fn from_document(document: &s::Document<'static, String>) -> Self {
        let mut graphs: HashMap<String, String> = HashMap::new();
        let mut facts = SupergraphFacts::default();
        for definition in &document.definitions {
            if let s::Definition::TypeDefinition(s::TypeDefinition::Enum(e)) = definition
                && e.name == "join__Graph"
            {
                for value in &e.values {
                    for directive in value.directives.iter().filter(|d| d.name == "join__graph") {
                        let name = string_argument(directive, "name");
                        let url = string_argument(directive, "url");
                        if let Some(name) = name {
                            graphs.insert(value.name.clone(), name.clone());
                            if let Some(url) = url {
                                facts.urls.insert(name, url);
                            }
                        }
                    }
                }
            }
        }
        for definition in &document.definitions {
            let (name, directives) = match definition {
                s::Definition::TypeDefinition(s::TypeDefinition::Object(object)) => (&object.name, &object.directives),
                s::Definition::TypeDefinition(s::TypeDefinition::Interface(interface)) => {
                    (&interface.name, &interface.directives)
                }
                _ => continue,
            };
            for directive in directives.iter().filter(|d| d.name == "join__type") {
                let graph = directive
                    .arguments
                    .iter()
                    .find(|(n, _)| n == "graph")
                    .and_then(|(_, v)| match v {
                        s::Value::Enum(value) => graphs.get(value).cloned(),
                        _ => None,
                    });
                if let (Some(graph), Some(key)) = (graph, string_argument(directive, "key")) {
                    let fields = key.split_whitespace().map(str::to_owned).collect();
                    facts.keys.insert((graph, name.clone()), fields);
                }
            }
        }
        facts
    }
}

fn string_argument(directive: &s::Directive<'static, String>, name: &str) -> Option<String> {
    directive
        .arguments
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| match v {
            s::Value::String(text) => Some(text.clone()),
            _ => None,
        })
}

impl ResponseCache {
    fn gauges(&self) {
        self.gauges.get_or_init(|| {
            let meter = hive_router::opentelemetry::global::meter("gateway.response_cache");
            let products = self.products.clone();
            let following = self.following.clone();
            let streams = self.cached.len() as u64;
            Gauges {
                _ratio: meter
                    .f64_observable_gauge("product_cache_hit_ratio")
                    .with_description(
                        "Share of product lookups (Products' answers, Product entities) served from the cache",
                    )
                    .with_callback(move |observer| {
                        let lookups = products.lookups.load(Ordering::Relaxed);
                        let hits = products.hits.load(Ordering::Relaxed);
                        let ratio = if lookups == 0 {
                            0.0
                        } else {
                            hits as f64 / lookups as f64
                        };
                        observer.observe(ratio, &[]);
                    })
                    .build(),
                _following: meter
                    .u64_observable_gauge("gateway_cache_following")
                    .with_description(
                        "1 while every invalidation stream is followed and the cache is in use; 0 while it is bypassed",
                    )
                    .with_callback(move |observer| {
                        let all = following.load(Ordering::SeqCst) as u64 == streams;
                        observer.observe(u64::from(all), &[]);
                    })
                    .build(),
            }
        });
    }

    /// Counts lookups: `outcome` is hit, miss, bypass (the cache is not in use) or
    /// uncached (a request of a kind it does not cache).
    fn count(&self, subgraph: &str, kind: &str, outcome: &'static str) {
        self.gauges();
        metrics().lookups.add(
            1,
            &[
                KeyValue::new("subgraph", subgraph.to_owned()),
                KeyValue::new("type", kind.to_owned()),
                KeyValue::new("outcome", outcome),
            ],
        );
        if subgraph == "products" || kind == "Product" {
            self.products.lookups.fetch_add(1, Ordering::Relaxed);
            if outcome == "hit" {
                self.products.hits.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn in_use(&self) -> bool {
        self.following.load(Ordering::SeqCst) == self.cached.len()
    }

    /// The tag of an entity's representation: `Type:<key>` (the key's values joined
    /// by `:`), or the representation itself when its key is not known.
    fn representation_tag(&self, subgraph: &str, representation: &Value) -> Option<String> {
        let typename = representation["__typename"].as_str()?;
        let facts = self
            .supergraph
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fields = facts.keys.get(&(subgraph.to_owned(), typename.to_owned()))?;
        let mut values = Vec::with_capacity(fields.len());
        for field in fields {
            match &representation[field] {
                Value::String(text) => values.push(text.clone()),
                Value::Null => return None,
                other => values.push(other.to_string()),
            }
        }
        Some(format!("{typename}:{}", values.join(":")))
    }
}

fn key(parts: &[&[u8]]) -> [u8; 16] {
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// Whether a request body's operation is a query (the only kind ever cached).
fn operation_kind(query: &str) -> &'static str {
    let query = query.trim_start();
    if query.starts_with('{') || query.starts_with("query") {
        "query"
    } else if query.starts_with("mutation") {
        "mutation"
    } else {
        "other"
    }
}

fn json_response(body: bytes::Bytes) -> SubgraphHttpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        hive_router::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    SubgraphHttpResponse {
        status: StatusCode::OK,
        headers: Arc::new(headers),
        body,
    }
}

/// The tags a subgraph named when it offered an answer for sharing (with a max age);
/// `None` when it did not offer it. Entries live the cache's own TTL whatever the max
/// age (our subgraphs offer ten minutes, the TTL).
fn offer(response: &Value) -> Option<Vec<String>> {
    let cache = response.get("extensions")?.get("cache")?;
    if cache.get("maxAge")?.as_u64()? == 0 {
        return None;
    }
    let tags = cache
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| tags.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    Some(tags)
}

fn has_errors(response: &Value) -> bool {
    response
        .get("errors")
        .and_then(Value::as_array)
        .is_some_and(|errors| !errors.is_empty())
}

/// The tags a mutation's answer says it changed.
fn invalidated_by(headers: &HeaderMap) -> Vec<String> {
    headers
        .get(INVALIDATE_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[async_trait]
impl RouterPlugin for ResponseCache {
    type Config = ResponseCacheConfig;

    fn plugin_name() -> &'static str {
        "response_cache"
    }

    fn on_plugin_init(mut payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config: ResponseCacheConfig = payload.config()?;
        let plugin = ResponseCache {
            cached: config.subgraphs.iter().cloned().collect(),
            store: Arc::new(Store::new(&config)),
            following: Arc::new(AtomicUsize::new(0)),
            supergraph: Arc::new(RwLock::new(SupergraphFacts::default())),
            products: Arc::new(ProductCounts::default()),
            gauges: OnceLock::new(),
            config,
        };
        payload.register_background_task(FollowInvalidations {
            subgraphs: plugin.config.subgraphs.clone(),
            configured_urls: plugin.config.subgraph_urls.clone(),
            supergraph: plugin.supergraph.clone(),
            store: plugin.store.clone(),
            following: plugin.following.clone(),
        });
        payload.initialize_plugin(plugin)
    }

    fn on_supergraph_reload<'exec>(
        &'exec self,
        payload: OnSupergraphLoadStartHookPayload,
    ) -> OnSupergraphLoadStartHookResult<'exec> {
        let facts = SupergraphFacts::from_document(&payload.new_ast);
        *self
            .supergraph
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = facts;
        payload.proceed()
    }

    async fn on_subgraph_http_request<'exec>(
        &'exec self,
        payload: OnSubgraphHttpRequestHookPayload<'exec>,
    ) -> OnSubgraphHttpRequestHookResult<'exec> {
        let subgraph = payload.subgraph_name.to_owned();
        if !self.cached.contains(&subgraph) {
            return payload.proceed();
        }
        match operation_kind(payload.execution_request.query) {
            "query" => {}
            "mutation" => {
                // Drop what the mutation changed before the gateway answers, so the
                // caller (and everyone after) reads the change.
                let store = self.store.clone();
                return payload.on_end(move |end| {
                    let tags = invalidated_by(&end.response.headers);
                    if !tags.is_empty() {
                        store.drop_tags(&tags);
                        count_invalidations(&subgraph, &tags, "mutation");
                    }
                    end.proceed()
                });
            }
            _ => return payload.proceed(),
        }
        let privileged = payload
            .context
            .get_ref::<VerifiedIdentity>()
            .is_some_and(|identity| identity.role == "ADMIN" || identity.role == "SERVICE");
        if privileged {
            return payload.proceed();
        }
        if !self.in_use() {
            self.count(&subgraph, "any", "bypass");
            return payload.proceed();
        }
        let since = self.store.now();
        let query = payload.execution_request.query;
        match query.matches("_entities").count() {
            0 => self.root_fields(payload, subgraph, since),
            1 => {
                let Ok(mut request) = serde_json::from_slice::<Value>(&payload.body) else {
                    return payload.proceed();
                };
                match request["variables"]["representations"].as_array().cloned() {
                    Some(representations) => self.entities(payload, subgraph, &mut request, representations, since),
                    None => payload.proceed(),
                }
            }
            // Several entity lists batched in one request (the router's batching of
            // fetches to one subgraph) are not cached yet: their entries could not be
            // tagged per entity.
            _ => {
                self.count(&subgraph, "batch", "uncached");
                payload.proceed()
            }
        }
    }
}

impl ResponseCache {
    /// A root-field query: the whole answer is one entry.
    fn root_fields<'exec>(
        &'exec self,
        payload: OnSubgraphHttpRequestHookPayload<'exec>,
        subgraph: String,
        since: u64,
    ) -> OnSubgraphHttpRequestHookResult<'exec> {
        let key = key(&[subgraph.as_bytes(), b"root", &payload.body]);
        if let Some(entry) = self.store.get(&key) {
            self.count(&subgraph, "Query", "hit");
            return payload.end_with_response(json_response(entry.body.clone()));
        }
        self.count(&subgraph, "Query", "miss");
        let store = self.store.clone();
        payload.on_end(move |end| {
            if end.response.status.is_success()
                && let Ok(response) = serde_json::from_slice::<Value>(&end.response.body)
                && !has_errors(&response)
                && let Some(tags) = offer(&response)
            {
                store.put(key, end.response.body.clone(), tags, since);
            }
            end.proceed()
        })
    }

    /// An `_entities` query: one entry per representation. The ones found are not
    /// asked for; the answer is put back together in the order asked.
    fn entities<'exec>(
        &'exec self,
        mut payload: OnSubgraphHttpRequestHookPayload<'exec>,
        subgraph: String,
        request: &mut Value,
        representations: Vec<Value>,
        since: u64,
    ) -> OnSubgraphHttpRequestHookResult<'exec> {
        let query = payload.execution_request.query.as_bytes().to_vec();
        let mut others = request["variables"].clone();
        if let Some(variables) = others.as_object_mut() {
            variables.remove("representations");
        }
        let others = others.to_string();
        // Each entity found, as the JSON it was stored as.
        let mut found: Vec<Option<bytes::Bytes>> = Vec::with_capacity(representations.len());
        let mut missing: Vec<(usize, [u8; 16], Option<String>)> = Vec::new();
        for (index, representation) in representations.iter().enumerate() {
            let text = representation.to_string();
            let key = key(&[
                subgraph.as_bytes(),
                b"entity",
                &query,
                others.as_bytes(),
                text.as_bytes(),
            ]);
            let kind = representation["__typename"].as_str().unwrap_or("?");
            match self.store.get(&key) {
                Some(entry) => {
                    self.count(&subgraph, kind, "hit");
                    found.push(Some(entry.body.clone()));
                }
                None => {
                    self.count(&subgraph, kind, "miss");
                    found.push(None);
                    missing.push((index, key, self.representation_tag(&subgraph, representation)));
                }
            }
        }
        if missing.is_empty() {
            // Every entity found: their stored JSON, spliced into one answer.
            let mut body = br#"{"data":{"_entities":["#.to_vec();
            for (index, entity) in found.iter().flatten().enumerate() {
                if index > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(entity);
            }
            body.extend_from_slice(b"]}}");
            return payload.end_with_response(json_response(bytes::Bytes::from(body)));
        }
        if missing.len() < representations.len() {
            let asked: Vec<Value> = missing
                .iter()
                .map(|(index, ..)| representations[*index].clone())
                .collect();
            request["variables"]["representations"] = Value::Array(asked);
            payload.body = request.to_string().into_bytes();
        }
        let store = self.store.clone();
        payload.on_end(move |mut end| {
            let Ok(mut response) = serde_json::from_slice::<Value>(&end.response.body) else {
                return end.proceed();
            };
            if !end.response.status.is_success() {
                return end.proceed();
            }
            let shareable = !has_errors(&response) && offer(&response).is_some();
            let fetched = response["data"]["_entities"].as_array().cloned().unwrap_or_default();
            if shareable && fetched.len() == missing.len() {
                for ((_, key, tag), entity) in missing.iter().zip(&fetched) {
                    // An entity whose key is not known is not cached: nothing could drop it.
                    if let Some(tag) = tag {
                        let body = bytes::Bytes::from(entity.to_string());
                        store.put(*key, body, vec![tag.clone()], since);
                    }
                }
            }
            if found.iter().all(Option::is_none) {
                return end.proceed();
            }
            // Put the answer back together in the order asked; an error's path points
            // into the shorter list that was sent, so it is pointed back.
            let mut fetched = fetched.into_iter();
            let mut position = Vec::with_capacity(missing.len());
            let entities: Vec<Value> = found
                .into_iter()
                .enumerate()
                .map(|(index, entity)| match entity {
                    Some(stored) => serde_json::from_slice(&stored).unwrap_or_default(),
                    None => {
                        position.push(index);
                        fetched.next().unwrap_or_default()
                    }
                })
                .collect();
            if let Some(errors) = response.get_mut("errors").and_then(Value::as_array_mut) {
                for error in errors {
                    if let Some(path) = error.get_mut("path").and_then(Value::as_array_mut)
                        && path.first().and_then(Value::as_str) == Some("_entities")
                        && let Some(sent) = path.get(1).and_then(Value::as_u64)
                        && let Some(asked) = position.get(sent as usize)
                    {
                        path[1] = Value::from(*asked);
                    }
                }
            }
            response["data"]["_entities"] = Value::Array(entities);
            end.response.body = bytes::Bytes::from(response.to_string());
            end.proceed()
        })
    }
}

/// Follows each cached subgraph's invalidation stream for as long as the gateway runs.
struct FollowInvalidations {
    subgraphs: Vec<String>,
    configured_urls: BTreeMap<String, String>,
    supergraph: Arc<RwLock<SupergraphFacts>>,
    store: Arc<Store>,
    following: Arc<AtomicUsize>,
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
        futures::future::join_all(followers).await;
    }
}

impl FollowInvalidations {
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
                    self.store.empty();
                    connected = Some(Connected::new(&self.following));
                    tracing::info!(subgraph, "following the invalidation stream");
                }
                self.apply(subgraph, &line);
            }
        }
    }

    fn apply(&self, subgraph: &str, line: &[u8]) {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Invalidation {
            #[serde(default)]
            tags: Vec<String>,
            occurred_at: Option<chrono::DateTime<chrono::Utc>>,
        }
        let Ok(invalidation) = serde_json::from_slice::<Invalidation>(line) else {
            tracing::warn!(subgraph, "an invalidation that does not parse; everything is dropped");
            self.store.empty();
            return;
        };
        if invalidation.tags.is_empty() {
            return; // a heartbeat
        }
        self.store.drop_tags(&invalidation.tags);
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
