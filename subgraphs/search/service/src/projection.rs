//! Applying events to the read models: the one code path of the live consumer and of
//! a replay, so both build the same rows.

use kernel::{Currency, EventEnvelope, Money};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter};
use search_domain::{OrderChange, OrderSummary, ProductChange, ProductDocument};

use crate::entity::{order, product};

/// Applies one event to the read models it concerns; other events change nothing.
///
/// # Errors
/// A payload that breaks its contract, or a database failure.
pub async fn apply(conn: &impl ConnectionTrait, event: &EventEnvelope) -> anyhow::Result<()> {
    let event_type = event.event_type.as_str();
    if let Some(change) = ProductChange::from_event(event_type, &event.payload)? {
        let current = product::Entity::find_by_id(change.product_id()).one(conn).await?;
        let current = current.map(document).transpose()?;
        if let Some(updated) = change.apply(current) {
            save_document(conn, &updated).await?;
        }
    } else if let Some(change) = OrderChange::from_event(event_type, &event.payload, event.occurred_at)? {
        // One statement each, without reading the summary first: most of an order's
        // events change only its status.
        match change {
            OrderChange::Placed(placed) => save_placed(conn, &placed).await?,
            OrderChange::Status { order_id, status } => {
                order::Entity::update_many()
                    .col_expr(order::Column::Status, Expr::value(status))
                    .filter(order::Column::OrderId.eq(order_id))
                    .exec(conn)
                    .await?;
            }
            OrderChange::Returns { order_id, change } => {
                order::Entity::update_many()
                    .col_expr(order::Column::Returns, Expr::col(order::Column::Returns).add(change))
                    .filter(order::Column::OrderId.eq(order_id))
                    .exec(conn)
                    .await?;
            }
            OrderChange::Refunded { order_id, refund } => {
                order::Entity::update_many()
                    .col_expr(
                        order::Column::RefundedAmount,
                        Expr::col(order::Column::RefundedAmount).add(refund.amount()),
                    )
                    .filter(order::Column::OrderId.eq(order_id))
                    .filter(order::Column::TotalCurrency.eq(refund.currency().code()))
                    .exec(conn)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn save_document(conn: &impl ConnectionTrait, document: &ProductDocument) -> Result<(), sea_orm::DbErr> {
    let row = product::ActiveModel {
        product_id: Set(document.product_id),
        name: Set(document.name.clone()),
        description: Set(document.description.clone()),
        category: Set(document.category.clone()),
        status: Set(document.status.clone()),
        price_amount: Set(document.price.amount()),
        price_currency: Set(document.price.currency().code().to_owned()),
        skus: Set(document.skus.join(" ")),
        search_text: Set(document.search_text()),
    };
    product::Entity::insert(row)
        .on_conflict(
            OnConflict::column(product::Column::ProductId)
                .update_columns([
                    product::Column::Name,
                    product::Column::Description,
                    product::Column::Category,
                    product::Column::Status,
                    product::Column::PriceAmount,
                    product::Column::PriceCurrency,
                    product::Column::Skus,
                    product::Column::SearchText,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Inserts the summary of a placed order; one seen before keeps the status it reached.
async fn save_placed(conn: &impl ConnectionTrait, summary: &OrderSummary) -> Result<(), sea_orm::DbErr> {
    let row = order::ActiveModel {
        order_id: Set(summary.order_id),
        customer_id: Set(summary.customer_id),
        status: Set(summary.status.clone()),
        total_amount: Set(summary.total.amount()),
        total_currency: Set(summary.total.currency().code().to_owned()),
        item_count: Set(summary.item_count),
        placed_at: Set(summary.placed_at),
        returns: Set(summary.returns),
        refunded_amount: Set(summary.refunded.amount()),
    };
    order::Entity::insert(row)
        .on_conflict(
            OnConflict::column(order::Column::OrderId)
                .update_columns([
                    order::Column::CustomerId,
                    order::Column::TotalAmount,
                    order::Column::TotalCurrency,
                    order::Column::ItemCount,
                    order::Column::PlacedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// A stored row as the domain's document.
///
/// # Errors
/// A currency code that is not one.
pub fn document(row: product::Model) -> anyhow::Result<ProductDocument> {
    Ok(ProductDocument {
        product_id: row.product_id,
        name: row.name,
        description: row.description,
        category: row.category,
        status: row.status,
        price: Money::new(row.price_amount, Currency::parse(&row.price_currency)?),
        skus: row.skus.split_whitespace().map(str::to_owned).collect(),
    })
}

/// A stored row as the domain's summary.
///
/// # Errors
/// A currency code that is not one.
pub fn summary(row: order::Model) -> anyhow::Result<OrderSummary> {
    let currency = Currency::parse(&row.total_currency)?;
    Ok(OrderSummary {
        order_id: row.order_id,
        customer_id: row.customer_id,
        status: row.status,
        total: Money::new(row.total_amount, currency),
        item_count: row.item_count,
        placed_at: row.placed_at,
        returns: row.returns,
        refunded: Money::new(row.refunded_amount, currency),
    })
}
