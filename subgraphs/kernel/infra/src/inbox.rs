//! The consumer inbox: one row per (consumer, event id) processed.
//!
//! A handler claims the event in the same transaction as its own change. A redelivered
//! event finds its row already there and is skipped, so every handler is idempotent
//! however often the bus delivers.
//!
//! [`InboxConsumer`] does that for a context's [`ApplyEvent`]: it claims and applies
//! each event in one transaction, and the events the bus hands over together in one
//! transaction for all of them, claimed with one statement.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use kernel::EventEnvelope;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use crate::bus::{Delivery, EventHandler, PartlyHandled, Subscription};

/// A row of `inbox_events`.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbox_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: Uuid,
        pub event_type: String,
        pub processed_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records that `consumer` processes `event`. Returns `false` when it already has:
/// the caller then skips its work and lets the transaction end.
///
/// # Errors
/// When the insert fails for another reason than a duplicate.
pub async fn claim(conn: &impl ConnectionTrait, consumer: &str, event: &EventEnvelope) -> Result<bool, DbErr> {
    let fresh = claim_all(conn, consumer, &[event]).await?;
    Ok(fresh.contains(&event.event_id.as_uuid()))
}

/// Records that `consumer` processes each of `events`, with one statement. Returns the
/// ids of those it had not processed before; an event handed over twice is among them
/// once.
///
/// # Errors
/// When the insert fails for another reason than a duplicate.
pub async fn claim_all(
    conn: &impl ConnectionTrait,
    consumer: &str,
    events: &[&EventEnvelope],
) -> Result<HashSet<Uuid>, DbErr> {
    let now = Utc::now();
    let mut fresh = HashSet::new();
    // In parts, to stay under the databases' limits on bound values per statement.
    for part in events.chunks(CLAIMED_AT_ONCE) {
        let mut insert = Query::insert();
        insert
            .into_table(entity::Entity)
            .columns([
                entity::Column::Consumer,
                entity::Column::EventId,
                entity::Column::EventType,
                entity::Column::ProcessedAt,
            ])
            .on_conflict(
                OnConflict::columns([entity::Column::Consumer, entity::Column::EventId])
                    .do_nothing()
                    .to_owned(),
            )
            .returning_col(entity::Column::EventId);
        for event in part {
            insert
                .values([
                    consumer.into(),
                    event.event_id.as_uuid().into(),
                    event.event_type.to_string().into(),
                    now.into(),
                ])
                .map_err(|err| DbErr::Custom(err.to_string()))?;
        }
        for row in conn.query_all(&insert).await? {
            fresh.insert(row.try_get::<Uuid>("", "event_id")?);
        }
    }
    Ok(fresh)
}

const CLAIMED_AT_ONCE: usize = 1_000;

/// What a consumer does with one event, inside the transaction that claims it.
#[async_trait]
pub trait ApplyEvent: Send + Sync {
    /// Applies `event`, which this consumer has not processed before.
    ///
    /// # Errors
    /// When it cannot be applied; the whole transaction is rolled back and the event
    /// is delivered again.
    async fn apply(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()>;
}

/// A consumer that claims each event in its inbox and applies it in the same
/// transaction. Events handed over together share one transaction: all are applied,
/// or none.
///
/// Its subscription parks an event it fails on again and again as a dead letter
/// ([`crate::dead_letters::Parking`]) and acknowledges it, so the events after it go on.
pub struct InboxConsumer<A> {
    consumer: &'static str,
    db: DatabaseConnection,
    apply: A,
}

impl<A: ApplyEvent + 'static> InboxConsumer<A> {
    /// The subscription of `consumer` (also its inbox key) to `event_types`, shared by
    /// the replicas, parking what it fails on in `db`.
    pub fn subscription(
        consumer: &'static str,
        event_types: Vec<String>,
        db: DatabaseConnection,
        apply: A,
    ) -> Subscription {
        Subscription {
            consumer: consumer.to_owned(),
            event_types,
            handler: Arc::new(Self {
                consumer,
                db: db.clone(),
                apply,
            }),
            delivery: Delivery::Shared,
        }
        .parking(db)
    }
}

impl<A: ApplyEvent> InboxConsumer<A> {
    /// Claims and applies `events` in one transaction.
    async fn apply_all(&self, events: &[&EventEnvelope]) -> anyhow::Result<()> {
        let txn = self.db.begin().await?;
        let mut fresh = claim_all(&txn, self.consumer, events).await?;
        for event in events {
            if fresh.remove(&event.event_id.as_uuid()) {
                self.apply.apply(&txn, event).await?;
            }
        }
        txn.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl<A: ApplyEvent> EventHandler for InboxConsumer<A> {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        self.apply_all(&[event]).await
    }

    async fn handle_all(&self, events: &[&EventEnvelope]) -> Result<(), PartlyHandled> {
        self.apply_all(events).await.map_err(PartlyHandled::none)
    }
}
