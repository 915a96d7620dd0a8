//! Payments' SQL: payments, their transactions and the ledger's entries.

use std::collections::BTreeMap;

use kernel::{Currency, EventEnvelope, Money};
use kernel_infra::db::{insert_rows_when, write_if};
use payments_domain::{Payment, PaymentId, PaymentStatus, StoredPayment, Transaction, TransactionKind};
use sea_orm::sea_query::{Expr, InsertStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};

use crate::entity::{ledger, payment, transaction};
use crate::payments::PaymentsError;

/// The payment requested with `key`, if any.
pub(crate) async fn by_key(conn: &impl ConnectionTrait, key: &str) -> Result<Option<Payment>, PaymentsError> {
    payment::Entity::find()
        .filter(payment::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await?
        .map(from_row)
        .transpose()
}

pub(crate) async fn find(conn: &impl ConnectionTrait, id: PaymentId) -> Result<Option<Payment>, PaymentsError> {
    payment::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await?
        .map(from_row)
        .transpose()
}

/// The payments of `orders`, oldest first.
pub(crate) async fn of_orders(
    conn: &impl ConnectionTrait,
    orders: &[uuid::Uuid],
) -> Result<Vec<Payment>, PaymentsError> {
    payment::Entity::find()
        .filter(payment::Column::OrderId.is_in(orders.to_vec()))
        .order_by_asc(payment::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Inserts a new (PENDING) payment.
pub(crate) async fn insert(conn: &impl ConnectionTrait, p: &Payment) -> Result<(), DbErr> {
    payment::Entity::insert(to_row(p)).exec_without_returning(conn).await?;
    Ok(())
}

/// Whether payment `id` has a transaction booked with `reference`.
pub(crate) async fn has_transaction(
    conn: &impl ConnectionTrait,
    id: PaymentId,
    reference: &str,
) -> Result<bool, DbErr> {
    let found = transaction::Entity::find()
        .filter(transaction::Column::PaymentId.eq(id.as_uuid()))
        .filter(transaction::Column::Reference.eq(reference))
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// A payment's transactions, oldest first.
pub(crate) async fn transactions(
    conn: &impl ConnectionTrait,
    id: PaymentId,
) -> Result<Vec<Transaction>, PaymentsError> {
    let rows = transaction::Entity::find()
        .filter(transaction::Column::PaymentId.eq(id.as_uuid()))
        .order_by_asc(transaction::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            let currency = currency(&row.currency)?;
            Ok(Transaction {
                id: payments_domain::TransactionId::from_uuid(row.id),
                payment_id: id,
                kind: TransactionKind::parse(&row.kind)
                    .ok_or_else(|| anyhow::anyhow!("unknown transaction kind {}", row.kind))?,
                amount: Money::new(row.amount, currency),
                provider_ref: row.provider_ref,
                reference: row.reference,
                created_at: row.created_at,
            })
        })
        .collect()
}

/// The ledger's entries summed: per currency, or, given one, per account in it. In
/// name order.
pub(crate) async fn ledger_totals(
    conn: &impl ConnectionTrait,
    currency: Option<&str>,
) -> Result<Vec<(String, i64)>, DbErr> {
    let by = match currency {
        Some(_) => ledger::Column::Account,
        None => ledger::Column::Currency,
    };
    let mut query = ledger::Entity::find()
        .select_only()
        .column(by)
        .column(ledger::Column::Amount);
    if let Some(currency) = currency {
        query = query.filter(ledger::Column::Currency.eq(currency));
    }
    let rows: Vec<(String, i64)> = query.into_tuple().all(conn).await?;
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    for (name, amount) in rows {
        *sums.entry(name).or_default() += amount;
    }
    Ok(sums.into_iter().collect())
}

/// Saves the move from `before` to `payment`, with the transaction it books (and its
/// two ledger entries) and its events, only if the stored payment is still as `before`
/// left it (its status and what it refunded): one statement on PostgreSQL
/// ([`write_if`]). False, with nothing written, when another call moved it first.
pub(crate) async fn save_move(
    db: &DatabaseConnection,
    before: &Payment,
    payment: &Payment,
    booked: Option<&Transaction>,
    envelopes: Vec<EventEnvelope>,
) -> Result<bool, DbErr> {
    let update = status_update(payment)
        .filter(payment::Column::Status.eq(before.status().as_str()))
        .filter(payment::Column::Refunded.eq(before.refunded().amount()))
        .into_query();
    write_if(db, update, |when| {
        let mut inserts = Vec::new();
        if let Some(t) = booked {
            inserts.extend(transaction_insert(t, when));
            inserts.extend(ledger_insert(t, when));
        }
        inserts.extend(kernel_infra::outbox::insert_when(&envelopes, when));
        inserts
    })
    .await
}

fn transaction_insert(t: &Transaction, when: &Expr) -> Option<InsertStatement> {
    use transaction::Column;
    let columns = [
        Column::Id,
        Column::PaymentId,
        Column::Kind,
        Column::Amount,
        Column::Currency,
        Column::ProviderRef,
        Column::Reference,
        Column::CreatedAt,
    ];
    let row = vec![
        Expr::value(t.id.as_uuid()),
        Expr::value(t.payment_id.as_uuid()),
        Expr::value(t.kind.as_str()),
        Expr::value(t.amount.amount()),
        Expr::value(t.amount.currency().code()),
        Expr::value(t.provider_ref.clone()),
        Expr::value(t.reference.clone()),
        Expr::value(t.created_at),
    ];
    insert_rows_when(transaction::Entity, columns, [row], when)
}

fn ledger_insert(t: &Transaction, when: &Expr) -> Option<InsertStatement> {
    use ledger::Column;
    let columns = [
        Column::TransactionId,
        Column::Account,
        Column::Amount,
        Column::Currency,
        Column::CreatedAt,
    ];
    let rows = t.entries().map(|e| {
        vec![
            Expr::value(t.id.as_uuid()),
            Expr::value(e.account.as_str()),
            Expr::value(e.amount.amount()),
            Expr::value(e.amount.currency().code()),
            Expr::value(t.created_at),
        ]
    });
    insert_rows_when(ledger::Entity, columns, rows, when)
}

fn status_update(p: &Payment) -> sea_orm::UpdateMany<payment::Entity> {
    payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value(p.status().as_str()))
        .col_expr(payment::Column::Refunded, Expr::value(p.refunded().amount()))
        .col_expr(
            payment::Column::ProviderRef,
            Expr::value(p.provider_ref().map(str::to_owned)),
        )
        .col_expr(
            payment::Column::FailureReason,
            Expr::value(p.failure_reason().map(str::to_owned)),
        )
        .col_expr(payment::Column::UpdatedAt, Expr::value(p.updated_at()))
        .filter(payment::Column::Id.eq(p.id().as_uuid()))
}

fn currency(code: &str) -> Result<Currency, PaymentsError> {
    Currency::parse(code).map_err(|err| PaymentsError::Unknown(anyhow::anyhow!("stored currency: {err}")))
}

fn to_row(p: &Payment) -> payment::ActiveModel {
    payment::ActiveModel {
        id: Set(p.id().as_uuid()),
        order_id: Set(p.order_id()),
        user_id: Set(p.user_id()),
        amount: Set(p.amount().amount()),
        refunded: Set(p.refunded().amount()),
        currency: Set(p.amount().currency().code().to_owned()),
        method: Set(p.method().to_owned()),
        status: Set(p.status().as_str().to_owned()),
        idempotency_key: Set(p.idempotency_key().to_owned()),
        provider_ref: Set(p.provider_ref().map(str::to_owned)),
        failure_reason: Set(p.failure_reason().map(str::to_owned)),
        created_at: Set(p.created_at()),
        updated_at: Set(p.updated_at()),
    }
}

fn from_row(row: payment::Model) -> Result<Payment, PaymentsError> {
    let currency = currency(&row.currency)?;
    Ok(StoredPayment {
        id: PaymentId::from_uuid(row.id),
        order_id: row.order_id,
        user_id: row.user_id,
        amount: Money::new(row.amount, currency),
        refunded: Money::new(row.refunded, currency),
        method: row.method,
        status: PaymentStatus::parse(&row.status)
            .ok_or_else(|| anyhow::anyhow!("unknown payment status {}", row.status))?,
        idempotency_key: row.idempotency_key,
        provider_ref: row.provider_ref,
        failure_reason: row.failure_reason,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
    .into())
}
