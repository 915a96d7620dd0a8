//! Dead letters on SQLite and PostgreSQL: an inbox consumer parks the event it failed on
//! `MAX_FAILURES` times (acknowledging it), forgets the failures of one it handled at
//! last, and staff redrive (once, however often they ask) or discard (with a reason)
//! what it parked, each action recorded as an event in the same transaction.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kernel::{DomainEvent, EventEnvelope, EventMeta};
use kernel_infra::dead_letters::{DeadLetterError, DeadLetterStatus, DeadLetters, MAX_FAILURES};
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use kernel_infra::testing::TestDatabase;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use sea_orm_migration::SchemaManager;

const EVENT: &str = "ecommerce.test.thing.happened.v1";

struct Happened(u32);

impl DomainEvent for Happened {
    fn event_type(&self) -> &'static str {
        EVENT
    }
    fn partition_key(&self) -> String {
        "k".into()
    }
    fn payload(&self) -> serde_json::Value {
        serde_json::json!({ "n": self.0 })
    }
}

fn event(n: u32) -> EventEnvelope {
    EventEnvelope::wrap(&Happened(n), "test", &EventMeta::internal(), chrono::Utc::now())
}

/// Writes each event's `n` to `applied`; fails while `broken` says so.
struct Apply {
    broken: Arc<Mutex<bool>>,
}

#[async_trait]
impl ApplyEvent for Apply {
    async fn apply(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()> {
        if *self.broken.lock().unwrap() {
            anyhow::bail!("the read model's table is missing");
        }
        let n = event.payload["n"].as_u64().unwrap();
        txn.execute_unprepared(&format!("INSERT INTO applied (n) VALUES ({n})"))
            .await?;
        Ok(())
    }
}

async fn open(database: &TestDatabase) -> DatabaseConnection {
    let db = kernel_infra::db::connect(&database.url).await.unwrap();
    let manager = SchemaManager::new(&db);
    kernel_infra::migration::create_outbox_and_inbox(&manager)
        .await
        .unwrap();
    kernel_infra::migration::create_dead_letters(&manager).await.unwrap();
    db.execute_unprepared("CREATE TABLE applied (n BIGINT NOT NULL)")
        .await
        .unwrap();
    db
}

async fn applied(db: &DatabaseConnection, n: u32) -> usize {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS c FROM applied WHERE n = {n}"),
        ))
        .await
        .unwrap()
        .unwrap();
    usize::try_from(row.try_get::<i64>("", "c").unwrap()).unwrap()
}

async fn audit_events(db: &DatabaseConnection) -> Vec<EventEnvelope> {
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT envelope FROM outbox_events ORDER BY seq",
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| serde_json::from_str(&row.try_get::<String>("", "envelope").unwrap()).unwrap())
    .collect()
}

#[tokio::test]
async fn a_consumer_parks_what_it_fails_on_and_staff_redrive_or_discard_it() {
    for database in TestDatabase::all().await {
        let label = database.label;
        let db = open(&database).await;
        let broken = Arc::new(Mutex::new(true));
        let subscription = InboxConsumer::subscription(
            "test.applied",
            vec![EVENT.into()],
            db.clone(),
            Apply { broken: broken.clone() },
        );
        let consumer = subscription.handler.clone();
        let letters = DeadLetters::new("test", db.clone()).with(subscription);
        let staff = uuid::Uuid::now_v7();
        let meta = EventMeta::internal();

        // Failures are the bus's to retry until the last, which parks the event: the
        // consumer then answers Ok, so the bus acknowledges it and goes on.
        let first = event(1);
        for attempt in 1..MAX_FAILURES {
            assert!(
                consumer.handle(&first).await.is_err(),
                "{label}: attempt {attempt} fails"
            );
        }
        consumer.handle(&first).await.unwrap();
        let listed = letters.list(None).await.unwrap();
        assert_eq!(listed.len(), 1, "{label}");
        assert_eq!(listed[0].status, "DEAD", "{label}");
        assert_eq!(listed[0].failures, MAX_FAILURES, "{label}");
        assert!(listed[0].last_error.contains("table is missing"), "{label}");
        assert_eq!(letters.list(Some(DeadLetterStatus::Dead)).await.unwrap().len(), 1);
        // A late redelivery of a parked event changes nothing.
        consumer.handle(&first).await.unwrap();
        assert_eq!(letters.list(None).await.unwrap()[0].failures, MAX_FAILURES, "{label}");

        // Redriven before its cause is fixed: it fails again and stays DEAD.
        let id = first.event_id.as_uuid();
        let again = letters.redrive("test.applied", id, staff, &meta).await;
        assert!(
            matches!(again, Err(DeadLetterError::FailedAgain(_))),
            "{label}: {again:?}"
        );
        let still = &letters.list(Some(DeadLetterStatus::Dead)).await.unwrap()[0];
        assert_eq!(still.failures, MAX_FAILURES + 1, "{label}");

        // Fixed, then redriven twice: handled once, REDRIVEN, one audit event.
        *broken.lock().unwrap() = false;
        let redriven = letters.redrive("test.applied", id, staff, &meta).await.unwrap();
        assert_eq!(redriven.status, "REDRIVEN", "{label}");
        assert_eq!(redriven.settled_by, Some(staff), "{label}");
        let twice = letters.redrive("test.applied", id, staff, &meta).await.unwrap();
        assert_eq!(twice.status, "REDRIVEN", "{label}");
        assert_eq!(applied(&db, 1).await, 1, "{label}: handled once");
        let events = audit_events(&db).await;
        assert_eq!(events.len(), 1, "{label}");
        assert_eq!(events[0].event_type.as_str(), "ecommerce.test.dead_letter.redriven.v1");
        assert_eq!(events[0].payload["eventId"], id.to_string());
        assert_eq!(events[0].payload["consumer"], "test.applied");
        assert_eq!(events[0].payload["staffId"], staff.to_string());
        // A redriven letter is not discarded.
        let refused = letters.discard("test.applied", id, staff, "not needed", &meta).await;
        assert!(
            matches!(refused, Err(DeadLetterError::NotDead("REDRIVEN"))),
            "{label}: {refused:?}"
        );

        // Another parked event, given up: a reason is needed; discarding twice records once.
        *broken.lock().unwrap() = true;
        let second = event(2);
        for _ in 0..MAX_FAILURES {
            let _ = consumer.handle(&second).await;
        }
        let id = second.event_id.as_uuid();
        let no_reason = letters.discard("test.applied", id, staff, "  ", &meta).await;
        assert!(
            matches!(no_reason, Err(DeadLetterError::Invalid(_))),
            "{label}: {no_reason:?}"
        );
        let discarded = letters
            .discard("test.applied", id, staff, "duplicate of a manual fix", &meta)
            .await
            .unwrap();
        assert_eq!(discarded.status, "DISCARDED", "{label}");
        assert_eq!(discarded.reason.as_deref(), Some("duplicate of a manual fix"));
        letters
            .discard("test.applied", id, staff, "again", &meta)
            .await
            .unwrap();
        let events = audit_events(&db).await;
        assert_eq!(events.len(), 2, "{label}");
        assert_eq!(events[1].event_type.as_str(), "ecommerce.test.dead_letter.discarded.v1");
        assert_eq!(events[1].payload["reason"], "duplicate of a manual fix");
        assert_eq!(applied(&db, 2).await, 0, "{label}: never handled");
        let refused = letters.redrive("test.applied", id, staff, &meta).await;
        assert!(
            matches!(refused, Err(DeadLetterError::NotDead("DISCARDED"))),
            "{label}: {refused:?}"
        );
        let unknown = letters
            .redrive("test.applied", uuid::Uuid::now_v7(), staff, &meta)
            .await;
        assert!(
            matches!(unknown, Err(DeadLetterError::NotFound(_))),
            "{label}: {unknown:?}"
        );

        // An event that fails, then is handled, leaves nothing behind.
        let third = event(3);
        assert!(consumer.handle(&third).await.is_err());
        assert_eq!(
            letters.list(Some(DeadLetterStatus::Failing)).await.unwrap().len(),
            1,
            "{label}"
        );
        *broken.lock().unwrap() = false;
        consumer.handle(&third).await.unwrap();
        assert!(
            letters.list(Some(DeadLetterStatus::Failing)).await.unwrap().is_empty(),
            "{label}"
        );
        assert_eq!(applied(&db, 3).await, 1, "{label}");
        database.remove().await;
    }
}
