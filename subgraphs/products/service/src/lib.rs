//! The Products subgraph service: the catalog's persistence, use cases and GraphQL
//! adapter around `products-domain`. Run it alone with the `products` binary, or
//! with every other context through the platform launcher.

pub mod cache;
pub mod catalog;
pub mod entity;
pub mod flash_sales;
pub mod graphql;
pub mod live;
pub mod repository;
pub mod tax;

use std::time::Duration;

use kernel_infra::CancellationToken;
use kernel_infra::bus::Subscription;
use kernel_infra::context::{Context, ContextSpec, Job, NoSettings, Opening, SettingsType};
use sea_orm_migration::MigratorTrait;

pub use catalog::{Catalog, CatalogError};
pub use graphql::ProductsSchema;

/// What the Products context is (see `kernel_infra::context`).
pub const CONTEXT: ContextSpec = ContextSpec {
    name: "products",
    about: "The Products subgraph (catalog, prices, flash sales, tax rates)",
    sdl,
    migrate: |db| Box::pin(products_migration::Migrator::up(db, None)),
    settings: SettingsType::of::<NoSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Products::new(opening))) }),
    tasks: &[],
    signs: &[],
};

/// A running Products context: its database, use cases and schema.
#[derive(Clone)]
pub struct Products {
    pub catalog: Catalog,
    pub flash_sales: flash_sales::FlashSales,
    pub tax_rates: tax::TaxRates,
    pub live: kernel_infra::live::LiveFeed,
    /// Catalog changes, for the gateway's response cache.
    pub invalidations: kernel_infra::cache::InvalidationFeed,
    pub schema: ProductsSchema,
}

impl Products {
    /// Connects to the context's database and applies its migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::service::open_as(&CONTEXT, database_url).await
    }

    fn new(opening: Opening) -> Self {
        let db = opening.db;
        let catalog = Catalog::new(db.clone());
        let flash_sales = flash_sales::FlashSales::new(db.clone());
        let tax_rates = tax::TaxRates::new(db.clone());
        let live = live::feed();
        Self {
            invalidations: cache::feed(db),
            schema: graphql::schema(catalog.clone(), flash_sales.clone(), tax_rates.clone(), live.clone()),
            catalog,
            flash_sales,
            tax_rates,
            live,
        }
    }
}

impl Context for Products {
    fn router(&self) -> axum::Router {
        kernel_infra::server::router(CONTEXT.name, self.schema.clone()).merge(self.invalidations.routes())
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.catalog.db()
    }

    /// The live feed of its subscriptions; catalog changes go to the gateway's cache.
    fn subscriptions(&self) -> Vec<Subscription> {
        vec![self.live.subscription(), self.invalidations.subscription()]
    }

    /// Flash sales start and end on time.
    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let flash_sales = self.flash_sales.clone().run(Duration::from_secs(1), shutdown.clone());
        vec![Job::new("flash sales", flash_sales)]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/products.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(graphql::Query::default(), graphql::Mutation, live::Subscription)
        .enable_federation()
        .enable_subscription_in_federation()
        .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
