//! The Shipping subgraph: `Shipment @key(id)` with its tracking events, and
//! `Order.shipment` through federation. Only the buyer and staff see a shipment.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, EmptyMutation, EmptySubscription, Enum, Error, ID, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use kernel_infra::graphql::{bad_input, internal, not_found};
use kernel_infra::identity::require_user;
use shipping_domain::{Shipment, ShipmentId, ShipmentStatus, TrackingEvent};

use crate::shipping::Shipping;

pub type ShippingSchema = Schema<Query, EmptyMutation, EmptySubscription>;

pub fn schema(shipping: Shipping) -> ShippingSchema {
    kernel_infra::graphql::with_limits(Schema::build(Query, EmptyMutation, EmptySubscription))
        .enable_federation()
        .data(DataLoader::new(ShipmentByOrder(shipping.clone()), tokio::spawn))
        .data(shipping)
        .finish()
}

pub struct ShipmentByOrder(Shipping);

impl Loader<uuid::Uuid> for ShipmentByOrder {
    type Value = Shipment;
    type Error = Error;

    async fn load(&self, keys: &[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, Shipment>, Error> {
        self.0.for_orders(keys).await.map_err(internal)
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ShipmentStatus")]
pub enum ShipmentStatusValue {
    LabelCreated,
    InTransit,
    Delivered,
}

impl From<ShipmentStatus> for ShipmentStatusValue {
    fn from(status: ShipmentStatus) -> Self {
        match status {
            ShipmentStatus::LabelCreated => Self::LabelCreated,
            ShipmentStatus::InTransit => Self::InTransit,
            ShipmentStatus::Delivered => Self::Delivered,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "TrackingEvent")]
pub struct TrackingEventObject {
    status: ShipmentStatusValue,
    note: String,
    at: DateTime<Utc>,
}

impl From<TrackingEvent> for TrackingEventObject {
    fn from(e: TrackingEvent) -> Self {
        Self {
            status: e.status.into(),
            note: e.note,
            at: e.at,
        }
    }
}

pub struct ShipmentObject(Shipment);

/// The parcel of an order.
#[Object(name = "Shipment")]
impl ShipmentObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn order_id(&self) -> ID {
        ID(self.0.order_id.to_string())
    }
    async fn status(&self) -> ShipmentStatusValue {
        self.0.status.into()
    }
    async fn carrier(&self) -> &str {
        &self.0.carrier
    }
    async fn tracking_number(&self) -> &str {
        &self.0.tracking_number
    }
    /// Every scan, oldest first.
    async fn tracking_events(&self, ctx: &Context<'_>) -> Result<Vec<TrackingEventObject>> {
        let events = ctx
            .data_unchecked::<Shipping>()
            .tracking(self.0.id)
            .await
            .map_err(internal)?;
        Ok(events.into_iter().map(Into::into).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Shipping's part of `Order` (owned by Orders).
pub struct OrderShipment {
    id: uuid::Uuid,
}

#[Object(name = "Order")]
impl OrderShipment {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The order's shipment; null until the order is paid, and for anyone but the
    /// buyer and staff.
    async fn shipment(&self, ctx: &Context<'_>) -> Result<Option<ShipmentObject>> {
        let caller = require_user(ctx)?;
        let shipment = ctx
            .data_unchecked::<DataLoader<ShipmentByOrder>>()
            .load_one(self.id)
            .await?;
        Ok(shipment.filter(|s| caller.may_act_for(s.user_id)).map(ShipmentObject))
    }
}

async fn visible(ctx: &Context<'_>, id: &ID) -> Result<Option<ShipmentObject>> {
    let caller = require_user(ctx)?;
    let id = ShipmentId::parse(id).map_err(bad_input)?;
    let shipment = ctx.data_unchecked::<Shipping>().get(id).await.map_err(internal)?;
    Ok(shipment.filter(|s| caller.may_act_for(s.user_id)).map(ShipmentObject))
}

pub struct Query;

#[Object]
impl Query {
    /// A shipment of the caller's (any for staff); null when there is none.
    async fn shipment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ShipmentObject>> {
        visible(ctx, &id).await
    }

    #[graphql(entity)]
    async fn find_shipment_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<ShipmentObject> {
        visible(ctx, &id)
            .await?
            .ok_or_else(|| not_found(format!("shipment {} does not exist", id.as_str())))
    }

    #[graphql(entity)]
    async fn find_order_by_id(&self, id: ID) -> Result<OrderShipment> {
        let id = uuid::Uuid::try_parse(&id).map_err(|_| bad_input("not a valid order id"))?;
        Ok(OrderShipment { id })
    }
}
