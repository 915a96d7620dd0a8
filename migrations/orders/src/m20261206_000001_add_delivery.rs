//! An order's delivery: the snapshot of where and how it ships (JSON, as the order
//! keeps it) and what shipping costs, in the order's currency.

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
                column("shipping").big_integer().not_null().default(0).to_owned(),
                column("delivery").text().null().to_owned(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(manager, "orders", &["delivery", "shipping"]).await
    }
}
