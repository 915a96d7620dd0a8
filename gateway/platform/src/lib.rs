//! The platform launcher: every bounded context in one process, wired to one
//! in-process event bus, with their relays and background jobs, and the gateway.
//!
//! `cargo run --release` at the workspace root runs [`main`](../main.rs); tests use the
//! same [`start`] to run a real platform on free ports.

// ntex's middleware types are deep; release builds need more than the default 128.
#![recursion_limit = "256"]

pub mod deploy;
pub mod schema_files;
pub mod seed;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use accounts_service::Accounts;
use cart_service::Cart;
use checkout_service::Checkout;
use coupons_service::Coupons;
use inventory_service::Inventory;
use kernel_infra::CancellationToken;
use kernel_infra::bus::EventBus;
use kernel_infra::config::Config;
use kernel_infra::context::{Context, ContextSpec, downcast};
use kernel_infra::identity::KeyUse;
use kernel_infra::service;
use notifications_service::Notifications;
use orders_service::Orders;
use payments_service::Payments;
use products_service::Products;
use search_service::Search;
use shipping_service::Shipping;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Every context of the platform, as each describes itself.
pub const CONTEXTS: [ContextSpec; 11] = [
    products_service::CONTEXT,
    inventory_service::CONTEXT,
    accounts_service::CONTEXT,
    coupons_service::CONTEXT,
    orders_service::CONTEXT,
    payments_service::CONTEXT,
    shipping_service::CONTEXT,
    cart_service::CONTEXT,
    checkout_service::CONTEXT,
    search_service::CONTEXT,
    notifications_service::CONTEXT,
];

/// The context called `name`.
pub fn context(name: &str) -> Option<&'static ContextSpec> {
    CONTEXTS.iter().find(|spec| spec.name == name)
}

/// A value per context, by context name.
pub type PerContext = BTreeMap<String, String>;

/// The platform's configuration: defaults, then `file`, then the environment.
///
/// # Errors
/// When a key is unknown or a value does not parse (the message names the key).
pub fn load_config(file: Option<&Path>) -> anyhow::Result<Config> {
    Ok(Config::load(&CONTEXTS, file)?)
}

/// The gateway's keys and stores, from the configuration (in production, every key
/// the gateway needs and lacks is named).
///
/// # Errors
/// As [`kernel_infra::identity::KeyMaterial::load`].
pub fn gateway_settings(config: &Config) -> anyhow::Result<gateway::settings::Settings> {
    let common = &config.common;
    let keys = kernel_infra::identity::KeyMaterial::load(common, &[KeyUse::Gateway])?;
    Ok(gateway::settings::Settings {
        production: keys.production,
        jwt_secret: keys.jwt_secret,
        jwt_public_pem: keys.jwt_public_pem,
        jwks_url: keys.jwks_url,
        assertion_private_pem: keys.gateway_private_pem,
        apq_redis_url: common.apq.redis_url.clone(),
        rate_limit_redis_url: common.rate_limit.redis_url.clone(),
        response_cache_redis_url: common.response_cache.redis_url.clone(),
        trusted_documents_dir: common.trusted_documents.dir.clone(),
    })
}

/// The defaults alone, ignoring the environment: for tests.
///
/// # Panics
/// Never: the defaults always load.
pub fn default_config() -> Config {
    Config::load_from(&CONTEXTS, None, std::iter::empty()).expect("the defaults load")
}

/// Typed handles of the opened contexts (for seeding and tests), and the bus.
#[derive(Clone)]
pub struct Contexts {
    pub products: Products,
    pub inventory: Inventory,
    pub accounts: Accounts,
    pub coupons: Coupons,
    pub orders: Orders,
    pub payments: Payments,
    pub shipping: Shipping,
    pub cart: Cart,
    pub checkout: Checkout,
    pub search: Search,
    pub notifications: Notifications,
    pub bus: Arc<dyn EventBus>,
}

impl Contexts {
    fn of(opened: &BTreeMap<&str, Arc<dyn Context>>, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        fn get<T: Clone + 'static>(opened: &BTreeMap<&str, Arc<dyn Context>>, name: &str) -> anyhow::Result<T> {
            opened
                .get(name)
                .and_then(|context| downcast::<T>(context.as_ref()))
                .ok_or_else(|| anyhow::anyhow!("the context {name} is not open"))
        }
        Ok(Self {
            products: get(opened, "products")?,
            inventory: get(opened, "inventory")?,
            accounts: get(opened, "accounts")?,
            coupons: get(opened, "coupons")?,
            orders: get(opened, "orders")?,
            payments: get(opened, "payments")?,
            shipping: get(opened, "shipping")?,
            cart: get(opened, "cart")?,
            checkout: get(opened, "checkout")?,
            search: get(opened, "search")?,
            notifications: get(opened, "notifications")?,
            bus,
        })
    }
}

/// A started platform: its contexts, where each subgraph listens, and its tasks.
pub struct Running {
    pub contexts: Contexts,
    /// Each subgraph's `/graphql` URL, by context name.
    pub endpoints: PerContext,
    pub tasks: Vec<JoinHandle<()>>,
}

/// Runs every context in this process: binds each subgraph's address (so each knows
/// where the others are), opens (migrates) every context, serves them, subscribes
/// their consumers to one bus and starts their relays and jobs, until `shutdown`.
///
/// `wrap` may add layers to a subgraph's router (tests record requests with it).
///
/// # Errors
/// When a database cannot be opened or migrated, or an address cannot be bound.
pub async fn start(
    config: &Config,
    shutdown: &CancellationToken,
    wrap: &dyn Fn(&str, axum::Router) -> axum::Router,
) -> anyhow::Result<Running> {
    // One process runs every context and starts the gateway: it needs every key.
    let mut uses: Vec<KeyUse> = CONTEXTS.iter().flat_map(ContextSpec::key_uses).collect();
    uses.push(KeyUse::Gateway);
    kernel_infra::identity::install(&config.common, &uses)?;
    kernel_infra::throttle::install(&config.common);
    let mut listeners = Vec::new();
    let mut endpoints = PerContext::new();
    for spec in &CONTEXTS {
        let listen = &config.context(spec.name)?.listen;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|err| anyhow::anyhow!("binding {listen} for {}: {err}", spec.name))?;
        endpoints.insert(
            spec.name.to_owned(),
            format!("http://{}/graphql", listener.local_addr()?),
        );
        listeners.push(listener);
    }
    let mut opened = BTreeMap::new();
    let mut tasks = Vec::new();
    for (spec, listener) in CONTEXTS.iter().zip(listeners) {
        let context = service::open(spec, config.context(spec.name)?, endpoints.clone()).await?;
        tasks.push(service::serve_on(listener, wrap(spec.name, context.router()), shutdown));
        opened.insert(spec.name, context);
    }
    let bus = service::connect_bus(&config.common).await?;
    let stopping = bus.clone();
    let stop = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        stop.cancelled().await;
        stopping.shutdown().await;
    }));
    for context in opened.values() {
        service::subscribe(context.as_ref(), bus.as_ref()).await?;
    }
    for context in opened.values() {
        tasks.extend(service::start_background(context.as_ref(), bus.clone(), shutdown));
    }
    Ok(Running {
        contexts: Contexts::of(&opened, bus)?,
        endpoints,
        tasks,
    })
}

/// Replays Search's read models from the outboxes of Products and Orders (the retained
/// event log) and compares them with the live view; with `rebuild`, rebuilds it in place.
///
/// # Errors
/// When a database cannot be opened or read.
pub async fn replay_search(
    config: &Config,
    data_dir: &Path,
    rebuild: Option<search_service::replay::Rebuild<'_>>,
) -> anyhow::Result<search_service::replay::Parity> {
    let search = Search::open(&config.context("search")?.database_url).await?;
    let mut logs = Vec::new();
    for producer in ["products", "orders"] {
        logs.push(kernel_infra::db::connect(&config.context(producer)?.database_url).await?);
    }
    std::fs::create_dir_all(data_dir)?;
    search_service::replay::replay(&search.db, &logs, data_dir, rebuild).await
}

/// The supergraph for subgraphs listening at these URLs (by context name), composed
/// from the code's SDL.
///
/// # Errors
/// When a context has no URL or the subgraphs do not compose.
pub fn supergraph(endpoints: &PerContext) -> anyhow::Result<String> {
    Ok(gateway::compose::compose(&schema_files::subgraphs(endpoints)?)?)
}

/// Writes the gateway's files (configuration and supergraph) under `dir` and returns
/// the environment for a gateway process that uses them, serving clients on `port` and
/// its metrics on `metrics_port` (0: any free port).
///
/// # Errors
/// When the files cannot be written.
pub fn gateway_env(
    dir: &Path,
    supergraph: &str,
    port: u16,
    metrics_port: u16,
) -> anyhow::Result<Vec<(String, String)>> {
    std::fs::create_dir_all(dir)?;
    // The folder holds the identity coprocessor's socket: this user's alone.
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let config = dir.join("router.config.yaml");
    let supergraph_path = dir.join("supergraph.graphql");
    // Each gateway serves its identity coprocessor on a socket of its own, beside its
    // files; a Unix socket's path must stay short (108 bytes), else it goes in a
    // private folder of its own under /tmp.
    let socket = std::path::absolute(dir.join("identity.sock"))
        .ok()
        .filter(|path| path.as_os_str().len() < 100)
        .unwrap_or_else(|| {
            std::env::temp_dir()
                .join(format!("ecommerce-gateway-{port}"))
                .join("identity.sock")
        });
    const METRICS_PORT_LINE: &str = "        port: 9464\n";
    let template = include_str!("../../router.config.yaml");
    anyhow::ensure!(
        template.matches(METRICS_PORT_LINE).count() == 1,
        "router.config.yaml: the Prometheus exporter's `port: 9464` line is where the launcher sets the metrics port"
    );
    std::fs::write(
        &config,
        template
            .replace("/tmp/ecommerce-gateway/identity.sock", &socket.display().to_string())
            .replace(METRICS_PORT_LINE, &format!("        port: {metrics_port}\n")),
    )?;
    std::fs::write(&supergraph_path, supergraph)?;
    let absolute = |path: PathBuf| std::path::absolute(&path).unwrap_or(path).display().to_string();
    Ok(vec![
        ("ROUTER_CONFIG_FILE_PATH".into(), absolute(config)),
        ("SUPERGRAPH_FILE_PATH".into(), absolute(supergraph_path)),
        ("PORT".into(), port.to_string()),
        ("TRUSTED_DOCUMENTS_DIR".into(), manifests_dir()),
    ])
}

/// The persisted-operation manifests of frontend-contracts/: `TRUSTED_DOCUMENTS_DIR`
/// when set, else the ones in this source tree.
fn manifests_dir() -> String {
    std::env::var("TRUSTED_DOCUMENTS_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../frontend-contracts/manifests").to_owned())
}
