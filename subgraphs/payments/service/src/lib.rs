//! The Payments subgraph service: payments, provider transactions and the ledger
//! around `payments-domain`, with the simulated provider behind retries and a circuit
//! breaker.

pub mod entity;
pub mod graphql;
pub mod payments;
pub mod provider;

use std::sync::Arc;
use std::time::Duration;

use kernel_infra::bus::EventBus;
use kernel_infra::relay::Relay;
use sea_orm_migration::MigratorTrait;

pub use graphql::PaymentsSchema;
pub use payments::{Payments as PaymentsService, PaymentsError};
use provider::{CircuitBreaker, ResilientProvider, RetryPolicy, SimulatedProvider};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/payments.db";

/// A running Payments context.
#[derive(Clone)]
pub struct Payments {
    pub payments: payments::Payments,
    pub schema: PaymentsSchema,
}

impl Payments {
    /// Connects to the context's database, applies its migrations, and sets up the
    /// simulated provider from the environment.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated, or the token key is broken.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::identity::TokenVerifier::load_shared()?;
        let db = kernel_infra::db::connect(database_url).await?;
        payments_migration::Migrator::up(&db, None).await?;
        let provider = ResilientProvider::new(
            Box::new(SimulatedProvider::from_env()),
            CircuitBreaker::new(20, Duration::from_secs(10)),
            RetryPolicy::default(),
        );
        let payments = payments::Payments::new(db, Arc::new(provider));
        Ok(Self {
            schema: graphql::schema(payments.clone()),
            payments,
        })
    }

    pub fn router(&self) -> axum::Router {
        kernel_infra::server::router(self.schema.clone())
    }

    pub fn relay(&self, bus: Arc<dyn EventBus>) -> Relay {
        Relay::new(self.payments.db().clone(), bus)
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/payments.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(graphql::Query, graphql::Mutation, async_graphql::EmptySubscription)
        .enable_federation()
        .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
