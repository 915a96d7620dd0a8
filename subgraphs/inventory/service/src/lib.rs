//! The Inventory subgraph service: stock, reservations and their sweeper around
//! `inventory-domain`. Run it alone with the `inventory` binary, or with every other
//! context through the platform launcher.

pub mod consumer;
pub mod entity;
pub mod graphql;
pub mod prefetch;
pub mod repository;
pub mod stock;

use std::sync::Arc;

use kernel_infra::bus::{BusError, EventBus};
use kernel_infra::relay::Relay;
use sea_orm_migration::MigratorTrait;

pub use graphql::InventorySchema;
pub use stock::{Stock, StockError};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/inventory.db";

/// A running Inventory context: its database, use cases and schema.
#[derive(Clone)]
pub struct Inventory {
    pub stock: Stock,
    pub schema: InventorySchema,
}

impl Inventory {
    /// Connects to the context's database and applies its migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::identity::TokenVerifier::load_shared()?;
        let db = kernel_infra::db::connect(database_url).await?;
        inventory_migration::Migrator::up(&db, None).await?;
        let stock = Stock::new(db);
        Ok(Self {
            schema: graphql::schema(stock.clone()),
            stock,
        })
    }

    /// Registers Inventory's consumers on `bus`.
    ///
    /// # Errors
    /// When the bus refuses a subscription.
    pub async fn subscribe(&self, bus: &dyn EventBus) -> Result<(), BusError> {
        bus.subscribe(consumer::TrackNewProducts::subscription(self.stock.db().clone()))
            .await
    }

    pub fn router(&self) -> axum::Router {
        kernel_infra::server::router(self.schema.clone())
    }

    pub fn relay(&self, bus: Arc<dyn EventBus>) -> Relay {
        Relay::new(self.stock.db().clone(), bus)
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/inventory.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(graphql::Query, graphql::Mutation, async_graphql::EmptySubscription)
        .enable_federation()
        .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
