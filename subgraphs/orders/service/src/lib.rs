//! The Orders subgraph service, the system of record, around `orders-domain`.

pub mod consumer;
pub mod entity;
pub mod graphql;
pub mod live;
pub mod orders;
pub mod repository;
pub mod returns;

use std::time::Duration;

use kernel_infra::CancellationToken;
use kernel_infra::bus::Subscription;
use kernel_infra::context::{Context, ContextSpec, Job, Opening, SettingsType};
use kernel_infra::dead_letters::DeadLetters;
use sea_orm_migration::MigratorTrait;

pub use graphql::OrdersSchema;
pub use orders::{Orders as OrdersService, OrdersError};

/// What the Orders context is (see `kernel_infra::context`).
pub const CONTEXT: ContextSpec = ContextSpec {
    name: "orders",
    about: "The Orders subgraph (the system of record)",
    sdl,
    migrate: |db| Box::pin(orders_migration::Migrator::up(db, None)),
    settings: SettingsType::of::<OrdersSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Orders::new(opening)?)) }),
    tasks: &[],
    signs: &[],
};

/// The Orders section of the configuration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct OrdersSettings {
    /// Unpaid orders are canceled this many seconds after they were placed
    /// (`ORDERS_UNPAID_TIMEOUT_SECONDS`).
    pub unpaid_timeout_seconds: u64,
    /// A return may be asked for this many days after delivery, 1 to 365
    /// (`ORDERS_RETURN_WINDOW_DAYS`).
    pub return_window_days: u32,
}

impl Default for OrdersSettings {
    fn default() -> Self {
        Self {
            unpaid_timeout_seconds: 1800,
            return_window_days: orders_domain::returns::ReturnWindow::DEFAULT.in_days(),
        }
    }
}

/// A running Orders context.
#[derive(Clone)]
pub struct Orders {
    pub orders: orders::Orders,
    pub returns: returns::Returns,
    pub live: kernel_infra::live::LiveFeed,
    pub schema: OrdersSchema,
    unpaid_timeout: chrono::Duration,
}

impl Orders {
    /// Connects to the context's database, applies its migrations and opens it with
    /// its default settings.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::service::open_as(&CONTEXT, database_url).await
    }

    fn new(opening: Opening) -> anyhow::Result<Self> {
        let settings: OrdersSettings = opening.settings()?;
        let window = orders_domain::returns::ReturnWindow::days(settings.return_window_days)?;
        let returns = returns::Returns::new(opening.db.clone(), window);
        let orders = orders::Orders::new(opening.db);
        let live = live::feed();
        Ok(Self {
            schema: graphql::schema(
                orders.clone(),
                returns.clone(),
                live.clone(),
                DeadLetters::new(CONTEXT.name, orders.db().clone())
                    .with(consumer::FollowFulfilment::subscription(orders.db().clone())),
            ),
            orders,
            returns,
            live,
            unpaid_timeout: chrono::Duration::seconds(
                i64::try_from(settings.unpaid_timeout_seconds).unwrap_or(i64::MAX),
            ),
        })
    }
}

impl Context for Orders {
    fn router(&self) -> axum::Router {
        kernel_infra::server::router(CONTEXT.name, self.schema.clone())
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.orders.db()
    }

    /// Fulfilment and refunds, and the live updates of its subscriptions.
    fn subscriptions(&self) -> Vec<Subscription> {
        vec![
            consumer::FollowFulfilment::subscription(self.orders.db().clone()),
            self.live.subscription(),
        ]
    }

    /// Unpaid orders are canceled after the timeout.
    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let jobs = self
            .orders
            .clone()
            .run_jobs(self.unpaid_timeout, Duration::from_secs(30), shutdown.clone());
        vec![Job::new("unpaid orders", jobs)]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/orders.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(
        graphql::Query::default(),
        graphql::Mutation::default(),
        graphql::Subscription,
    )
    .enable_federation()
    .enable_subscription_in_federation()
    .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
