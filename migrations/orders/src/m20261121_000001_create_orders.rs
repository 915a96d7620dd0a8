//! Orders with their item snapshots, the append-only status history, placement
//! idempotency keys, and the context's outbox and inbox.

use kernel_infra::migration::ddl::{append_only, column, drop_tables, index, primary_key, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("orders")
                    .col(column("id").uuid().not_null().primary_key())
                    .col(column("user_id").uuid().not_null())
                    .col(column("status").string_len(20).not_null())
                    .col(column("currency").string_len(3).not_null())
                    .col(column("subtotal").big_integer().not_null())
                    .col(column("discount").big_integer().not_null())
                    .col(column("total").big_integer().not_null())
                    .col(column("coupon_code").string_len(32).null())
                    .col(column("checkout_id").uuid().null())
                    .col(column("payment_id").uuid().null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(manager, "orders", &["user_id", "id"], false).await?;
        index(manager, "orders", &["status", "created_at"], false).await?;
        manager
            .create_table(
                table("order_items")
                    .col(column("order_id").uuid().not_null())
                    .col(column("line").integer().not_null())
                    .col(column("product_id").uuid().not_null())
                    .col(column("sku").string_len(64).not_null())
                    .col(column("name").string_len(200).not_null())
                    .col(column("unit_price").big_integer().not_null())
                    .col(column("quantity").big_integer().not_null())
                    .primary_key(&mut primary_key(&["order_id", "line"]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table("order_status_history")
                    .col(column("id").big_integer().not_null().auto_increment().primary_key())
                    .col(column("order_id").uuid().not_null())
                    .col(column("from_status").string_len(20).null())
                    .col(column("to_status").string_len(20).not_null())
                    .col(column("reason").string_len(200).not_null())
                    .col(column("at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(manager, "order_status_history", &["order_id", "id"], false).await?;
        manager
            .create_table(
                table("order_idempotency_keys")
                    .col(column("user_id").uuid().not_null())
                    .col(column("key").string_len(200).not_null())
                    .col(column("request_hash").string_len(64).not_null())
                    .col(column("order_id").uuid().not_null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .primary_key(&mut primary_key(&["user_id", "key"]))
                    .to_owned(),
            )
            .await?;
        index(manager, "order_idempotency_keys", &["created_at"], false).await?;
        // The history is append-only: the database refuses to change or remove a row.
        append_only(manager, "order_status_history").await?;
        kernel_infra::migration::create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        kernel_infra::migration::drop_outbox_and_inbox(manager).await?;
        drop_tables(
            manager,
            &[
                "order_idempotency_keys",
                "order_status_history",
                "order_items",
                "orders",
            ],
        )
        .await
    }
}
