//! Shipments (one per order), their tracking events, and the context's outbox and
//! inbox.

use kernel_infra::migration::ddl::{column, drop_tables, index, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("shipments")
                    .col(column("id").uuid().not_null().primary_key())
                    .col(column("order_id").uuid().not_null().unique_key())
                    .col(column("user_id").uuid().not_null())
                    .col(column("status").string_len(16).not_null())
                    .col(column("carrier").string_len(50).not_null())
                    .col(column("tracking_number").string_len(50).not_null())
                    .col(column("next_step_at").timestamp_with_time_zone().null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(manager, "shipments", &["next_step_at"], false).await?;
        manager
            .create_table(
                table("tracking_events")
                    .col(column("id").big_integer().not_null().auto_increment().primary_key())
                    .col(column("shipment_id").uuid().not_null())
                    .col(column("status").string_len(16).not_null())
                    .col(column("note").string_len(200).not_null())
                    .col(column("at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(manager, "tracking_events", &["shipment_id", "id"], false).await?;
        kernel_infra::migration::create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        kernel_infra::migration::drop_outbox_and_inbox(manager).await?;
        drop_tables(manager, &["tracking_events", "shipments"]).await
    }
}
