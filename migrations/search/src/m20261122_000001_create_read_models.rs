//! The read models, `product_search_view` and `orders_by_customer`, and the inbox of
//! the consumer that keeps them. Nothing here is a source of truth: both tables are
//! rebuilt from events by `platform replay search`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProductSearchView {
    Table,
    ProductId,
    Name,
    Description,
    Category,
    Status,
    PriceAmount,
    PriceCurrency,
    Skus,
    SearchText,
}

#[derive(DeriveIden)]
enum OrdersByCustomer {
    Table,
    OrderId,
    CustomerId,
    Status,
    TotalAmount,
    TotalCurrency,
    ItemCount,
    PlacedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProductSearchView::Table)
                    .col(
                        ColumnDef::new(ProductSearchView::ProductId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ProductSearchView::Name).string_len(200).not_null())
                    .col(ColumnDef::new(ProductSearchView::Description).text().not_null())
                    .col(ColumnDef::new(ProductSearchView::Category).string_len(100).not_null())
                    .col(ColumnDef::new(ProductSearchView::Status).string_len(16).not_null())
                    .col(ColumnDef::new(ProductSearchView::PriceAmount).big_integer().not_null())
                    .col(
                        ColumnDef::new(ProductSearchView::PriceCurrency)
                            .string_len(3)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ProductSearchView::Skus).text().not_null())
                    .col(ColumnDef::new(ProductSearchView::SearchText).text().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_search_category", ProductSearchView::Category),
            ("idx_search_price", ProductSearchView::PriceAmount),
            ("idx_search_status", ProductSearchView::Status),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ProductSearchView::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(OrdersByCustomer::Table)
                    .col(
                        ColumnDef::new(OrdersByCustomer::OrderId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OrdersByCustomer::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(OrdersByCustomer::Status).string_len(32).not_null())
                    .col(ColumnDef::new(OrdersByCustomer::TotalAmount).big_integer().not_null())
                    .col(ColumnDef::new(OrdersByCustomer::TotalCurrency).string_len(3).not_null())
                    .col(ColumnDef::new(OrdersByCustomer::ItemCount).big_integer().not_null())
                    .col(
                        ColumnDef::new(OrdersByCustomer::PlacedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_orders_by_customer")
                    .table(OrdersByCustomer::Table)
                    .col(OrdersByCustomer::CustomerId)
                    .col(OrdersByCustomer::PlacedAt)
                    .to_owned(),
            )
            .await?;
        kernel_infra::migration::create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["orders_by_customer", "product_search_view"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
