//! The Checkout subgraph service: the orchestrated checkout saga (process state only)
//! around `checkout-domain`, calling the owning contexts over their subgraphs.

pub mod entity;
pub mod graphql;
pub mod remotes;
pub mod saga;

use std::sync::Arc;

use kernel_infra::bus::EventBus;
use kernel_infra::identity::ServiceToken;
use kernel_infra::relay::Relay;
use sea_orm_migration::MigratorTrait;

pub use graphql::CheckoutSchema;
pub use remotes::RemoteUrls;
pub use saga::{Saga, SagaSettings};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/checkout.db";

/// The name Checkout's service token carries.
pub const SERVICE_NAME: &str = "checkout";

/// A running Checkout context.
#[derive(Clone)]
pub struct Checkout {
    pub saga: Saga,
    pub schema: CheckoutSchema,
}

impl Checkout {
    /// Connects to the context's database, applies its migrations, and prepares the
    /// clients of the contexts the saga calls (signing its service token with the key
    /// the environment configures).
    ///
    /// # Errors
    /// When the database cannot be reached or migrated, or a key cannot be loaded.
    pub async fn open(database_url: &str, urls: &RemoteUrls, settings: SagaSettings) -> anyhow::Result<Self> {
        kernel_infra::identity::TokenVerifier::load_shared()?;
        let db = kernel_infra::db::connect(database_url).await?;
        checkout_migration::Migrator::up(&db, None).await?;
        let token = Arc::new(ServiceToken::from_env(SERVICE_NAME)?);
        let remotes = Arc::new(remotes::Remotes::new(urls, token)?);
        let saga = Saga::new(db, remotes, settings);
        Ok(Self {
            schema: graphql::schema(saga.clone()),
            saga,
        })
    }

    pub fn router(&self) -> axum::Router {
        kernel_infra::server::router(self.schema.clone())
    }

    pub fn relay(&self, bus: Arc<dyn EventBus>) -> Relay {
        Relay::new(self.saga.db().clone(), bus)
    }
}

/// Runs Checkout alone, as its own process: serves the subgraph on `listen` and runs
/// the saga reconciler until Ctrl-C. The other contexts are found at
/// `CHECKOUT_<CONTEXT>_URL`, the saga's settings in `CHECKOUT_*` (see
/// [`SagaSettings::from_env`]).
///
/// # Errors
/// When the context cannot be opened or the address bound.
pub async fn run_alone(database_url: &str, listen: &str) -> anyhow::Result<()> {
    let settings = SagaSettings::from_env();
    let reconcile_every =
        (settings.resume_after / 2).clamp(std::time::Duration::from_millis(100), std::time::Duration::from_secs(5));
    let checkout = Checkout::open(database_url, &RemoteUrls::from_env(), settings).await?;
    let shutdown = kernel_infra::CancellationToken::new();
    tokio::spawn(checkout.saga.clone().run_reconciler(reconcile_every, shutdown.clone()));
    let result = kernel_infra::server::run_standalone("checkout", checkout.router(), listen).await;
    shutdown.cancel();
    result
}

/// The subgraph's SDL, as committed in schema/subgraphs/checkout.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(graphql::Query, graphql::Mutation, async_graphql::EmptySubscription)
        .enable_federation()
        .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
