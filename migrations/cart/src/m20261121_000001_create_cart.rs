//! Carts (one active per customer or session), their lines, the local price table fed
//! by Products' events, and the context's outbox and inbox.

use kernel_infra::migration::ddl::{column, drop_tables, index, primary_key, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("carts")
                    .col(column("id").uuid().not_null().primary_key())
                    .col(column("user_id").uuid().null())
                    .col(column("session_id").string_len(128).null())
                    .col(column("status").string_len(16).not_null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        // One active cart per owner, whatever races to create it.
        let conn = manager.get_connection();
        conn.execute_unprepared("CREATE UNIQUE INDEX carts_active_user_idx ON carts (user_id) WHERE status = 'ACTIVE'")
            .await?;
        conn.execute_unprepared(
            "CREATE UNIQUE INDEX carts_active_session_idx ON carts (session_id) WHERE status = 'ACTIVE'",
        )
        .await?;
        index(manager, "carts", &["status", "updated_at"], false).await?;
        manager
            .create_table(
                table("cart_lines")
                    .col(column("cart_id").uuid().not_null())
                    .col(column("sku").string_len(64).not_null())
                    .col(column("product_id").uuid().not_null())
                    .col(column("quantity").big_integer().not_null())
                    .col(column("position").integer().not_null())
                    .primary_key(&mut primary_key(&["cart_id", "sku"]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table("sku_prices")
                    .col(column("sku").string_len(64).not_null().primary_key())
                    .col(column("product_id").uuid().not_null())
                    .col(column("name").string_len(200).not_null())
                    .col(column("amount").big_integer().not_null())
                    .col(column("currency").string_len(3).not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(manager, "sku_prices", &["product_id"], false).await?;
        kernel_infra::migration::create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        kernel_infra::migration::drop_outbox_and_inbox(manager).await?;
        drop_tables(manager, &["sku_prices", "cart_lines", "carts"]).await
    }
}
