//! Shipping's use cases: a shipment for every paid order, sent where the order says
//! (consumed from `order.paid.v2`, claimed in the inbox), and the simulated carrier that moves each
//! shipment one step every `step` until it is delivered.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use kernel::{EventEnvelope, EventMeta};
use kernel_infra::CancellationToken;
use kernel_infra::bus::Subscription;
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use serde::Deserialize;
use shipping_domain::{AlreadyShipped, Destination, Shipment, ShipmentId, ShipmentStatus, TrackingEvent};

use crate::repository;

pub const PRODUCER: &str = "shipping";
pub const ORDER_PAID: &str = "ecommerce.orders.order.paid.v2";

#[derive(Clone)]
pub struct Shipping {
    db: DatabaseConnection,
    /// How long the simulated carrier takes for each step.
    step: chrono::Duration,
}

impl Shipping {
    pub fn new(db: DatabaseConnection, step: Duration) -> Self {
        Self {
            db,
            step: chrono::Duration::from_std(step).unwrap_or(chrono::Duration::seconds(20)),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Creates the shipment of a paid order, once, in `txn`.
    ///
    /// # Errors
    /// When the database fails.
    async fn ship(
        &self,
        txn: &DatabaseTransaction,
        order_id: uuid::Uuid,
        user_id: uuid::Uuid,
        destination: Option<Destination>,
        cause: &EventEnvelope,
    ) -> anyhow::Result<()> {
        if repository::of_order(txn, order_id, false).await?.is_none() {
            let now = Utc::now();
            let (shipment, first) = Shipment::for_paid_order(order_id, user_id, destination, now);
            let events = kernel_infra::outbox::wrap(PRODUCER, &EventMeta::caused_by(cause), &[shipment.event()]);
            repository::insert(txn, &shipment, Some(now + self.step), &first, &events).await?;
        }
        Ok(())
    }

    /// Stops the shipment of a canceled order before the carrier picks it up (the
    /// cancellation saga's gate). An order whose payment has not reached Shipping yet
    /// gets a stopped shipment, so the late `order.paid` prints no label. Stopping
    /// again returns the stopped shipment.
    ///
    /// # Errors
    /// `AlreadyShipped` once the carrier has it (CONFLICT); the database failing.
    pub async fn stop(
        &self,
        order_id: uuid::Uuid,
        user_id: uuid::Uuid,
        meta: &EventMeta,
    ) -> Result<Shipment, StopError> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let shipment = match repository::of_order(&txn, order_id, true).await? {
            Some(mut shipment) => {
                let Some(step) = shipment.stop(now)? else {
                    return Ok(shipment);
                };
                let events = kernel_infra::outbox::wrap(PRODUCER, meta, &[shipment.event()]);
                repository::save_move(&txn, &shipment, None, &step, &events).await?;
                shipment
            }
            None => {
                let (shipment, first) = Shipment::stopped_before_label(order_id, user_id, now);
                let events = kernel_infra::outbox::wrap(PRODUCER, meta, &[shipment.event()]);
                repository::insert(&txn, &shipment, None, &first, &events).await?;
                shipment
            }
        };
        txn.commit().await?;
        Ok(shipment)
    }

    /// Moves every shipment whose next step is due. Returns how many moved.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn advance_due(&self) -> Result<usize, DbErr> {
        let now = Utc::now();
        let due = repository::due(&self.db, now, 500).await?;
        let mut moved = 0;
        for id in due {
            let txn = self.db.begin().await?;
            let Some(mut shipment) = repository::due_one(&txn, id, now).await? else {
                continue;
            };
            let Some(step) = shipment.advance(now) else {
                continue;
            };
            let next = (shipment.status() != ShipmentStatus::Delivered).then(|| now + self.step);
            let events = kernel_infra::outbox::wrap(PRODUCER, &EventMeta::internal(), &[shipment.event()]);
            // The row is locked above, so the writes go in one statement.
            repository::save_move(&txn, &shipment, next, &step, &events).await?;
            txn.commit().await?;
            moved += 1;
        }
        Ok(moved)
    }

    /// The simulated carrier, until `shutdown`.
    pub async fn run_carrier(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            if let Err(err) = self.advance_due().await {
                tracing::error!(error = %err, "the simulated carrier failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: ShipmentId) -> Result<Option<Shipment>, DbErr> {
        repository::find(&self.db, id).await
    }

    /// The shipments of `orders`, by order id.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn for_orders(&self, orders: &[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, Shipment>, DbErr> {
        let shipments = repository::of_orders(&self.db, orders).await?;
        Ok(shipments.into_iter().map(|s| (s.order_id(), s)).collect())
    }

    /// A shipment's tracking events, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn tracking(&self, id: ShipmentId) -> Result<Vec<TrackingEvent>, DbErr> {
        repository::tracking(&self.db, id).await
    }
}

/// Why a shipment could not be stopped.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error(transparent)]
    AlreadyShipped(#[from] AlreadyShipped),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl kernel::Classify for StopError {
    fn kind(&self) -> kernel::ErrorKind {
        match self {
            StopError::AlreadyShipped(err) => err.kind(),
            StopError::Db(_) => kernel::ErrorKind::Internal,
        }
    }
}

/// What Shipping reads of `order.paid.v2`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderPaid {
    order_id: uuid::Uuid,
    user_id: uuid::Uuid,
    delivery: Option<PaidDelivery>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaidDelivery {
    shipping_address: kernel::Address,
    method: PaidMethod,
}

#[derive(Deserialize)]
struct PaidMethod {
    name: String,
    carrier: String,
}

/// `order.paid` → a shipment.
pub struct ShipPaidOrders {
    shipping: Shipping,
}

impl ShipPaidOrders {
    pub const CONSUMER: &'static str = "shipping.ship-paid-orders";

    pub fn subscription(shipping: Shipping) -> Subscription {
        let db = shipping.db.clone();
        InboxConsumer::subscription(Self::CONSUMER, vec![ORDER_PAID.to_owned()], db, Self { shipping })
    }
}

#[async_trait]
impl ApplyEvent for ShipPaidOrders {
    async fn apply(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()> {
        let paid: OrderPaid = event.payload_as()?;
        let destination = paid.delivery.map(|d| Destination {
            address: d.shipping_address,
            method: d.method.name,
            carrier: d.method.carrier,
        });
        self.shipping
            .ship(txn, paid.order_id, paid.user_id, destination, event)
            .await
    }
}
