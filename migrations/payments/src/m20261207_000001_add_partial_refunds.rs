//! Partial refunds: what a payment's refunds gave back so far, and a refund's reference
//! (unique per payment, so a repeated refund is recognised). A payment may now have
//! several REFUND transactions, so (payment, kind) is no longer unique; its status
//! may be PARTIALLY_REFUNDED, so the column is wider.

use kernel_infra::migration::ddl::{add_columns, column, drop_columns, drop_index, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            manager,
            "payments",
            vec![column("refunded").big_integer().not_null().default(0).to_owned()],
        )
        .await?;
        // PARTIALLY_REFUNDED is longer than the 16 characters the status had (SQLite
        // does not enforce a length).
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE payments ALTER COLUMN status TYPE varchar(24)")
                .await?;
        }
        // Payments refunded in full before this migration gave back all they took.
        manager
            .get_connection()
            .execute_unprepared("UPDATE payments SET refunded = amount WHERE status = 'REFUNDED'")
            .await?;
        add_columns(
            manager,
            "payment_transactions",
            vec![column("reference").string_len(200).null().to_owned()],
        )
        .await?;
        drop_index(manager, "payment_transactions", &["payment_id", "kind"]).await?;
        index(manager, "payment_transactions", &["payment_id", "kind"], false).await?;
        index(manager, "payment_transactions", &["payment_id", "reference"], true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_index(manager, "payment_transactions", &["payment_id", "reference"]).await?;
        drop_index(manager, "payment_transactions", &["payment_id", "kind"]).await?;
        index(manager, "payment_transactions", &["payment_id", "kind"], true).await?;
        drop_columns(manager, "payment_transactions", &["reference"]).await?;
        drop_columns(manager, "payments", &["refunded"]).await
    }
}
