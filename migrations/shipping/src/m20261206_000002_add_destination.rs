//! Where a shipment goes: the order's shipping address (JSON) and method name.

use kernel_infra::migration::ddl::{add_columns, column, drop_columns};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            manager,
            "shipments",
            vec![
                column("ship_to").text().null().to_owned(),
                column("method").string_len(100).null().to_owned(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(manager, "shipments", &["method", "ship_to"]).await
    }
}
