//! Tax: each product's tax category, the rates per country (and region where one
//! matters) and category, and per country whether its prices include tax.

use kernel_infra::migration::ddl::{add_columns, column, drop_columns, drop_tables, primary_key, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            manager,
            "products",
            vec![
                column("tax_category")
                    .string_len(16)
                    .not_null()
                    .default("STANDARD")
                    .to_owned(),
            ],
        )
        .await?;
        // A rate for a whole country has the region '' (a key column cannot be NULL).
        manager
            .create_table(
                table("tax_rates")
                    .col(column("country").string_len(2).not_null())
                    .col(column("region").string_len(64).not_null())
                    .col(column("category").string_len(16).not_null())
                    .col(column("rate_millionths").integer().not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .primary_key(&mut primary_key(&["country", "region", "category"]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table("tax_markets")
                    .col(column("country").string_len(2).not_null().primary_key())
                    .col(column("prices_include_tax").boolean().not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["tax_markets", "tax_rates"]).await?;
        drop_columns(manager, "products", &["tax_category"]).await
    }
}
