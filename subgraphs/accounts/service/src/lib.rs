//! The Accounts subgraph service: users, password hashing and token issuing around
//! `accounts-domain`.

pub mod accounts;
pub mod address_book;
pub mod create_user;
pub mod entity;
pub mod graphql;
pub mod password;
pub mod repository;
pub mod sign_in;

use std::sync::Arc;

use accounts_domain::PartnerName;
use kernel_infra::context::{Context, ContextSpec, Opening, SettingsType};
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
    settings: SettingsType::of::<AccountsSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Accounts::new(opening)?)) }),
    tasks: &[create_user::TASK],
    signs: &[KeyUse::SignsAccessTokens],
};

/// The Accounts section of the configuration (`ACCOUNTS_*`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct AccountsSettings {
    /// The partner applications an admin may issue tokens for: the clients that the
    /// gateway's configuration serves in `persisted_only` mode (`ACCOUNTS_PARTNERS`,
    /// e.g. `[acme, globex]`). Never a first-party client (`web`, `mobile`,
    /// `schema-review`).
    pub partners: Vec<String>,
    /// Failed sign-ins for one e-mail within a window, after which it is locked until
    /// the window ends.
    pub failed_logins_per_account: u64,
    /// Failed sign-ins (and registrations of a taken e-mail) from one client address
    /// within a window, after which the address is locked until the window ends.
    pub failed_logins_per_address: u64,
    pub failed_login_window_seconds: u64,
    /// How many passwords are hashed or checked at once; further requests wait.
    pub concurrent_password_hashes: usize,
}

impl Default for AccountsSettings {
    fn default() -> Self {
        Self {
            partners: vec!["acme".into(), "globex".into()],
            failed_logins_per_account: 5,
            failed_logins_per_address: 50,
            failed_login_window_seconds: 900,
            concurrent_password_hashes: 4,
        }
    }
}

/// The clients of our own frontends and tools, which no partner token may name.
pub const FIRST_PARTY_CLIENTS: [&str; 4] = ["web", "mobile", "console", "schema-review"];

impl AccountsSettings {
    /// The partners, each a valid name and none a first-party client.
    ///
    /// # Errors
    /// Naming the first one that is not.
    pub fn partner_names(&self) -> anyhow::Result<Vec<PartnerName>> {
        self.partners
            .iter()
            .map(|name| {
                anyhow::ensure!(
                    !FIRST_PARTY_CLIENTS.contains(&name.as_str()),
                    "accounts.partners: `{name}` is one of our own clients, not a partner"
                );
                PartnerName::parse(name).map_err(|err| anyhow::anyhow!("accounts.partners: `{name}`: {err}"))
            })
            .collect()
    }
}

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
        let settings: AccountsSettings = opening.settings()?;
        let accounts = accounts::Accounts::new(
            opening.db,
            Arc::new(TokenIssuer::access_tokens()?),
            sign_in::SignInGuard::new(&settings),
            settings.partner_names()?,
        );
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
    let schema = async_graphql::Schema::build(
        graphql::Query::default(),
        graphql::Mutation,
        async_graphql::EmptySubscription,
    )
    .enable_federation()
    .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
