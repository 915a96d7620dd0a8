//! The Payments subgraph service: payments, provider transactions and the ledger
//! around `payments-domain`, with the simulated provider behind retries and a circuit
//! breaker.

pub mod entity;
pub mod graphql;
pub mod payments;
pub mod provider;
pub mod repository;

use std::sync::Arc;
use std::time::Duration;

use kernel_infra::context::{Context, ContextSpec, Opening, SettingsType};
use sea_orm_migration::MigratorTrait;

pub use graphql::PaymentsSchema;
pub use payments::{Payments as PaymentsService, PaymentsError};
use provider::{BreakerPolicy, CircuitBreaker, ResilientProvider, RetryPolicy, SimulatedProvider};

/// What the Payments context is (see `kernel_infra::context`).
pub const CONTEXT: ContextSpec = ContextSpec {
    name: "payments",
    about: "The Payments subgraph (payments, provider, ledger)",
    sdl,
    migrate: |db| Box::pin(payments_migration::Migrator::up(db, None)),
    settings: SettingsType::of::<PaymentsSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Payments::new(opening)?)) }),
    tasks: &[],
    signs: &[],
};

/// The Payments section of the configuration: the simulated provider.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct PaymentsSettings {
    /// How long each provider call takes (`PAYMENTS_PROVIDER_LATENCY_MS`).
    pub provider_latency_ms: u64,
    /// The share of provider calls that fail transiently, 0 to 1
    /// (`PAYMENTS_PROVIDER_FAILURE_RATE`).
    pub provider_failure_rate: f64,
}

impl Default for PaymentsSettings {
    fn default() -> Self {
        Self {
            provider_latency_ms: 5,
            provider_failure_rate: 0.0,
        }
    }
}

/// A running Payments context.
#[derive(Clone)]
pub struct Payments {
    pub payments: payments::Payments,
    pub schema: PaymentsSchema,
}

impl Payments {
    /// Connects to the context's database, applies its migrations and opens it with
    /// its default settings.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::service::open_as(&CONTEXT, database_url).await
    }

    fn new(opening: Opening) -> anyhow::Result<Self> {
        let settings: PaymentsSettings = opening.settings()?;
        anyhow::ensure!(
            (0.0..=1.0).contains(&settings.provider_failure_rate),
            "payments.provider_failure_rate must be between 0 and 1"
        );
        let simulated = SimulatedProvider::new(
            Duration::from_millis(settings.provider_latency_ms),
            settings.provider_failure_rate,
        );
        let provider = ResilientProvider::new(
            Box::new(simulated),
            CircuitBreaker::new(BreakerPolicy::default()),
            RetryPolicy::default(),
        );
        let payments = payments::Payments::new(opening.db, Arc::new(provider));
        Ok(Self {
            schema: graphql::schema(payments.clone()),
            payments,
        })
    }
}

impl Context for Payments {
    fn router(&self) -> axum::Router {
        kernel_infra::server::router(CONTEXT.name, self.schema.clone())
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.payments.db()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/payments.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(
        graphql::Query::default(),
        graphql::Mutation,
        async_graphql::EmptySubscription,
    )
    .enable_federation()
    .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
