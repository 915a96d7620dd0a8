//! A relay or a consumer as a process of its own, for the test that kills them with
//! SIGKILL (tests/it/kill.rs). Built only with the `testing` feature.
//!
//! `bus_kill_worker relay <database url> <redis url> <prefix>` publishes the database's
//! outbox to the Redis bus. `bus_kill_worker consumer <database url> <redis url>
//! <prefix>` applies each event to the `applied` table, claiming it in the inbox in the
//! same transaction. Both run until they are killed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kernel::EventEnvelope;
use kernel_infra::bus::{Delivery, EventBus, EventHandler, Subscription};
use kernel_infra::redis_bus::{RedisBusSettings, RedisStreamsBus};
use kernel_infra::relay::Relay;
use kernel_infra::{CancellationToken, inbox};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};

/// The event type the kill test produces.
pub const EVENT: &str = "ecommerce.test.thing.happened.v1";

struct Apply {
    db: DatabaseConnection,
}

#[async_trait]
impl EventHandler for Apply {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let txn = self.db.begin().await?;
        if inbox::claim(&txn, "test.applier", event).await? {
            txn.execute_raw(Statement::from_sql_and_values(
                txn.get_database_backend(),
                "INSERT INTO applied (event_id, partition_key, n) VALUES ($1, $2, $3)",
                [
                    event.event_id.as_uuid().into(),
                    event.partition_key.clone().into(),
                    event.payload["n"].as_i64().unwrap_or(-1).into(),
                ],
            ))
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, role, database, redis, prefix] = args.as_slice() else {
        anyhow::bail!("usage: bus_kill_worker relay|consumer <database url> <redis url> <prefix>");
    };
    let settings = RedisBusSettings {
        prefix: prefix.clone(),
        lease: Duration::from_secs(1),
        ..RedisBusSettings::new(redis)
    };
    let bus = RedisStreamsBus::connect(settings).await?;
    let db = kernel_infra::db::connect(&format!("{database}?max_connections=4")).await?;
    match role.as_str() {
        "relay" => {
            Relay::new(db, bus)
                .with_poll_interval(Duration::from_millis(20))
                .run(CancellationToken::new())
                .await;
        }
        "consumer" => {
            bus.subscribe(Subscription {
                consumer: "test.applier".into(),
                event_types: vec![EVENT.into()],
                handler: Arc::new(Apply { db }),
                delivery: Delivery::Shared,
            })
            .await?;
            std::future::pending::<()>().await;
        }
        other => anyhow::bail!("unknown role {other}"),
    }
    Ok(())
}
