//! The Coupons subgraph service: coupons and their redemptions around
//! `coupons-domain`.

pub mod coupons;
pub mod entity;
pub mod graphql;
pub mod repository;

use kernel_infra::context::{Context, ContextSpec, NoSettings, Opening, SettingsType};
use sea_orm_migration::MigratorTrait;

pub use coupons::{Coupons as CouponsService, CouponsError};
pub use graphql::CouponsSchema;

/// What the Coupons context is (see `kernel_infra::context`).
pub const CONTEXT: ContextSpec = ContextSpec {
    name: "coupons",
    about: "The Coupons subgraph (codes and redemptions)",
    sdl,
    migrate: |db| Box::pin(coupons_migration::Migrator::up(db, None)),
    settings: SettingsType::of::<NoSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Coupons::new(opening))) }),
    tasks: &[],
    signs: &[],
};

/// A running Coupons context.
#[derive(Clone)]
pub struct Coupons {
    pub coupons: coupons::Coupons,
    pub schema: CouponsSchema,
}

impl Coupons {
    /// Connects to the context's database and applies its migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated, or the token key is broken.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::service::open_as(&CONTEXT, database_url).await
    }

    fn new(opening: Opening) -> Self {
        let coupons = coupons::Coupons::new(opening.db);
        Self {
            schema: graphql::schema(coupons.clone()),
            coupons,
        }
    }
}

impl Context for Coupons {
    fn router(&self) -> axum::Router {
        kernel_infra::server::router(CONTEXT.name, self.schema.clone())
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.coupons.db()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/coupons.graphql.
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
