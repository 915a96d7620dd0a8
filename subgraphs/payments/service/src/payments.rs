//! Payments' use cases. A provider call happens between two writes: the payment is
//! recorded first (so a crash leaves a PENDING payment that a retry completes with the
//! same provider idempotency key), then the confirmed transaction, its ledger entries,
//! the payment's new status and its event are booked together, only if no other call
//! moved the payment in between.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use kernel::{Classify, ErrorKind, EventMeta, Money};
use payments_domain::{
    Payment, PaymentError, PaymentEvent, PaymentEventKind, PaymentId, PaymentStatus, RefundCompleted, Transaction,
    TransactionKind,
};
use sea_orm::{DatabaseConnection, DbErr, SqlErr};

use crate::provider::{ProviderCall, ProviderError, ResilientProvider};
use crate::repository;

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
        let existing = repository::by_key(&self.db, request.idempotency_key).await?;
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
                repository::insert(&self.db, &wanted).await?;
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
        if repository::save_move(&self.db, &payment, &moved, booked.as_ref(), envelopes).await? {
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
            if repository::save_move(&self.db, &payment, &declined, None, envelopes).await? {
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
            match repository::save_move(&self.db, &payment, &moved, Some(&refund), envelopes).await {
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
        Ok(repository::has_transaction(&self.db, id, reference).await?)
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
            if repository::save_move(&self.db, &payment, &moved, Some(&transaction), envelopes).await? {
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
        repository::find(&self.db, id).await
    }

    /// The latest payment of each of `orders`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn for_orders(&self, orders: &[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, Payment>, PaymentsError> {
        // Oldest first: a later payment of an order replaces an earlier one.
        let payments = repository::of_orders(&self.db, orders).await?;
        Ok(payments.into_iter().map(|p| (p.order_id(), p)).collect())
    }

    /// A payment's transactions, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn transactions(&self, id: PaymentId) -> Result<Vec<Transaction>, PaymentsError> {
        repository::transactions(&self.db, id).await
    }

    /// The sum of every ledger entry per currency: zero in every currency when the
    /// books balance.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn ledger_imbalance(&self) -> Result<Vec<(String, i64)>, PaymentsError> {
        Ok(repository::ledger_totals(&self.db, None).await?)
    }

    /// The balance of each ledger account in `currency`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn account_balances(&self, currency: &str) -> Result<Vec<(String, i64)>, PaymentsError> {
        Ok(repository::ledger_totals(&self.db, Some(currency)).await?)
    }
}
