//! A relay or a consumer as a process of its own, for the test that kills them with
//! SIGKILL (tests/it/kill.rs). Built only with the `testing` feature.
//!
//! `bus_kill_worker relay <database url> <redis url> <prefix>` publishes the database's
//! outbox to the Redis bus. `bus_kill_worker consumer <database url> <redis url>
//! <prefix>` applies each event to the `applied` table through an inbox consumer: the
//! events of one read are claimed and applied in one transaction. Both run until they
//! are killed.

use std::time::Duration;

use async_trait::async_trait;
use kernel::EventEnvelope;
use kernel_infra::CancellationToken;
use kernel_infra::bus::EventBus;
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use kernel_infra::redis_bus::{RedisBusSettings, RedisStreamsBus};
use kernel_infra::relay::Relay;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement};

/// The event type the kill test produces.
pub const EVENT: &str = "ecommerce.test.thing.happened.v1";

/// Records each event in `applied`; the inbox consumer claims it in the same
/// transaction, and what one read brings shares one transaction.
struct Apply;

#[async_trait]
impl ApplyEvent for Apply {
    async fn apply(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()> {
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
            bus.subscribe(InboxConsumer::subscription(
                "test.applier",
                vec![EVENT.into()],
                db,
                Apply,
            ))
            .await?;
            std::future::pending::<()>().await;
        }
        other => anyhow::bail!("unknown role {other}"),
    }
    Ok(())
}
