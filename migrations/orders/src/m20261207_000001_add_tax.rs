//! An order's tax: the lines as JSON (as the order keeps them) and their sum, in the
//! order's currency.

use kernel_infra::migration::ddl::{add_columns, column, drop_columns};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            manager,
            "orders",
            vec![
                column("tax").big_integer().not_null().default(0).to_owned(),
                column("tax_lines").text().null().to_owned(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(manager, "orders", &["tax_lines", "tax"]).await
    }
}
