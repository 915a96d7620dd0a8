//! An order summary's returns: how many were asked for and not refused, and what they
//! refunded. New events, so no replay is needed for the rows already there.

use kernel_infra::migration::ddl::{add_columns, column, drop_columns};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            manager,
            "orders_by_customer",
            vec![
                column("returns").big_integer().not_null().default(0).to_owned(),
                column("refunded_amount").big_integer().not_null().default(0).to_owned(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(manager, "orders_by_customer", &["refunded_amount", "returns"]).await
    }
}
