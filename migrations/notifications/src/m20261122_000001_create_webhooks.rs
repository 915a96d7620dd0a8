//! Partners' webhook subscriptions, the deliveries of events to them, every attempt
//! of each delivery, and the context's outbox and inbox.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    Id,
    PartnerId,
    Url,
    EventTypes,
    Secret,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    SubscriptionId,
    PartnerId,
    EventId,
    EventType,
    Body,
    Status,
    Attempts,
    NextAttemptAt,
    LeasedUntil,
    LastStatusCode,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    Number,
    AttemptedAt,
    StatusCode,
    Error,
    DurationMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookSubscriptions::Table)
                    .col(ColumnDef::new(WebhookSubscriptions::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(WebhookSubscriptions::PartnerId).uuid().not_null())
                    .col(ColumnDef::new(WebhookSubscriptions::Url).string_len(2048).not_null())
                    .col(ColumnDef::new(WebhookSubscriptions::EventTypes).text().not_null())
                    .col(ColumnDef::new(WebhookSubscriptions::Secret).string_len(128).not_null())
                    .col(ColumnDef::new(WebhookSubscriptions::Active).boolean().not_null())
                    .col(
                        ColumnDef::new(WebhookSubscriptions::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_subscriptions_partner")
                    .table(WebhookSubscriptions::Table)
                    .col(WebhookSubscriptions::PartnerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(ColumnDef::new(WebhookDeliveries::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(WebhookDeliveries::SubscriptionId).uuid().not_null())
                    .col(ColumnDef::new(WebhookDeliveries::PartnerId).uuid().not_null())
                    .col(ColumnDef::new(WebhookDeliveries::EventId).uuid().not_null())
                    .col(ColumnDef::new(WebhookDeliveries::EventType).string_len(128).not_null())
                    .col(ColumnDef::new(WebhookDeliveries::Body).text().not_null())
                    .col(ColumnDef::new(WebhookDeliveries::Status).string_len(16).not_null())
                    .col(ColumnDef::new(WebhookDeliveries::Attempts).integer().not_null())
                    .col(ColumnDef::new(WebhookDeliveries::NextAttemptAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(WebhookDeliveries::LeasedUntil).timestamp_with_time_zone())
                    .col(ColumnDef::new(WebhookDeliveries::LastStatusCode).integer())
                    .col(ColumnDef::new(WebhookDeliveries::LastError).text())
                    .col(
                        ColumnDef::new(WebhookDeliveries::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookDeliveries::DeliveredAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        // One delivery per event and subscription, however often the event arrives.
        manager
            .create_index(
                Index::create()
                    .name("uq_webhook_deliveries_event")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::SubscriptionId)
                    .col(WebhookDeliveries::EventId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(ColumnDef::new(WebhookAttempts::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(WebhookAttempts::DeliveryId).uuid().not_null())
                    .col(ColumnDef::new(WebhookAttempts::Number).integer().not_null())
                    .col(
                        ColumnDef::new(WebhookAttempts::AttemptedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookAttempts::StatusCode).integer())
                    .col(ColumnDef::new(WebhookAttempts::Error).text())
                    .col(ColumnDef::new(WebhookAttempts::DurationMs).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_webhook_attempts_number")
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::DeliveryId)
                    .col(WebhookAttempts::Number)
                    .unique()
                    .to_owned(),
            )
            .await?;
        kernel_infra::migration::create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webhook_attempts", "webhook_deliveries", "webhook_subscriptions"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        kernel_infra::migration::drop_outbox_and_inbox(manager).await
    }
}
