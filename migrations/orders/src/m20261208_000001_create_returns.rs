//! Returns: the units a customer sends back of a delivered order (the lines as JSON,
//! with what each refunds), their status and what the return refunds in all.

use kernel_infra::migration::ddl::{column, drop_tables, index, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("order_returns")
                    .col(column("id").uuid().not_null().primary_key())
                    .col(column("order_id").uuid().not_null())
                    .col(column("user_id").uuid().not_null())
                    .col(column("status").string_len(16).not_null())
                    .col(column("reason").text().not_null())
                    .col(column("lines").text().not_null())
                    .col(column("currency").string_len(3).not_null())
                    .col(column("shipping_refund").big_integer().not_null())
                    .col(column("refund").big_integer().not_null())
                    .col(column("refusal").text().null())
                    .col(column("failure").text().null())
                    .col(column("requested_at").timestamp_with_time_zone().not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(manager, "order_returns", &["order_id", "id"], false).await?;
        index(manager, "order_returns", &["status", "requested_at"], false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["order_returns"]).await
    }
}
