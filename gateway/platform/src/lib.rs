//! The platform launcher: every bounded context in one process, wired to one
//! in-process event bus, with their relays and background jobs, and the gateway.
//!
//! `cargo run --release` at the workspace root runs [`main`](../main.rs); tests use the
//! same pieces to start a real platform on free ports.

// ntex's middleware types are deep; release builds need more than the default 128.
#![recursion_limit = "256"]

pub mod schema_files;
pub mod seed;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use accounts_service::Accounts;
use inventory_service::Inventory;
use kernel_infra::CancellationToken;
use kernel_infra::bus::{EventBus, InProcessBus};
use products_service::Products;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Where each context keeps its data and listens. Read from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub products_database_url: String,
    pub inventory_database_url: String,
    pub accounts_database_url: String,
    pub products_listen: String,
    pub inventory_listen: String,
    pub accounts_listen: String,
    pub gateway_port: u16,
    pub data_dir: PathBuf,
}

impl Settings {
    /// Defaults (SQLite files under ./data, ports 4000-4003) overridden by
    /// `<CONTEXT>_DATABASE_URL`, `<CONTEXT>_LISTEN` (for PRODUCTS, INVENTORY,
    /// ACCOUNTS), `GATEWAY_PORT` and `DATA_DIR`.
    ///
    /// # Errors
    /// When `GATEWAY_PORT` is not a port number.
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Ok(Self {
            products_database_url: var("PRODUCTS_DATABASE_URL", products_service::DEFAULT_DATABASE_URL),
            inventory_database_url: var("INVENTORY_DATABASE_URL", inventory_service::DEFAULT_DATABASE_URL),
            accounts_database_url: var("ACCOUNTS_DATABASE_URL", accounts_service::DEFAULT_DATABASE_URL),
            products_listen: var("PRODUCTS_LISTEN", "127.0.0.1:4001"),
            inventory_listen: var("INVENTORY_LISTEN", "127.0.0.1:4002"),
            accounts_listen: var("ACCOUNTS_LISTEN", "127.0.0.1:4003"),
            gateway_port: var("GATEWAY_PORT", "4000")
                .parse()
                .map_err(|_| anyhow::anyhow!("GATEWAY_PORT must be a port number"))?,
            data_dir: PathBuf::from(var("DATA_DIR", "data")),
        })
    }
}

/// Each context's database URL.
pub struct DatabaseUrls<'a> {
    pub products: &'a str,
    pub inventory: &'a str,
    pub accounts: &'a str,
}

impl Settings {
    pub fn database_urls(&self) -> DatabaseUrls<'_> {
        DatabaseUrls {
            products: &self.products_database_url,
            inventory: &self.inventory_database_url,
            accounts: &self.accounts_database_url,
        }
    }
}

/// The bounded contexts, opened (migrated) and wired to one bus.
#[derive(Clone)]
pub struct Contexts {
    pub products: Products,
    pub inventory: Inventory,
    pub accounts: Accounts,
    pub bus: Arc<dyn EventBus>,
}

impl Contexts {
    /// Opens every context's database and subscribes the consumers.
    ///
    /// # Errors
    /// When a database cannot be opened or migrated.
    pub async fn open(urls: &DatabaseUrls<'_>) -> anyhow::Result<Self> {
        let products = Products::open(urls.products).await?;
        let inventory = Inventory::open(urls.inventory).await?;
        let accounts = Accounts::open(urls.accounts).await?;
        let bus: Arc<dyn EventBus> = InProcessBus::new();
        inventory.subscribe(bus.as_ref()).await?;
        Ok(Self {
            products,
            inventory,
            accounts,
            bus,
        })
    }

    /// Starts the outbox relays and the reservation sweeper until `shutdown`.
    pub fn spawn_background(&self, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
        vec![
            tokio::spawn(self.products.relay(self.bus.clone()).run(shutdown.clone())),
            tokio::spawn(self.inventory.relay(self.bus.clone()).run(shutdown.clone())),
            tokio::spawn(self.accounts.relay(self.bus.clone()).run(shutdown.clone())),
            tokio::spawn(
                self.inventory
                    .stock
                    .clone()
                    .run_sweeper(Duration::from_secs(5), shutdown.clone()),
            ),
        ]
    }
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

/// Where each subgraph listens (its `/graphql` URL).
pub struct SubgraphEndpoints {
    pub products: String,
    pub inventory: String,
    pub accounts: String,
}

/// The supergraph for subgraphs listening at these URLs, composed from the code's SDL.
///
/// # Errors
/// When the subgraphs do not compose.
pub fn supergraph(endpoints: &SubgraphEndpoints) -> anyhow::Result<String> {
    Ok(gateway::compose::compose(&schema_files::subgraphs(endpoints))?)
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
    std::fs::write(&config, include_str!("../../router.config.yaml"))?;
    std::fs::write(&supergraph_path, supergraph)?;
    let absolute = |path: PathBuf| std::path::absolute(&path).unwrap_or(path).display().to_string();
    Ok(vec![
        ("ROUTER_CONFIG_FILE_PATH".into(), absolute(config)),
        ("SUPERGRAPH_FILE_PATH".into(), absolute(supergraph_path)),
        ("PORT".into(), port.to_string()),
    ])
}
