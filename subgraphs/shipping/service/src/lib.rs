//! The Shipping subgraph service: shipments of paid orders and the simulated carrier,
//! around `shipping-domain`.

pub mod entity;
pub mod graphql;
pub mod shipping;

use std::sync::Arc;
use std::time::Duration;

use kernel_infra::bus::{BusError, EventBus};
use kernel_infra::relay::Relay;
use sea_orm_migration::MigratorTrait;

pub use graphql::ShippingSchema;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/shipping.db";

/// A running Shipping context.
#[derive(Clone)]
pub struct Shipping {
    pub shipping: shipping::Shipping,
    pub schema: ShippingSchema,
}

impl Shipping {
    /// Connects to the context's database and applies its migrations; the carrier takes
    /// `SHIPPING_CARRIER_STEP_SECONDS` (default 20) per step.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated, or the token key is broken.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        let step = std::env::var("SHIPPING_CARRIER_STEP_SECONDS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(20.0);
        Self::open_with_step(database_url, Duration::from_secs_f64(step)).await
    }

    /// As [`Shipping::open`], with the carrier's step given.
    ///
    /// # Errors
    /// As [`Shipping::open`].
    pub async fn open_with_step(database_url: &str, step: Duration) -> anyhow::Result<Self> {
        kernel_infra::identity::TokenVerifier::load_shared()?;
        let db = kernel_infra::db::connect(database_url).await?;
        shipping_migration::Migrator::up(&db, None).await?;
        let shipping = shipping::Shipping::new(db, step);
        Ok(Self {
            schema: graphql::schema(shipping.clone()),
            shipping,
        })
    }

    /// Registers Shipping's consumer of `order.paid` on `bus`.
    ///
    /// # Errors
    /// When the bus refuses a subscription.
    pub async fn subscribe(&self, bus: &dyn EventBus) -> Result<(), BusError> {
        bus.subscribe(shipping::ShipPaidOrders::subscription(self.shipping.clone()))
            .await
    }

    pub fn router(&self) -> axum::Router {
        kernel_infra::server::router(self.schema.clone())
    }

    pub fn relay(&self, bus: Arc<dyn EventBus>) -> Relay {
        Relay::new(self.shipping.db().clone(), bus)
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/shipping.graphql.
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
