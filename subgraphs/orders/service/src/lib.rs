//! The Orders subgraph service, the system of record, around `orders-domain`.

pub mod consumer;
pub mod entity;
pub mod graphql;
pub mod live;
pub mod orders;

use std::sync::Arc;

use kernel_infra::bus::{BusError, EventBus};
use kernel_infra::relay::Relay;
use sea_orm_migration::MigratorTrait;

pub use graphql::OrdersSchema;
pub use orders::{Orders as OrdersService, OrdersError};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/orders.db";

/// A running Orders context.
#[derive(Clone)]
pub struct Orders {
    pub orders: orders::Orders,
    pub live: kernel_infra::live::LiveFeed,
    pub schema: OrdersSchema,
}

impl Orders {
    /// Connects to the context's database and applies its migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated, or the token key is broken.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::identity::TokenVerifier::load_shared()?;
        let db = kernel_infra::db::connect(database_url).await?;
        orders_migration::Migrator::up(&db, None).await?;
        let orders = orders::Orders::new(db);
        let live = live::feed();
        Ok(Self {
            schema: graphql::schema(orders.clone(), live.clone()),
            orders,
            live,
        })
    }

    /// Registers Orders' consumers (fulfilment and refunds, and the live updates of
    /// its subscriptions) on `bus`.
    ///
    /// # Errors
    /// When the bus refuses a subscription.
    pub async fn subscribe(&self, bus: &dyn EventBus) -> Result<(), BusError> {
        bus.subscribe(consumer::FollowFulfilment::subscription(self.orders.db().clone()))
            .await?;
        bus.subscribe(self.live.subscription()).await
    }

    pub fn router(&self) -> axum::Router {
        kernel_infra::server::router(self.schema.clone())
    }

    pub fn relay(&self, bus: Arc<dyn EventBus>) -> Relay {
        Relay::new(self.orders.db().clone(), bus)
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/orders.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(graphql::Query, graphql::Mutation, graphql::Subscription)
        .enable_federation()
        .enable_subscription_in_federation()
        .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
