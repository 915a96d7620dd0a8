//! The Products subgraph service: the catalog's persistence, use cases and GraphQL
//! adapter around `products-domain`. Run it alone with the `products` binary, or
//! with every other context through the platform launcher.

pub mod catalog;
pub mod entity;
pub mod flash_sales;
pub mod graphql;
pub mod live;
pub mod repository;

use std::sync::Arc;

use kernel_infra::bus::EventBus;
use kernel_infra::relay::Relay;
use sea_orm_migration::MigratorTrait;

pub use catalog::{Catalog, CatalogError};
pub use graphql::ProductsSchema;

/// The default database: a SQLite file under ./data.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/products.db";

/// A running Products context: its database, use cases and schema.
#[derive(Clone)]
pub struct Products {
    pub catalog: Catalog,
    pub flash_sales: flash_sales::FlashSales,
    pub live: kernel_infra::live::LiveFeed,
    pub schema: ProductsSchema,
}

impl Products {
    /// Connects to the context's database and applies its migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::identity::TokenVerifier::load_shared()?;
        let db = kernel_infra::db::connect(database_url).await?;
        products_migration::Migrator::up(&db, None).await?;
        let catalog = Catalog::new(db.clone());
        let flash_sales = flash_sales::FlashSales::new(db);
        let live = live::feed();
        Ok(Self {
            schema: graphql::schema(catalog.clone(), flash_sales.clone(), live.clone()),
            catalog,
            flash_sales,
            live,
        })
    }

    /// Registers the live feed of its subscriptions on `bus`.
    ///
    /// # Errors
    /// When the bus refuses the subscription.
    pub async fn subscribe(&self, bus: &dyn EventBus) -> Result<(), kernel_infra::bus::BusError> {
        bus.subscribe(self.live.subscription()).await
    }

    /// The HTTP routes: `/graphql` and `/health`.
    pub fn router(&self) -> axum::Router {
        kernel_infra::server::router(self.schema.clone())
    }

    /// The relay that publishes this context's outbox to `bus`.
    pub fn relay(&self, bus: Arc<dyn EventBus>) -> Relay {
        Relay::new(self.catalog.db().clone(), bus)
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/products.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(graphql::Query, graphql::Mutation, live::Subscription)
        .enable_federation()
        .enable_subscription_in_federation()
        .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
