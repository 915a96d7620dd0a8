//! The returns' SQL.

use chrono::{DateTime, Utc};
use kernel::{Currency, Money};
use orders_domain::returns::{Return, ReturnId, ReturnLine, ReturnStatus, StoredReturn};
use orders_domain::{OrderId, OrderStatus};
use sea_orm::sea_query::{Expr, InsertStatement, UpdateStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use crate::entity::{history, order_return};
use crate::orders::OrdersError;

/// When the order was delivered, if it was.
pub async fn delivered_at(
    conn: &impl ConnectionTrait,
    order_id: OrderId,
) -> Result<Option<DateTime<Utc>>, OrdersError> {
    let at: Option<DateTime<Utc>> = history::Entity::find()
        .select_only()
        .column(history::Column::At)
        .filter(history::Column::OrderId.eq(order_id.as_uuid()))
        .filter(history::Column::ToStatus.eq(OrderStatus::Delivered.as_str()))
        .order_by_desc(history::Column::Id)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(at)
}

pub async fn get(conn: &impl ConnectionTrait, id: ReturnId) -> Result<Option<Return>, OrdersError> {
    order_return::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await?
        .map(from_row)
        .transpose()
}

pub async fn of_order(conn: &impl ConnectionTrait, order_id: OrderId) -> Result<Vec<Return>, OrdersError> {
    order_return::Entity::find()
        .filter(order_return::Column::OrderId.eq(order_id.as_uuid()))
        .order_by_asc(order_return::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

pub async fn with_status(
    conn: &impl ConnectionTrait,
    status: ReturnStatus,
    limit: u64,
) -> Result<Vec<Return>, OrdersError> {
    order_return::Entity::find()
        .filter(order_return::Column::Status.eq(status.as_str()))
        .order_by_asc(order_return::Column::RequestedAt)
        .order_by_asc(order_return::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

pub fn insert(asked: &Return) -> Result<InsertStatement, OrdersError> {
    Ok(order_return::Entity::insert(order_return::ActiveModel {
        id: Set(asked.id().as_uuid()),
        order_id: Set(asked.order_id().as_uuid()),
        user_id: Set(asked.user_id()),
        status: Set(asked.status().as_str().to_owned()),
        reason: Set(asked.reason().to_owned()),
        lines: Set(serde_json::to_string(asked.lines()).map_err(anyhow::Error::from)?),
        currency: Set(asked.shipping_refund().currency().code().to_owned()),
        shipping_refund: Set(asked.shipping_refund().amount()),
        refund: Set(asked.refund().amount()),
        refusal: Set(asked.refusal().map(str::to_owned)),
        failure: Set(asked.failure().map(str::to_owned)),
        requested_at: Set(asked.requested_at()),
        updated_at: Set(asked.updated_at()),
    })
    .into_query())
}

/// The return's new status, written only if it is still `read`.
pub fn update_status(changed: &Return, read: ReturnStatus) -> UpdateStatement {
    order_return::Entity::update_many()
        .col_expr(order_return::Column::Status, Expr::value(changed.status().as_str()))
        .col_expr(
            order_return::Column::Refusal,
            Expr::value(changed.refusal().map(str::to_owned)),
        )
        .col_expr(
            order_return::Column::Failure,
            Expr::value(changed.failure().map(str::to_owned)),
        )
        .col_expr(order_return::Column::UpdatedAt, Expr::value(changed.updated_at()))
        .filter(order_return::Column::Id.eq(changed.id().as_uuid()))
        .filter(order_return::Column::Status.eq(read.as_str()))
        .into_query()
}

fn from_row(row: order_return::Model) -> Result<Return, OrdersError> {
    let corrupt = |what: &str| OrdersError::Unknown(anyhow::anyhow!("return {}: {what}", row.id));
    let currency = Currency::parse(&row.currency).map_err(|_| corrupt("unknown currency"))?;
    let lines: Vec<ReturnLine> = serde_json::from_str(&row.lines).map_err(|_| corrupt("unreadable lines"))?;
    Ok(StoredReturn {
        id: ReturnId::from_uuid(row.id),
        order_id: OrderId::from_uuid(row.order_id),
        user_id: row.user_id,
        status: ReturnStatus::parse(&row.status).ok_or_else(|| corrupt("unknown status"))?,
        reason: row.reason,
        lines,
        shipping_refund: Money::new(row.shipping_refund, currency),
        refund: Money::new(row.refund, currency),
        refusal: row.refusal,
        failure: row.failure,
        requested_at: row.requested_at,
        updated_at: row.updated_at,
    }
    .into())
}
