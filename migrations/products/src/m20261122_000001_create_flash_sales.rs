//! Flash sales: a timed sale price per product. At most one sale per product is
//! scheduled or running: a partial unique index holds it under concurrency.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FlashSales {
    Table,
    Id,
    ProductId,
    PriceAmount,
    PriceCurrency,
    RegularPriceAmount,
    StartsAt,
    EndsAt,
    Status,
    EndedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let at = |column| ColumnDef::new(column).timestamp_with_time_zone().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(FlashSales::Table)
                    .col(ColumnDef::new(FlashSales::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(FlashSales::ProductId).uuid().not_null())
                    .col(ColumnDef::new(FlashSales::PriceAmount).big_integer().not_null())
                    .col(ColumnDef::new(FlashSales::PriceCurrency).string_len(3).not_null())
                    .col(ColumnDef::new(FlashSales::RegularPriceAmount).big_integer().null())
                    .col(at(FlashSales::StartsAt))
                    .col(at(FlashSales::EndsAt))
                    .col(ColumnDef::new(FlashSales::Status).string_len(16).not_null())
                    .col(ColumnDef::new(FlashSales::EndedAt).timestamp_with_time_zone().null())
                    .col(at(FlashSales::CreatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_flash_sales_product",
                vec![FlashSales::ProductId, FlashSales::Status],
            ),
            (
                "idx_flash_sales_status_starts",
                vec![FlashSales::Status, FlashSales::StartsAt],
            ),
            (
                "idx_flash_sales_status_ends",
                vec![FlashSales::Status, FlashSales::EndsAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(FlashSales::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // Partial indexes read the same on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_flash_sales_open ON flash_sales (product_id) \
                 WHERE status IN ('SCHEDULED', 'ACTIVE')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FlashSales::Table).to_owned())
            .await
    }
}
