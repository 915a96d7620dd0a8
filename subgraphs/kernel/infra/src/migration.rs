//! The outbox and inbox tables, created by each context's first migration.
//!
//! Every context's database has its own copy: the outbox of the events it produces and
//! the inbox of the events it has consumed.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Seq,
    EventId,
    EventType,
    PartitionKey,
    Envelope,
    OccurredAt,
    PublishedAt,
    Attempts,
    LastError,
}

#[derive(DeriveIden)]
enum InboxEvents {
    Table,
    Consumer,
    EventId,
    EventType,
    ProcessedAt,
}

/// Creates `outbox_events` and `inbox_events` with their indexes.
///
/// # Errors
/// When the database refuses the DDL.
pub async fn create_outbox_and_inbox(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(OutboxEvents::Table)
                .col(
                    ColumnDef::new(OutboxEvents::Seq)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(OutboxEvents::EventId).uuid().not_null().unique_key())
                .col(ColumnDef::new(OutboxEvents::EventType).string_len(200).not_null())
                .col(ColumnDef::new(OutboxEvents::PartitionKey).string_len(200).not_null())
                .col(ColumnDef::new(OutboxEvents::Envelope).text().not_null())
                .col(
                    ColumnDef::new(OutboxEvents::OccurredAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OutboxEvents::PublishedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ColumnDef::new(OutboxEvents::Attempts).integer().not_null().default(0))
                .col(ColumnDef::new(OutboxEvents::LastError).text().null())
                .to_owned(),
        )
        .await?;
    // The relay reads pending rows in order; the partial index keeps that read small
    // however long the published history grows.
    manager
        .get_connection()
        .execute_unprepared("CREATE INDEX idx_outbox_pending ON outbox_events (seq) WHERE published_at IS NULL")
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_outbox_partition_pending")
                .table(OutboxEvents::Table)
                .col(OutboxEvents::PartitionKey)
                .col(OutboxEvents::PublishedAt)
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(InboxEvents::Table)
                .col(ColumnDef::new(InboxEvents::Consumer).string_len(100).not_null())
                .col(ColumnDef::new(InboxEvents::EventId).uuid().not_null())
                .col(ColumnDef::new(InboxEvents::EventType).string_len(200).not_null())
                .col(
                    ColumnDef::new(InboxEvents::ProcessedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(Index::create().col(InboxEvents::Consumer).col(InboxEvents::EventId))
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Drops what [`create_outbox_and_inbox`] made.
///
/// # Errors
/// When the database refuses the DDL.
pub async fn drop_outbox_and_inbox(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(InboxEvents::Table).to_owned())
        .await?;
    manager
        .drop_table(Table::drop().table(OutboxEvents::Table).to_owned())
        .await
}
