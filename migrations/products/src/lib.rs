//! The Products context's schema, one file per migration.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_products;
mod m20261122_000001_create_flash_sales;
mod m20261207_000001_add_tax;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_products::Migration),
            Box::new(m20261122_000001_create_flash_sales::Migration),
            Box::new(m20261207_000001_add_tax::Migration),
        ]
    }
}
