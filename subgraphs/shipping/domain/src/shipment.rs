//! A shipment: its parcel's journey from label to delivery, or its stop.

use chrono::{DateTime, Utc};
use kernel::Address;

use crate::{ShipmentId, ShippingEvent};

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
/// A parcel for a paid order. Its status changes only by [`Shipment::advance`] and [`Shipment::stop`]; one read back from the store is a [`StoredShipment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    id: ShipmentId,
    order_id: uuid::Uuid,
    user_id: uuid::Uuid,
    status: ShipmentStatus,
    carrier: String,
    tracking_number: String,
    /// None for an order paid without a delivery.
    destination: Option<Destination>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A shipment as it was stored, read back without its rules checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredShipment {
    pub id: ShipmentId,
    pub order_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub status: ShipmentStatus,
    pub carrier: String,
    pub tracking_number: String,
    pub destination: Option<Destination>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoredShipment> for Shipment {
    fn from(stored: StoredShipment) -> Self {
        Self {
            id: stored.id,
            order_id: stored.order_id,
            user_id: stored.user_id,
            status: stored.status,
            carrier: stored.carrier,
            tracking_number: stored.tracking_number,
            destination: stored.destination,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
}

impl Shipment {
    pub fn id(&self) -> ShipmentId {
        self.id
    }
    pub fn order_id(&self) -> uuid::Uuid {
        self.order_id
    }
    pub fn user_id(&self) -> uuid::Uuid {
        self.user_id
    }
    pub fn status(&self) -> ShipmentStatus {
        self.status
    }
    pub fn carrier(&self) -> &str {
        &self.carrier
    }
    pub fn tracking_number(&self) -> &str {
        &self.tracking_number
    }
    /// None for an order paid without a delivery.
    pub fn destination(&self) -> Option<&Destination> {
        self.destination.as_ref()
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

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
