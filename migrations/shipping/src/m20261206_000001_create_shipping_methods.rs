//! Shipping methods: name, carrier, currency, zones with their rates (JSON text), the
//! free-shipping threshold, the delivery window, and whether the method is offered.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ShippingMethods {
    Table,
    Id,
    Name,
    Carrier,
    Currency,
    Zones,
    FreeFrom,
    MinDays,
    MaxDays,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ShippingMethods::Table)
                    .col(ColumnDef::new(ShippingMethods::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(ShippingMethods::Name).string_len(60).not_null())
                    .col(ColumnDef::new(ShippingMethods::Carrier).string_len(60).not_null())
                    .col(ColumnDef::new(ShippingMethods::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(ShippingMethods::Zones).text().not_null())
                    .col(ColumnDef::new(ShippingMethods::FreeFrom).big_integer().null())
                    .col(ColumnDef::new(ShippingMethods::MinDays).integer().not_null())
                    .col(ColumnDef::new(ShippingMethods::MaxDays).integer().not_null())
                    .col(ColumnDef::new(ShippingMethods::Active).boolean().not_null())
                    .col(
                        ColumnDef::new(ShippingMethods::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ShippingMethods::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ShippingMethods::Table).to_owned())
            .await
    }
}
