//! The Orders context's schema, one file per migration.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_orders;
mod m20261206_000001_add_delivery;
mod m20261207_000001_add_tax;
mod m20261208_000001_create_returns;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_orders::Migration),
            Box::new(m20261206_000001_add_delivery::Migration),
            Box::new(m20261207_000001_add_tax::Migration),
            Box::new(m20261208_000001_create_returns::Migration),
            Box::new(kernel_infra::migration::CreateDeadLetters),
            Box::new(kernel_infra::migration::IndexInboxByConsumer),
        ]
    }
}
