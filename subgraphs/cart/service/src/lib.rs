//! The Cart subgraph service: carts, the local price table and idle-cart expiry,
//! around `cart-domain`.

pub mod carts;
pub mod entity;
pub mod graphql;
pub mod repository;

use kernel_infra::CancellationToken;
use kernel_infra::bus::Subscription;
use kernel_infra::context::{Context, ContextSpec, Job, Opening, SettingsType};
use kernel_infra::dead_letters::DeadLetters;
use sea_orm_migration::MigratorTrait;

pub use carts::{Carts, CartsError};
pub use graphql::CartSchema;

/// What the Cart context is (see `kernel_infra::context`).
pub const CONTEXT: ContextSpec = ContextSpec {
    name: "cart",
    about: "The Cart subgraph",
    sdl,
    migrate: |db| Box::pin(cart_migration::Migrator::up(db, None)),
    settings: SettingsType::of::<CartSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Cart::new(opening)?)) }),
    tasks: &[],
    signs: &[],
};

/// The Cart section of the configuration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct CartSettings {
    /// Idle carts expire after this many seconds (`CART_IDLE_TIMEOUT_SECONDS`).
    pub idle_timeout_seconds: u64,
}

impl Default for CartSettings {
    fn default() -> Self {
        Self {
            idle_timeout_seconds: 7 * 24 * 3600,
        }
    }
}

/// A running Cart context.
#[derive(Clone)]
pub struct Cart {
    pub carts: Carts,
    pub schema: CartSchema,
    idle_timeout: chrono::Duration,
}

impl Cart {
    /// Connects to the context's database, applies its migrations and opens it with
    /// its default settings.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::service::open_as(&CONTEXT, database_url).await
    }

    fn new(opening: Opening) -> anyhow::Result<Self> {
        let settings: CartSettings = opening.settings()?;
        let carts = Carts::new(opening.db);
        Ok(Self {
            schema: graphql::schema(
                carts.clone(),
                DeadLetters::new(CONTEXT.name, carts.db().clone())
                    .with(carts::CartConsumer::subscription(carts.db().clone())),
            ),
            carts,
            idle_timeout: seconds(settings.idle_timeout_seconds),
        })
    }
}

impl Context for Cart {
    fn router(&self) -> axum::Router {
        kernel_infra::server::router(CONTEXT.name, self.schema.clone())
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.carts.db()
    }

    /// Prices and SKUs from Products; carts close when their checkout completes.
    fn subscriptions(&self) -> Vec<Subscription> {
        vec![carts::CartConsumer::subscription(self.carts.db().clone())]
    }

    /// Idle carts expire.
    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let expiry =
            self.carts
                .clone()
                .run_expiry(self.idle_timeout, std::time::Duration::from_secs(60), shutdown.clone());
        vec![Job::new("cart expiry", expiry)]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn seconds(seconds: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX))
}

/// The subgraph's SDL, as committed in schema/subgraphs/cart.graphql.
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
