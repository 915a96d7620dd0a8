//! A checkout's delivery: what the customer asked for and what was settled (the
//! addresses copied, the method quoted), both as JSON.

use kernel_infra::migration::ddl::{add_columns, column, drop_columns};
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
                column("delivery_request").text().null().to_owned(),
                column("delivery").text().null().to_owned(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(manager, "checkout_sessions", &["delivery", "delivery_request"]).await
    }
}
