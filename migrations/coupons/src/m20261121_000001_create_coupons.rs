//! Coupons with their rules and use counter, redemptions, and the context's outbox
//! and inbox.

use kernel_infra::migration::ddl::{column, drop_tables, index, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("coupons")
                    .col(column("id").uuid().not_null().primary_key())
                    .col(column("code").string_len(32).not_null().unique_key())
                    .col(column("kind").string_len(16).not_null())
                    .col(column("basis_points").integer().null())
                    .col(column("fixed_amount").big_integer().null())
                    .col(column("currency").string_len(3).null())
                    .col(column("minimum_order_amount").big_integer().null())
                    .col(column("valid_from").timestamp_with_time_zone().not_null())
                    .col(column("valid_until").timestamp_with_time_zone().null())
                    .col(column("max_uses").integer().null())
                    .col(column("max_uses_per_user").integer().null())
                    .col(column("uses").integer().not_null())
                    .col(column("active").boolean().not_null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table("coupon_redemptions")
                    .col(column("id").uuid().not_null().primary_key())
                    .col(column("coupon_id").uuid().not_null())
                    .col(column("code").string_len(32).not_null())
                    .col(column("user_id").uuid().not_null())
                    .col(column("order_amount").big_integer().not_null())
                    .col(column("discount_amount").big_integer().not_null())
                    .col(column("currency").string_len(3).not_null())
                    .col(column("status").string_len(16).not_null())
                    .col(column("created_at").timestamp_with_time_zone().not_null())
                    .col(column("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "coupon_redemptions",
            &["coupon_id", "user_id", "status"],
            false,
        )
        .await?;
        kernel_infra::migration::create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        kernel_infra::migration::drop_outbox_and_inbox(manager).await?;
        drop_tables(manager, &["coupon_redemptions", "coupons"]).await
    }
}
