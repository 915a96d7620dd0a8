use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kernel::{DomainEvent, EventEnvelope, EventMeta};
use kernel_infra::bus::{Delivery, EventBus, EventHandler, InProcessBus, PartlyHandled, Subscription};
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use kernel_infra::relay::Relay;
use kernel_infra::testing::TestDatabase;
use kernel_infra::{inbox, outbox};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use sea_orm_migration::SchemaManager;

const EVENT: &str = "ecommerce.test.thing.happened.v1";

struct Happened {
    key: String,
    n: u32,
}

impl DomainEvent for Happened {
    fn event_type(&self) -> &'static str {
        EVENT
    }
    fn partition_key(&self) -> String {
        self.key.clone()
    }
    fn payload(&self) -> serde_json::Value {
        serde_json::json!({ "key": self.key, "n": self.n })
    }
}

/// Records every delivery; fails the first `failures` deliveries of one event.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(String, u64)>>,
    fail: Mutex<Option<(String, u64, u32)>>,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let key = event.payload["key"].as_str().unwrap().to_owned();
        let n = event.payload["n"].as_u64().unwrap();
        if let Some((fail_key, fail_n, left)) = self.fail.lock().unwrap().as_mut()
            && *fail_key == key
            && *fail_n == n
            && *left > 0
        {
            *left -= 1;
            anyhow::bail!("consumer is down");
        }
        self.seen.lock().unwrap().push((key, n));
        Ok(())
    }
}

async fn open(database: &TestDatabase) -> DatabaseConnection {
    let db = kernel_infra::db::connect(&database.url).await.unwrap();
    kernel_infra::migration::create_outbox_and_inbox(&SchemaManager::new(&db))
        .await
        .unwrap();
    db
}

async fn bus_with(recorder: Arc<Recorder>) -> Arc<dyn EventBus> {
    let bus = InProcessBus::new();
    bus.subscribe(Subscription {
        consumer: "test.recorder".into(),
        event_types: vec![EVENT.into()],
        handler: recorder,
        delivery: Delivery::Shared,
    })
    .await
    .unwrap();
    bus
}

/// Writes `per_key` events for each key, interleaved, each in its own transaction.
async fn write_events(db: &DatabaseConnection, keys: &[&str], per_key: u32) {
    for n in 0..per_key {
        for key in keys {
            let txn = db.begin().await.unwrap();
            outbox::record(
                &txn,
                "test",
                &EventMeta::internal(),
                &[Happened { key: (*key).into(), n }],
            )
            .await
            .unwrap();
            txn.commit().await.unwrap();
        }
    }
}

async fn drain(relay: &Relay) {
    while relay.publish_pending().await.unwrap() > 0 {}
}

fn by_key(seen: &[(String, u64)]) -> HashMap<String, Vec<u64>> {
    let mut map: HashMap<String, Vec<u64>> = HashMap::new();
    for (key, n) in seen {
        map.entry(key.clone()).or_default().push(*n);
    }
    map
}

#[tokio::test]
async fn relay_publishes_in_order_per_partition_and_marks_rows_published() {
    for database in TestDatabase::all().await {
        let db = open(&database).await;
        let recorder = Arc::new(Recorder::default());
        let relay = Relay::new(db.clone(), bus_with(recorder.clone()).await);
        write_events(&db, &["a", "b", "c"], 5).await;
        assert_eq!(outbox::pending(&db).await.unwrap().len(), 15, "{}", database.label);

        drain(&relay).await;

        let seen = by_key(&recorder.seen.lock().unwrap());
        for key in ["a", "b", "c"] {
            assert_eq!(seen[key], vec![0, 1, 2, 3, 4], "{} key {key}", database.label);
        }
        assert!(outbox::pending(&db).await.unwrap().is_empty(), "{}", database.label);
        assert_eq!(outbox::all(&db).await.unwrap().len(), 15);
        database.remove().await;
    }
}

#[tokio::test]
async fn a_failing_consumer_holds_back_its_partition_until_it_recovers() {
    for database in TestDatabase::all().await {
        let db = open(&database).await;
        let recorder = Arc::new(Recorder::default());
        // More failures than the bus retries within one publish.
        *recorder.fail.lock().unwrap() = Some(("a".into(), 1, 4));
        let relay = Relay::new(db.clone(), bus_with(recorder.clone()).await);
        write_events(&db, &["a", "b"], 3).await;

        relay.publish_pending().await.unwrap();
        let seen = by_key(&recorder.seen.lock().unwrap());
        assert_eq!(seen["a"], vec![0], "{}: a/1 failed, so a/2 must wait", database.label);
        assert_eq!(seen["b"], vec![0, 1, 2], "{}: other partitions go on", database.label);
        assert_eq!(outbox::pending(&db).await.unwrap().len(), 2);

        drain(&relay).await;
        let seen = by_key(&recorder.seen.lock().unwrap());
        assert_eq!(seen["a"], vec![0, 1, 2], "{}", database.label);
        database.remove().await;
    }
}

#[tokio::test]
async fn the_inbox_lets_a_consumer_apply_a_redelivered_event_once() {
    for database in TestDatabase::all().await {
        let db = open(&database).await;
        let event = EventEnvelope::wrap(
            &Happened { key: "a".into(), n: 0 },
            "test",
            &EventMeta::internal(),
            chrono::Utc::now(),
        );
        let mut applied = 0;
        for _ in 0..3 {
            let txn = db.begin().await.unwrap();
            if inbox::claim(&txn, "test.consumer", &event).await.unwrap() {
                applied += 1;
            }
            txn.commit().await.unwrap();
        }
        assert_eq!(applied, 1, "{}", database.label);
        // Another consumer has its own inbox entry for the same event.
        let txn = db.begin().await.unwrap();
        assert!(inbox::claim(&txn, "other.consumer", &event).await.unwrap());
        txn.commit().await.unwrap();
        database.remove().await;
    }
}

#[tokio::test]
async fn claiming_a_pass_at_once_returns_only_the_events_not_processed_before() {
    for database in TestDatabase::all().await {
        let db = open(&database).await;
        let wrap = |n| {
            EventEnvelope::wrap(
                &Happened { key: "a".into(), n },
                "test",
                &EventMeta::internal(),
                chrono::Utc::now(),
            )
        };
        let (seen, first, second) = (wrap(0), wrap(1), wrap(2));
        let txn = db.begin().await.unwrap();
        assert!(inbox::claim(&txn, "test.consumer", &seen).await.unwrap());
        txn.commit().await.unwrap();

        // A pass that holds an event processed before and another one twice.
        let txn = db.begin().await.unwrap();
        let fresh = inbox::claim_all(&txn, "test.consumer", &[&seen, &first, &second, &first])
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let expected = [first.event_id.as_uuid(), second.event_id.as_uuid()].into();
        assert_eq!(fresh, expected, "{}", database.label);

        // Claimed now, so the next pass finds nothing new; a rolled back pass claims nothing.
        let txn = db.begin().await.unwrap();
        let third = wrap(3);
        let fresh = inbox::claim_all(&txn, "test.consumer", &[&first, &third])
            .await
            .unwrap();
        assert_eq!(fresh, [third.event_id.as_uuid()].into(), "{}", database.label);
        txn.rollback().await.unwrap();
        let txn = db.begin().await.unwrap();
        assert!(
            inbox::claim(&txn, "test.consumer", &third).await.unwrap(),
            "{}",
            database.label
        );
        assert!(inbox::claim_all(&txn, "test.consumer", &[]).await.unwrap().is_empty());
        txn.commit().await.unwrap();
        database.remove().await;
    }
}

#[tokio::test]
async fn a_rolled_back_change_leaves_no_event() {
    for database in TestDatabase::all().await {
        let db = open(&database).await;
        let txn = db.begin().await.unwrap();
        outbox::record(
            &txn,
            "test",
            &EventMeta::internal(),
            &[Happened { key: "a".into(), n: 0 }],
        )
        .await
        .unwrap();
        txn.rollback().await.unwrap();
        assert!(outbox::all(&db).await.unwrap().is_empty(), "{}", database.label);
        database.remove().await;
    }
}

#[tokio::test]
async fn a_relay_stops_a_key_at_a_row_another_relay_holds() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let db = open(&database).await;
    write_events(&db, &["a", "b"], 3).await;
    let recorder = Arc::new(Recorder::default());
    let relay = Relay::new(db.clone(), bus_with(recorder.clone()).await);

    // Another relay's claim holds the middle event of key "a".
    let other = db.begin().await.unwrap();
    other
        .execute_unprepared(
            "SELECT seq FROM outbox_events WHERE seq = \
             (SELECT seq FROM outbox_events WHERE partition_key = 'a' ORDER BY seq OFFSET 1 LIMIT 1) \
             FOR UPDATE",
        )
        .await
        .unwrap();
    relay.publish_pending().await.unwrap();
    let seen = by_key(&recorder.seen.lock().unwrap());
    assert_eq!(seen["a"], vec![0], "key a stops before the held row");
    assert_eq!(seen["b"], vec![0, 1, 2], "key b is not held back");

    other.rollback().await.unwrap();
    drain(&relay).await;
    let seen = by_key(&recorder.seen.lock().unwrap());
    assert_eq!(seen["a"], vec![0, 1, 2]);
    assert_eq!(seen["b"], vec![0, 1, 2]);
    database.remove().await;
}

#[tokio::test]
async fn concurrent_relays_on_postgres_publish_each_event_once_in_order() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let db = open(&database).await;
    let keys: Vec<String> = (0..10).map(|k| format!("key-{k}")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    write_events(&db, &key_refs, 30).await;
    let recorder = Arc::new(Recorder::default());
    let bus = bus_with(recorder.clone()).await;

    let relays: Vec<_> = (0..4)
        .map(|_| {
            let relay = Relay::new(db.clone(), bus.clone());
            tokio::spawn(async move {
                for _ in 0..200 {
                    if relay.publish_pending().await.unwrap() == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for relay in relays {
        relay.await.unwrap();
    }
    drain(&Relay::new(db.clone(), bus)).await;

    let seen = recorder.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 300, "every event delivered exactly once");
    for (key, ns) in by_key(&seen) {
        assert_eq!(ns, (0..30).collect::<Vec<u64>>(), "{key} out of order");
    }
    database.remove().await;
}

/// Records the size of every call it gets, and what it saw.
#[derive(Default)]
struct BatchRecorder {
    calls: Mutex<Vec<usize>>,
    seen: Mutex<Vec<(String, u64)>>,
}

fn key_and_n(event: &EventEnvelope) -> (String, u64) {
    (
        event.payload["key"].as_str().unwrap().to_owned(),
        event.payload["n"].as_u64().unwrap(),
    )
}

#[async_trait]
impl EventHandler for BatchRecorder {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        self.calls.lock().unwrap().push(1);
        self.seen.lock().unwrap().push(key_and_n(event));
        Ok(())
    }

    async fn handle_all(&self, events: &[&EventEnvelope]) -> Result<(), PartlyHandled> {
        self.calls.lock().unwrap().push(events.len());
        self.seen
            .lock()
            .unwrap()
            .extend(events.iter().map(|event| key_and_n(event)));
        Ok(())
    }
}

#[tokio::test]
async fn a_consumer_gets_a_pass_in_one_call_in_order() {
    for database in TestDatabase::all().await {
        let db = open(&database).await;
        let recorder = Arc::new(BatchRecorder::default());
        let bus = InProcessBus::new();
        bus.subscribe(Subscription {
            consumer: "test.batches".into(),
            event_types: vec![EVENT.into()],
            handler: recorder.clone(),
            delivery: Delivery::Shared,
        })
        .await
        .unwrap();
        write_events(&db, &["a", "b", "c"], 3).await;

        let published = Relay::new(db.clone(), bus).publish_pending().await.unwrap();

        assert_eq!(published, 9, "{}", database.label);
        assert_eq!(
            *recorder.calls.lock().unwrap(),
            vec![9],
            "{}: one call for the pass",
            database.label
        );
        let seen = recorder.seen.lock().unwrap().clone();
        let in_write_order: Vec<(String, u64)> = (0..3)
            .flat_map(|n| ["a", "b", "c"].map(|key| (key.to_owned(), n)))
            .collect();
        assert_eq!(seen, in_write_order, "{}", database.label);
        database.remove().await;
    }
}

/// Writes a row per event it applies into `applied`, then fails on one event a number
/// of times: its row must not outlive the rolled-back transaction.
struct WriteApplied {
    fail: Arc<Mutex<Option<(String, u64, u32)>>>,
    calls: Arc<Mutex<Vec<(String, u64)>>>,
}

#[async_trait]
impl ApplyEvent for WriteApplied {
    async fn apply(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()> {
        let (key, n) = key_and_n(event);
        self.calls.lock().unwrap().push((key.clone(), n));
        txn.execute_unprepared(&format!("INSERT INTO applied (key, n) VALUES ('{key}', {n})"))
            .await?;
        if let Some((fail_key, fail_n, left)) = self.fail.lock().unwrap().as_mut()
            && *fail_key == key
            && *fail_n == n
            && *left > 0
        {
            *left -= 1;
            anyhow::bail!("cannot apply {key}/{n}");
        }
        Ok(())
    }
}

async fn applied(db: &DatabaseConnection) -> HashMap<String, Vec<u64>> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT key, n FROM applied ORDER BY id",
        ))
        .await
        .unwrap();
    let seen: Vec<(String, u64)> = rows
        .iter()
        .map(|row| {
            let n: i64 = row.try_get("", "n").unwrap();
            (row.try_get("", "key").unwrap(), n as u64)
        })
        .collect();
    by_key(&seen)
}

#[tokio::test]
async fn an_inbox_consumer_applies_a_pass_all_or_none_then_event_by_event() {
    for database in TestDatabase::all().await {
        let db = open(&database).await;
        let id = if database.label == "postgres" {
            "id BIGSERIAL PRIMARY KEY"
        } else {
            "id INTEGER PRIMARY KEY AUTOINCREMENT"
        };
        db.execute_unprepared(&format!(
            "CREATE TABLE applied ({id}, key TEXT NOT NULL, n BIGINT NOT NULL)"
        ))
        .await
        .unwrap();
        // a/1 fails in the pass's transaction and in every retry of its own.
        let fail = Arc::new(Mutex::new(Some(("a".to_owned(), 1, 4))));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let bus = InProcessBus::new();
        bus.subscribe(InboxConsumer::subscription(
            "test.applied",
            vec![EVENT.into()],
            db.clone(),
            WriteApplied {
                fail: fail.clone(),
                calls: calls.clone(),
            },
        ))
        .await
        .unwrap();
        let relay = Relay::new(db.clone(), bus);
        write_events(&db, &["a", "b"], 3).await;

        relay.publish_pending().await.unwrap();
        let after_one_pass = applied(&db).await;
        assert_eq!(
            after_one_pass["a"],
            vec![0],
            "{}: a/1 failed, so a/2 waits",
            database.label
        );
        assert_eq!(
            after_one_pass["b"],
            vec![0, 1, 2],
            "{}: once each, nothing of the failed pass kept",
            database.label
        );
        assert_eq!(outbox::pending(&db).await.unwrap().len(), 2, "{}", database.label);
        // a/0 and b/0 were applied in the pass's transaction, rolled back with it, and
        // applied again on their own.
        let a0_calls = calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == ("a".to_owned(), 0))
            .count();
        assert_eq!(a0_calls, 2, "{}: the pass was one transaction", database.label);

        *fail.lock().unwrap() = None;
        drain(&relay).await;
        let after_all = applied(&db).await;
        assert_eq!(after_all["a"], vec![0, 1, 2], "{}", database.label);
        assert_eq!(after_all["b"], vec![0, 1, 2], "{}", database.label);
        database.remove().await;
    }
}
