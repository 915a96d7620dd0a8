//! The consumer that keeps the read models: every product and order event, claimed in
//! the inbox and applied in one transaction, so a redelivery changes nothing.

use async_trait::async_trait;
use kernel::EventEnvelope;
use kernel_infra::bus::Subscription;
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use search_domain::events;

use crate::projection;

pub struct KeepReadModels;

impl KeepReadModels {
    pub const CONSUMER: &'static str = "search.read-models";

    /// The event types the read models are built from.
    pub fn event_types() -> Vec<String> {
        events::PRODUCT_EVENTS
            .into_iter()
            .chain(events::ORDER_EVENTS)
            .map(str::to_owned)
            .collect()
    }

    pub fn subscription(db: DatabaseConnection) -> Subscription {
        InboxConsumer::subscription(Self::CONSUMER, Self::event_types(), db, Self)
    }
}

#[async_trait]
impl ApplyEvent for KeepReadModels {
    async fn apply(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()> {
        projection::apply(txn, event).await?;
        Ok(())
    }
}
