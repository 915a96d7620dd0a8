//! A cache of subgraph answers that the shop's own events keep true.
//!
//! What may be cached is the subgraphs' word (`kernel_infra::cache`): a query's answer
//! that is public (it carries `extensions.cache = { maxAge, tags }`), kept at most
//! `maxAge` and at most `ttl_seconds`. It is keyed by the subgraph and the request body
//! (query and variables); an `_entities` request is cached per representation (also
//! when the router batched several entity lists into one request), so a page of
//! products finds the ones another page already fetched, and only the missing ones are
//! asked for. Nothing is shared between callers that the subgraph did not call public,
//! and staff (ADMIN) and services are never served from the cache nor stored.
//!
//! The answers are kept in this process, or in Redis when `redis_url`
//! (`RESPONSE_CACHE_REDIS_URL`) is set, shared by every gateway replica ([`store`]).
//!
//! Entries carry tags: an entity's own (`Product:<id>`, from its representation) or
//! those its subgraph named (`Product:<id>`, `Product:list`). Every gateway process
//! follows each cached subgraph's invalidation stream and drops the tags each event
//! names ([`follow`]); a mutation's answer names what it changed (`x-cache-invalidate`),
//! and its tags are dropped (in Redis too) before the gateway answers, so the caller
//! reads its own write through any replica. An entry is checked against the tags
//! dropped since its fetch began, so an answer fetched while its data changed is never
//! stored. While a stream is not followed or the store cannot be reached, the cache is
//! bypassed (the readiness probe's `x-response-cache` header and the metrics say so):
//! what cannot be proved fresh is not served.

mod follow;
mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use hive_router::async_trait;
use hive_router::executor::executors::common::{SubgraphExecutionRequest, SubgraphExecutor, SubgraphExecutorBoxedArc};
use hive_router::executor::executors::error::SubgraphExecutorError;
use hive_router::executor::executors::http::SubgraphHttpResponse;
use hive_router::executor::plugin_context::PluginRequestState;
use hive_router::executor::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::executor::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::executor::plugins::hooks::on_subgraph_execute::{
    OnSubgraphExecuteStartHookPayload, OnSubgraphExecuteStartHookResult,
};
use hive_router::executor::plugins::hooks::on_subgraph_http_request::{
    OnSubgraphHttpRequestHookPayload, OnSubgraphHttpRequestHookResult,
};
use hive_router::executor::plugins::hooks::on_supergraph_load::{
    OnSupergraphLoadStartHookPayload, OnSupergraphLoadStartHookResult,
};
use hive_router::executor::plugins::plugin_trait::{EndHookPayload, RouterPlugin, StartHookPayload};
use hive_router::executor::response::subgraph_response::SubgraphResponse;
use hive_router::graphql_tools::parser::query as q;
use hive_router::graphql_tools::parser::schema as s;
use hive_router::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use hive_router::opentelemetry::KeyValue;
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest;

use self::follow::FollowInvalidations;
use self::store::{Key, Store};
use super::identity::VerifiedIdentity;

/// The header a mutation's answer names the tags it changed in (kernel-infra's).
const INVALIDATE_HEADER: &str = "x-cache-invalidate";
/// The header of the readiness probe's answer that says whether the cache is in use.
const READINESS_HEADER: &str = "x-response-cache";

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
    /// How many answers (entities and root fields) this process keeps at most, when
    /// they are kept in memory.
    #[serde(default = "default_max_entries")]
    pub max_entries: u64,
    /// Keep the answers in this Redis, shared by every gateway replica
    /// (`RESPONSE_CACHE_REDIS_URL` overrides it); unset, in each process's memory.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Before every Redis key of the cache, so several deployments can share a Redis.
    #[serde(default = "default_redis_prefix")]
    pub redis_prefix: String,
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

fn default_redis_prefix() -> String {
    "response-cache:".into()
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
    _store: hive_router::opentelemetry::metrics::ObservableGauge<u64>,
}

/// Hits and lookups of products (the Products subgraph's answers and every
/// subgraph's `Product` entities), for `product_cache_hit_ratio`.
#[derive(Default)]
struct ProductCounts {
    hits: AtomicU64,
    lookups: AtomicU64,
}

pub struct ResponseCache {
    cached: HashSet<String>,
    store: Arc<Store>,
    /// The most an answer is kept.
    ttl: Duration,
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
            let store = self.store.clone();
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
                        "1 while every invalidation stream is followed; 0 while one is not and the cache is bypassed",
                    )
                    .with_callback(move |observer| {
                        let all = following.load(Ordering::SeqCst) as u64 == streams;
                        observer.observe(u64::from(all), &[]);
                    })
                    .build(),
                _store: meter
                    .u64_observable_gauge("gateway_cache_store_available")
                    .with_description(
                        "1 while the cache's store (memory, redis) answers; 0 while it does not and the cache is bypassed",
                    )
                    .with_callback(move |observer| {
                        let kind = KeyValue::new("store", store.kind());
                        observer.observe(u64::from(store.available()), &[kind]);
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

    /// Why the cache is bypassed now, if it is.
    fn bypassed_because(&self) -> Option<&'static str> {
        if self.following.load(Ordering::SeqCst) != self.cached.len() {
            Some("an invalidation stream is not followed")
        } else if !self.store.available() {
            Some("its store does not answer")
        } else {
            None
        }
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
fn key(parts: &[&[u8]]) -> Key {
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut key: Key = [0u8; 16];
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

/// What a subgraph offered for sharing: how long it may be kept (its max age, at most
/// `ttl`) and the tags it named; `None` when it did not offer the answer.
fn offer(response: &Value, ttl: Duration) -> Option<(Duration, Vec<String>)> {
    let cache = response.get("extensions")?.get("cache")?;
    let max_age = cache.get("maxAge")?.as_u64()?;
    if max_age == 0 {
        return None;
    }
    let tags = cache
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| tags.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    Some((Duration::from_secs(max_age).min(ttl), tags))
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
/// One entity list of an `_entities` request: the key its answer is under (`_entities`,
/// or `_e0`, `_e1`… when the router batched several lists into one request) and the
/// variable that holds its representations.
struct EntityList {
    response_key: String,
    variable: String,
}

/// The entity lists of a query made of `_entities` fields only; `None` for any other
/// query (the planner makes no mix of entities and root fields).
fn entity_lists(query: &str) -> Option<Vec<EntityList>> {
    let document = q::parse_query::<String>(query).ok()?;
    let mut operations = document.definitions.iter().filter_map(|definition| match definition {
        q::Definition::Operation(operation) => Some(operation),
        q::Definition::Fragment(_) => None,
    });
    let selection_set = match operations.next()? {
        q::OperationDefinition::Query(query) => &query.selection_set,
        q::OperationDefinition::SelectionSet(selection_set) => selection_set,
        _ => return None,
    };
    selection_set
        .items
        .iter()
        .map(|item| {
            let q::Selection::Field(field) = item else {
                return None;
            };
            if field.name != "_entities" {
                return None;
            }
            let variable = field.arguments.iter().find_map(|(name, value)| match value {
                q::Value::Variable(variable) if name == "representations" => Some(variable.clone()),
                _ => None,
            })?;
            Some(EntityList {
                response_key: field.alias.clone().unwrap_or_else(|| field.name.clone()),
                variable,
            })
        })
        .collect()
}

/// One entity asked for: its list, its place in it, its entry, and its tag (`None`
/// when its type's key is not known: it is not kept, since nothing could drop it).
struct Asked {
    list: usize,
    index: usize,
    key: Key,
    tag: Option<String>,
}

#[async_trait]
impl RouterPlugin for ResponseCache {
    type Config = ResponseCacheConfig;

    fn plugin_name() -> &'static str {
        "response_cache"
    }

    fn on_plugin_init(mut payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config: ResponseCacheConfig = payload.config()?;
        let ttl = Duration::from_secs(config.ttl_seconds.max(1));
        let redis_url = crate::settings::current()
            .map_err(|err| err.to_string())?
            .response_cache_redis_url
            .or(config.redis_url.clone());
        let store = match redis_url {
            Some(url) => Store::redis(&url, &config.redis_prefix, ttl)
                .map_err(|err| format!("response_cache: the Redis URL is not one: {err}"))?,
            None => Store::memory(config.max_entries, ttl),
        };
        let plugin = ResponseCache {
            cached: config.subgraphs.iter().cloned().collect(),
            store: Arc::new(store),
            ttl,
            following: Arc::new(AtomicUsize::new(0)),
            supergraph: Arc::new(RwLock::new(SupergraphFacts::default())),
            products: Arc::new(ProductCounts::default()),
            gauges: OnceLock::new(),
        };
        payload.register_background_task(FollowInvalidations {
            subgraphs: config.subgraphs.clone(),
            configured_urls: config.subgraph_urls.clone(),
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

    /// The readiness probe's answer says whether the cache is in use; the gateway stays
    /// ready either way (it serves from the subgraphs while the cache is bypassed).
    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        use hive_router::ntex::http::header::{HeaderName as NtexName, HeaderValue as NtexValue};
        Box::pin(async move {
            if payload.router_http_request.path() != "/readiness" {
                return payload.proceed();
            }
            let state = match self.bypassed_because() {
                None => format!("in use ({})", self.store.kind()),
                Some(why) => format!("bypassed: {why}"),
            };
            payload.on_end(move |end| {
                end.map_response(|mut response| {
                    if let Ok(value) = NtexValue::from_str(&state) {
                        response
                            .headers_mut()
                            .insert(NtexName::from_static(READINESS_HEADER), value);
                    }
                    response
                })
                .proceed()
            })
        })
    }

    /// A mutation of a cached subgraph drops what it changed before the gateway
    /// answers, so the caller (and everyone after, through any replica) reads the
    /// change: its executor is wrapped to await the drop.
    async fn on_subgraph_execute<'exec>(
        &'exec self,
        mut payload: OnSubgraphExecuteStartHookPayload<'exec>,
    ) -> OnSubgraphExecuteStartHookResult<'exec> {
        if self.cached.contains(payload.subgraph_name) && operation_kind(payload.execution_request.query) == "mutation"
        {
            payload.executor = DropWhatChanged {
                inner: payload.executor.clone(),
                store: self.store.clone(),
                subgraph: payload.subgraph_name.to_owned(),
            }
            .to_boxed_arc();
        }
        payload.proceed()
    }

    async fn on_subgraph_http_request<'exec>(
        &'exec self,
        payload: OnSubgraphHttpRequestHookPayload<'exec>,
    ) -> OnSubgraphHttpRequestHookResult<'exec> {
        let subgraph = payload.subgraph_name.to_owned();
        if !self.cached.contains(&subgraph) || operation_kind(payload.execution_request.query) != "query" {
            return payload.proceed();
        }
        let privileged = payload
            .context
            .get_ref::<VerifiedIdentity>()
            .is_some_and(|identity| identity.role == "ADMIN" || identity.role == "SERVICE");
        if privileged {
            return payload.proceed();
        }
        if self.bypassed_because().is_some() {
            self.count(&subgraph, "any", "bypass");
            return payload.proceed();
        }
        if !payload.execution_request.query.contains("_entities") {
            return self.root_fields(payload, subgraph).await;
        }
        let Some(lists) = entity_lists(payload.execution_request.query) else {
            self.count(&subgraph, "_entities", "uncached");
            return payload.proceed();
        };
        let Ok(request) = serde_json::from_slice::<Value>(&payload.body) else {
            return payload.proceed();
        };
        self.entities(payload, subgraph, request, lists).await
    }
}

impl ResponseCache {
    /// A root-field query: the whole answer is one entry.
    async fn root_fields<'exec>(
        &'exec self,
        payload: OnSubgraphHttpRequestHookPayload<'exec>,
        subgraph: String,
    ) -> OnSubgraphHttpRequestHookResult<'exec> {
        let key = key(&[subgraph.as_bytes(), b"root", &payload.body]);
        let Some(found) = self.store.lookup(&[key]).await else {
            self.count(&subgraph, "Query", "bypass");
            return payload.proceed();
        };
        if let Some(Some(body)) = found.bodies.into_iter().next() {
            self.count(&subgraph, "Query", "hit");
            return payload.end_with_response(json_response(body));
        }
        self.count(&subgraph, "Query", "miss");
        let (store, most, since) = (self.store.clone(), self.ttl, found.since);
        payload.on_end(move |end| {
            if end.response.status.is_success()
                && let Ok(response) = serde_json::from_slice::<Value>(&end.response.body)
                && !has_errors(&response)
                && let Some((ttl, tags)) = offer(&response, most)
            {
                store.put(key, end.response.body.clone(), tags, since, ttl);
            }
            end.proceed()
        })
    }

    /// An `_entities` query (one list, or several batched): one entry per
    /// representation. The ones found are not asked for; the answer is put back
    /// together in the order asked.
    async fn entities<'exec>(
        &'exec self,
        mut payload: OnSubgraphHttpRequestHookPayload<'exec>,
        subgraph: String,
        mut request: Value,
        lists: Vec<EntityList>,
    ) -> OnSubgraphHttpRequestHookResult<'exec> {
        let query = payload.execution_request.query.as_bytes();
        // The variables beside the representations, which any entity's answer may read.
        let mut others = request["variables"].clone();
        if let Some(variables) = others.as_object_mut() {
            for list in &lists {
                variables.remove(&list.variable);
            }
        }
        let others = others.to_string();
        let mut representations: Vec<Vec<Value>> = Vec::with_capacity(lists.len());
        let mut asked: Vec<Asked> = Vec::new();
        for (number, list) in lists.iter().enumerate() {
            let Some(listed) = request["variables"][&list.variable].as_array().cloned() else {
                return payload.proceed();
            };
            for (index, representation) in listed.iter().enumerate() {
                let text = representation.to_string();
                asked.push(Asked {
                    list: number,
                    index,
                    key: key(&[
                        subgraph.as_bytes(),
                        b"entity",
                        query,
                        list.response_key.as_bytes(),
                        others.as_bytes(),
                        text.as_bytes(),
                    ]),
                    tag: self.representation_tag(&subgraph, representation),
                });
            }
            representations.push(listed);
        }
        let keys: Vec<Key> = asked.iter().map(|entity| entity.key).collect();
        let Some(found) = self.store.lookup(&keys).await else {
            self.count(&subgraph, "_entities", "bypass");
            return payload.proceed();
        };
        for (entity, body) in asked.iter().zip(&found.bodies) {
            let kind = representations[entity.list][entity.index]["__typename"]
                .as_str()
                .unwrap_or("?");
            self.count(&subgraph, kind, if body.is_some() { "hit" } else { "miss" });
        }
        if found.bodies.iter().all(Option::is_some) {
            // Every entity found: their stored JSON, spliced into one answer.
            let mut body = br#"{"data":{"#.to_vec();
            for (number, list) in lists.iter().enumerate() {
                if number > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(Value::from(list.response_key.as_str()).to_string().as_bytes());
                body.extend_from_slice(b":[");
                let stored = asked
                    .iter()
                    .zip(&found.bodies)
                    .filter(|(entity, _)| entity.list == number)
                    .filter_map(|(_, body)| body.as_ref());
                for (index, entity) in stored.enumerate() {
                    if index > 0 {
                        body.push(b',');
                    }
                    body.extend_from_slice(entity);
                }
                body.push(b']');
            }
            body.extend_from_slice(b"}}");
            return payload.end_with_response(json_response(bytes::Bytes::from(body)));
        }
        let any_found = found.bodies.iter().any(Option::is_some);
        if any_found {
            // Only the missing ones are asked for (a list with none missing, empty).
            for (number, list) in lists.iter().enumerate() {
                let missing: Vec<Value> = asked
                    .iter()
                    .zip(&found.bodies)
                    .filter(|(entity, body)| entity.list == number && body.is_none())
                    .map(|(entity, _)| representations[number][entity.index].clone())
                    .collect();
                request["variables"][&list.variable] = Value::Array(missing);
            }
            payload.body = request.to_string().into_bytes();
        }
        let (store, most, since) = (self.store.clone(), self.ttl, found.since);
        let bodies = found.bodies;
        payload.on_end(move |mut end| {
            if !end.response.status.is_success() {
                return end.proceed();
            }
            let Ok(mut response) = serde_json::from_slice::<Value>(&end.response.body) else {
                return end.proceed();
            };
            let offered = if has_errors(&response) {
                None
            } else {
                offer(&response, most)
            };
            let mut fetched: Vec<Vec<Value>> = lists
                .iter()
                .map(|list| {
                    response["data"][&list.response_key]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            // Per list, the entities that were asked for, in the order sent.
            let sent: Vec<Vec<&Asked>> = (0..lists.len())
                .map(|number| {
                    asked
                        .iter()
                        .zip(&bodies)
                        .filter(|(entity, body)| entity.list == number && body.is_none())
                        .map(|(entity, _)| entity)
                        .collect()
                })
                .collect();
            if let Some((ttl, _)) = offered {
                for (number, entities) in fetched.iter().enumerate() {
                    if entities.len() != sent[number].len() {
                        continue;
                    }
                    for (entity, answer) in sent[number].iter().zip(entities) {
                        if let Some(tag) = &entity.tag {
                            let body = bytes::Bytes::from(answer.to_string());
                            store.put(entity.key, body, vec![tag.clone()], since, ttl);
                        }
                    }
                }
            }
            if !any_found || !response["data"].is_object() {
                return end.proceed();
            }
            // Put each list back together in the order asked; an error's path points
            // into the shorter list that was sent, so it is pointed back.
            for (number, list) in lists.iter().enumerate() {
                let mut answers = std::mem::take(&mut fetched[number]).into_iter();
                let entities: Vec<Value> = asked
                    .iter()
                    .zip(&bodies)
                    .filter(|(entity, _)| entity.list == number)
                    .map(|(_, body)| match body {
                        Some(stored) => serde_json::from_slice(stored).unwrap_or_default(),
                        None => answers.next().unwrap_or_default(),
                    })
                    .collect();
                if let Some(errors) = response.get_mut("errors").and_then(Value::as_array_mut) {
                    for error in errors {
                        if let Some(path) = error.get_mut("path").and_then(Value::as_array_mut)
                            && path.first().and_then(Value::as_str) == Some(list.response_key.as_str())
                            && let Some(position) = path.get(1).and_then(Value::as_u64)
                            && let Some(entity) = sent[number].get(position as usize)
                        {
                            path[1] = Value::from(entity.index);
                        }
                    }
                }
                response["data"][&list.response_key] = Value::Array(entities);
            }
            end.response.body = bytes::Bytes::from(response.to_string());
            end.proceed()
        })
    }
}

/// A mutation's executor that drops the tags its answer names before it returns.
struct DropWhatChanged {
    inner: SubgraphExecutorBoxedArc,
    store: Arc<Store>,
    subgraph: String,
}

#[async_trait]
impl SubgraphExecutor for DropWhatChanged {
    fn executor_name(&self) -> &str {
        self.inner.executor_name()
    }

    fn endpoint(&self) -> &Uri {
        self.inner.endpoint()
    }

    async fn execute<'a>(
        &self,
        execution_request: SubgraphExecutionRequest<'a>,
        timeout: Option<Duration>,
        plugin_req_state: Option<&'a PluginRequestState<'a>>,
    ) -> Result<SubgraphResponse<'static>, SubgraphExecutorError> {
        let response = self.inner.execute(execution_request, timeout, plugin_req_state).await?;
        let tags = response.headers.as_deref().map(invalidated_by).unwrap_or_default();
        if !tags.is_empty() {
            self.store.drop_tags(&tags).await;
            count_invalidations(&self.subgraph, &tags, "mutation");
        }
        Ok(response)
    }

    async fn subscribe<'a>(
        &self,
        execution_request: SubgraphExecutionRequest<'a>,
        timeout: Option<Duration>,
    ) -> Result<
        futures::stream::BoxStream<'static, Result<SubgraphResponse<'static>, SubgraphExecutorError>>,
        SubgraphExecutorError,
    > {
        self.inner.subscribe(execution_request, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_lists_are_found_one_or_batched() {
        let one = entity_lists("query($representations:[_Any!]!){_entities(representations: $representations){...on Product{inventory{available}}}}").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            (one[0].response_key.as_str(), one[0].variable.as_str()),
            ("_entities", "representations")
        );

        let batched = entity_lists("query($__batch_reps_0:[_Any!]!, $__batch_reps_1:[_Any!]!){_e0: _entities(representations: $__batch_reps_0){...on Product{inventory{available}}} _e1: _entities(representations: $__batch_reps_1){...on Variant{inventory{available}}}}").unwrap();
        let found: Vec<(&str, &str)> = batched
            .iter()
            .map(|list| (list.response_key.as_str(), list.variable.as_str()))
            .collect();
        assert_eq!(found, [("_e0", "__batch_reps_0"), ("_e1", "__batch_reps_1")]);
    }

    #[test]
    fn other_queries_have_no_entity_lists() {
        for query in [
            "{ products(first: 2) { edges { node { id } } } }",
            "query($r:[_Any!]!){_entities(representations: $r){__typename} products(first: 1){edges{node{id}}}}",
            "query{_entities(representations: [{__typename: \"Product\", id: \"1\"}]){__typename}}",
            "mutation($r:[_Any!]!){_entities(representations: $r){__typename}}",
            "not graphql {",
        ] {
            assert!(entity_lists(query).is_none(), "{query}");
        }
    }

    #[test]
    fn an_offer_is_kept_at_most_the_ttl_or_its_max_age() {
        let ttl = Duration::from_secs(600);
        let offered = |max_age: u64| {
            offer(
                &serde_json::json!({ "data": {}, "extensions": { "cache": { "maxAge": max_age, "tags": ["Product:1"] } } }),
                ttl,
            )
        };
        assert_eq!(
            offered(60),
            Some((Duration::from_secs(60), vec!["Product:1".to_owned()]))
        );
        assert_eq!(offered(3600), Some((ttl, vec!["Product:1".to_owned()])));
        assert_eq!(offered(0), None);
        assert_eq!(offer(&serde_json::json!({ "data": {} }), ttl), None);
    }
}
