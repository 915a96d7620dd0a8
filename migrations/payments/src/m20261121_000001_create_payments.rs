//! Payments, their provider transactions, the append-only double-entry ledger, and
//! the context's outbox and inbox.

use kernel_infra::migration::ddl::{append_only, column, drop_tables, index, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("payments")
                    .col(column("id").uuid().not_null().primary_key())
                    .col(column("order_id").uuid().not_null())
                    .col(column("user_id").uuid().not_null())
                    .col(column("amount").big_integer().not_null())
                    .col(column("currency").string_len(3).not_null())
                    .col(column("method").string_len(64).not_null())
                    .col(column("status").string_len(16).not_null())
                    .col(column("idempotency_key").string_len(200).not_null().unique_key())
                    .col(column("provider_ref").string_len(100).null())
                    .col(column("failure_reason").string_len(300).null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(manager, "payments", &["order_id"], false).await?;
        manager
            .create_table(
                table("payment_transactions")
                    .col(column("id").uuid().not_null().primary_key())
                    .col(column("payment_id").uuid().not_null())
                    .col(column("kind").string_len(16).not_null())
                    .col(column("amount").big_integer().not_null())
                    .col(column("currency").string_len(3).not_null())
                    .col(column("provider_ref").string_len(100).not_null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        // One transaction of each kind per payment: a retried capture cannot book twice.
        index(manager, "payment_transactions", &["payment_id", "kind"], true).await?;
        manager
            .create_table(
                table("ledger_entries")
                    .col(column("id").big_integer().not_null().auto_increment().primary_key())
                    .col(column("transaction_id").uuid().not_null())
                    .col(column("account").string_len(16).not_null())
                    .col(column("amount").big_integer().not_null())
                    .col(column("currency").string_len(3).not_null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(manager, "ledger_entries", &["transaction_id"], false).await?;
        // The ledger is append-only: the database refuses to change or remove an entry.
        append_only(manager, "ledger_entries").await?;
        kernel_infra::migration::create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        kernel_infra::migration::drop_outbox_and_inbox(manager).await?;
        drop_tables(manager, &["ledger_entries", "payment_transactions", "payments"]).await
    }
}
