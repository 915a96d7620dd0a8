//! The Checkout context's schema, one file per migration.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_checkout;
mod m20261206_000001_add_delivery;
mod m20261207_000001_add_cancellation;
mod m20261207_000002_add_tax_rates;
mod m20261208_000001_create_return_processes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_checkout::Migration),
            Box::new(m20261206_000001_add_delivery::Migration),
            Box::new(m20261207_000001_add_cancellation::Migration),
            Box::new(m20261207_000002_add_tax_rates::Migration),
            Box::new(m20261208_000001_create_return_processes::Migration),
        ]
    }
}
