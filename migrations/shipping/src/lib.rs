//! The Shipping context's schema, one file per migration.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_shipping;
mod m20261206_000001_create_shipping_methods;
mod m20261206_000002_add_destination;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_shipping::Migration),
            Box::new(m20261206_000001_create_shipping_methods::Migration),
            Box::new(m20261206_000002_add_destination::Migration),
            Box::new(kernel_infra::migration::CreateDeadLetters),
            Box::new(kernel_infra::migration::IndexInboxByConsumer),
        ]
    }
}
