//! Payments' use cases. A provider call happens between two writes: the payment is
//! recorded first (so a crash leaves a PENDING payment that a retry completes with the
//! same provider idempotency key), then the confirmed transaction, its ledger entries,
//! the payment's new status and its event are booked together, only if no other call
//! moved the payment in between.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use kernel::{Classify, Currency, ErrorKind, EventEnvelope, EventMeta, Money};
use kernel_infra::db::{insert_rows_when, write_if};
use payments_domain::{
    Payment, PaymentError, PaymentEvent, PaymentEventKind, PaymentId, PaymentStatus, RefundCompleted, StoredPayment,
    Transaction, TransactionKind,
};
use sea_orm::sea_query::{Expr, InsertStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, SqlErr,
};

use crate::entity::{ledger, payment, transaction};
use crate::provider::{ProviderCall, ProviderError, ResilientProvider};

pub const PRODUCER: &str = "payments";

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error("payment {0} does not exist")]
    NotFound(PaymentId),
    #[error("idempotency key `{0}` was already used for another payment")]
    KeyReused(String),
    #[error("the payment provider is unavailable: {0}")]
    ProviderUnavailable(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<DbErr> for PaymentsError {
    fn from(err: DbErr) -> Self {
        PaymentsError::Unknown(err.into())
    }
}

impl Classify for PaymentsError {
    fn kind(&self) -> ErrorKind {
        match self {
            PaymentsError::Payment(err) => err.kind(),
            PaymentsError::NotFound(_) => ErrorKind::NotFound,
            PaymentsError::KeyReused(_) => ErrorKind::Conflict,
            // Worth retrying later: callers treat it as an outage.
            PaymentsError::ProviderUnavailable(_) | PaymentsError::Unknown(_) => ErrorKind::Internal,
        }
    }
}

/// What an authorization asks for.
pub struct AuthorizationRequest<'a> {
    pub idempotency_key: &'a str,
    pub order_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub amount: Money,
    pub method: &'a str,
}

#[derive(Clone)]
pub struct Payments {
    db: DatabaseConnection,
    provider: Arc<ResilientProvider>,
}

impl Payments {
    pub fn new(db: DatabaseConnection, provider: Arc<ResilientProvider>) -> Self {
        Self { db, provider }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Authorizes a payment once per idempotency key: the same key and request return
    /// the same payment (AUTHORIZED or DECLINED); the same key for another request is a
    /// CONFLICT. A decline is an answer, not an error.
    ///
    /// # Errors
    /// An invalid request, a reused key, a database failure.
    pub async fn authorize(
        &self,
        request: AuthorizationRequest<'_>,
        meta: &EventMeta,
    ) -> Result<Payment, PaymentsError> {
        let wanted = Payment::request(
            request.idempotency_key,
            request.order_id,
            request.user_id,
            request.amount,
            request.method,
            Utc::now(),
        )?;
        let existing = payment::Entity::find()
            .filter(payment::Column::IdempotencyKey.eq(request.idempotency_key))
            .one(&self.db)
            .await?
            .map(from_row)
            .transpose()?;
        let payment = match existing {
            Some(found) => {
                if (found.order_id(), found.amount(), found.method())
                    != (wanted.order_id(), wanted.amount(), wanted.method())
                {
                    return Err(PaymentsError::KeyReused(
                        request.idempotency_key.chars().take(64).collect(),
                    ));
                }
                if found.status() != PaymentStatus::Pending {
                    return Ok(found);
                }
                found
            }
            None => {
                payment::Entity::insert(to_row(&wanted))
                    .exec_without_returning(&self.db)
                    .await?;
                wanted
            }
        };
        let call = ProviderCall {
            kind: TransactionKind::Authorize,
            idempotency_key: format!("authorize:{}", payment.id()),
            amount: payment.amount(),
            method: payment.method().to_owned(),
            reference: None,
            payer: payment.user_id(),
        };
        let outcome = self.provider.execute(&call).await;
        let now = Utc::now();
        let mut moved = payment.clone();
        let (booked, event) = match outcome {
            Ok(reference) => {
                let transaction = moved.apply(TransactionKind::Authorize, &reference, now)?;
                let event = PaymentEvent::after(TransactionKind::Authorize, &moved);
                (Some(transaction), event)
            }
            Err(ProviderError::Declined(reason) | ProviderError::Unavailable(reason)) => {
                moved.decline(&reason, now)?;
                let event = PaymentEvent {
                    kind: PaymentEventKind::Declined,
                    payment: moved.clone(),
                };
                (None, event)
            }
        };
        let envelopes = kernel_infra::outbox::wrap(PRODUCER, meta, &[event]);
        if save_move(&self.db, &payment, &moved, booked.as_ref(), envelopes).await? {
            return Ok(moved);
        }
        // Another call for the same key answered first: its outcome stands.
        self.get(payment.id())
            .await?
            .ok_or(PaymentsError::NotFound(payment.id()))
    }

    /// Takes the authorized amount.
    ///
    /// # Errors
    /// NOT_FOUND, a payment that is not authorized, the provider unavailable.
    pub async fn capture(&self, id: PaymentId, meta: &EventMeta) -> Result<Payment, PaymentsError> {
        self.settle(id, TransactionKind::Capture, meta).await
    }

    /// Lets the authorization go. Voiding a payment that holds nothing (declined, or
    /// never answered) just returns it.
    ///
    /// # Errors
    /// NOT_FOUND, a captured payment, the provider unavailable.
    pub async fn void(&self, id: PaymentId, meta: &EventMeta) -> Result<Payment, PaymentsError> {
        let payment = self.get(id).await?.ok_or(PaymentsError::NotFound(id))?;
        if payment.status() == PaymentStatus::Declined {
            return Ok(payment);
        }
        if payment.status() == PaymentStatus::Pending {
            // Nothing was held: close it as declined so a late answer cannot authorize it.
            let mut declined = payment.clone();
            declined.decline("voided before the provider answered", Utc::now())?;
            let event = PaymentEvent {
                kind: PaymentEventKind::Declined,
                payment: declined.clone(),
            };
            let envelopes = kernel_infra::outbox::wrap(PRODUCER, meta, &[event]);
            if save_move(&self.db, &payment, &declined, None, envelopes).await? {
                return Ok(declined);
            }
            // The provider's answer came first: a decline stands, an authorization is voided.
            let answered = self.get(id).await?.ok_or(PaymentsError::NotFound(id))?;
            if answered.status() == PaymentStatus::Declined {
                return Ok(answered);
            }
        }
        self.settle(id, TransactionKind::Void, meta).await
    }

    /// Gives back `amount` of a captured payment, or all that is left to refund when
    /// no amount is named. A refund with a `reference` (the return it pays back, say)
    /// is made once: asking again with the same reference returns the payment as it
    /// is. Without one, refunding all of a REFUNDED payment again returns it.
    ///
    /// # Errors
    /// NOT_FOUND, a payment that is not captured, an amount that is not positive or
    /// larger than what is left to refund, a reference longer than 200 characters,
    /// the provider unavailable.
    pub async fn refund(
        &self,
        id: PaymentId,
        amount: Option<Money>,
        reference: Option<&str>,
        meta: &EventMeta,
    ) -> Result<Payment, PaymentsError> {
        if reference.is_some_and(|r| r.trim().is_empty() || r.chars().count() > 200) {
            return Err(PaymentError::Invalid {
                field: "reference",
                reason: "1 to 200 characters".into(),
            }
            .into());
        }
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let payment = self.get(id).await?.ok_or(PaymentsError::NotFound(id))?;
            // Asked after the read: a refund booked before it shows here, and one booked
            // after it fails this caller's guard below, which then reads again. When it
            // was booked, the payment is read again, as that refund left it.
            if let Some(reference) = reference
                && self.refunded_as(id, reference).await?
            {
                return self.get(id).await?.ok_or(PaymentsError::NotFound(id));
            }
            if amount.is_none() && payment.status() == PaymentStatus::Refunded {
                return Ok(payment);
            }
            let amount = amount.unwrap_or(payment.refundable());
            // Refuse a refund that cannot be booked before calling the provider.
            payment.check_refund(amount)?;
            let call = ProviderCall {
                kind: TransactionKind::Refund,
                // The same refund asked again (after a crash or a lost answer) carries
                // the same key, so the provider does not pay it twice.
                idempotency_key: match reference {
                    Some(reference) => format!("refund:{id}:{reference}"),
                    None => format!("refund:{id}:{}", payment.refunded().amount()),
                },
                amount,
                method: payment.method().to_owned(),
                reference: payment.provider_ref().map(str::to_owned),
                payer: payment.user_id(),
            };
            let provider_ref = self.provider.execute(&call).await.map_err(|err| match err {
                ProviderError::Declined(reason) | ProviderError::Unavailable(reason) => {
                    PaymentsError::ProviderUnavailable(reason)
                }
            })?;
            let mut moved = payment.clone();
            let refund = moved.refund(amount, reference, &provider_ref, Utc::now())?;
            let completed = RefundCompleted {
                payment: moved.clone(),
                refund: refund.clone(),
            };
            let mut envelopes = kernel_infra::outbox::wrap(PRODUCER, meta, &[completed]);
            if moved.status() == PaymentStatus::Refunded {
                let refunded = PaymentEvent::after(TransactionKind::Refund, &moved);
                envelopes.extend(kernel_infra::outbox::wrap(PRODUCER, meta, &[refunded]));
            }
            match save_move(&self.db, &payment, &moved, Some(&refund), envelopes).await {
                Ok(true) => return Ok(moved),
                Ok(false) => {}
                // Another caller booked a refund with this reference first: read again.
                Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Err(PaymentsError::Unknown(anyhow::anyhow!(
            "payment {id} kept changing while it was being refunded"
        )))
    }

    /// Whether a refund of payment `id` with `reference` was booked.
    async fn refunded_as(&self, id: PaymentId, reference: &str) -> Result<bool, PaymentsError> {
        let found = transaction::Entity::find()
            .filter(transaction::Column::PaymentId.eq(id.as_uuid()))
            .filter(transaction::Column::Reference.eq(reference))
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// Moves a payment by `kind` (a capture or a void) with the provider, then books
    /// it. If another call moved the payment in between, it decides again on what that
    /// call left.
    async fn settle(&self, id: PaymentId, kind: TransactionKind, meta: &EventMeta) -> Result<Payment, PaymentsError> {
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let payment = self.get(id).await?.ok_or(PaymentsError::NotFound(id))?;
            if payment.status() == Payment::status_after(kind) {
                return Ok(payment);
            }
            // Refuse a wrong move before calling the provider.
            payment.clone().apply(kind, "", Utc::now())?;
            let call = ProviderCall {
                kind,
                idempotency_key: format!("{}:{id}", kind.as_str().to_ascii_lowercase()),
                amount: payment.amount(),
                method: payment.method().to_owned(),
                reference: payment.provider_ref().map(str::to_owned),
                payer: payment.user_id(),
            };
            let reference = self.provider.execute(&call).await.map_err(|err| match err {
                ProviderError::Declined(reason) | ProviderError::Unavailable(reason) => {
                    PaymentsError::ProviderUnavailable(reason)
                }
            })?;
            let mut moved = payment.clone();
            let transaction = moved.apply(kind, &reference, Utc::now())?;
            let envelopes = kernel_infra::outbox::wrap(PRODUCER, meta, &[PaymentEvent::after(kind, &moved)]);
            if save_move(&self.db, &payment, &moved, Some(&transaction), envelopes).await? {
                return Ok(moved);
            }
        }
        Err(PaymentsError::Unknown(anyhow::anyhow!(
            "payment {id} kept changing while it was being settled"
        )))
    }

    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: PaymentId) -> Result<Option<Payment>, PaymentsError> {
        payment::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
            .map(from_row)
            .transpose()
    }

    /// The latest payment of each of `orders`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn for_orders(&self, orders: &[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, Payment>, PaymentsError> {
        let rows = payment::Entity::find()
            .filter(payment::Column::OrderId.is_in(orders.to_vec()))
            .order_by_asc(payment::Column::Id)
            .all(&self.db)
            .await?;
        let mut latest = HashMap::new();
        for row in rows {
            let payment = from_row(row)?;
            latest.insert(payment.order_id(), payment);
        }
        Ok(latest)
    }

    /// A payment's transactions, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn transactions(&self, id: PaymentId) -> Result<Vec<Transaction>, PaymentsError> {
        let rows = transaction::Entity::find()
            .filter(transaction::Column::PaymentId.eq(id.as_uuid()))
            .order_by_asc(transaction::Column::Id)
            .all(&self.db)
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

    /// The sum of every ledger entry per currency: zero in every currency when the
    /// books balance.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn ledger_imbalance(&self) -> Result<Vec<(String, i64)>, PaymentsError> {
        let rows: Vec<(String, i64)> = ledger::Entity::find()
            .select_only()
            .column(ledger::Column::Currency)
            .column(ledger::Column::Amount)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut sums: HashMap<String, i64> = HashMap::new();
        for (currency, amount) in rows {
            *sums.entry(currency).or_default() += amount;
        }
        let mut sums: Vec<_> = sums.into_iter().collect();
        sums.sort();
        Ok(sums)
    }

    /// The balance of each ledger account in `currency`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn account_balances(&self, currency: &str) -> Result<Vec<(String, i64)>, PaymentsError> {
        let rows: Vec<(String, i64)> = ledger::Entity::find()
            .select_only()
            .column(ledger::Column::Account)
            .column(ledger::Column::Amount)
            .filter(ledger::Column::Currency.eq(currency))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut sums: HashMap<String, i64> = HashMap::new();
        for (account, amount) in rows {
            *sums.entry(account).or_default() += amount;
        }
        let mut sums: Vec<_> = sums.into_iter().collect();
        sums.sort();
        Ok(sums)
    }
}

/// Saves the move from `before` to `payment`, with the transaction it books (and its
/// two ledger entries) and its events, only if the stored payment is still as `before`
/// left it (its status and what it refunded): one statement on PostgreSQL
/// ([`write_if`]). False, with nothing written, when another call moved it first.
async fn save_move(
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
