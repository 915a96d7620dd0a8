//! Products, their variants (SKU unique across the catalog), the price history
//! (validity intervals) and the context's outbox and inbox.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Name,
    Description,
    Category,
    Attributes,
    Status,
    PriceAmount,
    PriceCurrency,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProductVariants {
    Table,
    Sku,
    ProductId,
    Position,
    Name,
    Attributes,
}

#[derive(DeriveIden)]
enum ProductPrices {
    Table,
    Id,
    ProductId,
    Amount,
    Currency,
    ValidFrom,
    ValidTo,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(ColumnDef::new(Products::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Products::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Products::Description).text().not_null())
                    .col(ColumnDef::new(Products::Category).string_len(100).not_null())
                    .col(ColumnDef::new(Products::Attributes).text().not_null())
                    .col(ColumnDef::new(Products::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Products::PriceAmount).big_integer().not_null())
                    .col(ColumnDef::new(Products::PriceCurrency).string_len(3).not_null())
                    .col(ColumnDef::new(Products::Version).big_integer().not_null())
                    .col(
                        ColumnDef::new(Products::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Products::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_products_category", Products::Category),
            ("idx_products_status", Products::Status),
            ("idx_products_price", Products::PriceAmount),
        ] {
            manager
                .create_index(Index::create().name(name).table(Products::Table).col(column).to_owned())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ProductVariants::Table)
                    .col(
                        ColumnDef::new(ProductVariants::Sku)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ProductVariants::ProductId).uuid().not_null())
                    .col(ColumnDef::new(ProductVariants::Position).integer().not_null())
                    .col(ColumnDef::new(ProductVariants::Name).string_len(200).not_null())
                    .col(ColumnDef::new(ProductVariants::Attributes).text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProductVariants::Table, ProductVariants::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_variants_product")
                    .table(ProductVariants::Table)
                    .col(ProductVariants::ProductId)
                    .col(ProductVariants::Position)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProductPrices::Table)
                    .col(
                        ColumnDef::new(ProductPrices::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ProductPrices::ProductId).uuid().not_null())
                    .col(ColumnDef::new(ProductPrices::Amount).big_integer().not_null())
                    .col(ColumnDef::new(ProductPrices::Currency).string_len(3).not_null())
                    .col(
                        ColumnDef::new(ProductPrices::ValidFrom)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ProductPrices::ValidTo).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProductPrices::Table, ProductPrices::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_prices_product_from")
                    .table(ProductPrices::Table)
                    .col(ProductPrices::ProductId)
                    .col(ProductPrices::ValidFrom)
                    .to_owned(),
            )
            .await?;
        kernel_infra::migration::create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        kernel_infra::migration::drop_outbox_and_inbox(manager).await?;
        manager
            .drop_table(Table::drop().table(ProductPrices::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ProductVariants::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Products::Table).to_owned())
            .await
    }
}
