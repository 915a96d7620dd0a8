//! A completed checkout's cancellation (why the customer asked for it, and the order's
//! checkout found by the order's id), and what staff need of a STUCK one: the step
//! that was refused, and how they resolved it.

use kernel_infra::migration::ddl::{add_columns, column, drop_columns, drop_index, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            manager,
            "checkout_sessions",
            vec![
                column("cancel_reason").text().null().to_owned(),
                column("stuck_step").string_len(24).null().to_owned(),
                column("resolution").text().null().to_owned(),
            ],
        )
        .await?;
        index(manager, "checkout_sessions", &["order_id"], false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_index(manager, "checkout_sessions", &["order_id"]).await?;
        drop_columns(
            manager,
            "checkout_sessions",
            &["resolution", "stuck_step", "cancel_reason"],
        )
        .await
    }
}
