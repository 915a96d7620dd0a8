//! The Notifications context's domain: partners' webhooks and messages to customers.
//!
//! - [`WebhookSubscription`]: a partner's URL and the event types it wants, with the
//!   secret its deliveries are signed with.
//! - [`signature`]: how a delivery is signed (HMAC-SHA256) and how a partner checks it.
//! - [`Delivery`]: one event on its way to one subscription, its attempts, and when a
//!   failed one is tried again ([`RetrySchedule`]) until it is delivered or dead.
//! - [`NotificationEvent`]: what Notifications tells the others.
//! - [`customer_message`]: the e-mail a customer gets at each step of an order, which
//!   event makes it, and what its template must write. Its sending is retried like a
//!   delivery.
//!
//! Plain Rust: the service stores subscriptions and deliveries and makes the calls.

pub mod customer_message;
pub mod delivery;
pub mod events;
pub mod signature;
pub mod subscription;

pub use customer_message::{CONTACT_EVENT, MessageKind, NotAMessage, Written};
pub use delivery::{AttemptOutcome, Delivery, DeliveryId, DeliveryStatus, NextStep, RetrySchedule};
pub use events::NotificationEvent;
pub use subscription::{WEBHOOK_EVENT_TYPES, WebhookSubscription, WebhookSubscriptionId};

use kernel::{Classify, ErrorKind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("no webhook subscription {0}")]
    NotFound(String),
}

impl Classify for WebhookError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::BadUserInput,
            Self::NotFound(_) => ErrorKind::NotFound,
        }
    }
}
