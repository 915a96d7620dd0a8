//! The Accounts subgraph service: users, password hashing and token issuing around
//! `accounts-domain`.

pub mod accounts;
pub mod entity;
pub mod graphql;
pub mod password;
pub mod repository;

use std::sync::Arc;

use kernel_infra::bus::EventBus;
use kernel_infra::identity::TokenIssuer;
use kernel_infra::relay::Relay;
use sea_orm_migration::MigratorTrait;

pub use accounts::{Accounts as AccountsService, AccountsError};
pub use graphql::AccountsSchema;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/accounts.db";

/// A running Accounts context.
#[derive(Clone)]
pub struct Accounts {
    pub accounts: accounts::Accounts,
    pub schema: AccountsSchema,
}

impl Accounts {
    /// Connects to the context's database, applies its migrations, and loads the token
    /// signing key from the environment.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated, or the key cannot be loaded.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::identity::TokenVerifier::load_shared()?;
        let db = kernel_infra::db::connect(database_url).await?;
        accounts_migration::Migrator::up(&db, None).await?;
        let accounts = accounts::Accounts::new(db, Arc::new(TokenIssuer::from_env()?));
        Ok(Self {
            schema: graphql::schema(accounts.clone()),
            accounts,
        })
    }

    pub fn router(&self) -> axum::Router {
        kernel_infra::server::router(self.schema.clone())
    }

    pub fn relay(&self, bus: Arc<dyn EventBus>) -> Relay {
        Relay::new(self.accounts.db().clone(), bus)
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/accounts.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(graphql::Query, graphql::Mutation, async_graphql::EmptySubscription)
        .enable_federation()
        .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
