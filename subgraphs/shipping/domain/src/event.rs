//! The events Shipping publishes (contracts, v1).

use kernel::DomainEvent;

use crate::{Shipment, ShipmentStatus};

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
        match self.shipment.status() {
            ShipmentStatus::LabelCreated => Self::LABEL_CREATED,
            ShipmentStatus::InTransit => Self::IN_TRANSIT,
            ShipmentStatus::Delivered => Self::DELIVERED,
            ShipmentStatus::Canceled => Self::CANCELED,
        }
    }

    /// Ordered by the order, like the order's own events.
    fn partition_key(&self) -> String {
        self.shipment.order_id().to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let s = &self.shipment;
        serde_json::json!({
            "shipmentId": s.id(), "orderId": s.order_id(), "userId": s.user_id(), "status": s.status().as_str(),
            "carrier": s.carrier(), "trackingNumber": s.tracking_number(),
        })
    }
}
