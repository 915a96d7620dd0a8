//! The Notifications context's schema, one file per migration.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_webhooks;
mod m20261207_000001_create_customer_mail;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_webhooks::Migration),
            Box::new(m20261207_000001_create_customer_mail::Migration),
            Box::new(kernel_infra::migration::CreateDeadLetters),
            Box::new(kernel_infra::migration::IndexInboxByConsumer),
        ]
    }
}
