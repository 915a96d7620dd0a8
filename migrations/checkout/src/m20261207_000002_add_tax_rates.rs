//! The tax rates of a checkout's shipping address, as Products answered them when the
//! checkout started (JSON, `checkout_domain::TaxRates`).

use kernel_infra::migration::ddl::{add_columns, column, drop_columns};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            manager,
            "checkout_sessions",
            vec![column("tax_rates").text().null().to_owned()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(manager, "checkout_sessions", &["tax_rates"]).await
    }
}
