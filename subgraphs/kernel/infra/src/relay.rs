//! The outbox relay: publishes pending outbox rows at least once, in order per
//! partition key, and marks them published.
//!
//! On PostgreSQL several relays may run against one database: each claims a batch with
//! `FOR UPDATE SKIP LOCKED` and publishes, for each partition key, only the rows it
//! holds from the key's oldest pending row up to the first one it does not hold, so no
//! key is ever published out of order. On SQLite (one process) a single relay reads
//! the pending rows without locks.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryOrder, QuerySelect, TransactionTrait};
use tokio_util::sync::CancellationToken;

use crate::bus::{BusError, EventBus};
use crate::outbox::{entity, parse_envelope};

/// Publishes one database's outbox.
#[derive(Clone)]
pub struct Relay {
    db: DatabaseConnection,
    bus: Arc<dyn EventBus>,
    batch_size: u64,
    poll_interval: Duration,
    /// How long a relay that is keeping up waits after a pass, so that the next pass
    /// publishes several events together (25 ms: against 10 ms it cut the machine's
    /// work per checkout by about 14 %, and 50 ms saved nothing more; see
    /// docs/benchmarks.md).
    linger: Duration,
}

impl Relay {
    pub fn new(db: DatabaseConnection, bus: Arc<dyn EventBus>) -> Self {
        Self {
            db,
            bus,
            batch_size: 100,
            poll_interval: Duration::from_millis(50),
            linger: Duration::from_millis(25),
        }
    }

    /// How long an idle relay waits before it looks again (50 ms).
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Publishes until `shutdown` is cancelled. Errors are logged and retried.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut busy = false;
        loop {
            let published = match self.pass(!busy).await {
                Ok(count) => count,
                Err(err) => {
                    tracing::error!(error = %err, "outbox relay pass failed");
                    0
                }
            };
            // A full batch means a backlog: go on at once. A partial one means the
            // outbox is keeping up: wait a moment so that the next pass carries several
            // events (a pass costs five statements however many rows it publishes, and one
            // more to look first when the last pass found nothing).
            busy = published > 0;
            let pause = match published as u64 {
                0 => self.poll_interval,
                n if n >= self.batch_size => continue,
                _ => self.linger,
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One pass: publishes up to one batch, returns how many rows were published.
    ///
    /// # Errors
    /// When the database fails; the rows of the pass stay pending and are published
    /// again (at least once).
    pub async fn publish_pending(&self) -> Result<usize, DbErr> {
        self.pass(true).await
    }

    /// A pass; `look_first` when the outbox is likely empty (the last pass published
    /// nothing), to find that out without a transaction.
    #[tracing::instrument(skip(self), level = "debug")]
    async fn pass(&self, look_first: bool) -> Result<usize, DbErr> {
        if crate::db::is_postgres(&self.db) {
            if look_first && !self.any_pending().await? {
                return Ok(0);
            }
            let txn = self.db.begin().await?;
            let claimed = entity::Entity::find()
                .filter(entity::Column::PublishedAt.is_null())
                .order_by_asc(entity::Column::Seq)
                .limit(self.batch_size)
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .all(&txn)
                .await?;
            let claimed = keep_unbroken_runs(&txn, claimed).await?;
            let published = self.publish_rows(&txn, claimed).await?;
            txn.commit().await?;
            Ok(published)
        } else {
            let pending = entity::Entity::find()
                .filter(entity::Column::PublishedAt.is_null())
                .order_by_asc(entity::Column::Seq)
                .limit(self.batch_size)
                .all(&self.db)
                .await?;
            self.publish_rows(&self.db, pending).await
        }
    }

    async fn any_pending(&self) -> Result<bool, DbErr> {
        let first = entity::Entity::find()
            .select_only()
            .column(entity::Column::Seq)
            .filter(entity::Column::PublishedAt.is_null())
            .into_tuple::<i64>()
            .one(&self.db)
            .await?;
        Ok(first.is_some())
    }

    /// Publishes rows in `seq` order, together, and marks the published ones with one
    /// statement. A row that fails holds back the later rows of its partition key
    /// until the next pass.
    async fn publish_rows(&self, conn: &impl ConnectionTrait, rows: Vec<entity::Model>) -> Result<usize, DbErr> {
        let envelopes = rows
            .iter()
            .map(|row| parse_envelope(&row.envelope))
            .collect::<Result<Vec<_>, _>>()?;
        // While spans are exported, a span per event, continuing its writer's trace, over
        // the publish of them all (none otherwise: this is the relay's hot path).
        let traced = if crate::telemetry::exporting() {
            envelopes.as_slice()
        } else {
            &[]
        };
        let spans: Vec<tracing::Span> = traced
            .iter()
            .map(|envelope| {
                let span = tracing::info_span!(
                    "relay.publish",
                    otel.name = %format!("publish {}", envelope.event_type),
                    otel.kind = "producer",
                    event_id = %envelope.event_id,
                    event_type = %envelope.event_type,
                    trace_id = %envelope.trace_id,
                    outcome = tracing::field::Empty,
                );
                crate::telemetry::follow_writer(&span, envelope);
                span
            })
            .collect();
        let outcomes = self.bus.publish_all(&envelopes).await;
        for (span, outcome) in spans.iter().zip(&outcomes) {
            span.record("outcome", if outcome.is_ok() { "published" } else { "failed" });
        }
        drop(spans);
        let mut published = Vec::with_capacity(rows.len());
        for ((row, envelope), outcome) in rows.iter().zip(&envelopes).zip(outcomes) {
            match outcome {
                Ok(()) => {
                    let lag_ms = (Utc::now() - row.occurred_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0;
                    crate::metrics::RELAY_LAG_MS
                        .with_label_values(&[envelope.producer.as_str()])
                        .observe(lag_ms.max(0.0));
                    crate::metrics::RELAY_PUBLISHED
                        .with_label_values(&[envelope.producer.as_str()])
                        .inc();
                    published.push(row.seq);
                }
                // Not attempted: an earlier row of its key failed, and it waits with it.
                Err(BusError::HeldBack { .. }) => {}
                Err(err) => {
                    tracing::warn!(event_id = %envelope.event_id, event_type = %envelope.event_type, error = %err, "publish failed; will retry");
                    entity::Entity::update_many()
                        .col_expr(entity::Column::Attempts, Expr::col(entity::Column::Attempts).add(1))
                        .col_expr(entity::Column::LastError, Expr::value(err.to_string()))
                        .filter(entity::Column::Seq.eq(row.seq))
                        .exec(conn)
                        .await?;
                }
            }
        }
        if !published.is_empty() {
            entity::Entity::update_many()
                .col_expr(entity::Column::PublishedAt, Expr::value(Utc::now()))
                .col_expr(entity::Column::Attempts, Expr::col(entity::Column::Attempts).add(1))
                .filter(entity::Column::Seq.is_in(published.iter().copied()))
                .exec(conn)
                .await?;
        }
        Ok(published.len())
    }
}

/// Keeps, for each partition key, only the unbroken run of its pending rows, from
/// the oldest, that this relay holds.
///
/// Claims with `SKIP LOCKED` can leave gaps: two relays scanning at once may each lock
/// some rows of one key. A relay must stop at the first pending row of a key that it
/// does not hold, or it would publish the key's later rows before that one.
async fn keep_unbroken_runs(
    conn: &impl ConnectionTrait,
    claimed: Vec<entity::Model>,
) -> Result<Vec<entity::Model>, DbErr> {
    let Some(last) = claimed.iter().map(|row| row.seq).max() else {
        return Ok(claimed);
    };
    let keys: HashSet<String> = claimed.iter().map(|row| row.partition_key.clone()).collect();
    let pending: Vec<(String, i64)> = entity::Entity::find()
        .select_only()
        .column(entity::Column::PartitionKey)
        .column(entity::Column::Seq)
        .filter(entity::Column::PublishedAt.is_null())
        .filter(entity::Column::PartitionKey.is_in(keys))
        .filter(entity::Column::Seq.lte(last))
        .order_by_asc(entity::Column::Seq)
        .into_tuple()
        .all(conn)
        .await?;
    let held: HashSet<i64> = claimed.iter().map(|row| row.seq).collect();
    // The first pending row of each key that another relay holds (or nobody yet).
    let mut stop_at: HashMap<String, i64> = HashMap::new();
    for (key, seq) in pending {
        if !held.contains(&seq) {
            stop_at.entry(key).or_insert(seq);
        }
    }
    Ok(claimed
        .into_iter()
        .filter(|row| stop_at.get(&row.partition_key).is_none_or(|&stop| row.seq < stop))
        .collect())
}
