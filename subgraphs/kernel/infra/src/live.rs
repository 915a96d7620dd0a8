//! Live feeds for GraphQL subscriptions: events the relay publishes, fanned out to this
//! process's open subscriptions.
//!
//! A [`LiveFeed`] is a bus consumer like any other, so a subscriber only ever sees
//! events whose transaction committed. Delivery is at least once; each subscriber's
//! stream skips an event id it has already passed on. A subscriber that falls more
//! than the feed's capacity behind would miss events: its stream ends instead, so the
//! client resubscribes with the last event id it saw and misses nothing.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use kernel::EventEnvelope;
use kernel::id::EventId;
use tokio::sync::broadcast;

use crate::bus::{EventHandler, Subscription};
use crate::graphql::{bad_input, internal};
use crate::outbox::Since;

/// How many events a slow subscriber may fall behind before its stream ends.
const CAPACITY: usize = 4096;
/// How many recent event ids a subscriber remembers to skip redeliveries.
const RECENT_EVENTS: usize = 256;
/// How many events of the type a subscriber resuming across keys reads through at most.
pub const MAX_RESUME_SCAN: u64 = 100_000;

/// The fan-out of some event types to subscribers in this process.
#[derive(Clone)]
pub struct LiveFeed {
    consumer: String,
    event_types: Vec<String>,
    sender: broadcast::Sender<Arc<EventEnvelope>>,
}

impl LiveFeed {
    /// A feed of `event_types`, registered on the bus as `consumer`.
    pub fn new(consumer: &str, event_types: &[&str]) -> Self {
        Self {
            consumer: consumer.to_owned(),
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            sender: broadcast::channel(CAPACITY).0,
        }
    }

    /// The bus subscription that feeds it.
    pub fn subscription(&self) -> Subscription {
        Subscription::every_replica(&self.consumer, &self.event_types, Arc::new(self.clone()))
    }

    /// The events from now on, each once; the stream ends when the subscriber falls
    /// too far behind.
    pub fn events(&self) -> impl Stream<Item = Arc<EventEnvelope>> + Send + use<> {
        let receiver = self.sender.subscribe();
        let recent = VecDeque::with_capacity(RECENT_EVENTS);
        let feed: Arc<str> = Arc::from(self.consumer.as_str());
        futures::stream::unfold((receiver, recent), move |(mut receiver, mut recent)| {
            let feed = Arc::clone(&feed);
            async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) => {
                            if recent.contains(&event.event_id) {
                                continue;
                            }
                            if recent.len() == RECENT_EVENTS {
                                recent.pop_front();
                            }
                            recent.push_back(event.event_id);
                            message_span(&feed, &event);
                            return Some((event, (receiver, recent)));
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(
                                missed,
                                "a subscription fell behind its live feed; it ends, to be resumed"
                            );
                            return None;
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        })
    }

    /// [`LiveFeed::events`] of one partition key (an aggregate's id): every other key's
    /// are passed by with a string comparison, before anyone reads their payload.
    pub fn events_of(&self, key: String) -> impl Stream<Item = Arc<EventEnvelope>> + Send + use<> {
        self.events()
            .filter(move |event| futures::future::ready(event.partition_key == key))
    }
}

/// While spans are exported, a span for each message a subscription is handed, in
/// the trace of the span that wrote its event.
fn message_span(feed: &str, event: &EventEnvelope) {
    if crate::telemetry::exporting() {
        let span = tracing::info_span!(
            "subscription.message",
            otel.name = %format!("subscription message {}", event.event_type),
            feed,
            event_id = %event.event_id,
            event_type = %event.event_type,
        );
        crate::telemetry::continue_event(&span, event);
    }
}

fn after_id(after: &str) -> async_graphql::Result<uuid::Uuid> {
    uuid::Uuid::try_parse(after).map_err(|_| bad_input("`after` is not an event id"))
}

/// What a subscriber that resumes `after` (an event id it saw) missed of one partition
/// key: the events of `event_types` recorded since, oldest first; none without `after`.
///
/// # Errors
/// BAD_USER_INPUT when `after` is not such an event (`what` names it: "an update of
/// this order"); INTERNAL when the database fails.
pub async fn missed_of_key(
    conn: &impl sea_orm::ConnectionTrait,
    key: &str,
    event_types: &[&str],
    after: Option<&str>,
    what: &str,
) -> async_graphql::Result<Vec<EventEnvelope>> {
    let Some(after) = after else {
        return Ok(Vec::new());
    };
    crate::outbox::recorded_after(conn, key, event_types, after_id(after)?)
        .await
        .map_err(internal)?
        .ok_or_else(|| bad_input(format!("`after` is not {what}")))
}

/// What a subscriber that resumes `after` missed across partition keys: the events of
/// `event_types` recorded since that `keep` accepts, oldest first, reading through at
/// most [`MAX_RESUME_SCAN`]; none without `after`.
///
/// # Errors
/// BAD_USER_INPUT when `after` is not such an event (`what` names it) or the subscriber
/// is further behind; INTERNAL when the database fails.
pub async fn missed_since(
    conn: &impl sea_orm::ConnectionTrait,
    event_types: &[&str],
    after: Option<&str>,
    what: &str,
    keep: impl Fn(&EventEnvelope) -> bool,
) -> async_graphql::Result<Vec<EventEnvelope>> {
    let Some(after) = after else {
        return Ok(Vec::new());
    };
    match crate::outbox::recorded_since(conn, event_types, after_id(after)?, MAX_RESUME_SCAN, keep)
        .await
        .map_err(internal)?
    {
        Since::Events(missed) => Ok(missed),
        Since::Unknown => Err(bad_input(format!("`after` is not {what}"))),
        Since::TooFarBehind => Err(bad_input(
            "too far behind to resume; load again what you follow and subscribe without `after`",
        )),
    }
}

/// How many missed events a subscriber resuming across its own keys may catch up on.
pub const MAX_RESUME_EVENTS: u64 = 10_000;

/// What a subscriber that resumes `after` missed of the partition keys it follows:
/// `keys_changed_since` names them, given about when `after` happened (e.g. the customer's
/// orders changed since, read by the customer's index). Every read goes by an index,
/// so an old `after` costs what the subscriber's own events cost, not a scan of
/// everyone's; none without `after`.
///
/// # Errors
/// BAD_USER_INPUT when `after` is not such an event (`what` names it) or more than
/// [`MAX_RESUME_EVENTS`] were missed; INTERNAL when the database fails.
pub async fn missed_of_keys<F, Fut>(
    conn: &impl sea_orm::ConnectionTrait,
    event_types: &[&str],
    after: Option<&str>,
    what: &str,
    keys_changed_since: F,
) -> async_graphql::Result<Vec<EventEnvelope>>
where
    F: FnOnce(chrono::DateTime<chrono::Utc>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, sea_orm::DbErr>>,
{
    let Some(after) = after else {
        return Ok(Vec::new());
    };
    let Some((seq, at)) = crate::outbox::position_of(conn, event_types, after_id(after)?)
        .await
        .map_err(internal)?
    else {
        return Err(bad_input(format!("`after` is not {what}")));
    };
    // A minute early, for the clocks of other replicas that wrote the later changes.
    let keys = keys_changed_since(at - chrono::Duration::minutes(1))
        .await
        .map_err(internal)?;
    crate::outbox::recorded_after_for_keys(conn, event_types, &keys, seq, MAX_RESUME_EVENTS)
        .await
        .map_err(internal)?
        .ok_or_else(|| bad_input("too far behind to resume; load again what you follow and subscribe without `after`"))
}

/// A resuming subscriber's stream: the events it `missed` (read after it started
/// listening to `live`), then the live ones that are not among them.
pub fn missed_then_live(
    missed: Vec<EventEnvelope>,
    live: impl Stream<Item = Arc<EventEnvelope>> + Send,
) -> impl Stream<Item = Arc<EventEnvelope>> + Send {
    let replayed: HashSet<EventId> = missed.iter().map(|event| event.event_id).collect();
    futures::stream::iter(missed.into_iter().map(Arc::new))
        .chain(live.filter(move |event| futures::future::ready(!replayed.contains(&event.event_id))))
}

#[async_trait]
impl EventHandler for LiveFeed {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        // No subscriber is not an error: nobody is watching.
        let _ = self.sender.send(Arc::new(event.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use kernel::{DomainEvent, EventMeta};

    use super::*;

    struct Ping(u32);

    impl DomainEvent for Ping {
        fn event_type(&self) -> &'static str {
            "ecommerce.test.ping.sent.v1"
        }
        fn partition_key(&self) -> String {
            self.0.to_string()
        }
        fn payload(&self) -> serde_json::Value {
            serde_json::json!({ "n": self.0 })
        }
    }

    fn envelope(n: u32) -> EventEnvelope {
        EventEnvelope::wrap(&Ping(n), "test", &EventMeta::default(), chrono::Utc::now())
    }

    #[tokio::test]
    async fn every_subscriber_gets_each_event_once_in_order_even_when_it_is_delivered_twice() {
        let feed = LiveFeed::new("test.live", &["ecommerce.test.ping.sent.v1"]);
        let first = feed.events();
        let second = feed.events();
        let (one, two) = (envelope(1), envelope(2));
        for event in [&one, &one, &two, &one] {
            feed.handle(event).await.unwrap();
        }
        drop(feed);
        let first: Vec<_> = first.map(|e| e.payload["n"].clone()).collect().await;
        let second: Vec<_> = second.map(|e| e.payload["n"].clone()).collect().await;
        assert_eq!(first, [1, 2]);
        assert_eq!(second, [1, 2]);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_too_far_behind_ends_rather_than_skip_events() {
        let feed = LiveFeed::new("test.live", &["ecommerce.test.ping.sent.v1"]);
        let mut slow = std::pin::pin!(feed.events());
        let fast = feed.events();
        let total = u32::try_from(CAPACITY).unwrap() + 10;
        let reader = tokio::spawn(fast.take(total as usize).count());
        for n in 0..total {
            feed.handle(&envelope(n)).await.unwrap();
            tokio::task::yield_now().await;
        }
        assert_eq!(
            reader.await.unwrap(),
            total as usize,
            "one that keeps up gets every event"
        );
        assert!(slow.next().await.is_none(), "the slow one ends");
    }

    #[tokio::test]
    async fn a_resumed_stream_gives_what_was_missed_then_only_newer_live_events() {
        let (one, two, three) = (envelope(1), envelope(2), envelope(3));
        let live = futures::stream::iter([two.clone(), three].map(Arc::new));
        let resumed = missed_then_live(vec![one, two], live);
        let ns: Vec<_> = resumed.map(|e| e.payload["n"].clone()).collect().await;
        assert_eq!(ns, [1, 2, 3]);
    }
}
