//! The Coupons subgraph service: coupons and their redemptions around
//! `coupons-domain`.

pub mod coupons;
pub mod entity;
pub mod graphql;

use std::sync::Arc;

use kernel_infra::bus::EventBus;
use kernel_infra::relay::Relay;
use sea_orm_migration::MigratorTrait;

pub use coupons::{Coupons as CouponsService, CouponsError};
pub use graphql::CouponsSchema;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/coupons.db";

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
        kernel_infra::identity::TokenVerifier::load_shared()?;
        let db = kernel_infra::db::connect(database_url).await?;
        coupons_migration::Migrator::up(&db, None).await?;
        let coupons = coupons::Coupons::new(db);
        Ok(Self {
            schema: graphql::schema(coupons.clone()),
            coupons,
        })
    }

    pub fn router(&self) -> axum::Router {
        kernel_infra::server::router(self.schema.clone())
    }

    pub fn relay(&self, bus: Arc<dyn EventBus>) -> Relay {
        Relay::new(self.coupons.db().clone(), bus)
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/coupons.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(graphql::Query, graphql::Mutation, async_graphql::EmptySubscription)
        .enable_federation()
        .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
