//! Dead letters: the events this context's consumers failed on again and again,
//! parked for staff (`kernel_infra::dead_letters`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        kernel_infra::migration::create_dead_letters(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        kernel_infra::migration::drop_dead_letters(manager).await
    }
}
