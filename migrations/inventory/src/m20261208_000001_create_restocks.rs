//! Restocks of returned goods, one row per reference (the return), so that a repeated
//! restock puts nothing back twice.

use kernel_infra::migration::ddl::{column, drop_tables, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("stock_restocks")
                    .col(column("reference").string_len(100).not_null().primary_key())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["stock_restocks"]).await
    }
}
