//! Live order updates: the `order.status_changed` events (v1 and v2) that feed
//! Orders' subscriptions (`kernel_infra::live`), read back into status updates.

use chrono::{DateTime, Utc};
use kernel::EventEnvelope;
use kernel_infra::live::LiveFeed;
use orders_domain::{OrderEvent, OrderStatus};
use serde::Deserialize;

/// One status change of one order, as the event carried it.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub event_id: uuid::Uuid,
    /// The W3C trace id the event carries.
    pub trace_id: String,
    pub order_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub reason: String,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusChangedPayload {
    order_id: uuid::Uuid,
    user_id: uuid::Uuid,
    from: Option<OrderStatus>,
    to: OrderStatus,
    reason: String,
}

/// The events of every move: v1, and v2 for the moves v1 cannot name (the two are
/// disjoint and carry the same fields).
pub const EVENT_TYPES: [&str; 2] = [OrderEvent::STATUS_CHANGED, OrderEvent::STATUS_CHANGED_V2];

/// The feed of every order's status changes.
pub fn feed() -> LiveFeed {
    LiveFeed::new("orders.live-updates", &EVENT_TYPES)
}

impl StatusUpdate {
    /// The update an event carries; `None` for an event of another shape.
    pub fn from_event(event: &EventEnvelope) -> Option<Self> {
        let payload: StatusChangedPayload = event.payload_as().ok()?;
        Some(Self {
            event_id: event.event_id.as_uuid(),
            trace_id: event.trace_id.clone(),
            order_id: payload.order_id,
            user_id: payload.user_id,
            from: payload.from,
            to: payload.to,
            reason: payload.reason,
            occurred_at: event.occurred_at,
        })
    }
}
