//! What Notifications tells the other contexts.

use kernel::DomainEvent;

use crate::{DeliveryId, WebhookSubscriptionId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationEvent {
    /// A delivery used every attempt of its schedule and is dead.
    WebhookDeliveryFailed {
        delivery_id: DeliveryId,
        subscription_id: WebhookSubscriptionId,
        partner_id: uuid::Uuid,
        url: String,
        /// The event that could not be delivered.
        event_id: uuid::Uuid,
        event_type: String,
        attempts: u32,
        last_error: String,
    },
    /// Someone (staff, or the partner) sent a dead delivery once more.
    WebhookRedelivered {
        delivery_id: DeliveryId,
        subscription_id: WebhookSubscriptionId,
        partner_id: uuid::Uuid,
        event_id: uuid::Uuid,
        event_type: String,
        /// Who asked for it.
        requested_by: uuid::Uuid,
    },
}

impl NotificationEvent {
    pub const WEBHOOK_DELIVERY_FAILED: &'static str = "ecommerce.notifications.webhook.delivery_failed.v1";
    pub const WEBHOOK_REDELIVERED: &'static str = "ecommerce.notifications.webhook.redelivered.v1";
}

impl DomainEvent for NotificationEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::WebhookDeliveryFailed { .. } => Self::WEBHOOK_DELIVERY_FAILED,
            Self::WebhookRedelivered { .. } => Self::WEBHOOK_REDELIVERED,
        }
    }

    /// Ordered by subscription: one partner endpoint's failures in the order they died.
    fn partition_key(&self) -> String {
        match self {
            Self::WebhookDeliveryFailed { subscription_id, .. } | Self::WebhookRedelivered { subscription_id, .. } => {
                subscription_id.to_string()
            }
        }
    }

    fn payload(&self) -> serde_json::Value {
        match self {
            Self::WebhookDeliveryFailed {
                delivery_id,
                subscription_id,
                partner_id,
                url,
                event_id,
                event_type,
                attempts,
                last_error,
            } => serde_json::json!({
                "deliveryId": delivery_id, "subscriptionId": subscription_id, "partnerId": partner_id,
                "url": url, "eventId": event_id, "eventType": event_type, "attempts": attempts,
                "lastError": last_error,
            }),
            Self::WebhookRedelivered {
                delivery_id,
                subscription_id,
                partner_id,
                event_id,
                event_type,
                requested_by,
            } => serde_json::json!({
                "deliveryId": delivery_id, "subscriptionId": subscription_id, "partnerId": partner_id,
                "eventId": event_id, "eventType": event_type, "requestedBy": requested_by,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_valid_names() {
        kernel::EventType::parse(NotificationEvent::WEBHOOK_DELIVERY_FAILED).unwrap();
        kernel::EventType::parse(NotificationEvent::WEBHOOK_REDELIVERED).unwrap();
    }
}
