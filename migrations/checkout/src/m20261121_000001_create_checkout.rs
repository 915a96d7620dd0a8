//! Checkout sessions (the saga's process state), the log of every step's outcome, and
//! the context's outbox and inbox.

use kernel_infra::migration::ddl::{column, drop_tables, index, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("checkout_sessions")
                    .col(column("id").uuid().not_null().primary_key())
                    .col(column("user_id").uuid().not_null())
                    .col(column("cart_id").uuid().not_null())
                    .col(column("coupon_code").string_len(32).null())
                    .col(column("payment_method").string_len(64).not_null())
                    .col(column("idempotency_key").string_len(200).not_null())
                    .col(column("fingerprint").string_len(400).not_null())
                    .col(column("lines").text().not_null())
                    .col(column("status").string_len(16).not_null())
                    .col(column("step").string_len(24).null())
                    .col(column("failed_step").string_len(24).null())
                    .col(column("failure").string_len(600).null())
                    .col(column("reservation_id").uuid().not_null())
                    .col(column("redemption_id").uuid().not_null())
                    .col(column("order_id").uuid().null())
                    .col(column("payment_id").uuid().null())
                    .col(column("currency").string_len(3).not_null())
                    .col(column("discount").big_integer().null())
                    .col(column("total").big_integer().null())
                    .col(column("locked_by").string_len(64).null())
                    .col(column("locked_until").timestamp_with_time_zone().null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(manager, "checkout_sessions", &["user_id", "idempotency_key"], true).await?;
        index(manager, "checkout_sessions", &["status", "updated_at"], false).await?;
        manager
            .create_table(
                table("checkout_steps")
                    .col(column("id").big_integer().not_null().auto_increment().primary_key())
                    .col(column("session_id").uuid().not_null())
                    .col(column("step").string_len(24).not_null())
                    .col(column("outcome").string_len(16).not_null())
                    .col(column("detail").string_len(600).null())
                    .col(column("at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(manager, "checkout_steps", &["session_id", "id"], false).await?;
        kernel_infra::migration::create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        kernel_infra::migration::drop_outbox_and_inbox(manager).await?;
        drop_tables(manager, &["checkout_steps", "checkout_sessions"]).await
    }
}
