//! The Payments context's schema, one file per migration.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_payments;
mod m20261207_000001_add_partial_refunds;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_payments::Migration),
            Box::new(m20261207_000001_add_partial_refunds::Migration),
        ]
    }
}
