//! The Notifications subgraph service: partners' webhook subscriptions, the consumer
//! that turns events into deliveries, and the dispatcher that makes them, signed and
//! retried. Run it alone with the `notifications` binary, or with every other context
//! through the platform launcher.

pub mod entity;
pub mod graphql;
pub mod webhooks;

use std::sync::Arc;

use kernel_infra::bus::{BusError, EventBus};
use kernel_infra::relay::Relay;
use sea_orm_migration::MigratorTrait;

pub use graphql::NotificationsSchema;
pub use webhooks::{WebhookSettings, Webhooks};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/notifications.db";

/// A running Notifications context.
#[derive(Clone)]
pub struct Notifications {
    pub webhooks: Webhooks,
    pub schema: NotificationsSchema,
}

impl Notifications {
    /// Connects to the context's database and applies its migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated, or the token key is broken.
    pub async fn open(database_url: &str, settings: WebhookSettings) -> anyhow::Result<Self> {
        kernel_infra::identity::TokenVerifier::load_shared()?;
        let db = kernel_infra::db::connect(database_url).await?;
        notifications_migration::Migrator::up(&db, None).await?;
        let webhooks = Webhooks::new(db, settings)?;
        Ok(Self {
            schema: graphql::schema(webhooks.clone()),
            webhooks,
        })
    }

    /// Registers the consumer that turns partners' events into deliveries.
    ///
    /// # Errors
    /// When the bus refuses the subscription.
    pub async fn subscribe(&self, bus: &dyn EventBus) -> Result<(), BusError> {
        bus.subscribe(webhooks::FanOut::subscription(self.webhooks.clone()))
            .await
    }

    pub fn router(&self) -> axum::Router {
        kernel_infra::server::router(self.schema.clone())
    }

    pub fn relay(&self, bus: Arc<dyn EventBus>) -> Relay {
        Relay::new(self.webhooks.db().clone(), bus)
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/notifications.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(graphql::Query, graphql::Mutation, async_graphql::EmptySubscription)
        .enable_federation()
        .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
