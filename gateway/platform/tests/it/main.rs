//! End-to-end tests: real subgraphs on free ports, the real gateway binary (Hive
//! Router with our configuration) in its own process, real HTTP.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod addresses;
mod cache;
mod cancellation;
mod checkout;
mod console;
mod crash;
mod dead_letters;
mod emails;
mod event_contracts;
mod flash_sale;
mod gateway;
mod processes;
// The platform of processes, shared with benches/processes.rs.
#[path = "../support/platform_of_processes.rs"]
mod platform_of_processes;
mod returns;
mod schema;
mod search;
mod security;
mod services;
mod shop;
mod subscriptions;
mod tax;
mod traces;
mod webhooks;
mod websocket;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::IntoResponse;
use kernel_infra::CancellationToken;
use kernel_infra::testing::TestDatabase;
use platform::Contexts;
pub use platform_of_processes::{POSTGRES_PLATFORMS, admin_token, free_port, spawn_gateway, wait_until_ready};
use serde_json::json;

/// The tests that load the machine on their own (the flash sale's burst of checkouts,
/// the cluster of replicas behind HAProxy) take turns: run at once on two cores, one's
/// gateway dropped the other's connections.
pub static HEAVY: std::sync::LazyLock<tokio::sync::Mutex<()>> =
    std::sync::LazyLock::new(|| tokio::sync::Mutex::new(()));

/// Request bodies a subgraph received.
pub type Recorded = Arc<Mutex<Vec<String>>>;

/// How a subgraph answers an operation a test takes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outage {
    /// 503, as while it is down: the caller may retry.
    Unavailable,
    /// A CONFLICT error, as when it refuses the command for good.
    Refused,
}

/// Operations (by name) that the subgraphs answer as if down for them, or refuse: a
/// test takes one out to hold a saga at the step that sends it, and puts it back.
#[derive(Clone, Default)]
pub struct Outages(Arc<Mutex<std::collections::BTreeMap<String, Outage>>>);

impl Outages {
    /// `operation` is answered 503 until [`Outages::end`].
    pub fn start(&self, operation: &str) {
        self.0.lock().unwrap().insert(operation.to_owned(), Outage::Unavailable);
    }

    /// `operation` is refused (CONFLICT) until [`Outages::end`].
    pub fn refuse(&self, operation: &str) {
        self.0.lock().unwrap().insert(operation.to_owned(), Outage::Refused);
    }

    pub fn end(&self, operation: &str) {
        self.0.lock().unwrap().remove(operation);
    }

    fn covering(&self, body: &str) -> Option<Outage> {
        let out = self.0.lock().unwrap();
        if out.is_empty() {
            return None;
        }
        // Our services send a named operation's text (frontend-contracts/services/).
        let request = serde_json::from_str::<serde_json::Value>(body).ok()?;
        let query = request["query"].as_str().unwrap_or_default();
        out.iter()
            .find(|(name, _)| {
                request["operationName"] == name.as_str()
                    || ["query", "mutation"].iter().any(|kind| {
                        query.contains(&format!("{kind} {name}(")) || query.contains(&format!("{kind} {name} "))
                    })
            })
            .map(|(_, outage)| *outage)
    }
}

async fn unless_out(State(outages): State<Outages>, request: Request, next: Next) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    match outages.covering(&String::from_utf8_lossy(&bytes)) {
        Some(Outage::Unavailable) => {
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down for this operation").into_response()
        }
        Some(Outage::Refused) => axum::Json(serde_json::json!({
            "data": null,
            "errors": [{ "message": "refused by the test", "extensions": { "code": "CONFLICT" } }],
        }))
        .into_response(),
        None => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    }
}

pub struct TestPlatform {
    pub url: String,
    /// The gateway's metrics port, apart from the clients'.
    pub metrics_url: String,
    /// Each context's database URL, by context name.
    urls: platform::PerContext,
    pub contexts: Contexts,
    /// Each subgraph's `/graphql` URL, by context name.
    pub endpoints: platform::PerContext,
    /// Every request body the Inventory subgraph received.
    pub inventory_requests: Recorded,
    /// Every request body the Orders subgraph received.
    pub orders_requests: Recorded,
    /// What the subgraphs are down for, or refuse.
    pub outages: Outages,
    client: reqwest::Client,
    gateway: tokio::process::Child,
    shutdown: CancellationToken,
    databases: Vec<TestDatabase>,
    dir: std::path::PathBuf,
    _postgres_turn: Option<std::sync::MutexGuard<'static, ()>>,
}

async fn record(State(recorded): State<Recorded>, request: Request, next: Next) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    recorded
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&bytes).into_owned());
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Delays every request by `delay`, as a slow or loaded context would.
async fn wait_first(State(delay): State<Duration>, request: Request, next: Next) -> axum::response::Response {
    tokio::time::sleep(delay).await;
    next.run(request).await
}

/// Which database every context of a test platform uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// SQLite, and PostgreSQL when it is reachable (required in CI).
    pub async fn all() -> Vec<Backend> {
        match TestDatabase::postgres().await {
            Some(probe) => {
                probe.remove().await;
                vec![Backend::Sqlite, Backend::Postgres]
            }
            None => vec![Backend::Sqlite],
        }
    }
}

/// Background jobs fast enough for tests: the carrier moves every 200 ms, stuck
/// sagas are resumed after half a second, a failed webhook is retried after 200 ms
/// (five times), and webhooks may call this machine.
pub fn fast_jobs() -> kernel_infra::config::Config {
    let mut config = platform::default_config();
    config.set("shipping", "carrier_step_seconds", json!(0.2));
    config.set("checkout", "lease_seconds", json!(5.0));
    config.set("checkout", "resume_after_seconds", json!(0.5));
    config.set(
        "notifications",
        "webhook_retry_seconds",
        json!([0.2, 0.2, 0.2, 0.2, 0.2]),
    );
    config.set("notifications", "webhook_allow_private_targets", json!(true));
    config.set("notifications", "webhook_timeout_seconds", json!(5.0));
    config.set("notifications", "webhook_lease_seconds", json!(10.0));
    config
}

impl TestPlatform {
    pub async fn start() -> Self {
        Self::start_with(Backend::Sqlite, fast_jobs()).await
    }

    pub async fn start_with(backend: Backend, jobs: kernel_infra::config::Config) -> Self {
        Self::start_slowed(backend, jobs, None).await
    }

    /// A platform on which every request to the context `slow.0` waits `slow.1` first.
    pub async fn start_slowed(
        backend: Backend,
        jobs: kernel_infra::config::Config,
        slow: Option<(&'static str, Duration)>,
    ) -> Self {
        Self::start_full(backend, jobs, slow, &GatewaySetup::default()).await
    }

    /// A platform whose gateway is set up by `gateway` (its configuration edited, its
    /// environment added to).
    pub async fn start_with_gateway(gateway: &GatewaySetup) -> Self {
        Self::start_full(Backend::Sqlite, fast_jobs(), None, gateway).await
    }

    async fn start_full(
        backend: Backend,
        mut jobs: kernel_infra::config::Config,
        slow: Option<(&'static str, Duration)>,
        setup: &GatewaySetup,
    ) -> Self {
        // PostgreSQL allows 100 connections: one platform on it at a time, with small
        // pools (10 contexts × 4, and a checkout process of the crash test).
        let postgres_turn = (backend == Backend::Postgres).then(|| {
            POSTGRES_PLATFORMS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        });
        let dir = std::env::temp_dir().join(format!("gateway-test-{}", uuid::Uuid::now_v7().simple()));
        // What the contexts keep outside their databases (customers' e-mails) goes with
        // the rest of the test's files.
        jobs.set_data_dir(&dir.join("data"));
        let mut databases = Vec::new();
        let mut urls = platform::PerContext::new();
        for name in platform::CONTEXTS.map(|spec| spec.name) {
            let database = match backend {
                Backend::Sqlite => TestDatabase::sqlite(),
                Backend::Postgres => TestDatabase::postgres().await.expect("PostgreSQL is reachable"),
            };
            let url = match backend {
                Backend::Sqlite => database.url.clone(),
                Backend::Postgres => format!("{}?max_connections=4", database.url),
            };
            jobs.place(name, &url);
            urls.insert(name.into(), url);
            databases.push(database);
        }
        let shutdown = CancellationToken::new();
        let inventory_requests = Recorded::default();
        let orders_requests = Recorded::default();
        let (inventory_recorded, orders_recorded) = (inventory_requests.clone(), orders_requests.clone());
        let outages = Outages::default();
        let out = outages.clone();
        let wrap = move |name: &str, router: axum::Router| {
            let router = match slow {
                Some((context, delay)) if context == name => {
                    router.layer(axum::middleware::from_fn_with_state(delay, wait_first))
                }
                _ => router,
            };
            let router = router.layer(axum::middleware::from_fn_with_state(out.clone(), unless_out));
            match name {
                "inventory" => router.layer(axum::middleware::from_fn_with_state(inventory_recorded.clone(), record)),
                "orders" => router.layer(axum::middleware::from_fn_with_state(orders_recorded.clone(), record)),
                _ => router,
            }
        };
        let running = platform::start(&jobs, &shutdown, &wrap).await.unwrap();
        let (gateway, url, metrics_url) =
            spawn_gateway(&dir, &running.endpoints, &|config| setup.edit(config), &setup.env());
        let platform = Self {
            url,
            metrics_url,
            urls,
            contexts: running.contexts,
            endpoints: running.endpoints,
            inventory_requests,
            orders_requests,
            outages,
            client: reqwest::Client::new(),
            gateway,
            shutdown,
            databases,
            dir,
            _postgres_turn: postgres_turn,
        };
        platform.wait_until_ready().await;
        platform
    }

    /// Another replica of every service, on this platform's databases and with `jobs`
    /// (the same Redis bus, for the replicas to share events), behind a gateway of its
    /// own.
    pub async fn start_replica(&self, jobs: &kernel_infra::config::Config) -> Replica {
        let mut config = jobs.clone();
        config.set_data_dir(&self.dir.join("data"));
        for (name, url) in &self.urls {
            config.place(name, url);
        }
        let shutdown = CancellationToken::new();
        let running = platform::start(&config, &shutdown, &|_, router| router).await.unwrap();
        let dir = self
            .dir
            .join(format!("replica-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]));
        let (gateway, url, _) = spawn_gateway(&dir, &running.endpoints, &str::to_owned, &[]);
        wait_until_ready(&self.client, &url).await;
        Replica {
            url,
            contexts: running.contexts,
            shutdown,
            _gateway: gateway,
        }
    }

    /// Every context's database URL.
    pub fn database_urls(&self) -> Vec<String> {
        self.databases.iter().map(|d| d.url.clone()).collect()
    }

    /// Waits for `/readiness`: `/health` answers before the supergraph is loaded.
    async fn wait_until_ready(&self) {
        wait_until_ready(&self.client, &self.url).await;
    }

    /// A second gateway over the same subgraphs, its configuration edited by `edit` and
    /// with `env` added: for rows that need a production-mode or tightly limited one.
    pub async fn another_gateway(&self, edit: impl Fn(&str) -> String, env: &[(&str, &str)]) -> AnotherGateway {
        let dir = self
            .dir
            .join(format!("gw-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]));
        let (process, url, metrics_url) = spawn_gateway(&dir, &self.endpoints, &edit, env);
        wait_until_ready(&self.client, &url).await;
        AnotherGateway {
            url,
            metrics_url,
            supergraph: dir.join("supergraph.graphql"),
            _process: process,
        }
    }

    /// POSTs an operation to the gateway; returns the status and the JSON body.
    pub async fn post(&self, query: &str, variables: serde_json::Value) -> (u16, serde_json::Value) {
        self.post_as(None, query, variables).await
    }

    /// POSTs an operation with `Authorization: Bearer <token>`.
    pub async fn post_as(
        &self,
        token: Option<&str>,
        query: &str,
        variables: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.try_post_as(token, query, variables).await.unwrap()
    }

    /// [`post_as`](Self::post_as), answering a failed exchange (a connection refused
    /// or reset, an unreadable body) instead of panicking, for a test that retries as a
    /// client does.
    pub async fn try_post_as(
        &self,
        token: Option<&str>,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let mut request = self.client.post(format!("{}/graphql", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .header("accept", "application/graphql-response+json")
            .json(&serde_json::json!({ "query": query, "variables": variables }))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// A token for an ADMIN, signed with the key the subgraphs verify.
    pub fn admin_token(&self) -> String {
        admin_token()
    }

    /// POSTs an operation as an ADMIN.
    pub async fn post_admin(&self, query: &str, variables: serde_json::Value) -> (u16, serde_json::Value) {
        self.post_as(Some(&self.admin_token()), query, variables).await
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let _ = self.gateway.kill().await;
        for database in self.databases {
            database.remove().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A second replica of every service and its gateway; stopped when dropped.
pub struct Replica {
    pub url: String,
    pub contexts: Contexts,
    shutdown: CancellationToken,
    _gateway: tokio::process::Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// How a test's gateway differs from the default: lines added under the response
/// cache's configuration, and environment variables.
#[derive(Default, Clone)]
pub struct GatewaySetup {
    pub response_cache: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl GatewaySetup {
    /// The router configuration `config`, edited.
    pub fn edit(&self, config: &str) -> String {
        let mut edited = config.to_owned();
        assert!(
            self.response_cache.is_empty() || config.contains("      ttl_seconds: 600\n"),
            "the response cache's configuration moved; this edit no longer finds it"
        );
        for line in &self.response_cache {
            edited = edited.replacen(
                "      ttl_seconds: 600\n",
                &format!("      ttl_seconds: 600\n      {line}\n"),
                1,
            );
        }
        edited
    }

    pub fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }
}

/// A gateway started by [`TestPlatform::another_gateway`]; stopped when dropped.
pub struct AnotherGateway {
    pub url: String,
    pub metrics_url: String,
    /// The supergraph file it loads.
    pub supergraph: std::path::PathBuf,
    _process: tokio::process::Child,
}

/// A new Ed25519 key pair (PEM) in `dir`, as docs/operations.md makes them.
pub fn key_pair(dir: &std::path::Path, name: &str) -> (String, String) {
    let (private, public) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")));
    let made = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&private)
        .status()
        .unwrap()
        .success()
        && std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public)
            .status()
            .unwrap()
            .success();
    assert!(made, "openssl makes Ed25519 keys");
    (private.display().to_string(), public.display().to_string())
}
