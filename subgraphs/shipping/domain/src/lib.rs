//! The Shipping context: a shipment per paid order, moved by the carrier through
//! label created → in transit → delivered, each step a tracking event. Fulfilment is
//! choreographed: Shipping reacts to `order.paid` and Orders to Shipping's events. A
//! shipment is stopped (CANCELED) when its order is canceled before the carrier picks
//! it up; that is the gate of the cancellation saga.
//! Shipping also owns the shop's shipping methods and their prices ([`method`]).

use chrono::{DateTime, Utc};
use kernel::{Address, DomainEvent, typed_id};

pub mod method;

pub use method::{
    DeliveryWindow, MethodError, MethodName, Quote, RateBand, ShippingMethod, ShippingMethodId, ShippingMethodState,
    Zone,
};

typed_id!(ShipmentId, "shipment");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipmentStatus {
    LabelCreated,
    InTransit,
    Delivered,
    /// Stopped before the carrier picked it up: its order was canceled.
    Canceled,
}

impl ShipmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentStatus::LabelCreated => "LABEL_CREATED",
            ShipmentStatus::InTransit => "IN_TRANSIT",
            ShipmentStatus::Delivered => "DELIVERED",
            ShipmentStatus::Canceled => "CANCELED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::LabelCreated, Self::InTransit, Self::Delivered, Self::Canceled]
            .into_iter()
            .find(|s| s.as_str() == value)
    }

    /// The carrier's next step, if any.
    pub fn next(self) -> Option<Self> {
        match self {
            ShipmentStatus::LabelCreated => Some(ShipmentStatus::InTransit),
            ShipmentStatus::InTransit => Some(ShipmentStatus::Delivered),
            ShipmentStatus::Delivered | ShipmentStatus::Canceled => None,
        }
    }
}

/// One scan of the parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingEvent {
    pub status: ShipmentStatus,
    pub note: String,
    pub at: DateTime<Utc>,
}

/// Where a parcel goes and how, as the paid order says (its copy of the checkout's
/// address and method).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub address: Address,
    /// The shipping method's name.
    pub method: String,
    pub carrier: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    pub id: ShipmentId,
    pub order_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub status: ShipmentStatus,
    pub carrier: String,
    pub tracking_number: String,
    /// None for an order paid without a delivery.
    pub destination: Option<Destination>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Shipment {
    /// A shipment with its label printed, and its first tracking event. It ships with
    /// the destination's carrier; without a destination, with the simulated one.
    pub fn for_paid_order(
        order_id: uuid::Uuid,
        user_id: uuid::Uuid,
        destination: Option<Destination>,
        now: DateTime<Utc>,
    ) -> (Self, TrackingEvent) {
        let id = ShipmentId::new();
        let tracking_number = format!("SIM{}", &id.as_uuid().simple().to_string()[20..]).to_ascii_uppercase();
        let shipment = Self {
            id,
            order_id,
            user_id,
            status: ShipmentStatus::LabelCreated,
            carrier: destination
                .as_ref()
                .map_or_else(|| "SimCarrier".to_owned(), |d| d.carrier.clone()),
            tracking_number,
            destination,
            created_at: now,
            updated_at: now,
        };
        let event = TrackingEvent {
            status: ShipmentStatus::LabelCreated,
            note: "label created".into(),
            at: now,
        };
        (shipment, event)
    }

    /// The carrier moves the parcel one step; None once delivered.
    pub fn advance(&mut self, now: DateTime<Utc>) -> Option<TrackingEvent> {
        let next = self.status.next()?;
        self.status = next;
        self.updated_at = now;
        Some(TrackingEvent {
            status: next,
            note: match next {
                ShipmentStatus::InTransit => "picked up by the carrier",
                _ => "delivered to the customer",
            }
            .into(),
            at: now,
        })
    }

    /// The order was canceled: the parcel is stopped, if the carrier has not picked it
    /// up. None when it was stopped already.
    ///
    /// # Errors
    /// `AlreadyShipped` once it is in transit or delivered.
    pub fn stop(&mut self, now: DateTime<Utc>) -> Result<Option<TrackingEvent>, AlreadyShipped> {
        match self.status {
            ShipmentStatus::Canceled => Ok(None),
            ShipmentStatus::LabelCreated => {
                self.status = ShipmentStatus::Canceled;
                self.updated_at = now;
                Ok(Some(TrackingEvent {
                    status: ShipmentStatus::Canceled,
                    note: "stopped: the order was canceled".into(),
                    at: now,
                }))
            }
            status @ (ShipmentStatus::InTransit | ShipmentStatus::Delivered) => Err(AlreadyShipped {
                shipment: self.id,
                status,
            }),
        }
    }

    /// An order canceled before its payment reached Shipping: the shipment is recorded
    /// stopped, so the late `order.paid` finds it and prints no label.
    pub fn stopped_before_label(
        order_id: uuid::Uuid,
        user_id: uuid::Uuid,
        now: DateTime<Utc>,
    ) -> (Self, TrackingEvent) {
        let (mut shipment, _) = Self::for_paid_order(order_id, user_id, None, now);
        shipment.status = ShipmentStatus::Canceled;
        let event = TrackingEvent {
            status: ShipmentStatus::Canceled,
            note: "stopped before its label was printed: the order was canceled".into(),
            at: now,
        };
        (shipment, event)
    }

    pub fn event(&self) -> ShippingEvent {
        ShippingEvent { shipment: self.clone() }
    }
}

/// A shipment the carrier has picked up cannot be stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shipment {shipment} is {}: the carrier has it, it can no longer be stopped", status.as_str())]
pub struct AlreadyShipped {
    pub shipment: ShipmentId,
    pub status: ShipmentStatus,
}

impl kernel::Classify for AlreadyShipped {
    fn kind(&self) -> kernel::ErrorKind {
        kernel::ErrorKind::Conflict
    }
}

/// `shipment.label_created`, `in_transit`, `delivered` or `canceled`, by the
/// shipment's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingEvent {
    pub shipment: Shipment,
}

impl ShippingEvent {
    pub const LABEL_CREATED: &'static str = "ecommerce.shipping.shipment.label_created.v1";
    pub const IN_TRANSIT: &'static str = "ecommerce.shipping.shipment.in_transit.v1";
    pub const DELIVERED: &'static str = "ecommerce.shipping.shipment.delivered.v1";
    pub const CANCELED: &'static str = "ecommerce.shipping.shipment.canceled.v1";
}

impl DomainEvent for ShippingEvent {
    fn event_type(&self) -> &'static str {
        match self.shipment.status {
            ShipmentStatus::LabelCreated => Self::LABEL_CREATED,
            ShipmentStatus::InTransit => Self::IN_TRANSIT,
            ShipmentStatus::Delivered => Self::DELIVERED,
            ShipmentStatus::Canceled => Self::CANCELED,
        }
    }

    /// Ordered by the order, like the order's own events.
    fn partition_key(&self) -> String {
        self.shipment.order_id.to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let s = &self.shipment;
        serde_json::json!({
            "shipmentId": s.id, "orderId": s.order_id, "userId": s.user_id, "status": s.status.as_str(),
            "carrier": s.carrier, "trackingNumber": s.tracking_number,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::EventType;

    #[test]
    fn the_carrier_moves_a_shipment_to_delivered_and_stops() {
        let (mut shipment, first) =
            Shipment::for_paid_order(uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), None, Utc::now());
        assert_eq!(first.status, ShipmentStatus::LabelCreated);
        assert_eq!(shipment.event().event_type(), ShippingEvent::LABEL_CREATED);
        assert_eq!(shipment.advance(Utc::now()).unwrap().status, ShipmentStatus::InTransit);
        assert_eq!(shipment.advance(Utc::now()).unwrap().status, ShipmentStatus::Delivered);
        assert_eq!(shipment.event().event_type(), ShippingEvent::DELIVERED);
        assert!(shipment.advance(Utc::now()).is_none());
        for name in [
            ShippingEvent::LABEL_CREATED,
            ShippingEvent::IN_TRANSIT,
            ShippingEvent::DELIVERED,
            ShippingEvent::CANCELED,
        ] {
            assert_eq!(EventType::parse(name).unwrap().version(), 1);
        }
    }

    #[test]
    fn a_shipment_is_stopped_only_before_the_carrier_has_it() {
        let now = Utc::now();
        let (mut waiting, _) = Shipment::for_paid_order(uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), None, now);
        assert_eq!(waiting.stop(now).unwrap().unwrap().status, ShipmentStatus::Canceled);
        assert_eq!(waiting.event().event_type(), ShippingEvent::CANCELED);
        assert_eq!(waiting.stop(now), Ok(None), "stopping again changes nothing");
        assert!(waiting.advance(now).is_none(), "the carrier never moves it again");

        let (mut picked_up, _) = Shipment::for_paid_order(uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), None, now);
        picked_up.advance(now);
        let err = picked_up.stop(now).unwrap_err();
        assert_eq!(err.status, ShipmentStatus::InTransit);
        assert_eq!(kernel::Classify::kind(&err), kernel::ErrorKind::Conflict);
        assert_eq!(picked_up.status, ShipmentStatus::InTransit);

        let (early, first) = Shipment::stopped_before_label(uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), now);
        assert_eq!(
            (early.status, first.status),
            (ShipmentStatus::Canceled, ShipmentStatus::Canceled)
        );
    }
}
