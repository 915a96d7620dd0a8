//! The event envelope: the one contract every producer and consumer shares.
//!
//! A context's events are an enum in its domain crate implementing [`DomainEvent`];
//! [`EventEnvelope::wrap`] puts one in the envelope with the request's trace and
//! correlation ids. Event types are versioned names,
//! `ecommerce.<context>.<aggregate>.<event>.v<N>`, and a new version is added beside
//! the old one, never edited in place.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{CorrelationId, EventId};

/// A name that does not follow `ecommerce.<context>.<aggregate>.<event>.v<N>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an event type of the form ecommerce.<context>.<aggregate>.<event>.v<N>")]
pub struct EventTypeError(pub String);

/// A validated, versioned event type name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventType(String);

impl EventType {
    pub fn parse(name: &str) -> Result<Self, EventTypeError> {
        let parts: Vec<&str> = name.split('.').collect();
        let is_word = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        let valid = parts.len() == 5
            && parts[0] == "ecommerce"
            && parts[1..4].iter().all(|part| is_word(part))
            && parts[4]
                .strip_prefix('v')
                .is_some_and(|n| !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()));
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(EventTypeError(name.chars().take(128).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The family `ecommerce.<context>.<aggregate>`: every event of one aggregate type,
    /// whatever happened and in whichever version.
    pub fn family(&self) -> &str {
        let end = self
            .0
            .match_indices('.')
            .nth(2)
            .map(|(i, _)| i)
            .expect("validated at construction");
        &self.0[..end]
    }

    /// The `<N>` of `.v<N>`.
    pub fn version(&self) -> u32 {
        self.0
            .rsplit_once(".v")
            .and_then(|(_, n)| n.parse().ok())
            .expect("validated at construction")
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EventType {
    type Error = EventTypeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        EventType::parse(&value)
    }
}

impl From<EventType> for String {
    fn from(value: EventType) -> Self {
        value.0
    }
}

/// Implemented by each context's event enum.
pub trait DomainEvent {
    /// The versioned type name, e.g. `ecommerce.product.product.created.v1`.
    fn event_type(&self) -> &'static str;
    /// The key events are ordered by: the id of the aggregate they belong to.
    fn partition_key(&self) -> String;
    /// The event's body as it appears in the envelope's `payload`.
    fn payload(&self) -> serde_json::Value;
}

/// What a request tells its events about where they came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventMeta {
    pub trace_id: Option<String>,
    /// The span that wrote the event (16 hex digits), when the writer's spans are
    /// exported: consumers continue the trace from it.
    pub span_id: Option<String>,
    pub correlation_id: Option<String>,
}

impl EventMeta {
    /// Meta for work that no client request started (seeding, background jobs).
    pub fn internal() -> Self {
        Self::default()
    }

    /// Meta for events caused by consuming `cause`: same trace, same correlation.
    pub fn caused_by(cause: &EventEnvelope) -> Self {
        Self {
            trace_id: Some(cause.trace_id.clone()),
            span_id: None,
            correlation_id: Some(cause.correlation_id.clone()),
        }
    }
}

/// The envelope every event travels in, serialized in camelCase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventEnvelope {
    pub event_id: EventId,
    pub event_type: EventType,
    pub occurred_at: DateTime<Utc>,
    pub producer: String,
    pub trace_id: String,
    /// The span that wrote the event, when it was exported (traces are on); absent
    /// otherwise, and in events written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    pub correlation_id: String,
    pub schema_version: String,
    pub partition_key: String,
    pub payload: serde_json::Value,
}

impl EventEnvelope {
    /// Wraps a domain event. A missing trace or correlation id is started here, so
    /// every event can be followed from its first producer on.
    pub fn wrap(event: &impl DomainEvent, producer: &str, meta: &EventMeta, occurred_at: DateTime<Utc>) -> Self {
        let event_type = EventType::parse(event.event_type()).expect("event type names are constants checked by tests");
        let event_id = EventId::new();
        Self {
            schema_version: format!("{}.0", event_type.version()),
            event_type,
            event_id,
            occurred_at,
            producer: producer.to_owned(),
            trace_id: meta
                .trace_id
                .clone()
                .unwrap_or_else(|| event_id.as_uuid().simple().to_string()),
            span_id: meta.span_id.clone(),
            correlation_id: meta
                .correlation_id
                .clone()
                .unwrap_or_else(|| CorrelationId::new().to_string()),
            partition_key: event.partition_key(),
            payload: event.payload(),
        }
    }

    /// Reads the payload as the consumer's own view of it.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(self.payload.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sample;
    impl DomainEvent for Sample {
        fn event_type(&self) -> &'static str {
            "ecommerce.order.order.created.v1"
        }
        fn partition_key(&self) -> String {
            "order-1".into()
        }
        fn payload(&self) -> serde_json::Value {
            serde_json::json!({"orderId": "order-1"})
        }
    }

    #[test]
    fn event_type_names_follow_the_contract() {
        assert_eq!(
            EventType::parse("ecommerce.product.product.price_changed.v1")
                .unwrap()
                .version(),
            1
        );
        assert_eq!(
            EventType::parse("ecommerce.pricing.flash_sale.started.v12")
                .unwrap()
                .version(),
            12
        );
        for bad in [
            "product.created",
            "ecommerce.product.product.created",
            "ecommerce.product.product.created.v0",
            "ecommerce.product.product.created.v",
            "ecommerce.Product.product.created.v1",
            "shop.product.product.created.v1",
            "ecommerce.product..created.v1",
        ] {
            assert!(EventType::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn the_family_is_the_context_and_aggregate() {
        let created = EventType::parse("ecommerce.orders.order.created.v1").unwrap();
        let paid = EventType::parse("ecommerce.orders.order.paid.v2").unwrap();
        assert_eq!(created.family(), "ecommerce.orders.order");
        assert_eq!(paid.family(), created.family());
        let adjusted = EventType::parse("ecommerce.inventory.stock_item.adjusted.v1").unwrap();
        assert_eq!(adjusted.family(), "ecommerce.inventory.stock_item");
    }

    #[test]
    fn envelope_serializes_with_the_contract_field_names() {
        let meta = EventMeta {
            trace_id: Some("trace-1".into()),
            span_id: None,
            correlation_id: Some("corr-1".into()),
        };
        let envelope = EventEnvelope::wrap(&Sample, "orders", &meta, Utc::now());
        let json = serde_json::to_value(&envelope).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "correlationId",
                "eventId",
                "eventType",
                "occurredAt",
                "partitionKey",
                "payload",
                "producer",
                "schemaVersion",
                "traceId"
            ]
        );
        assert_eq!(json["schemaVersion"], "1.0");
        assert_eq!(json["traceId"], "trace-1");
        let back: EventEnvelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, envelope);
    }

    #[test]
    fn the_writing_span_travels_when_there_is_one() {
        let meta = EventMeta {
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            span_id: Some("00f067aa0ba902b7".into()),
            correlation_id: None,
        };
        let envelope = EventEnvelope::wrap(&Sample, "orders", &meta, Utc::now());
        let json = serde_json::to_value(&envelope).unwrap();
        assert_eq!(json["spanId"], "00f067aa0ba902b7");
        let back: EventEnvelope = serde_json::from_value(json).unwrap();
        assert_eq!(back.span_id.as_deref(), Some("00f067aa0ba902b7"));
    }

    #[test]
    fn missing_trace_and_correlation_ids_are_started() {
        let envelope = EventEnvelope::wrap(&Sample, "orders", &EventMeta::internal(), Utc::now());
        assert!(!envelope.trace_id.is_empty());
        assert!(!envelope.correlation_id.is_empty());
        let caused = EventMeta::caused_by(&envelope);
        assert_eq!(caused.trace_id.as_deref(), Some(envelope.trace_id.as_str()));
    }
}
