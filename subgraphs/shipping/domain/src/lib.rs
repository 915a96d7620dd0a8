//! The Shipping context: a shipment per paid order, moved by the carrier through
//! label created → in transit → delivered, each step a tracking event. Fulfilment is
//! choreographed: Shipping reacts to `order.paid` and Orders to Shipping's events. A
//! shipment is stopped (CANCELED) when its order is canceled before the carrier picks
//! it up; that is the gate of the cancellation saga.
//!
//! - [`shipment`]: a shipment and its tracking; [`event`]: the events it publishes;
//! - [`method`]: the shop's shipping methods and their prices.

pub mod event;
pub mod method;
pub mod shipment;

pub use event::ShippingEvent;
pub use method::{
    DeliveryWindow, MethodError, MethodName, Quote, RateBand, ShippingMethod, ShippingMethodId, ShippingMethodState,
    Zone,
};
pub use shipment::{AlreadyShipped, Destination, Shipment, ShipmentStatus, StoredShipment, TrackingEvent};

kernel::typed_id!(ShipmentId, "shipment");

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use kernel::{DomainEvent, EventType};

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
        assert_eq!(picked_up.status(), ShipmentStatus::InTransit);

        let (early, first) = Shipment::stopped_before_label(uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), now);
        assert_eq!(
            (early.status(), first.status),
            (ShipmentStatus::Canceled, ShipmentStatus::Canceled)
        );
    }
}
