//! The platform launcher: every bounded context in one process, wired to one
//! in-process event bus, with their relays and background jobs, and the gateway.
//!
//! `cargo run --release` at the workspace root runs [`main`](../main.rs); tests use the
//! same [`start`] to run a real platform on free ports.

// ntex's middleware types are deep; release builds need more than the default 128.
#![recursion_limit = "256"]

pub mod schema_files;
pub mod seed;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use accounts_service::Accounts;
use cart_service::Cart;
use checkout_service::{Checkout, RemoteUrls, SagaSettings};
use coupons_service::Coupons;
use inventory_service::Inventory;
use kernel_infra::CancellationToken;
use kernel_infra::bus::{EventBus, InProcessBus};
use kernel_infra::redis_bus::{RedisBusSettings, RedisStreamsBus};
use notifications_service::{Notifications, WebhookSettings};
use orders_service::Orders;
use payments_service::Payments;
use products_service::Products;
use search_service::Search;
use shipping_service::Shipping;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Every context, with its default port (4001…) and SQLite file.
pub const CONTEXTS: [(&str, u16); 11] = [
    ("products", 4001),
    ("inventory", 4002),
    ("accounts", 4003),
    ("coupons", 4004),
    ("orders", 4005),
    ("payments", 4006),
    ("shipping", 4007),
    ("cart", 4008),
    ("checkout", 4009),
    ("search", 4010),
    ("notifications", 4011),
];

/// A value per context, by context name.
pub type PerContext = BTreeMap<String, String>;

/// Where each context keeps its data and listens. Read from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_urls: PerContext,
    pub listen: PerContext,
    pub gateway_port: u16,
    pub data_dir: PathBuf,
    pub jobs: JobSettings,
}

impl Settings {
    /// Defaults (SQLite files under ./data, ports 4000-4011) overridden by
    /// `<CONTEXT>_DATABASE_URL`, `<CONTEXT>_LISTEN`, `GATEWAY_PORT` and `DATA_DIR`.
    ///
    /// # Errors
    /// When `GATEWAY_PORT` is not a port number.
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str, default: String| std::env::var(name).unwrap_or(default);
        let mut database_urls = PerContext::new();
        let mut listen = PerContext::new();
        for (name, port) in CONTEXTS {
            let upper = name.to_ascii_uppercase();
            database_urls.insert(
                name.into(),
                var(&format!("{upper}_DATABASE_URL"), format!("sqlite://data/{name}.db")),
            );
            listen.insert(
                name.into(),
                var(&format!("{upper}_LISTEN"), format!("127.0.0.1:{port}")),
            );
        }
        Ok(Self {
            database_urls,
            listen,
            gateway_port: var("GATEWAY_PORT", "4000".into())
                .parse()
                .map_err(|_| anyhow::anyhow!("GATEWAY_PORT must be a port number"))?,
            data_dir: PathBuf::from(var("DATA_DIR", "data".into())),
            jobs: JobSettings::from_env(),
        })
    }
}

/// How the background work behaves: the jobs, and the bus the relays publish to and
/// the consumers read from.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Unpaid orders are canceled this long after they were placed.
    pub unpaid_order_timeout: chrono::Duration,
    /// Idle carts expire after this long.
    pub cart_idle_timeout: chrono::Duration,
    /// The simulated carrier's time per step.
    pub carrier_step: Duration,
    pub saga: SagaSettings,
    /// Redis Streams when set, so several replicas share the events; else the
    /// in-process bus of one process.
    pub redis_bus: Option<RedisBusSettings>,
    /// Partner webhooks: retry schedule, allowed targets, timeout.
    pub webhooks: WebhookSettings,
}

impl JobSettings {
    /// `ORDERS_UNPAID_TIMEOUT_SECONDS` (1800), `CART_IDLE_TIMEOUT_SECONDS` (7 days),
    /// `SHIPPING_CARRIER_STEP_SECONDS` (20), the saga's `CHECKOUT_*` settings, and
    /// `EVENT_BUS_REDIS_URL` (unset: the in-process bus) with `EVENT_BUS_SHARDS` (8),
    /// and the `WEBHOOK_*` settings.
    pub fn from_env() -> Self {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(default)
        };
        Self {
            unpaid_order_timeout: chrono::Duration::seconds(number("ORDERS_UNPAID_TIMEOUT_SECONDS", 1800) as i64),
            cart_idle_timeout: chrono::Duration::seconds(number("CART_IDLE_TIMEOUT_SECONDS", 7 * 24 * 3600) as i64),
            carrier_step: Duration::from_secs(number("SHIPPING_CARRIER_STEP_SECONDS", 20)),
            saga: SagaSettings::from_env(),
            redis_bus: std::env::var("EVENT_BUS_REDIS_URL").ok().map(|url| {
                let defaults = RedisBusSettings::new(&url);
                RedisBusSettings {
                    shards: u32::try_from(number("EVENT_BUS_SHARDS", u64::from(defaults.shards))).unwrap_or(8),
                    ..defaults
                }
            }),
            webhooks: WebhookSettings::from_env(),
        }
    }
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            unpaid_order_timeout: chrono::Duration::minutes(30),
            cart_idle_timeout: chrono::Duration::days(7),
            carrier_step: Duration::from_secs(20),
            saga: SagaSettings::default(),
            redis_bus: None,
            webhooks: WebhookSettings::default(),
        }
    }
}

/// The bounded contexts, opened (migrated), serving, and wired to one bus.
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

/// A started platform: its contexts, where each subgraph listens, and its tasks.
pub struct Running {
    pub contexts: Contexts,
    /// Each subgraph's `/graphql` URL, by context name.
    pub endpoints: PerContext,
    pub tasks: Vec<JoinHandle<()>>,
}

/// Opens every context's database, serves every subgraph, subscribes the consumers
/// and starts the relays and background jobs, until `shutdown`.
///
/// `wrap` may add layers to a subgraph's router (tests record requests with it).
///
/// # Errors
/// When a database cannot be opened or migrated, or an address cannot be bound.
pub async fn start(
    database_urls: &PerContext,
    listen: &PerContext,
    jobs: &JobSettings,
    shutdown: &CancellationToken,
    wrap: &dyn Fn(&str, axum::Router) -> axum::Router,
) -> anyhow::Result<Running> {
    let url = |name: &str| {
        database_urls
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no database URL for {name}"))
    };
    let products = Products::open(&url("products")?).await?;
    let inventory = Inventory::open(&url("inventory")?).await?;
    let accounts = Accounts::open(&url("accounts")?).await?;
    let coupons = Coupons::open(&url("coupons")?).await?;
    let orders = Orders::open(&url("orders")?).await?;
    let payments = Payments::open(&url("payments")?).await?;
    let shipping = Shipping::open_with_step(&url("shipping")?, jobs.carrier_step).await?;
    let cart = Cart::open(&url("cart")?).await?;

    let mut tasks = Vec::new();
    let mut endpoints = PerContext::new();
    let mut serve_one = async |name: &str, router: axum::Router| -> anyhow::Result<String> {
        let listen_at = listen.get(name).map_or("127.0.0.1:0", String::as_str);
        let (address, task) = serve(wrap(name, router), listen_at, shutdown).await?;
        tasks.push(task);
        let endpoint = format!("http://{address}/graphql");
        endpoints.insert(name.to_owned(), endpoint.clone());
        Ok(endpoint)
    };
    let remotes = RemoteUrls {
        products: serve_one("products", products.router()).await?,
        inventory: serve_one("inventory", inventory.router()).await?,
        coupons: serve_one("coupons", coupons.router()).await?,
        orders: serve_one("orders", orders.router()).await?,
        payments: serve_one("payments", payments.router()).await?,
        cart: serve_one("cart", cart.router()).await?,
    };
    serve_one("accounts", accounts.router()).await?;
    serve_one("shipping", shipping.router()).await?;
    let checkout = Checkout::open(&url("checkout")?, &remotes, jobs.saga.clone()).await?;
    serve_one("checkout", checkout.router()).await?;
    let search = Search::open(&url("search")?).await?;
    serve_one("search", search.router()).await?;
    let notifications = Notifications::open(&url("notifications")?, jobs.webhooks.clone()).await?;
    serve_one("notifications", notifications.router()).await?;

    let bus: Arc<dyn EventBus> = match &jobs.redis_bus {
        Some(settings) => {
            let bus = RedisStreamsBus::connect(settings.clone()).await?;
            let stopping = bus.clone();
            let stop = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                stop.cancelled().await;
                stopping.shutdown().await;
            }));
            bus
        }
        None => InProcessBus::new(),
    };
    products.subscribe(bus.as_ref()).await?;
    inventory.subscribe(bus.as_ref()).await?;
    orders.subscribe(bus.as_ref()).await?;
    shipping.subscribe(bus.as_ref()).await?;
    cart.subscribe(bus.as_ref()).await?;
    search.subscribe(bus.as_ref()).await?;
    notifications.subscribe(bus.as_ref()).await?;
    let contexts = Contexts {
        products,
        inventory,
        accounts,
        coupons,
        orders,
        payments,
        shipping,
        cart,
        checkout,
        search,
        notifications,
        bus,
    };
    tasks.extend(contexts.spawn_background(jobs, shutdown));
    Ok(Running {
        contexts,
        endpoints,
        tasks,
    })
}

impl Contexts {
    /// Starts the outbox relays and the background jobs until `shutdown`.
    fn spawn_background(&self, jobs: &JobSettings, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
        let bus = &self.bus;
        let relays = [
            self.products.relay(bus.clone()),
            self.inventory.relay(bus.clone()),
            self.accounts.relay(bus.clone()),
            self.coupons.relay(bus.clone()),
            self.orders.relay(bus.clone()),
            self.payments.relay(bus.clone()),
            self.shipping.relay(bus.clone()),
            self.cart.relay(bus.clone()),
            self.checkout.relay(bus.clone()),
            self.search.relay(bus.clone()),
            self.notifications.relay(bus.clone()),
        ];
        let mut tasks: Vec<JoinHandle<()>> = relays
            .into_iter()
            .map(|relay| tokio::spawn(relay.run(shutdown.clone())))
            .collect();
        tasks.push(tokio::spawn(
            self.inventory
                .stock
                .clone()
                .run_sweeper(Duration::from_secs(5), shutdown.clone()),
        ));
        tasks.push(tokio::spawn(
            self.products
                .flash_sales
                .clone()
                .run(Duration::from_secs(1), shutdown.clone()),
        ));
        tasks.push(tokio::spawn(self.orders.orders.clone().run_jobs(
            jobs.unpaid_order_timeout,
            Duration::from_secs(30),
            shutdown.clone(),
        )));
        let carrier_interval = (jobs.carrier_step / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        tasks.push(tokio::spawn(
            self.shipping
                .shipping
                .clone()
                .run_carrier(carrier_interval, shutdown.clone()),
        ));
        tasks.push(tokio::spawn(self.cart.carts.clone().run_expiry(
            jobs.cart_idle_timeout,
            Duration::from_secs(60),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(
            self.notifications
                .webhooks
                .clone()
                .run_dispatcher(Duration::from_secs(1), shutdown.clone()),
        ));
        let reconcile_every = (jobs.saga.resume_after / 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
        tasks.push(tokio::spawn(
            self.checkout
                .saga
                .clone()
                .run_reconciler(reconcile_every, shutdown.clone()),
        ));
        tasks
    }
}

/// Replays Search's read models from the outboxes of Products and Orders (the retained
/// event log) and compares them with the live view; with `rebuild`, replaces it.
///
/// # Errors
/// When a database cannot be opened or read.
pub async fn replay_search(
    database_urls: &PerContext,
    data_dir: &Path,
    rebuild: bool,
) -> anyhow::Result<search_service::replay::Parity> {
    let url = |name: &str| {
        database_urls
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no database URL for {name}"))
    };
    let search = Search::open(&url("search")?).await?;
    let mut logs = Vec::new();
    for producer in ["products", "orders"] {
        logs.push(kernel_infra::db::connect(&url(producer)?).await?);
    }
    std::fs::create_dir_all(data_dir)?;
    search_service::replay::replay(&search.db, &logs, data_dir, rebuild).await
}

/// Serves `router` on `listen` (port 0 picks a free one) until `shutdown`.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve(
    router: axum::Router,
    listen: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|err| anyhow::anyhow!("binding {listen}: {err}"))?;
    let address = listener.local_addr()?;
    let shutdown = shutdown.clone();
    let task = tokio::spawn(async move {
        if let Err(err) = kernel_infra::server::serve(listener, router, shutdown).await {
            tracing::error!(error = %err, "subgraph server failed");
        }
    });
    Ok((address, task))
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
/// the environment for a gateway process that uses them.
///
/// # Errors
/// When the files cannot be written.
pub fn gateway_env(dir: &Path, supergraph: &str, port: u16) -> anyhow::Result<Vec<(String, String)>> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("router.config.yaml");
    let supergraph_path = dir.join("supergraph.graphql");
    // Each gateway serves its identity coprocessor on a socket of its own, beside its
    // files; a Unix socket's path must stay short (108 bytes), else it goes in /tmp.
    let socket = std::path::absolute(dir.join("identity.sock"))
        .ok()
        .filter(|path| path.as_os_str().len() < 100)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("ecommerce-gateway-{port}.sock")));
    std::fs::write(
        &config,
        include_str!("../../router.config.yaml")
            .replace("/tmp/ecommerce-gateway-identity.sock", &socket.display().to_string()),
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
