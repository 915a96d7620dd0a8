//! Loading and saving stock items, reservations and movements.
//!
//! Writers lock what they change: on PostgreSQL `SELECT … FOR UPDATE` in SKU order (so
//! two reservations over the same SKUs cannot deadlock); on SQLite the single
//! connection already serializes writers.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use inventory_domain::{
    Quantity, Reservation, ReservationId, ReservationLine, ReservationStatus, Sku, StockItem, StockMovement,
};
use sea_orm::sea_query::{ExprTrait, OnConflict, PostgresQueryBuilder};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement,
};

use crate::entity::{movement, reservation, reservation_line, stock_item};

/// Stock totals of one product across its SKUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub on_hand: i64,
    pub reserved: i64,
}

fn to_domain(row: stock_item::Model) -> anyhow::Result<StockItem> {
    Ok(StockItem::restore(
        Sku::parse(&row.sku)?,
        row.product_id,
        row.on_hand,
        row.reserved,
    )?)
}

/// Reads stock items by SKU (no locks); unknown SKUs are absent from the map.
pub async fn items(conn: &impl ConnectionTrait, skus: &[String]) -> anyhow::Result<HashMap<String, StockItem>> {
    let rows = stock_item::Entity::find()
        .filter(stock_item::Column::Sku.is_in(skus.iter().cloned()))
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|row| Ok((row.sku.clone(), to_domain(row)?)))
        .collect()
}

/// Locks and reads stock items for a change, in SKU order.
pub async fn lock_items(conn: &impl ConnectionTrait, skus: &[&Sku]) -> anyhow::Result<Vec<StockItem>> {
    let mut query = stock_item::Entity::find()
        .filter(stock_item::Column::Sku.is_in(skus.iter().map(|s| s.as_str())))
        .order_by_asc(stock_item::Column::Sku);
    if kernel_infra::db::is_postgres(conn) {
        query = query.lock_exclusive();
    }
    query.all(conn).await?.into_iter().map(to_domain).collect()
}

/// Writes the counts of changed stock items.
async fn save_items(
    conn: &impl ConnectionTrait,
    items: &[StockItem],
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    for item in items {
        stock_item::Entity::update_many()
            .col_expr(stock_item::Column::OnHand, item.on_hand().into())
            .col_expr(stock_item::Column::Reserved, item.reserved().into())
            .col_expr(stock_item::Column::UpdatedAt, now.into())
            .filter(stock_item::Column::Sku.eq(item.sku().as_str()))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Writes the counts of changed stock items and appends their movements: on
/// PostgreSQL in one statement, so the rows locked for the change are held for one
/// round trip less.
pub async fn save_items_and_movements(
    conn: &impl ConnectionTrait,
    items: &[StockItem],
    movements: &[StockMovement],
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    if !kernel_infra::db::is_postgres(conn) || items.is_empty() || movements.is_empty() {
        save_items(conn, items, now).await?;
        return append_movements(conn, movements).await;
    }
    let (insert, mut values) = movement::Entity::insert_many(movement_rows(movements))
        .into_query()
        .build(PostgresQueryBuilder);
    let mut counts = Vec::with_capacity(items.len());
    for item in items {
        let n = values.0.len();
        counts.push(format!("(${}::text, ${}::bigint, ${}::bigint)", n + 1, n + 2, n + 3));
        values.0.extend([
            item.sku().as_str().into(),
            item.on_hand().into(),
            item.reserved().into(),
        ]);
    }
    values.0.push(now.into());
    let sql = format!(
        "WITH moved AS ({insert}) \
         UPDATE stock_items SET on_hand = counts.on_hand, reserved = counts.reserved, updated_at = ${} \
         FROM (VALUES {}) AS counts (sku, on_hand, reserved) WHERE stock_items.sku = counts.sku",
        values.0.len(),
        counts.join(", ")
    );
    conn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
        .await?;
    Ok(())
}

/// Creates a stock item unless one exists for its SKU. Returns whether it was created.
pub async fn insert_item_if_absent(
    conn: &impl ConnectionTrait,
    item: &StockItem,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let row = stock_item::ActiveModel {
        sku: Set(item.sku().as_str().to_owned()),
        product_id: Set(item.product_id()),
        on_hand: Set(item.on_hand()),
        reserved: Set(item.reserved()),
        updated_at: Set(now),
    };
    let inserted = stock_item::Entity::insert(row)
        .on_conflict(OnConflict::column(stock_item::Column::Sku).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await?;
    Ok(inserted == 1)
}

/// Appends to the stock ledger.
async fn append_movements(conn: &impl ConnectionTrait, movements: &[StockMovement]) -> Result<(), sea_orm::DbErr> {
    if movements.is_empty() {
        return Ok(());
    }
    movement::Entity::insert_many(movement_rows(movements))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

fn movement_rows(movements: &[StockMovement]) -> impl Iterator<Item = movement::ActiveModel> + '_ {
    movements.iter().map(|m| movement::ActiveModel {
        sku: Set(m.sku.as_str().to_owned()),
        on_hand_delta: Set(m.on_hand_delta),
        reserved_delta: Set(m.reserved_delta),
        reason: Set(m.reason.code().to_owned()),
        note: Set(m.reason.note().map(str::to_owned)),
        reservation_id: Set(m.reservation_id.map(|id| id.as_uuid())),
        created_at: Set(m.at),
        ..Default::default()
    })
}

/// A SKU's movements, newest first, older than `before` (a movement id).
pub async fn movements(
    conn: &impl ConnectionTrait,
    sku: &Sku,
    before: Option<i64>,
    limit: u64,
) -> anyhow::Result<Vec<movement::Model>> {
    let mut query = movement::Entity::find()
        .filter(movement::Column::Sku.eq(sku.as_str()))
        .order_by_desc(movement::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(movement::Column::Id.lt(before));
    }
    Ok(query.all(conn).await?)
}

/// Totals per product id, in one grouped query whatever the count.
pub async fn product_totals(
    conn: &impl ConnectionTrait,
    product_ids: &[uuid::Uuid],
) -> anyhow::Result<HashMap<uuid::Uuid, Totals>> {
    let rows: Vec<(Option<uuid::Uuid>, i64, i64)> = stock_item::Entity::find()
        .select_only()
        .column(stock_item::Column::ProductId)
        .column_as(stock_item::Column::OnHand.sum().cast_as("BIGINT"), "on_hand")
        .column_as(stock_item::Column::Reserved.sum().cast_as("BIGINT"), "reserved")
        .filter(stock_item::Column::ProductId.is_in(product_ids.iter().copied()))
        .group_by(stock_item::Column::ProductId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, on_hand, reserved)| id.map(|id| (id, Totals { on_hand, reserved })))
        .collect())
}

/// The writes of a new reservation, its row and its lines, with the `events` that
/// announce it: one statement on PostgreSQL ([`kernel_infra::db::write_together`]).
pub async fn insert_reservation(
    conn: &impl ConnectionTrait,
    r: &Reservation,
    events: &[kernel::EventEnvelope],
) -> Result<(), sea_orm::DbErr> {
    let row = reservation::Entity::insert(reservation::ActiveModel {
        id: Set(r.id.as_uuid()),
        status: Set(r.status.as_str().to_owned()),
        reference: Set(r.reference.clone()),
        expires_at: Set(r.expires_at),
        created_at: Set(r.created_at),
        updated_at: Set(r.created_at),
    })
    .into_query();
    let lines = r.lines.iter().map(|line| reservation_line::ActiveModel {
        reservation_id: Set(r.id.as_uuid()),
        sku: Set(line.sku.as_str().to_owned()),
        quantity: Set(line.quantity.get()),
    });
    let mut rest = vec![reservation_line::Entity::insert_many(lines).into_query()];
    rest.extend(kernel_infra::outbox::insert(events));
    kernel_infra::db::write_together(conn, row, rest).await?;
    Ok(())
}

/// Reads a reservation, locking it on PostgreSQL when `lock` is set.
pub async fn reservation(
    conn: &impl ConnectionTrait,
    id: ReservationId,
    lock: bool,
) -> anyhow::Result<Option<Reservation>> {
    let mut query = reservation::Entity::find_by_id(id.as_uuid());
    if lock && kernel_infra::db::is_postgres(conn) {
        query = query.lock_exclusive();
    }
    let Some(row) = query.one(conn).await? else {
        return Ok(None);
    };
    let lines = reservation_line::Entity::find()
        .filter(reservation_line::Column::ReservationId.eq(row.id))
        .order_by_asc(reservation_line::Column::Sku)
        .all(conn)
        .await?
        .into_iter()
        .map(|line| {
            Ok(ReservationLine {
                sku: Sku::parse(&line.sku)?,
                quantity: Quantity::new(line.quantity)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(Reservation {
        id,
        lines,
        status: ReservationStatus::parse(&row.status).with_context(|| format!("unknown status {}", row.status))?,
        reference: row.reference,
        expires_at: row.expires_at,
        created_at: row.created_at,
    }))
}

/// Saves a locked reservation's new status with the `events` that announce it: one
/// statement on PostgreSQL.
pub async fn save_reservation_status(
    conn: &impl ConnectionTrait,
    r: &Reservation,
    now: DateTime<Utc>,
    events: &[kernel::EventEnvelope],
) -> Result<(), sea_orm::DbErr> {
    let update = reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, r.status.as_str().into())
        .col_expr(reservation::Column::UpdatedAt, now.into())
        .filter(reservation::Column::Id.eq(r.id.as_uuid()))
        .into_query();
    kernel_infra::db::write_together(conn, update, kernel_infra::outbox::insert(events).into_iter().collect()).await?;
    Ok(())
}

/// Active reservations whose hold has run out, oldest first.
pub async fn due_reservations(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> anyhow::Result<Vec<ReservationId>> {
    let ids: Vec<uuid::Uuid> = reservation::Entity::find()
        .select_only()
        .column(reservation::Column::Id)
        .filter(reservation::Column::Status.eq(ReservationStatus::Active.as_str()))
        .filter(reservation::Column::ExpiresAt.lte(now))
        .order_by_asc(reservation::Column::ExpiresAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(ids.into_iter().map(ReservationId::from_uuid).collect())
}

/// Records the restock `reference`; false when it was recorded before (nothing is
/// written then).
pub async fn record_restock(
    conn: &impl ConnectionTrait,
    reference: &str,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    use sea_orm::sea_query::OnConflict;
    let inserted = crate::entity::restock::Entity::insert(crate::entity::restock::ActiveModel {
        reference: sea_orm::ActiveValue::Set(reference.to_owned()),
        created_at: sea_orm::ActiveValue::Set(now),
    })
    .on_conflict(
        OnConflict::column(crate::entity::restock::Column::Reference)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted == 1)
}
