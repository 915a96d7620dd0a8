//! The Inventory subgraph service: stock, reservations and their sweeper around
//! `inventory-domain`. Run it alone with the `inventory` binary, or with every other
//! context through the platform launcher.

pub mod cache;
pub mod consumer;
pub mod entity;
pub mod graphql;
pub mod prefetch;
pub mod repository;
pub mod stock;

use std::time::Duration;

use kernel_infra::CancellationToken;
use kernel_infra::bus::Subscription;
use kernel_infra::context::{Context, ContextSpec, Job, NoSettings, Opening, SettingsType};
use kernel_infra::dead_letters::DeadLetters;
use sea_orm_migration::MigratorTrait;

pub use graphql::InventorySchema;
pub use stock::{Stock, StockError};

/// What the Inventory context is (see `kernel_infra::context`).
pub const CONTEXT: ContextSpec = ContextSpec {
    name: "inventory",
    about: "The Inventory subgraph (stock and reservations)",
    sdl,
    migrate: |db| Box::pin(inventory_migration::Migrator::up(db, None)),
    settings: SettingsType::of::<NoSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Inventory::new(opening))) }),
    tasks: &[],
    signs: &[],
};

/// A running Inventory context: its database, use cases and schema.
#[derive(Clone)]
pub struct Inventory {
    pub stock: Stock,
    pub schema: InventorySchema,
    /// Stock changes, for the gateway's response cache.
    pub invalidations: kernel_infra::cache::InvalidationFeed,
}

impl Inventory {
    /// Connects to the context's database and applies its migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::service::open_as(&CONTEXT, database_url).await
    }

    fn new(opening: Opening) -> Self {
        let stock = Stock::new(opening.db);
        Self {
            schema: graphql::schema(
                stock.clone(),
                DeadLetters::new(CONTEXT.name, stock.db().clone())
                    .with(consumer::TrackNewProducts::subscription(stock.db().clone())),
            ),
            invalidations: cache::feed(stock.db().clone()),
            stock,
        }
    }
}

impl Context for Inventory {
    fn router(&self) -> axum::Router {
        kernel_infra::server::router(CONTEXT.name, self.schema.clone()).merge(self.invalidations.routes())
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.stock.db()
    }

    /// New products' SKUs get a stock item; stock changes go to the gateway's cache.
    fn subscriptions(&self) -> Vec<Subscription> {
        vec![
            consumer::TrackNewProducts::subscription(self.stock.db().clone()),
            self.invalidations.subscription(),
        ]
    }

    /// Expired reservations are released.
    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let sweeper = self.stock.clone().run_sweeper(Duration::from_secs(5), shutdown.clone());
        vec![Job::new("reservation sweeper", sweeper)]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/inventory.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(
        graphql::Query::default(),
        graphql::Mutation::default(),
        async_graphql::EmptySubscription,
    )
    .enable_federation()
    .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
