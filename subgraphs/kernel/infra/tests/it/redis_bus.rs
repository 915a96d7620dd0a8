//! The Redis Streams bus against the Redis server: replicas share a consumer's work,
//! in order per partition key; a dead replica's entries are taken over; an entry that
//! keeps failing goes to the dead letters; every-replica consumers see everything; what
//! one read brings reaches a consumer in one call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kernel::{DomainEvent, EventEnvelope, EventMeta};
use kernel_infra::bus::{Delivery, EventBus, EventHandler, PartlyHandled, Subscription};
use kernel_infra::redis_bus::{RedisBusSettings, RedisStreamsBus};
use redis::AsyncCommands;

const EVENT: &str = "ecommerce.test.thing.happened.v1";
const OTHER: &str = "ecommerce.test.thing.ignored.v1";

struct Happened {
    key: String,
    n: u32,
    event_type: &'static str,
}

impl DomainEvent for Happened {
    fn event_type(&self) -> &'static str {
        self.event_type
    }
    fn partition_key(&self) -> String {
        self.key.clone()
    }
    fn payload(&self) -> serde_json::Value {
        serde_json::json!({ "key": self.key, "n": self.n })
    }
}

fn event(key: &str, n: u32) -> EventEnvelope {
    let happened = Happened {
        key: key.into(),
        n,
        event_type: EVENT,
    };
    EventEnvelope::wrap(&happened, "test", &EventMeta::internal(), chrono::Utc::now())
}

/// Records what each replica handled; fails every delivery of the events it is told to.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(String, String, u64)>>,
    poison: Mutex<Vec<(String, u64)>>,
}

struct Replica {
    name: &'static str,
    recorder: Arc<Recorder>,
}

#[async_trait]
impl EventHandler for Replica {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let key = event.payload["key"].as_str().unwrap().to_owned();
        let n = event.payload["n"].as_u64().unwrap();
        if self.recorder.poison.lock().unwrap().contains(&(key.clone(), n)) {
            anyhow::bail!("cannot handle {key}/{n}");
        }
        self.recorder.seen.lock().unwrap().push((self.name.to_owned(), key, n));
        Ok(())
    }
}

impl Recorder {
    fn by_key(&self) -> HashMap<String, Vec<u64>> {
        let mut map: HashMap<String, Vec<u64>> = HashMap::new();
        for (_, key, n) in self.seen.lock().unwrap().iter() {
            map.entry(key.clone()).or_default().push(*n);
        }
        map
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// Settings under a prefix of this test's own, with short leases.
fn settings(url: &str, prefix: &str) -> RedisBusSettings {
    RedisBusSettings {
        prefix: prefix.to_owned(),
        // Enough streams that two replicas both get some (each is one's by a hash).
        shards: 16,
        lease: Duration::from_millis(1500),
        max_deliveries: 3,
        ..RedisBusSettings::new(url)
    }
}

async fn replica(settings: &RedisBusSettings, name: &'static str, recorder: &Arc<Recorder>) -> Arc<RedisStreamsBus> {
    let bus = RedisStreamsBus::connect(settings.clone()).await.unwrap();
    bus.subscribe(Subscription {
        consumer: "test.recorder".into(),
        event_types: vec![EVENT.into()],
        handler: Arc::new(Replica {
            name,
            recorder: recorder.clone(),
        }),
        delivery: Delivery::Shared,
    })
    .await
    .unwrap();
    bus
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The replicas that hold a lease on some stream of the test consumer.
async fn lease_holders(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> std::collections::HashSet<String> {
    let leases: Vec<String> = conn.keys(format!("{prefix}:lease:test.recorder:*")).await.unwrap();
    let mut holders = std::collections::HashSet::new();
    for lease in leases {
        if let Some(holder) = conn.get::<_, Option<String>>(&lease).await.unwrap() {
            holders.insert(holder);
        }
    }
    holders
}

fn prefix() -> String {
    format!("test-bus-{}", uuid::Uuid::now_v7().simple())
}

#[tokio::test]
async fn two_replicas_share_the_work_and_each_key_is_handled_once_in_order() {
    let Some(url) = kernel_infra::testing::redis_url().await else {
        return;
    };
    let prefix = prefix();
    let settings = settings(&url, &prefix);
    let recorder = Arc::new(Recorder::default());
    let (one, two) = (
        replica(&settings, "one", &recorder).await,
        replica(&settings, "two", &recorder).await,
    );
    // The second replica's streams pass to it at the first's next lease renewal.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while lease_holders(&mut conn, &prefix).await.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replicas never shared the streams"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let publisher = RedisStreamsBus::connect(settings.clone()).await.unwrap();
    let keys: Vec<String> = (0..16).map(|k| format!("key-{k}")).collect();
    // As a relay pass publishes: several events in one call (one pipeline).
    for n in 0..25 {
        let pass: Vec<EventEnvelope> = keys.iter().map(|key| event(key, n)).collect();
        let outcomes = publisher.publish_all(&pass).await;
        assert_eq!(outcomes.len(), pass.len());
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    }
    // An event type nobody here consumes shares the family's streams and is skipped.
    let ignored = Happened {
        key: "key-0".into(),
        n: 99,
        event_type: OTHER,
    };
    let ignored = EventEnvelope::wrap(&ignored, "test", &EventMeta::internal(), chrono::Utc::now());
    publisher.publish(&ignored).await.unwrap();

    until("every event is handled", || recorder.count() >= 400).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(recorder.count(), 400, "each event handled once");
    for (key, ns) in recorder.by_key() {
        assert_eq!(ns, (0..25).collect::<Vec<u64>>(), "{key} in order");
    }
    let names: std::collections::HashSet<String> = recorder
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(name, _, _)| name.clone())
        .collect();
    assert_eq!(names.len(), 2, "both replicas worked: {names:?}");

    one.shutdown().await;
    two.shutdown().await;
    kernel_infra::testing::remove_redis_keys(&url, &prefix).await;
}

#[tokio::test]
async fn a_replica_takes_over_what_a_dead_one_left_pending_and_keeps_the_order() {
    let Some(url) = kernel_infra::testing::redis_url().await else {
        return;
    };
    let prefix = prefix();
    // One shard, so the dead replica's entries and the new ones share a stream.
    let settings = RedisBusSettings {
        shards: 1,
        ..settings(&url, &prefix)
    };
    let publisher = RedisStreamsBus::connect(settings.clone()).await.unwrap();
    // A replica that died: it joined the group, held the lease, read three entries and
    // never acknowledged them.
    let stream = settings.stream_of(&event("a", 0));
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = conn
        .xgroup_create_mkstream(&stream, "test.recorder", "0")
        .await
        .unwrap();
    for n in 0..3 {
        publisher.publish(&event("a", n)).await.unwrap();
    }
    let lease = format!("{prefix}:lease:test.recorder:{stream}");
    let _: () = conn.set_ex(&lease, "dead-replica", 2).await.unwrap();
    let options = redis::streams::StreamReadOptions::default()
        .group("test.recorder", "dead-replica")
        .count(10);
    let taken: redis::streams::StreamReadReply = conn.xread_options(&[&stream], &[">"], &options).await.unwrap();
    assert_eq!(taken.keys[0].ids.len(), 3);
    for n in 3..6 {
        publisher.publish(&event("a", n)).await.unwrap();
    }

    let recorder = Arc::new(Recorder::default());
    let survivor = replica(&settings, "survivor", &recorder).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        recorder.count(),
        0,
        "nothing is read while the dead replica's lease lasts"
    );
    until("the survivor has handled all six", || recorder.count() >= 6).await;
    assert_eq!(recorder.by_key()["a"], vec![0, 1, 2, 3, 4, 5]);
    let pending: redis::streams::StreamPendingReply = conn.xpending(&stream, "test.recorder").await.unwrap();
    assert_eq!(pending.count(), 0, "everything acknowledged");

    survivor.shutdown().await;
    kernel_infra::testing::remove_redis_keys(&url, &prefix).await;
}

#[tokio::test]
async fn an_event_that_keeps_failing_goes_to_the_dead_letters_and_its_key_moves_on() {
    let Some(url) = kernel_infra::testing::redis_url().await else {
        return;
    };
    let prefix = prefix();
    let settings = settings(&url, &prefix);
    let recorder = Arc::new(Recorder::default());
    recorder.poison.lock().unwrap().push(("a".into(), 1));
    let bus = replica(&settings, "only", &recorder).await;
    for n in 0..3 {
        bus.publish(&event("a", n)).await.unwrap();
    }

    until("a/0 and a/2 are handled", || recorder.count() >= 2).await;
    assert_eq!(recorder.by_key()["a"], vec![0, 2], "a/2 waited for a/1 to be given up");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let dead: redis::streams::StreamRangeReply = conn.xrange_all(settings.dead_letters("test.recorder")).await.unwrap();
    assert_eq!(dead.ids.len(), 1);
    let entry = &dead.ids[0];
    let envelope: EventEnvelope = serde_json::from_str(&entry.get::<String>("envelope").unwrap()).unwrap();
    assert_eq!(envelope.payload["n"], 1);
    assert!(entry.get::<String>("error").unwrap().contains("cannot handle a/1"));

    bus.shutdown().await;
    kernel_infra::testing::remove_redis_keys(&url, &prefix).await;
}

#[tokio::test]
async fn every_replica_of_a_fan_out_consumer_sees_every_event_from_its_start() {
    let Some(url) = kernel_infra::testing::redis_url().await else {
        return;
    };
    let prefix = prefix();
    let settings = settings(&url, &prefix);
    let publisher = RedisStreamsBus::connect(settings.clone()).await.unwrap();
    // Published before any replica started: live feeds do not replay it.
    publisher.publish(&event("a", 0)).await.unwrap();
    let recorder = Arc::new(Recorder::default());
    let mut replicas = Vec::new();
    for name in ["one", "two"] {
        let bus = RedisStreamsBus::connect(settings.clone()).await.unwrap();
        bus.subscribe(Subscription {
            consumer: "test.live".into(),
            event_types: vec![EVENT.into()],
            handler: Arc::new(Replica {
                name,
                recorder: recorder.clone(),
            }),
            delivery: Delivery::EveryReplica,
        })
        .await
        .unwrap();
        replicas.push(bus);
    }
    for n in 1..=10 {
        publisher.publish(&event(&format!("key-{}", n % 3), n)).await.unwrap();
    }

    until("both replicas saw all ten", || recorder.count() >= 20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = recorder.seen.lock().unwrap().clone();
    for name in ["one", "two"] {
        let mut ns: Vec<u64> = seen.iter().filter(|(r, _, _)| r == name).map(|(_, _, n)| *n).collect();
        ns.sort_unstable();
        assert_eq!(ns, (1..=10).collect::<Vec<u64>>(), "{name}");
    }

    for bus in replicas {
        bus.shutdown().await;
    }
    kernel_infra::testing::remove_redis_keys(&url, &prefix).await;
}

/// Records the size of every call it gets, and the order of what it saw.
#[derive(Default)]
struct Batches {
    calls: Mutex<Vec<usize>>,
    seen: Mutex<Vec<u64>>,
}

#[async_trait]
impl EventHandler for Batches {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        self.handle_all(&[event]).await.map_err(|failed| failed.source)
    }

    async fn handle_all(&self, events: &[&EventEnvelope]) -> Result<(), PartlyHandled> {
        self.calls.lock().unwrap().push(events.len());
        let ns = events.iter().map(|event| event.payload["n"].as_u64().unwrap());
        self.seen.lock().unwrap().extend(ns);
        Ok(())
    }
}

#[tokio::test]
async fn what_one_read_brings_reaches_the_consumer_in_one_call_in_order() {
    let Some(url) = kernel_infra::testing::redis_url().await else {
        return;
    };
    let prefix = prefix();
    let settings = settings(&url, &prefix);
    // One key, so one stream; published before the consumer starts, so its first read
    // brings all nine, with an event it does not want among them.
    let publisher = RedisStreamsBus::connect(settings.clone()).await.unwrap();
    for n in 0..9 {
        publisher.publish(&event("a", n)).await.unwrap();
        if n == 4 {
            let ignored = Happened {
                key: "a".into(),
                n: 99,
                event_type: OTHER,
            };
            let ignored = EventEnvelope::wrap(&ignored, "test", &EventMeta::internal(), chrono::Utc::now());
            publisher.publish(&ignored).await.unwrap();
        }
    }
    let batches = Arc::new(Batches::default());
    let bus = RedisStreamsBus::connect(settings.clone()).await.unwrap();
    bus.subscribe(Subscription {
        consumer: "test.batches".into(),
        event_types: vec![EVENT.into()],
        handler: batches.clone(),
        delivery: Delivery::Shared,
    })
    .await
    .unwrap();

    until("all nine are handled", || batches.seen.lock().unwrap().len() >= 9).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*batches.calls.lock().unwrap(), vec![9], "one call for the read");
    assert_eq!(*batches.seen.lock().unwrap(), (0..9).collect::<Vec<u64>>());
    // Every entry of the read, the unwanted one too, is acknowledged: nothing pending.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let stream = settings.stream_of(&event("a", 0));
    let pending: redis::streams::StreamPendingReply = conn.xpending(&stream, "test.batches").await.unwrap();
    assert_eq!(pending.count(), 0);

    bus.shutdown().await;
    publisher.shutdown().await;
    kernel_infra::testing::remove_redis_keys(&url, &prefix).await;
}
