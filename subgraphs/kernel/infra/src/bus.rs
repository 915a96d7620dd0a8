//! The `EventBus` port and its in-process adapter, the embedded default.
//!
//! The in-process bus delivers synchronously: `publish` returns only after every
//! subscribed handler has processed the event (and committed its inbox row). The relay
//! marks an outbox row published only then, so a crash at any point leaves the row
//! pending and it is delivered again; handlers skip what their inbox already holds.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kernel::EventEnvelope;
use tokio::sync::RwLock;

/// A consumer's reaction to an event.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// Processes one event. Must be idempotent (claim it in the inbox).
    ///
    /// # Errors
    /// When processing failed and the event should be delivered again.
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()>;
}

/// Who consumes which event types, and how.
#[derive(Clone)]
pub struct Subscription {
    /// The consuming context and handler, e.g. `inventory.product-created`; also its
    /// inbox key.
    pub consumer: String,
    pub event_types: Vec<String>,
    pub handler: Arc<dyn EventHandler>,
    pub delivery: Delivery,
}

/// Which replicas of a consumer see an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// One replica handles each event: the replicas share the work (a consumer group).
    Shared,
    /// Every replica sees every event published while it runs, e.g. to fan events out
    /// to the GraphQL subscriptions that replica serves. No acknowledgement, no replay.
    EveryReplica,
}

/// Why a publish did not complete.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("consumer `{consumer}` failed on {event_type}: {source:#}")]
    Handler {
        consumer: String,
        event_type: String,
        source: anyhow::Error,
    },
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Carries events from the relays to the consumers.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Hands one event to the bus.
    ///
    /// # Errors
    /// When the event was not accepted; the relay keeps it pending and tries again.
    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError>;

    /// Registers a consumer for the event types it names.
    ///
    /// # Errors
    /// When the bus cannot register it.
    async fn subscribe(&self, subscription: Subscription) -> Result<(), BusError>;
}

/// Delivers events to handlers in this process.
#[derive(Default)]
pub struct InProcessBus {
    subscriptions: RwLock<Vec<Subscription>>,
}

impl InProcessBus {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

const HANDLER_ATTEMPTS: u32 = 3;

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError> {
        let subscriptions: Vec<Subscription> = self
            .subscriptions
            .read()
            .await
            .iter()
            .filter(|s| s.event_types.iter().any(|t| t == event.event_type.as_str()))
            .cloned()
            .collect();
        for subscription in subscriptions {
            let mut attempt = 0;
            loop {
                attempt += 1;
                match subscription.handler.handle(event).await {
                    Ok(()) => break,
                    Err(source) if attempt >= HANDLER_ATTEMPTS => {
                        return Err(BusError::Handler {
                            consumer: subscription.consumer.clone(),
                            event_type: event.event_type.to_string(),
                            source,
                        });
                    }
                    Err(err) => {
                        tracing::warn!(consumer = %subscription.consumer, event_id = %event.event_id, error = %err, attempt, "event handler failed, retrying");
                        tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                    }
                }
            }
        }
        Ok(())
    }

    async fn subscribe(&self, subscription: Subscription) -> Result<(), BusError> {
        self.subscriptions.write().await.push(subscription);
        Ok(())
    }
}
