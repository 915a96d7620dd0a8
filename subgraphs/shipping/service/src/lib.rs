//! The Shipping subgraph service: shipments of paid orders, the simulated carrier and
//! the shop's shipping methods, around `shipping-domain`.

pub mod entity;
pub mod graphql;
pub mod methods;
pub mod repository;
pub mod shipping;

use std::time::Duration;

use kernel_infra::CancellationToken;
use kernel_infra::bus::Subscription;
use kernel_infra::context::{Context, ContextSpec, Job, Opening, SettingsType};
use kernel_infra::dead_letters::DeadLetters;
use sea_orm_migration::MigratorTrait;

pub use graphql::ShippingSchema;

/// What the Shipping context is (see `kernel_infra::context`).
pub const CONTEXT: ContextSpec = ContextSpec {
    name: "shipping",
    about: "The Shipping subgraph (shipments and the simulated carrier)",
    sdl,
    migrate: |db| Box::pin(shipping_migration::Migrator::up(db, None)),
    settings: SettingsType::of::<ShippingSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Shipping::new(opening)?)) }),
    tasks: &[],
    signs: &[],
};

/// The Shipping section of the configuration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ShippingSettings {
    /// The simulated carrier's time per step, in seconds (`SHIPPING_CARRIER_STEP_SECONDS`).
    pub carrier_step_seconds: f64,
}

impl Default for ShippingSettings {
    fn default() -> Self {
        Self {
            carrier_step_seconds: 20.0,
        }
    }
}

/// A running Shipping context.
#[derive(Clone)]
pub struct Shipping {
    pub shipping: shipping::Shipping,
    pub schema: ShippingSchema,
    carrier_step: Duration,
}

impl Shipping {
    /// Connects to the context's database, applies its migrations and opens it with
    /// its default settings.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::service::open_as(&CONTEXT, database_url).await
    }

    fn new(opening: Opening) -> anyhow::Result<Self> {
        let settings: ShippingSettings = opening.settings()?;
        let step = kernel_infra::config::seconds("shipping.carrier_step_seconds", settings.carrier_step_seconds)?;
        let shipping = shipping::Shipping::new(opening.db, step);
        Ok(Self {
            schema: graphql::schema(
                shipping.clone(),
                DeadLetters::new(CONTEXT.name, shipping.db().clone())
                    .with(shipping::ShipPaidOrders::subscription(shipping.clone())),
            ),
            shipping,
            carrier_step: step,
        })
    }
}

impl Context for Shipping {
    fn router(&self) -> axum::Router {
        kernel_infra::server::router(CONTEXT.name, self.schema.clone())
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.shipping.db()
    }

    /// Paid orders are shipped.
    fn subscriptions(&self) -> Vec<Subscription> {
        vec![shipping::ShipPaidOrders::subscription(self.shipping.clone())]
    }

    /// The simulated carrier moves shipments, looking four times per step.
    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let every = (self.carrier_step / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let carrier = self.shipping.clone().run_carrier(every, shutdown.clone());
        vec![Job::new("simulated carrier", carrier)]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/shipping.graphql.
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
