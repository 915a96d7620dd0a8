//! Address books: each user's saved addresses (the checked address as JSON text) and
//! which one is their default for shipping and for billing.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Addresses {
    Table,
    Id,
    UserId,
    Address,
    IsDefaultShipping,
    IsDefaultBilling,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Addresses::Table)
                    .col(ColumnDef::new(Addresses::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Addresses::UserId).uuid().not_null())
                    .col(ColumnDef::new(Addresses::Address).text().not_null())
                    .col(ColumnDef::new(Addresses::IsDefaultShipping).boolean().not_null())
                    .col(ColumnDef::new(Addresses::IsDefaultBilling).boolean().not_null())
                    .col(
                        ColumnDef::new(Addresses::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Addresses::Table, Addresses::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("addresses_by_user")
                    .table(Addresses::Table)
                    .col(Addresses::UserId)
                    .col(Addresses::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Addresses::Table).to_owned())
            .await
    }
}
