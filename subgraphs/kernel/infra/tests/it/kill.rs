//! Nothing lost, nothing doubled: relays and consumers, two replicas of each, run as
//! processes against PostgreSQL and Redis and are killed with SIGKILL at random
//! moments while events are written, then started again. In the end every event was
//! applied exactly once, in order per partition key.

use std::collections::HashMap;
use std::time::Duration;

use kernel::{DomainEvent, EventMeta};
use kernel_infra::outbox;
use kernel_infra::testing::TestDatabase;
use rand::Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, Statement, TransactionTrait};
use sea_orm_migration::SchemaManager;
use tokio::process::{Child, Command};

const WORKER: &str = env!("CARGO_BIN_EXE_bus_kill_worker");
const KEYS: u32 = 20;
const PER_KEY: u32 = 40;

struct Happened {
    key: String,
    n: u32,
}

impl DomainEvent for Happened {
    fn event_type(&self) -> &'static str {
        "ecommerce.test.thing.happened.v1"
    }
    fn partition_key(&self) -> String {
        self.key.clone()
    }
    fn payload(&self) -> serde_json::Value {
        serde_json::json!({ "key": self.key, "n": self.n })
    }
}

struct Worker {
    role: &'static str,
    args: [String; 3],
    child: Child,
}

impl Worker {
    fn start(role: &'static str, args: &[String; 3]) -> Self {
        let child = Command::new(WORKER)
            .arg(role)
            .args(args)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .expect("starting a worker");
        Self {
            role,
            args: args.clone(),
            child,
        }
    }

    /// SIGKILL, then a new process in its place.
    async fn kill_and_restart(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
        *self = Self::start(self.role, &self.args);
    }
}

#[derive(Debug, FromQueryResult)]
struct Applied {
    partition_key: String,
    n: i64,
}

async fn applied(db: &DatabaseConnection) -> Vec<Applied> {
    Applied::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        "SELECT partition_key, n FROM applied ORDER BY seq",
    ))
    .all(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn killed_relays_and_consumers_lose_and_double_nothing() {
    let Some(redis) = kernel_infra::testing::redis_url().await else {
        return;
    };
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let db = kernel_infra::db::connect(&database.url).await.unwrap();
    kernel_infra::migration::create_outbox_and_inbox(&SchemaManager::new(&db))
        .await
        .unwrap();
    db.execute_unprepared(
        "CREATE TABLE applied (seq BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL, partition_key TEXT NOT NULL, n BIGINT NOT NULL)",
    )
    .await
    .unwrap();
    let prefix = format!("test-kill-{}", uuid::Uuid::now_v7().simple());
    let args = [database.url.clone(), redis.clone(), prefix.clone()];
    let mut workers = vec![
        Worker::start("relay", &args),
        Worker::start("relay", &args),
        Worker::start("consumer", &args),
        Worker::start("consumer", &args),
    ];

    // Events are written while the workers are killed and restarted.
    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            for n in 0..PER_KEY {
                for key in 0..KEYS {
                    let txn = db.begin().await.unwrap();
                    let event = Happened {
                        key: format!("key-{key}"),
                        n,
                    };
                    outbox::record(&txn, "test", &EventMeta::internal(), &[event])
                        .await
                        .unwrap();
                    txn.commit().await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };
    let mut kills = HashMap::new();
    while !writer.is_finished() {
        let pause = rand::rng().random_range(100..700);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let which = rand::rng().random_range(0..workers.len());
        workers[which].kill_and_restart().await;
        *kills.entry(workers[which].role).or_insert(0) += 1;
    }
    writer.await.unwrap();
    assert!(
        kills.get("relay").is_some_and(|k| *k > 0) && kills.get("consumer").is_some_and(|k| *k > 0),
        "{kills:?}"
    );

    let total = (KEYS * PER_KEY) as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let done = applied(&db).await.len();
        if done >= total {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {done} of {total} events applied; kills {kills:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // An event applied twice would be a second row (event_id is not unique here).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let rows = applied(&db).await;
    assert_eq!(rows.len(), total, "each event applied once");
    let mut by_key: HashMap<String, Vec<i64>> = HashMap::new();
    for row in rows {
        by_key.entry(row.partition_key).or_default().push(row.n);
    }
    assert_eq!(by_key.len(), KEYS as usize);
    for (key, ns) in by_key {
        assert_eq!(
            ns,
            (0..i64::from(PER_KEY)).collect::<Vec<_>>(),
            "{key} applied in order; kills {kills:?}"
        );
    }
    assert!(outbox::pending(&db).await.unwrap().is_empty());

    for worker in &mut workers {
        let _ = worker.child.start_kill();
    }
    kernel_infra::testing::remove_redis_keys(&redis, &prefix).await;
    db.close().await.unwrap();
    database.remove().await;
}
