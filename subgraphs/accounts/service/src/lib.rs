//! The Accounts subgraph service: users, password hashing and token issuing around
//! `accounts-domain`.

pub mod accounts;
pub mod create_user;
pub mod entity;
pub mod graphql;
pub mod password;
pub mod repository;

use std::sync::Arc;

use kernel_infra::context::{Context, ContextSpec, NoSettings, Opening, SettingsType};
use kernel_infra::identity::{KeyUse, TokenIssuer};
use sea_orm_migration::MigratorTrait;

pub use accounts::{Accounts as AccountsService, AccountsError};
pub use graphql::AccountsSchema;

/// What the Accounts context is (see `kernel_infra::context`).
pub const CONTEXT: ContextSpec = ContextSpec {
    name: "accounts",
    about: "The Accounts subgraph (users, sign-in)",
    sdl,
    migrate: |db| Box::pin(accounts_migration::Migrator::up(db, None)),
    settings: SettingsType::of::<NoSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Accounts::new(opening)?)) }),
    tasks: &[create_user::TASK],
    signs: &[KeyUse::SignsAccessTokens],
};

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
        kernel_infra::service::open_as(&CONTEXT, database_url).await
    }

    fn new(opening: Opening) -> anyhow::Result<Self> {
        let accounts = accounts::Accounts::new(opening.db, Arc::new(TokenIssuer::access_tokens()?));
        Ok(Self {
            schema: graphql::schema(accounts.clone()),
            accounts,
        })
    }
}

impl Context for Accounts {
    fn router(&self) -> axum::Router {
        kernel_infra::server::router(CONTEXT.name, self.schema.clone())
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.accounts.db()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/accounts.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(graphql::Query, graphql::Mutation, async_graphql::EmptySubscription)
        .enable_federation()
        .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
