//! The `EventBus` port and its in-process adapter, the embedded default.
//!
//! The in-process bus delivers synchronously: `publish` returns only after every
//! subscribed handler has processed the event (and committed its inbox row). The relay
//! marks an outbox row published only then, so a crash at any point leaves the row
//! pending and it is delivered again; handlers skip what their inbox already holds.
//!
//! A relay hands over each pass's events together (`publish_all`), and the in-process
//! bus gives each consumer its share of them in one call (`handle_all`), so a consumer
//! that can apply several events in one transaction does.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kernel::EventEnvelope;
use tokio::sync::RwLock;
use tracing::Instrument;

/// A consumer's reaction to an event.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// Processes one event. Must be idempotent (claim it in the inbox).
    ///
    /// # Errors
    /// When processing failed and the event should be delivered again.
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()>;

    /// Processes several events, in order: a handler that can applies them in one
    /// transaction. The default handles them one at a time.
    ///
    /// # Errors
    /// When one failed: how many events, from the first, were processed before it
    /// (0 for a handler that applies all or none). The bus hands the rest over again
    /// one at a time, to `handle`.
    async fn handle_all(&self, events: &[&EventEnvelope]) -> Result<(), PartlyHandled> {
        for (handled, event) in events.iter().enumerate() {
            self.handle(event)
                .await
                .map_err(|source| PartlyHandled { handled, source })?;
        }
        Ok(())
    }

    /// Handles a dead letter again, at staff's request: as `handle`, but a failure is
    /// the answer (it is not counted towards parking the event again).
    ///
    /// # Errors
    /// When processing failed again.
    async fn redrive(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        self.handle(event).await
    }
}

/// How far `handle_all` got before an event failed.
#[derive(Debug)]
pub struct PartlyHandled {
    /// The events processed, from the first; the others are not.
    pub handled: usize,
    pub source: anyhow::Error,
}

impl PartlyHandled {
    /// None of the events is processed: all or none failed.
    pub fn none(source: impl Into<anyhow::Error>) -> Self {
        Self {
            handled: 0,
            source: source.into(),
        }
    }
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

impl Subscription {
    /// A consumer that every replica runs on every event (a fan-out to what that
    /// replica serves): no inbox, no acknowledgement.
    pub fn every_replica(consumer: &str, event_types: &[String], handler: Arc<dyn EventHandler>) -> Self {
        Self {
            consumer: consumer.to_owned(),
            event_types: event_types.to_vec(),
            handler,
            delivery: Delivery::EveryReplica,
        }
    }

    /// The same consumer, handling each event in a span of its own that continues the
    /// trace of the span that wrote the event and links to it (see `telemetry`), with
    /// the event's ids on every log line written meanwhile, and its lag behind the
    /// event's commit measured (`consumer_lag_ms`).
    pub fn traced(self) -> Self {
        let handler = Arc::new(Traced {
            consumer: self.consumer.clone(),
            inner: self.handler,
        });
        Self { handler, ..self }
    }
}

/// A handler whose every event is handled in a span, its lag measured
/// (`Subscription::traced`).
struct Traced {
    consumer: String,
    inner: Arc<dyn EventHandler>,
}

impl Traced {
    /// Records how far behind the consumer is: from the event's commit to now.
    fn observe_lag(&self, events: &[&EventEnvelope]) {
        let now = chrono::Utc::now();
        let histogram = crate::metrics::CONSUMER_LAG_MS.with_label_values(&[self.consumer.as_str()]);
        for event in events {
            let lag_ms = (now - event.occurred_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0;
            histogram.observe(lag_ms.max(0.0));
        }
    }

    fn span(&self, event: &EventEnvelope) -> tracing::Span {
        let span = tracing::info_span!(
            "event.consume",
            otel.name = %format!("consume {}", event.event_type),
            otel.kind = "consumer",
            consumer = %self.consumer,
            event_id = %event.event_id,
            event_type = %event.event_type,
            trace_id = %event.trace_id,
            correlation_id = %event.correlation_id,
            order_id = tracing::field::Empty,
        );
        // Most events of an order's life name it; their log lines then do too.
        if let Some(order_id) = event.payload.get("orderId").and_then(serde_json::Value::as_str) {
            span.record("order_id", order_id);
        }
        crate::telemetry::continue_event(&span, event);
        span
    }
}

#[async_trait]
impl EventHandler for Traced {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        self.observe_lag(&[event]);
        self.inner.handle(event).instrument(self.span(event)).await
    }

    /// Several events in one span: it continues the trace of the first and links to the
    /// writer of each.
    async fn handle_all(&self, events: &[&EventEnvelope]) -> Result<(), PartlyHandled> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        self.observe_lag(events);
        let span = self.span(first);
        if events.len() > 1 {
            span.record("otel.name", format!("consume {} events", events.len()));
        }
        for event in &events[1..] {
            if let Some(writer) = crate::telemetry::writer_of(event) {
                tracing_opentelemetry::OpenTelemetrySpanExt::add_link(&span, writer);
            }
        }
        self.inner.handle_all(events).instrument(span).await
    }

    async fn redrive(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        self.inner.redrive(event).instrument(self.span(event)).await
    }
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
    #[error("held back behind an earlier event of partition key `{partition_key}` that failed")]
    HeldBack { partition_key: String },
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

    /// Hands several events to the bus, in order, and returns one outcome per event.
    /// After an event fails, the later events of its partition key are not delivered
    /// (their outcome is `HeldBack`), so no consumer sees a key out of order. The
    /// default publishes them one at a time.
    async fn publish_all(&self, events: &[EventEnvelope]) -> Vec<Result<(), BusError>> {
        let mut failed_keys: HashSet<&str> = HashSet::new();
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let outcome = if failed_keys.contains(event.partition_key.as_str()) {
                Err(held_back(event))
            } else {
                self.publish(event).await
            };
            if outcome.is_err() {
                failed_keys.insert(&event.partition_key);
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Registers a consumer for the event types it names.
    ///
    /// # Errors
    /// When the bus cannot register it.
    async fn subscribe(&self, subscription: Subscription) -> Result<(), BusError>;

    /// Whether the bus answers now (a service's readiness asks).
    async fn ready(&self) -> bool {
        true
    }

    /// Stops this process's consumers: what they are handling finishes, nothing
    /// unfinished is acknowledged.
    async fn shutdown(&self) {}
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

fn held_back(event: &EventEnvelope) -> BusError {
    BusError::HeldBack {
        partition_key: event.partition_key.clone(),
    }
}

const HANDLER_ATTEMPTS: u32 = 3;

impl InProcessBus {
    async fn subscriptions_of(&self, event_type: &str) -> Vec<Subscription> {
        self.subscriptions
            .read()
            .await
            .iter()
            .filter(|s| s.event_types.iter().any(|t| t == event_type))
            .cloned()
            .collect()
    }

    /// Hands one event to one consumer, retrying a failure twice.
    async fn deliver(subscription: &Subscription, event: &EventEnvelope) -> Result<(), BusError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match subscription.handler.handle(event).await {
                Ok(()) => return Ok(()),
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
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError> {
        for subscription in self.subscriptions_of(event.event_type.as_str()).await {
            Self::deliver(&subscription, event).await?;
        }
        Ok(())
    }

    async fn publish_all(&self, events: &[EventEnvelope]) -> Vec<Result<(), BusError>> {
        let subscriptions = self.subscriptions.read().await.clone();
        let mut outcomes: Vec<Result<(), BusError>> = events.iter().map(|_| Ok(())).collect();
        for subscription in &subscriptions {
            // This consumer's share: the events it wants that no consumer has failed yet.
            let share: Vec<usize> = (0..events.len())
                .filter(|&i| outcomes[i].is_ok())
                .filter(|&i| {
                    let event_type = events[i].event_type.as_str();
                    subscription.event_types.iter().any(|t| t == event_type)
                })
                .collect();
            let mut handled = 0;
            if share.len() > 1 {
                let batch: Vec<&EventEnvelope> = share.iter().map(|&i| &events[i]).collect();
                match subscription.handler.handle_all(&batch).await {
                    Ok(()) => continue,
                    Err(failed) => {
                        tracing::warn!(consumer = %subscription.consumer, events = batch.len(), handled = failed.handled, error = %failed.source, "event batch failed; handing the rest over one at a time");
                        handled = failed.handled;
                    }
                }
            }
            for &i in &share[handled..] {
                if outcomes[i].is_err() {
                    continue;
                }
                if let Err(err) = Self::deliver(subscription, &events[i]).await {
                    outcomes[i] = Err(err);
                    let key = &events[i].partition_key;
                    for (later, outcome) in events.iter().zip(outcomes.iter_mut()).skip(i + 1) {
                        if later.partition_key == *key {
                            *outcome = Err(held_back(later));
                        }
                    }
                }
            }
        }
        outcomes
    }

    async fn subscribe(&self, subscription: Subscription) -> Result<(), BusError> {
        self.subscriptions.write().await.push(subscription);
        Ok(())
    }
}
