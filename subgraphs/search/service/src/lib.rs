//! The Search subgraph service: read models built only from events
//! (`product_search_view`, `orders_by_customer`), their consumer, the GraphQL that
//! reads them, and their replay. Run it alone with the `search` binary, or with every
//! other context through the platform launcher.

pub mod consumer;
pub mod entity;
pub mod graphql;
pub mod projection;
pub mod replay;

use kernel_infra::bus::Subscription;
use kernel_infra::context::{Context, ContextSpec, NoSettings, Opening, SettingsType};
use kernel_infra::dead_letters::DeadLetters;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

pub use graphql::SearchSchema;

/// What the Search context is (see `kernel_infra::context`).
pub const CONTEXT: ContextSpec = ContextSpec {
    name: "search",
    about: "The Search subgraph (read models built from events)",
    sdl,
    migrate: |db| Box::pin(search_migration::Migrator::up(db, None)),
    settings: SettingsType::of::<NoSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Search::new(opening))) }),
    tasks: &[],
    signs: &[],
};

/// A running Search context: its database and schema.
#[derive(Clone)]
pub struct Search {
    pub db: DatabaseConnection,
    pub schema: SearchSchema,
}

impl Search {
    /// Connects to the context's database, applies its migrations and opens it with
    /// its default settings.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::service::open_as(&CONTEXT, database_url).await
    }

    fn new(opening: Opening) -> Self {
        Self {
            schema: graphql::schema(
                opening.db.clone(),
                DeadLetters::new(CONTEXT.name, opening.db.clone())
                    .with(consumer::KeepReadModels::subscription(opening.db.clone())),
            ),
            db: opening.db,
        }
    }
}

impl Context for Search {
    fn router(&self) -> axum::Router {
        kernel_infra::server::router(CONTEXT.name, self.schema.clone())
    }

    /// Search writes no events of its own; its relay publishes nothing, and runs so
    /// that every context is wired alike.
    fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The read models follow the catalog and the orders.
    fn subscriptions(&self) -> Vec<Subscription> {
        vec![consumer::KeepReadModels::subscription(self.db.clone())]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/search.graphql.
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
