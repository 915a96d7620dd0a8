//! Stock per SKU, reservations with their lines, the append-only stock movements, and
//! the context's outbox and inbox.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StockItems {
    Table,
    Sku,
    ProductId,
    OnHand,
    Reserved,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StockReservations {
    Table,
    Id,
    Status,
    Reference,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StockReservationLines {
    Table,
    ReservationId,
    Sku,
    Quantity,
}

#[derive(DeriveIden)]
enum StockMovements {
    Table,
    Id,
    Sku,
    OnHandDelta,
    ReservedDelta,
    Reason,
    Note,
    ReservationId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StockItems::Table)
                    .col(ColumnDef::new(StockItems::Sku).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(StockItems::ProductId).uuid().null())
                    .col(ColumnDef::new(StockItems::OnHand).big_integer().not_null())
                    .col(ColumnDef::new(StockItems::Reserved).big_integer().not_null())
                    .col(
                        ColumnDef::new(StockItems::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .check(Expr::col(StockItems::Reserved).gte(0))
                    .check(Expr::col(StockItems::OnHand).gte(Expr::col(StockItems::Reserved)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_stock_items_product")
                    .table(StockItems::Table)
                    .col(StockItems::ProductId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StockReservations::Table)
                    .col(ColumnDef::new(StockReservations::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(StockReservations::Status).string_len(16).not_null())
                    .col(ColumnDef::new(StockReservations::Reference).string_len(200).null())
                    .col(
                        ColumnDef::new(StockReservations::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StockReservations::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StockReservations::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reservations_status_expiry")
                    .table(StockReservations::Table)
                    .col(StockReservations::Status)
                    .col(StockReservations::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StockReservationLines::Table)
                    .col(ColumnDef::new(StockReservationLines::ReservationId).uuid().not_null())
                    .col(ColumnDef::new(StockReservationLines::Sku).string_len(64).not_null())
                    .col(ColumnDef::new(StockReservationLines::Quantity).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(StockReservationLines::ReservationId)
                            .col(StockReservationLines::Sku),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StockReservationLines::Table, StockReservationLines::ReservationId)
                            .to(StockReservations::Table, StockReservations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StockMovements::Table)
                    .col(
                        ColumnDef::new(StockMovements::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(StockMovements::Sku).string_len(64).not_null())
                    .col(ColumnDef::new(StockMovements::OnHandDelta).big_integer().not_null())
                    .col(ColumnDef::new(StockMovements::ReservedDelta).big_integer().not_null())
                    .col(ColumnDef::new(StockMovements::Reason).string_len(32).not_null())
                    .col(ColumnDef::new(StockMovements::Note).string_len(200).null())
                    .col(ColumnDef::new(StockMovements::ReservationId).uuid().null())
                    .col(
                        ColumnDef::new(StockMovements::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_movements_sku")
                    .table(StockMovements::Table)
                    .col(StockMovements::Sku)
                    .col(StockMovements::Id)
                    .to_owned(),
            )
            .await?;
        kernel_infra::migration::create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        kernel_infra::migration::drop_outbox_and_inbox(manager).await?;
        for table in [
            StockMovements::Table.into_iden(),
            StockReservationLines::Table.into_iden(),
            StockReservations::Table.into_iden(),
            StockItems::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
