//! The Cart subgraph service: carts, the local price table and idle-cart expiry,
//! around `cart-domain`.

pub mod carts;
pub mod entity;
pub mod graphql;

use std::sync::Arc;

use kernel_infra::bus::{BusError, EventBus};
use kernel_infra::relay::Relay;
use sea_orm_migration::MigratorTrait;

pub use carts::{Carts, CartsError};
pub use graphql::CartSchema;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/cart.db";

/// A running Cart context.
#[derive(Clone)]
pub struct Cart {
    pub carts: Carts,
    pub schema: CartSchema,
}

impl Cart {
    /// Connects to the context's database and applies its migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated, or the token key is broken.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::identity::TokenVerifier::load_shared()?;
        let db = kernel_infra::db::connect(database_url).await?;
        cart_migration::Migrator::up(&db, None).await?;
        let carts = Carts::new(db);
        Ok(Self {
            schema: graphql::schema(carts.clone()),
            carts,
        })
    }

    /// Registers Cart's consumer (prices, completed checkouts) on `bus`.
    ///
    /// # Errors
    /// When the bus refuses a subscription.
    pub async fn subscribe(&self, bus: &dyn EventBus) -> Result<(), BusError> {
        bus.subscribe(carts::CartConsumer::subscription(self.carts.db().clone()))
            .await
    }

    pub fn router(&self) -> axum::Router {
        kernel_infra::server::router(self.schema.clone())
    }

    pub fn relay(&self, bus: Arc<dyn EventBus>) -> Relay {
        Relay::new(self.carts.db().clone(), bus)
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/cart.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(graphql::Query, graphql::Mutation, async_graphql::EmptySubscription)
        .enable_federation()
        .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
