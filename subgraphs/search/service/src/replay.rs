//! Rebuilding the read models by replay: every event they are built from, read from
//! the retained event log (the producers' outboxes, which keep published rows), applied
//! in order to fresh tables. A replay proves parity with the live view, or replaces it.

use std::collections::BTreeMap;

use kernel_infra::outbox::entity as outbox;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};
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

/// Replays the events of `logs` (the outbox databases of Products and Orders) into
/// fresh tables in a scratch SQLite file under `scratch_dir`, and compares them with
/// `live`, row by row.
///
/// With `rebuild`, the live tables are then replaced by the replayed ones in one
/// transaction. Run a rebuild while Search's consumer is stopped: an event it applies
/// during the rebuild would be overwritten.
///
/// # Errors
/// A database that cannot be read, or an event that breaks its contract.
pub async fn replay(
    live: &DatabaseConnection,
    logs: &[DatabaseConnection],
    scratch_dir: &std::path::Path,
    rebuild: bool,
) -> anyhow::Result<Parity> {
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
    rebuild: bool,
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

    if rebuild {
        let txn = live.begin().await?;
        product::Entity::delete_many().exec(&txn).await?;
        order::Entity::delete_many().exec(&txn).await?;
        for rows in replayed_products.into_values().collect::<Vec<_>>().chunks(500) {
            let models = rows.iter().cloned().map(product::ActiveModel::from);
            product::Entity::insert_many(models)
                .exec_without_returning(&txn)
                .await?;
        }
        for rows in replayed_orders.into_values().collect::<Vec<_>>().chunks(500) {
            let models = rows.iter().cloned().map(order::ActiveModel::from);
            order::Entity::insert_many(models).exec_without_returning(&txn).await?;
        }
        txn.commit().await?;
    }
    Ok(parity)
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
