//! What Orders does with other contexts' events (fulfilment is choreographed):
//!
//! - shipping `shipment.label_created` → FULFILLING, `in_transit` → SHIPPED,
//!   `delivered` → DELIVERED;
//! - payments `payment.refunded` → REFUNDED.
//!
//! Each is claimed in the inbox in the same transaction as the order's change. An event
//! that no longer fits the order's state (it was refunded meanwhile) is recorded and
//! skipped, so it cannot block the events behind it.

use async_trait::async_trait;
use kernel::{EventEnvelope, EventMeta};
use kernel_infra::bus::Subscription;
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use orders_domain::{OrderError, OrderId, OrderStatus};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde::Deserialize;

use crate::orders::{OrdersError, transition_in};

pub const LABEL_CREATED: &str = "ecommerce.shipping.shipment.label_created.v1";
pub const IN_TRANSIT: &str = "ecommerce.shipping.shipment.in_transit.v1";
pub const DELIVERED: &str = "ecommerce.shipping.shipment.delivered.v1";
pub const PAYMENT_REFUNDED: &str = "ecommerce.payments.payment.refunded.v1";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AboutOrder {
    order_id: uuid::Uuid,
}

pub struct FollowFulfilment;

impl FollowFulfilment {
    pub const CONSUMER: &'static str = "orders.follow-fulfilment";

    pub fn subscription(db: DatabaseConnection) -> Subscription {
        let event_types = [LABEL_CREATED, IN_TRANSIT, DELIVERED, PAYMENT_REFUNDED]
            .map(str::to_owned)
            .to_vec();
        InboxConsumer::subscription(Self::CONSUMER, event_types, db, Self)
    }
}

#[async_trait]
impl ApplyEvent for FollowFulfilment {
    async fn apply(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()> {
        let about: AboutOrder = event.payload_as()?;
        let (to, reason) = match event.event_type.as_str() {
            LABEL_CREATED => (OrderStatus::Fulfilling, "shipping label created"),
            IN_TRANSIT => (OrderStatus::Shipped, "handed to the carrier"),
            DELIVERED => (OrderStatus::Delivered, "delivered"),
            PAYMENT_REFUNDED => (OrderStatus::Refunded, "payment refunded"),
            other => anyhow::bail!("unexpected event type {other}"),
        };
        let id = OrderId::from_uuid(about.order_id);
        match transition_in(txn, id, to, reason, None, &EventMeta::caused_by(event)).await {
            Ok(_) => {}
            Err(OrdersError::Order(OrderError::Transition { from, to })) => {
                tracing::warn!(order.id = %id, from, to, event_id = %event.event_id, "event does not fit the order's state; skipped");
            }
            Err(OrdersError::NotFound(_)) => {
                tracing::warn!(order.id = %id, event_id = %event.event_id, "event for an unknown order; skipped");
            }
            Err(err) => return Err(err.into()),
        }
        Ok(())
    }
}
