//! The Search context's schema, one file per migration.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_read_models;
mod m20261208_000001_add_returns;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_read_models::Migration),
            Box::new(m20261208_000001_add_returns::Migration),
            Box::new(kernel_infra::migration::CreateDeadLetters),
            Box::new(kernel_infra::migration::IndexInboxByConsumer),
        ]
    }
}
