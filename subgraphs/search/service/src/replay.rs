//! Rebuilding the read models by replay: every event they are built from, read from
//! the retained event log (the producers' outboxes, which keep published rows), applied
//! in order to fresh tables. A replay proves parity with the live view, or replaces it.

use std::collections::BTreeMap;

use kernel_infra::outbox::entity as outbox;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::consumer::KeepReadModels;
use crate::entity::{order, product};
use crate::projection;

/// Events read from a log at once.
const PAGE: u64 = 1_000;
/// Differences listed in a report at most.
const LISTED: usize = 50;

/// What a replay found.
#[derive(Debug, Default)]
pub struct Parity {
    pub events: usize,
    pub products: usize,
    pub orders: usize,
    /// Rows that differ between the replayed and the live view (at most 50 listed).
    pub differences: Vec<String>,
    pub different: usize,
}

impl Parity {
    pub fn holds(&self) -> bool {
        self.different == 0
    }
}

/// Who asks for a rebuild, and why: recorded as Search's event
/// `ecommerce.search.read_models.rebuilt.v1` in the rebuild's transaction.
#[derive(Debug, Clone, Copy)]
pub struct Rebuild<'a> {
    /// The operator, as the command knows them (the system user that ran it).
    pub operator: &'a str,
    pub reason: &'a str,
}

/// The audit record of a rebuild.
struct ReadModelsRebuilt {
    events: usize,
    operator: String,
    reason: String,
}

impl kernel::DomainEvent for ReadModelsRebuilt {
    fn event_type(&self) -> &'static str {
        "ecommerce.search.read_models.rebuilt.v1"
    }

    fn partition_key(&self) -> String {
        KeepReadModels::CONSUMER.to_owned()
    }

    fn payload(&self) -> serde_json::Value {
        serde_json::json!({ "events": self.events, "operator": self.operator, "reason": self.reason })
    }
}

/// The longest reason and operator name a rebuild records.
const REASON_MAX: usize = 500;

/// Replays the events of `logs` (the outbox databases of Products and Orders) into
/// fresh tables in a scratch SQLite file under `scratch_dir`, and compares them with
/// `live`, row by row.
///
/// With `rebuild`, the live tables are then rebuilt in place ([`rebuild_in_place`]),
/// while the platform serves.
///
/// # Errors
/// A database that cannot be read, or an event that breaks its contract.
pub async fn replay(
    live: &DatabaseConnection,
    logs: &[DatabaseConnection],
    scratch_dir: &std::path::Path,
    rebuild: Option<Rebuild<'_>>,
) -> anyhow::Result<Parity> {
    if let Some(rebuild) = rebuild {
        checked(rebuild)?;
    }
    let scratch_path = scratch_dir.join(format!("search-replay-{}.db", uuid::Uuid::now_v7().simple()));
    let scratch = kernel_infra::db::connect(&format!("sqlite://{}", scratch_path.display())).await?;
    let result = replay_into(&scratch, live, logs, rebuild).await;
    scratch.close().await?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", scratch_path.display()));
    }
    result
}

async fn replay_into(
    scratch: &DatabaseConnection,
    live: &DatabaseConnection,
    logs: &[DatabaseConnection],
    rebuild: Option<Rebuild<'_>>,
) -> anyhow::Result<Parity> {
    search_migration::Migrator::up(scratch, None).await?;
    let wanted = KeepReadModels::event_types();
    let mut parity = Parity::default();
    for log in logs {
        let mut after = 0_i64;
        loop {
            let rows = outbox::Entity::find()
                .filter(outbox::Column::Seq.gt(after))
                .filter(outbox::Column::PublishedAt.is_not_null())
                .filter(outbox::Column::EventType.is_in(wanted.iter().map(String::as_str)))
                .order_by_asc(outbox::Column::Seq)
                .limit(PAGE)
                .all(log)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            let txn = scratch.begin().await?;
            for row in &rows {
                let envelope = kernel_infra::outbox::parse_envelope(&row.envelope)?;
                projection::apply(&txn, &envelope).await?;
                parity.events += 1;
            }
            txn.commit().await?;
        }
    }

    let replayed_products = by_key(product::Entity::find().all(scratch).await?, |r| r.product_id);
    let replayed_orders = by_key(order::Entity::find().all(scratch).await?, |r| r.order_id);
    parity.products = replayed_products.len();
    parity.orders = replayed_orders.len();
    compare(
        "product",
        &replayed_products,
        &by_key(product::Entity::find().all(live).await?, |r| r.product_id),
        &mut parity,
    );
    compare(
        "order",
        &replayed_orders,
        &by_key(order::Entity::find().all(live).await?, |r| r.order_id),
        &mut parity,
    );

    if let Some(rebuild) = rebuild {
        rebuild_in_place(live, logs, rebuild).await?;
    }
    Ok(parity)
}

/// Rebuilds the live read models from every event the logs hold, in one transaction,
/// while Search serves and its consumer runs: readers see the old rows until it
/// commits, and the consumer neither loses nor repeats an event.
///
/// The transaction first takes the consumer's tables (on PostgreSQL it locks the inbox
/// and both views against writes; on SQLite its first write takes the database's one
/// write lock), so the consumer's own transactions wait for it. It then empties the
/// views, applies every committed event of the logs in order (published or not: the
/// consumer may have applied one the relay has not marked yet), and records each in the
/// consumer's inbox: when the bus hands the consumer one of them later, it is skipped.
/// An event committed after the logs were read is not in the rebuilt views and not in
/// the inbox, so the consumer applies it when it arrives. The rebuild is recorded (who,
/// why, how many events) as an event of Search in the same transaction. Returns the
/// events applied.
///
/// # Errors
/// A reason or operator that is empty or not one printable line; a database that cannot
/// be read or written, or an event that breaks its contract: the transaction then rolls
/// back and the views stay as they were.
pub async fn rebuild_in_place(
    live: &DatabaseConnection,
    logs: &[DatabaseConnection],
    rebuild: Rebuild<'_>,
) -> anyhow::Result<usize> {
    let (operator, reason) = checked(rebuild)?;
    let wanted = KeepReadModels::event_types();
    let txn = live.begin().await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared("LOCK TABLE inbox_events, product_search_view, orders_by_customer IN EXCLUSIVE MODE")
            .await?;
    }
    product::Entity::delete_many().exec(&txn).await?;
    order::Entity::delete_many().exec(&txn).await?;
    let mut applied = 0;
    for log in logs {
        let mut after = 0_i64;
        loop {
            let rows = outbox::Entity::find()
                .filter(outbox::Column::Seq.gt(after))
                .filter(outbox::Column::EventType.is_in(wanted.iter().map(String::as_str)))
                .order_by_asc(outbox::Column::Seq)
                .limit(PAGE)
                .all(log)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            let events = rows
                .iter()
                .map(|row| kernel_infra::outbox::parse_envelope(&row.envelope))
                .collect::<Result<Vec<_>, _>>()?;
            for event in &events {
                projection::apply(&txn, event).await?;
            }
            kernel_infra::inbox::claim_all(&txn, KeepReadModels::CONSUMER, &events.iter().collect::<Vec<_>>()).await?;
            applied += events.len();
        }
    }
    let audit = ReadModelsRebuilt {
        events: applied,
        operator: operator.to_owned(),
        reason: reason.to_owned(),
    };
    kernel_infra::outbox::record(&txn, "search", &kernel::EventMeta::internal(), &[audit]).await?;
    txn.commit().await?;
    Ok(applied)
}

/// The operator and reason of a rebuild, each one printable line.
fn checked(rebuild: Rebuild<'_>) -> anyhow::Result<(&str, &str)> {
    let line = |value, what| {
        kernel::text::printable_line(value, REASON_MAX)
            .ok_or_else(|| anyhow::anyhow!("a rebuild's {what} {}", kernel::text::printable_line_rule(REASON_MAX)))
    };
    Ok((line(rebuild.operator, "operator")?, line(rebuild.reason, "reason")?))
}

fn by_key<R>(rows: Vec<R>, key: impl Fn(&R) -> uuid::Uuid) -> BTreeMap<uuid::Uuid, R> {
    rows.into_iter().map(|row| (key(&row), row)).collect()
}

fn compare<R: PartialEq + std::fmt::Debug>(
    kind: &str,
    replayed: &BTreeMap<uuid::Uuid, R>,
    live: &BTreeMap<uuid::Uuid, R>,
    parity: &mut Parity,
) {
    let mut note = |text: String| {
        parity.different += 1;
        if parity.differences.len() < LISTED {
            parity.differences.push(text);
        }
    };
    for (id, row) in replayed {
        match live.get(id) {
            None => note(format!("{kind} {id}: missing from the live view")),
            Some(live_row) if live_row != row => {
                note(format!("{kind} {id}: live {live_row:?}, replayed {row:?}"));
            }
            Some(_) => {}
        }
    }
    for id in live.keys().filter(|id| !replayed.contains_key(id)) {
        note(format!("{kind} {id}: in the live view, but no event made it"));
    }
}
