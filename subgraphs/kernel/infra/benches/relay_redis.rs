//! Relay throughput on PostgreSQL and Redis Streams: how many events per second one
//! outbox's relay publishes and a consumer group applies, and the lag from an event's
//! commit to its application.
//!
//! `cargo bench -p kernel-infra --bench relay_redis` (PostgreSQL at
//! `TEST_POSTGRES_URL`, Redis at `TEST_REDIS_URL`; defaults 127.0.0.1). It writes
//! `BENCH_EVENTS` events (20,000) over 200 partition keys at `BENCH_RATE` per second
//! (2,000), in transactions of 10 like a busy context, while `BENCH_RELAYS` relays
//! (2) publish to Redis and two consumer replicas apply the events with their inbox
//! rows: what one read brings in one transaction (an `InboxConsumer`), or with
//! `BENCH_CONSUMER=each` each event in a transaction of its own. It prints events/s
//! sustained and the lag percentiles as a Markdown table for docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark fails loudly

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kernel::{DomainEvent, EventEnvelope, EventMeta};
use kernel_infra::bus::{EventBus, EventHandler, PartlyHandled};
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use kernel_infra::redis_bus::{RedisBusSettings, RedisStreamsBus};
use kernel_infra::relay::Relay;
use kernel_infra::testing::TestDatabase;
use kernel_infra::{CancellationToken, outbox};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, TransactionTrait};
use sea_orm_migration::SchemaManager;

struct Happened {
    key: u32,
    n: u32,
}

impl DomainEvent for Happened {
    fn event_type(&self) -> &'static str {
        "ecommerce.bench.thing.happened.v1"
    }
    fn partition_key(&self) -> String {
        format!("key-{}", self.key)
    }
    fn payload(&self) -> serde_json::Value {
        serde_json::json!({ "key": self.key, "n": self.n })
    }
}

/// Applies an event: one row, in the transaction that claims its inbox row.
struct Apply;

#[async_trait]
impl ApplyEvent for Apply {
    async fn apply(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()> {
        txn.execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "INSERT INTO applied (event_id) VALUES ($1)",
            [event.event_id.as_uuid().into()],
        ))
        .await?;
        Ok(())
    }
}

/// Hands a consumer the events one at a time (the default `handle_all`): the inbox
/// consumer then applies each in a transaction of its own.
struct OneAtATime(Arc<dyn EventHandler>);

#[async_trait]
impl EventHandler for OneAtATime {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        self.0.handle(event).await
    }
}

/// A consumer, timed: the lag of each event from when it occurred to the commit of
/// its application (the first one, should the bus deliver it again).
struct Timed {
    inner: Arc<dyn EventHandler>,
    lags: Arc<Mutex<HashMap<uuid::Uuid, Duration>>>,
}

impl Timed {
    fn record(&self, events: &[&EventEnvelope]) {
        let now = chrono::Utc::now();
        let mut lags = self.lags.lock().unwrap();
        for event in events {
            let lag = (now - event.occurred_at).to_std().unwrap_or_default();
            lags.entry(event.event_id.as_uuid()).or_insert(lag);
        }
    }
}

#[async_trait]
impl EventHandler for Timed {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        self.inner.handle(event).await?;
        self.record(&[event]);
        Ok(())
    }

    async fn handle_all(&self, events: &[&EventEnvelope]) -> Result<(), PartlyHandled> {
        self.inner.handle_all(events).await?;
        self.record(events);
        Ok(())
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let events = env("BENCH_EVENTS", 20_000) as u32;
    let rate = env("BENCH_RATE", 2_000);
    let relays = env("BENCH_RELAYS", 2);
    let together = std::env::var("BENCH_CONSUMER").as_deref() != Ok("each");
    let redis = kernel_infra::testing::redis_url().await.expect("Redis is required");
    let database = TestDatabase::postgres().await.expect("PostgreSQL is required");
    let url = format!("{}?max_connections=16", database.url);
    let db = kernel_infra::db::connect(&url).await.unwrap();
    kernel_infra::migration::create_outbox_and_inbox(&SchemaManager::new(&db))
        .await
        .unwrap();
    db.execute_unprepared("CREATE TABLE applied (seq BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL)")
        .await
        .unwrap();

    let prefix = format!("bench-relay-{}", uuid::Uuid::now_v7().simple());
    let settings = RedisBusSettings {
        prefix: prefix.clone(),
        ..RedisBusSettings::new(&redis)
    };
    let shutdown = CancellationToken::new();
    let lags = Arc::new(Mutex::new(HashMap::new()));
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let bus = RedisStreamsBus::connect(settings.clone()).await.unwrap();
        let mut subscription = InboxConsumer::subscription(
            "bench.applier",
            vec!["ecommerce.bench.thing.happened.v1".into()],
            db.clone(),
            Apply,
        );
        let timed: Arc<dyn EventHandler> = Arc::new(Timed {
            inner: subscription.handler,
            lags: lags.clone(),
        });
        subscription.handler = if together { timed } else { Arc::new(OneAtATime(timed)) };
        bus.subscribe(subscription).await.unwrap();
        consumers.push(bus);
    }
    let mut tasks = Vec::new();
    for _ in 0..relays {
        let bus: Arc<dyn EventBus> = RedisStreamsBus::connect(settings.clone()).await.unwrap();
        let relay = Relay::new(db.clone(), bus).with_poll_interval(Duration::from_millis(10));
        tasks.push(tokio::spawn(relay.run(shutdown.clone())));
    }
    // Let the consumers divide the streams before the clock starts.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let started = Instant::now();
    let per_batch = 10;
    let batches = events / per_batch;
    let interval = Duration::from_secs_f64(f64::from(per_batch) / rate as f64);
    let mut next = Instant::now();
    for batch in 0..batches {
        let txn = db.begin().await.unwrap();
        let happened: Vec<Happened> = (0..per_batch)
            .map(|i| {
                let n = batch * per_batch + i;
                Happened { key: n % 200, n }
            })
            .collect();
        outbox::record(&txn, "bench", &EventMeta::internal(), &happened)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }
    let written = started.elapsed();
    let total = (batches * per_batch) as usize;
    loop {
        if lags.lock().unwrap().len() >= total {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not every event was applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let applied = started.elapsed();
    shutdown.cancel();
    for bus in &consumers {
        bus.shutdown().await;
    }

    let mut lags: Vec<Duration> = lags.lock().unwrap().values().copied().collect();
    lags.sort_unstable();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!(
        "| consumer | events | offered rate | relays | written in | all applied after | applied/s | lag p50 | lag p99 | lag max |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {} | {total} | {rate}/s | {relays} | {:.1} s | {:.1} s | {:.0} | {} | {} | {} |",
        if together { "a read together" } else { "one at a time" },
        written.as_secs_f64(),
        applied.as_secs_f64(),
        total as f64 / applied.as_secs_f64(),
        ms(percentile(&lags, 0.5)),
        ms(percentile(&lags, 0.99)),
        ms(*lags.last().unwrap()),
    );

    kernel_infra::testing::remove_redis_keys(&redis, &prefix).await;
    db.close().await.unwrap();
    database.remove().await;
}
