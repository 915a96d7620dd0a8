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
use kernel_infra::db::{FirstWrite, write_together};
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
};
use serde::Deserialize;
use shipping_domain::{AlreadyShipped, Destination, Shipment, ShipmentId, ShipmentStatus, TrackingEvent};

use crate::entity::{shipment, tracking};

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
        let exists = shipment::Entity::find()
            .filter(shipment::Column::OrderId.eq(order_id))
            .one(txn)
            .await?
            .is_some();
        if !exists {
            let now = Utc::now();
            let (shipment, first) = Shipment::for_paid_order(order_id, user_id, destination, now);
            let row = insert_row(&shipment, Some(now + self.step)).into_query();
            let events = kernel_infra::outbox::wrap(PRODUCER, &EventMeta::caused_by(cause), &[shipment.event()]);
            write_with_tracking(txn, row, shipment.id, &first, &events).await?;
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
        let mut query = shipment::Entity::find().filter(shipment::Column::OrderId.eq(order_id));
        if kernel_infra::db::is_postgres(&txn) {
            query = query.lock_exclusive();
        }
        let shipment = match query.one(&txn).await? {
            Some(row) => {
                let mut shipment = from_row(row)?;
                let Some(step) = shipment.stop(now)? else {
                    return Ok(shipment);
                };
                let update = shipment::Entity::update_many()
                    .col_expr(shipment::Column::Status, Expr::value(shipment.status.as_str()))
                    .col_expr(
                        shipment::Column::NextStepAt,
                        Expr::value(Option::<chrono::DateTime<Utc>>::None),
                    )
                    .col_expr(shipment::Column::UpdatedAt, Expr::value(now))
                    .filter(shipment::Column::Id.eq(shipment.id.as_uuid()))
                    .into_query();
                let events = kernel_infra::outbox::wrap(PRODUCER, meta, &[shipment.event()]);
                write_with_tracking(&txn, update, shipment.id, &step, &events).await?;
                shipment
            }
            None => {
                let (shipment, first) = Shipment::stopped_before_label(order_id, user_id, now);
                let row = insert_row(&shipment, None).into_query();
                let events = kernel_infra::outbox::wrap(PRODUCER, meta, &[shipment.event()]);
                write_with_tracking(&txn, row, shipment.id, &first, &events).await?;
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
        let due: Vec<uuid::Uuid> = shipment::Entity::find()
            .select_only()
            .column(shipment::Column::Id)
            .filter(shipment::Column::NextStepAt.lte(now))
            .limit(500)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut moved = 0;
        for id in due {
            let txn = self.db.begin().await?;
            let mut query = shipment::Entity::find_by_id(id).filter(shipment::Column::NextStepAt.lte(now));
            if kernel_infra::db::is_postgres(&txn) {
                query = query.lock_exclusive();
            }
            let Some(row) = query.one(&txn).await? else {
                continue;
            };
            let mut shipment = from_row(row)?;
            let Some(step) = shipment.advance(now) else {
                continue;
            };
            let next = (shipment.status != ShipmentStatus::Delivered).then(|| now + self.step);
            let update = shipment::Entity::update_many()
                .col_expr(shipment::Column::Status, Expr::value(shipment.status.as_str()))
                .col_expr(shipment::Column::NextStepAt, Expr::value(next))
                .col_expr(shipment::Column::UpdatedAt, Expr::value(now))
                .filter(shipment::Column::Id.eq(id))
                .into_query();
            let events = kernel_infra::outbox::wrap(PRODUCER, &EventMeta::internal(), &[shipment.event()]);
            // The row is locked above, so the writes go in one statement.
            write_with_tracking(&txn, update, shipment.id, &step, &events).await?;
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
        shipment::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
            .map(from_row)
            .transpose()
    }

    /// The shipments of `orders`, by order id.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn for_orders(&self, orders: &[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, Shipment>, DbErr> {
        let rows = shipment::Entity::find()
            .filter(shipment::Column::OrderId.is_in(orders.to_vec()))
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| from_row(row).map(|s| (s.order_id, s)))
            .collect()
    }

    /// A shipment's tracking events, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn tracking(&self, id: ShipmentId) -> Result<Vec<TrackingEvent>, DbErr> {
        let rows = tracking::Entity::find()
            .filter(tracking::Column::ShipmentId.eq(id.as_uuid()))
            .order_by_asc(tracking::Column::Id)
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(TrackingEvent {
                    status: status(&row.status)?,
                    note: row.note,
                    at: row.at,
                })
            })
            .collect()
    }
}

/// The insert of a new shipment, whose carrier moves it next at `next_step_at`.
fn insert_row(
    shipment: &Shipment,
    next_step_at: Option<chrono::DateTime<Utc>>,
) -> sea_orm::Insert<shipment::ActiveModel> {
    let destination = shipment.destination.as_ref();
    shipment::Entity::insert(shipment::ActiveModel {
        id: Set(shipment.id.as_uuid()),
        order_id: Set(shipment.order_id),
        user_id: Set(shipment.user_id),
        status: Set(shipment.status.as_str().to_owned()),
        carrier: Set(shipment.carrier.clone()),
        tracking_number: Set(shipment.tracking_number.clone()),
        // An address always serialises: it is strings.
        ship_to: Set(destination.and_then(|d| serde_json::to_string(&d.address).ok())),
        method: Set(destination.map(|d| d.method.clone())),
        next_step_at: Set(next_step_at),
        created_at: Set(shipment.created_at),
        updated_at: Set(shipment.updated_at),
    })
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

/// Writes a shipment's row (`first`), its tracking entry and its events: one statement
/// on PostgreSQL ([`write_together`]).
async fn write_with_tracking(
    conn: &impl ConnectionTrait,
    first: impl FirstWrite,
    id: ShipmentId,
    event: &TrackingEvent,
    events: &[EventEnvelope],
) -> Result<(), DbErr> {
    let tracking = tracking::Entity::insert(tracking::ActiveModel {
        shipment_id: Set(id.as_uuid()),
        status: Set(event.status.as_str().to_owned()),
        note: Set(event.note.clone()),
        at: Set(event.at),
        ..Default::default()
    })
    .into_query();
    let mut rest = vec![tracking];
    rest.extend(kernel_infra::outbox::insert(events));
    write_together(conn, first, rest).await?;
    Ok(())
}

fn status(value: &str) -> Result<ShipmentStatus, DbErr> {
    ShipmentStatus::parse(value).ok_or_else(|| DbErr::Custom(format!("unknown shipment status {value}")))
}

fn from_row(row: shipment::Model) -> Result<Shipment, DbErr> {
    let destination = match row.ship_to.as_deref() {
        Some(json) => Some(Destination {
            address: serde_json::from_str(json)
                .map_err(|e| DbErr::Custom(format!("stored address of shipment {}: {e}", row.id)))?,
            method: row.method.clone().unwrap_or_default(),
            carrier: row.carrier.clone(),
        }),
        None => None,
    };
    Ok(Shipment {
        id: ShipmentId::from_uuid(row.id),
        order_id: row.order_id,
        user_id: row.user_id,
        status: status(&row.status)?,
        carrier: row.carrier,
        tracking_number: row.tracking_number,
        destination,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
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
