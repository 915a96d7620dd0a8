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
}

impl NotificationEvent {
    pub const WEBHOOK_DELIVERY_FAILED: &'static str = "ecommerce.notifications.webhook.delivery_failed.v1";
}

impl DomainEvent for NotificationEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::WebhookDeliveryFailed { .. } => Self::WEBHOOK_DELIVERY_FAILED,
        }
    }

    /// Ordered by subscription: one partner endpoint's failures in the order they died.
    fn partition_key(&self) -> String {
        match self {
            Self::WebhookDeliveryFailed { subscription_id, .. } => subscription_id.to_string(),
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_valid_names() {
        kernel::EventType::parse(NotificationEvent::WEBHOOK_DELIVERY_FAILED).unwrap();
    }
}
