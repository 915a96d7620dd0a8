//! The consumer that keeps the read models: every product and order event, claimed in
//! the inbox and applied in one transaction, so a redelivery changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use kernel::EventEnvelope;
use kernel_infra::bus::{Delivery, EventHandler, Subscription};
use sea_orm::{DatabaseConnection, TransactionTrait};
use search_domain::events;

use crate::projection;

pub struct KeepReadModels {
    db: DatabaseConnection,
}

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
        Subscription {
            consumer: Self::CONSUMER.to_owned(),
            event_types: Self::event_types(),
            handler: Arc::new(Self { db }),
            delivery: Delivery::Shared,
        }
    }
}

#[async_trait]
impl EventHandler for KeepReadModels {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let txn = self.db.begin().await?;
        if !kernel_infra::inbox::claim(&txn, Self::CONSUMER, event).await? {
            return Ok(());
        }
        projection::apply(&txn, event).await?;
        txn.commit().await?;
        Ok(())
    }
}
