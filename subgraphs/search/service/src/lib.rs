//! The Search subgraph service: read models built only from events
//! (`product_search_view`, `orders_by_customer`), their consumer, the GraphQL that
//! reads them, and their replay. Run it alone with the `search` binary, or with every
//! other context through the platform launcher.

pub mod consumer;
pub mod entity;
pub mod graphql;
pub mod projection;
pub mod replay;

use std::sync::Arc;

use kernel_infra::bus::{BusError, EventBus};
use kernel_infra::relay::Relay;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

pub use graphql::SearchSchema;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/search.db";

/// A running Search context: its database and schema.
#[derive(Clone)]
pub struct Search {
    pub db: DatabaseConnection,
    pub schema: SearchSchema,
}

impl Search {
    /// Connects to the context's database and applies its migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::identity::TokenVerifier::load_shared()?;
        let db = kernel_infra::db::connect(database_url).await?;
        search_migration::Migrator::up(&db, None).await?;
        Ok(Self {
            schema: graphql::schema(db.clone()),
            db,
        })
    }

    /// Registers the consumer that keeps the read models on `bus`.
    ///
    /// # Errors
    /// When the bus refuses the subscription.
    pub async fn subscribe(&self, bus: &dyn EventBus) -> Result<(), BusError> {
        bus.subscribe(consumer::KeepReadModels::subscription(self.db.clone()))
            .await
    }

    pub fn router(&self) -> axum::Router {
        kernel_infra::server::router(self.schema.clone())
    }

    /// Search writes no events of its own; its relay publishes nothing, and runs so
    /// that every context is wired alike.
    pub fn relay(&self, bus: Arc<dyn EventBus>) -> Relay {
        Relay::new(self.db.clone(), bus)
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/search.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(
        graphql::Query,
        async_graphql::EmptyMutation,
        async_graphql::EmptySubscription,
    )
    .enable_federation()
    .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
