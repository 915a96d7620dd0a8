//! The Inventory context's schema, one file per migration.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_inventory;
mod m20261208_000001_create_restocks;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_inventory::Migration),
            Box::new(m20261208_000001_create_restocks::Migration),
            Box::new(kernel_infra::migration::CreateDeadLetters),
            Box::new(kernel_infra::migration::IndexInboxByConsumer),
        ]
    }
}
