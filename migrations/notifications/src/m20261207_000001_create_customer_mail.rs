//! Messages to customers: each customer's e-mail address (learnt from Accounts'
//! events) and every message made from an order's events, with its sending state.

use kernel_infra::migration::ddl::{column, drop_tables, index, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("customer_contacts")
                    .col(column("user_id").uuid().not_null().primary_key())
                    .col(column("email").string_len(320).not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table("customer_messages")
                    .col(column("id").uuid().not_null().primary_key())
                    .col(column("event_id").uuid().not_null().unique_key())
                    .col(column("user_id").uuid().not_null())
                    .col(column("order_id").uuid().null())
                    .col(column("kind").string_len(24).not_null())
                    .col(column("subject").string_len(200).not_null())
                    .col(column("body").text().not_null())
                    .col(column("status").string_len(16).not_null())
                    .col(column("attempts").integer().not_null())
                    .col(column("next_attempt_at").timestamp_with_time_zone().null())
                    .col(column("leased_until").timestamp_with_time_zone().null())
                    .col(column("last_error").text().null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .col(column("sent_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        index(manager, "customer_messages", &["status", "next_attempt_at"], false).await?;
        index(manager, "customer_messages", &["user_id", "created_at"], false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["customer_messages", "customer_contacts"]).await
    }
}
