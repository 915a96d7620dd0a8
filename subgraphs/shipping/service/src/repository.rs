//! Shipping's SQL: shipments, their tracking entries, and the shipping methods.

use chrono::{DateTime, Utc};
use kernel::EventEnvelope;
use kernel_infra::db::{FirstWrite, write_together};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};
use shipping_domain::{Destination, Shipment, ShipmentId, ShipmentStatus, StoredShipment, TrackingEvent};

use crate::entity::{shipment, tracking};

pub mod methods;

/// The shipment of `order_id`, locked for the transaction on PostgreSQL when `lock`.
pub(crate) async fn of_order(
    conn: &impl ConnectionTrait,
    order_id: uuid::Uuid,
    lock: bool,
) -> Result<Option<Shipment>, DbErr> {
    let mut query = shipment::Entity::find().filter(shipment::Column::OrderId.eq(order_id));
    if lock && kernel_infra::db::is_postgres(conn) {
        query = query.lock_exclusive();
    }
    query.one(conn).await?.map(from_row).transpose()
}

pub(crate) async fn find(conn: &impl ConnectionTrait, id: ShipmentId) -> Result<Option<Shipment>, DbErr> {
    shipment::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await?
        .map(from_row)
        .transpose()
}

/// The shipments of `orders`.
pub(crate) async fn of_orders(conn: &impl ConnectionTrait, orders: &[uuid::Uuid]) -> Result<Vec<Shipment>, DbErr> {
    shipment::Entity::find()
        .filter(shipment::Column::OrderId.is_in(orders.to_vec()))
        .all(conn)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// The shipments whose carrier step is due at `now`, at most `limit`.
pub(crate) async fn due(conn: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<uuid::Uuid>, DbErr> {
    shipment::Entity::find()
        .select_only()
        .column(shipment::Column::Id)
        .filter(shipment::Column::NextStepAt.lte(now))
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await
}

/// The shipment `id` if its step is still due at `now`, locked for the transaction on
/// PostgreSQL.
pub(crate) async fn due_one(
    conn: &impl ConnectionTrait,
    id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Shipment>, DbErr> {
    let mut query = shipment::Entity::find_by_id(id).filter(shipment::Column::NextStepAt.lte(now));
    if kernel_infra::db::is_postgres(conn) {
        query = query.lock_exclusive();
    }
    query.one(conn).await?.map(from_row).transpose()
}

/// A shipment's tracking events, oldest first.
pub(crate) async fn tracking(conn: &impl ConnectionTrait, id: ShipmentId) -> Result<Vec<TrackingEvent>, DbErr> {
    let rows = tracking::Entity::find()
        .filter(tracking::Column::ShipmentId.eq(id.as_uuid()))
        .order_by_asc(tracking::Column::Id)
        .all(conn)
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

/// Inserts a new shipment, whose carrier moves it next at `next_step_at`, with its
/// first tracking entry and its events.
pub(crate) async fn insert(
    conn: &impl ConnectionTrait,
    shipment: &Shipment,
    next_step_at: Option<DateTime<Utc>>,
    first: &TrackingEvent,
    events: &[EventEnvelope],
) -> Result<(), DbErr> {
    let row = insert_row(shipment, next_step_at).into_query();
    write_with_tracking(conn, row, shipment.id(), first, events).await
}

/// Saves a shipment's move (its status, and when the carrier moves it next) with its
/// tracking entry and its events.
pub(crate) async fn save_move(
    conn: &impl ConnectionTrait,
    shipment: &Shipment,
    next_step_at: Option<DateTime<Utc>>,
    step: &TrackingEvent,
    events: &[EventEnvelope],
) -> Result<(), DbErr> {
    let update = shipment::Entity::update_many()
        .col_expr(shipment::Column::Status, Expr::value(shipment.status().as_str()))
        .col_expr(shipment::Column::NextStepAt, Expr::value(next_step_at))
        .col_expr(shipment::Column::UpdatedAt, Expr::value(shipment.updated_at()))
        .filter(shipment::Column::Id.eq(shipment.id().as_uuid()))
        .into_query();
    write_with_tracking(conn, update, shipment.id(), step, events).await
}

/// The insert of a new shipment, whose carrier moves it next at `next_step_at`.
fn insert_row(
    shipment: &Shipment,
    next_step_at: Option<chrono::DateTime<Utc>>,
) -> sea_orm::Insert<shipment::ActiveModel> {
    let destination = shipment.destination();
    shipment::Entity::insert(shipment::ActiveModel {
        id: Set(shipment.id().as_uuid()),
        order_id: Set(shipment.order_id()),
        user_id: Set(shipment.user_id()),
        status: Set(shipment.status().as_str().to_owned()),
        carrier: Set(shipment.carrier().to_owned()),
        tracking_number: Set(shipment.tracking_number().to_owned()),
        // An address always serialises: it is strings.
        ship_to: Set(destination.and_then(|d| serde_json::to_string(&d.address).ok())),
        method: Set(destination.map(|d| d.method.clone())),
        next_step_at: Set(next_step_at),
        created_at: Set(shipment.created_at()),
        updated_at: Set(shipment.updated_at()),
    })
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
    Ok(StoredShipment {
        id: ShipmentId::from_uuid(row.id),
        order_id: row.order_id,
        user_id: row.user_id,
        status: status(&row.status)?,
        carrier: row.carrier,
        tracking_number: row.tracking_number,
        destination,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
    .into())
}
