//! The return saga's processes, one per return (its id), with the same lease columns
//! as checkout sessions; their steps go to `checkout_steps` under the return's id.

use kernel_infra::migration::ddl::{column, drop_tables, index, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("return_processes")
                    .col(column("id").uuid().not_null().primary_key())
                    .col(column("order_id").uuid().null())
                    .col(column("payment_id").uuid().null())
                    .col(column("refund").big_integer().null())
                    .col(column("currency").string_len(3).null())
                    .col(column("lines").text().null())
                    .col(column("status").string_len(16).not_null())
                    .col(column("step").string_len(24).null())
                    .col(column("failed_step").string_len(24).null())
                    .col(column("failure").string_len(600).null())
                    .col(column("locked_by").string_len(64).null())
                    .col(column("locked_until").timestamp_with_time_zone().null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(manager, "return_processes", &["status", "updated_at"], false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["return_processes"]).await
    }
}
