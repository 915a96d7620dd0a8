//! Orders' SQL: reading orders with their items, locking one for a change, and the
//! inserts of an order, its items and its history entries. The use cases
//! ([`crate::orders`], [`crate::returns`]) decide; this module reads and writes.

pub mod returns;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use kernel::{Currency, Money, Quantity, Sku};
use orders_domain::{Order, OrderId, OrderItem, OrderStatus, StatusChange, StoredOrder};
use sea_orm::sea_query::{Expr, InsertStatement, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};

use crate::entity::{history, item, order};
use crate::orders::OrdersError;

/// The ids of `user_id`'s orders, newest first, before `after` (a cursor), `limit` of
/// them.
pub(crate) async fn ids_of_user(
    conn: &impl ConnectionTrait,
    user_id: uuid::Uuid,
    after: Option<OrderId>,
    limit: u64,
) -> Result<Vec<uuid::Uuid>, DbErr> {
    let mut query = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::UserId.eq(user_id))
        .order_by_desc(order::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(order::Column::Id.lt(after.as_uuid()));
    }
    query.into_tuple().all(conn).await
}

/// The ids of `user_id`'s orders changed at or after `since` (by the user's index).
pub(crate) async fn ids_changed_since(
    conn: &impl ConnectionTrait,
    user_id: uuid::Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<uuid::Uuid>, DbErr> {
    order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::UserId.eq(user_id))
        .filter(order::Column::UpdatedAt.gte(since))
        .into_tuple()
        .all(conn)
        .await
}

/// The order's status history, oldest first.
pub(crate) async fn history(conn: &impl ConnectionTrait, id: OrderId) -> Result<Vec<StatusChange>, OrdersError> {
    let rows = history::Entity::find()
        .filter(history::Column::OrderId.eq(id.as_uuid()))
        .order_by_asc(history::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(StatusChange {
                from: row.from_status.as_deref().map(status).transpose()?,
                to: status(&row.to_status)?,
                reason: row.reason,
                at: row.at,
            })
        })
        .collect()
}

/// Up to `limit` orders still unpaid that were placed before `placed_before`.
pub(crate) async fn unpaid_placed_before(
    conn: &impl ConnectionTrait,
    placed_before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<uuid::Uuid>, DbErr> {
    order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::Status.is_in([OrderStatus::Pending.as_str(), OrderStatus::AwaitingPayment.as_str()]))
        .filter(order::Column::CreatedAt.lt(placed_before))
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await
}

/// Forgets the placement keys made before `before`; how many.
pub(crate) async fn forget_keys_before(conn: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let result = crate::entity::idempotency::Entity::delete_many()
        .filter(crate::entity::idempotency::Column::CreatedAt.lt(before))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

pub(crate) async fn reached_before(
    conn: &impl ConnectionTrait,
    id: OrderId,
    status: OrderStatus,
) -> Result<bool, DbErr> {
    let found = history::Entity::find()
        .filter(history::Column::OrderId.eq(id.as_uuid()))
        .filter(history::Column::ToStatus.eq(status.as_str()))
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// Reads the order for a change, holding its row lock on PostgreSQL until `txn` ends;
/// with its items if `items`.
pub(crate) async fn lock_order(txn: &DatabaseTransaction, id: OrderId, items: bool) -> Result<Order, OrdersError> {
    let mut query = order::Entity::find_by_id(id.as_uuid());
    if kernel_infra::db::is_postgres(txn) {
        query = query.lock_exclusive();
    }
    let rows = query.all(txn).await?;
    let orders = if items {
        with_items(txn, rows).await?
    } else {
        without_items(rows)?
    };
    orders.into_iter().next().ok_or(OrdersError::NotFound(id))
}

pub(crate) fn status(value: &str) -> Result<OrderStatus, OrdersError> {
    OrderStatus::parse(value).ok_or_else(|| anyhow::anyhow!("unknown order status {value}").into())
}

pub(crate) fn order_insert(o: &Order) -> InsertStatement {
    order::Entity::insert(order::ActiveModel {
        id: Set(o.id().as_uuid()),
        user_id: Set(o.user_id()),
        status: Set(o.status().as_str().to_owned()),
        currency: Set(o.currency().code().to_owned()),
        subtotal: Set(o.subtotal().amount()),
        discount: Set(o.discount().amount()),
        total: Set(o.total().amount()),
        coupon_code: Set(o.coupon_code().map(str::to_owned)),
        checkout_id: Set(o.checkout_id()),
        payment_id: Set(o.payment_id()),
        shipping: Set(o.shipping().amount()),
        delivery: Set(o
            .delivery()
            .as_ref()
            .map(|d| serde_json::to_string(d).unwrap_or_default())),
        tax: Set(o.tax_total().amount()),
        tax_lines: Set(o.tax().as_ref().map(|t| serde_json::to_string(t).unwrap_or_default())),
        created_at: Set(o.created_at()),
        updated_at: Set(o.updated_at()),
    })
    .into_query()
}

pub(crate) fn items_insert(o: &Order) -> InsertStatement {
    let items = o.items().iter().enumerate().map(|(line, i)| item::ActiveModel {
        order_id: Set(o.id().as_uuid()),
        line: Set(i32::try_from(line).unwrap_or(i32::MAX)),
        product_id: Set(i.product_id),
        sku: Set(i.sku.to_string()),
        name: Set(i.name.clone()),
        unit_price: Set(i.unit_price.amount()),
        quantity: Set(i.quantity.get()),
    });
    item::Entity::insert_many(items).into_query()
}

/// The history entries of `changes`, oldest first.
pub(crate) const HISTORY_COLUMNS: [history::Column; 5] = [
    history::Column::OrderId,
    history::Column::FromStatus,
    history::Column::ToStatus,
    history::Column::Reason,
    history::Column::At,
];

/// The values of `HISTORY_COLUMNS` for one change.
pub(crate) fn history_row(id: OrderId, change: &StatusChange) -> Vec<Expr> {
    vec![
        Expr::value(id.as_uuid()),
        Expr::value(change.from.map(|s| s.as_str().to_owned())),
        Expr::value(change.to.as_str()),
        Expr::value(change.reason.clone()),
        Expr::value(change.at),
    ]
}

pub(crate) fn history_insert(id: OrderId, changes: &[StatusChange]) -> InsertStatement {
    let mut insert = Query::insert();
    insert.into_table(history::Entity).columns(HISTORY_COLUMNS);
    for change in changes {
        insert.values_panic(history_row(id, change));
    }
    insert
}

pub(crate) async fn load_orders(conn: &impl ConnectionTrait, ids: Vec<uuid::Uuid>) -> Result<Vec<Order>, OrdersError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = order::Entity::find()
        .filter(order::Column::Id.is_in(ids))
        .all(conn)
        .await?;
    with_items(conn, rows).await
}

/// The orders of `rows`, with their items.
pub(crate) async fn with_items(
    conn: &impl ConnectionTrait,
    rows: Vec<order::Model>,
) -> Result<Vec<Order>, OrdersError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = rows.iter().map(|row| row.id).collect();
    let mut items: HashMap<uuid::Uuid, Vec<item::Model>> = HashMap::new();
    for row in item::Entity::find()
        .filter(item::Column::OrderId.is_in(ids))
        .order_by_asc(item::Column::Line)
        .all(conn)
        .await?
    {
        items.entry(row.order_id).or_default().push(row);
    }
    rows.into_iter()
        .map(|row| {
            let its = items.remove(&row.id).unwrap_or_default();
            from_row(row, its)
        })
        .collect()
}

/// The orders of `rows` without their items, for a change that does not need them.
pub(crate) fn without_items(rows: Vec<order::Model>) -> Result<Vec<Order>, OrdersError> {
    rows.into_iter().map(|row| from_row(row, Vec::new())).collect()
}

pub(crate) fn from_row(row: order::Model, items: Vec<item::Model>) -> Result<Order, OrdersError> {
    let currency = Currency::parse(&row.currency).map_err(|e| anyhow::anyhow!("stored currency: {e}"))?;
    let money = |amount| Money::new(amount, currency);
    let delivery = row
        .delivery
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| anyhow::anyhow!("stored delivery of order {}: {e}", row.id))?;
    let tax = row
        .tax_lines
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| anyhow::anyhow!("stored tax of order {}: {e}", row.id))?;
    Ok(StoredOrder {
        id: OrderId::from_uuid(row.id),
        user_id: row.user_id,
        status: status(&row.status)?,
        items: items
            .into_iter()
            .map(|i| {
                let stored = |err: kernel::ValueError| anyhow::anyhow!("stored item of order {}: {err}", row.id);
                Ok(OrderItem {
                    product_id: i.product_id,
                    sku: Sku::parse(&i.sku).map_err(stored)?,
                    name: i.name,
                    unit_price: money(i.unit_price),
                    quantity: Quantity::new(i.quantity).map_err(stored)?,
                })
            })
            .collect::<Result<_, OrdersError>>()?,
        currency,
        subtotal: money(row.subtotal),
        discount: money(row.discount),
        total: money(row.total),
        coupon_code: row.coupon_code,
        checkout_id: row.checkout_id,
        delivery,
        tax,
        payment_id: row.payment_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
    .into())
}
