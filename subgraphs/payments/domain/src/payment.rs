//! A payment of an order and its moves.

use chrono::{DateTime, Utc};
use kernel::Money;

use crate::{PaymentError, PaymentId, PaymentStatus, Transaction, TransactionId, TransactionKind};

/// A payment of an order. Its fields are read through its methods and change only by
/// its rules ([`Payment::apply`], [`Payment::refund`], [`Payment::decline`]); one read
/// back from the store is a [`StoredPayment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    id: PaymentId,
    /// The order it pays.
    order_id: uuid::Uuid,
    /// The customer who pays.
    user_id: uuid::Uuid,
    amount: Money,
    /// What refunds gave back so far: zero up to `amount`.
    refunded: Money,
    method: String,
    status: PaymentStatus,
    /// The key its request was made with: a second request with it answers this payment.
    idempotency_key: String,
    /// The provider's reference, once it answered.
    provider_ref: Option<String>,
    /// Why it was declined.
    failure_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A payment as it was stored, read back without its rules checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPayment {
    pub id: PaymentId,
    pub order_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub amount: Money,
    pub refunded: Money,
    pub method: String,
    pub status: PaymentStatus,
    pub idempotency_key: String,
    pub provider_ref: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoredPayment> for Payment {
    fn from(stored: StoredPayment) -> Self {
        Self {
            id: stored.id,
            order_id: stored.order_id,
            user_id: stored.user_id,
            amount: stored.amount,
            refunded: stored.refunded,
            method: stored.method,
            status: stored.status,
            idempotency_key: stored.idempotency_key,
            provider_ref: stored.provider_ref,
            failure_reason: stored.failure_reason,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
}

impl Payment {
    pub fn id(&self) -> PaymentId {
        self.id
    }
    /// The order it pays.
    pub fn order_id(&self) -> uuid::Uuid {
        self.order_id
    }
    /// The customer who pays.
    pub fn user_id(&self) -> uuid::Uuid {
        self.user_id
    }
    pub fn amount(&self) -> Money {
        self.amount
    }
    /// What refunds gave back so far: zero up to `amount`.
    pub fn refunded(&self) -> Money {
        self.refunded
    }
    pub fn method(&self) -> &str {
        &self.method
    }
    pub fn status(&self) -> PaymentStatus {
        self.status
    }
    /// The key its request was made with: a second request with it answers this payment.
    pub fn idempotency_key(&self) -> &str {
        &self.idempotency_key
    }
    /// The provider's reference, once it answered.
    pub fn provider_ref(&self) -> Option<&str> {
        self.provider_ref.as_deref()
    }
    /// Why it was declined.
    pub fn failure_reason(&self) -> Option<&str> {
        self.failure_reason.as_deref()
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// A PENDING payment of `amount` for an order.
    ///
    /// # Errors
    /// A non-positive amount, an empty or over-long method or idempotency key.
    pub fn request(
        idempotency_key: &str,
        order_id: uuid::Uuid,
        user_id: uuid::Uuid,
        amount: Money,
        method: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, PaymentError> {
        let invalid = |field, reason: &str| PaymentError::Invalid {
            field,
            reason: reason.into(),
        };
        if amount.amount() <= 0 {
            return Err(invalid("amount", "a payment is of a positive amount"));
        }
        if method.trim().is_empty() || method.len() > 64 {
            return Err(invalid("paymentMethod", "1 to 64 characters"));
        }
        if idempotency_key.trim().is_empty() || idempotency_key.len() > 200 {
            return Err(invalid("idempotencyKey", "1 to 200 characters"));
        }
        Ok(Self {
            id: PaymentId::new(),
            order_id,
            user_id,
            amount,
            refunded: Money::zero(amount.currency()),
            method: method.to_owned(),
            status: PaymentStatus::Pending,
            idempotency_key: idempotency_key.to_owned(),
            provider_ref: None,
            failure_reason: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// Books a confirmed provider transaction: the payment moves and the transaction's
    /// entries go to the ledger. A refund gives back all that is left to refund (see
    /// [`Payment::refund`] for part of it).
    ///
    /// # Errors
    /// When the payment is not in a status this transaction starts from.
    pub fn apply(
        &mut self,
        kind: TransactionKind,
        provider_ref: &str,
        now: DateTime<Utc>,
    ) -> Result<Transaction, PaymentError> {
        if kind == TransactionKind::Refund {
            return self.refund(self.refundable(), None, provider_ref, now);
        }
        let (from, to) = kind.moves();
        if !from.contains(&self.status) {
            return Err(PaymentError::Transition {
                from: self.status.as_str(),
                to: to.as_str(),
            });
        }
        self.status = to;
        self.updated_at = now;
        if kind == TransactionKind::Authorize {
            self.provider_ref = Some(provider_ref.to_owned());
        }
        Ok(Transaction {
            id: TransactionId::new(),
            payment_id: self.id,
            kind,
            amount: self.amount,
            provider_ref: provider_ref.to_owned(),
            reference: None,
            created_at: now,
        })
    }

    /// What is left to refund: what was captured less what refunds gave back; zero
    /// before the capture.
    pub fn refundable(&self) -> Money {
        if matches!(self.status, PaymentStatus::Captured | PaymentStatus::PartiallyRefunded) {
            Money::new(self.amount.amount() - self.refunded.amount(), self.amount.currency())
        } else {
            Money::zero(self.amount.currency())
        }
    }

    /// Refuses a refund of `amount` that could not be booked, before the provider is
    /// asked for it.
    ///
    /// # Errors
    /// A payment that is not captured (or is refunded in full), an amount that is not
    /// positive, in another currency, or larger than what is left to refund.
    pub fn check_refund(&self, amount: Money) -> Result<(), PaymentError> {
        if !matches!(self.status, PaymentStatus::Captured | PaymentStatus::PartiallyRefunded) {
            return Err(PaymentError::Transition {
                from: self.status.as_str(),
                to: PaymentStatus::Refunded.as_str(),
            });
        }
        let left = self.refundable();
        if amount.currency() != left.currency() {
            return Err(PaymentError::Invalid {
                field: "amount",
                reason: format!("the payment is in {}, not {}", left.currency(), amount.currency()),
            });
        }
        if amount.amount() <= 0 || amount.amount() > left.amount() {
            return Err(PaymentError::Invalid {
                field: "amount",
                reason: format!("a refund is more than zero and at most the {left} captured and not yet refunded"),
            });
        }
        Ok(())
    }

    /// Books a confirmed refund of `amount`: PARTIALLY_REFUNDED while some is left,
    /// REFUNDED once all is given back.
    ///
    /// # Errors
    /// As [`Payment::check_refund`].
    pub fn refund(
        &mut self,
        amount: Money,
        reference: Option<&str>,
        provider_ref: &str,
        now: DateTime<Utc>,
    ) -> Result<Transaction, PaymentError> {
        self.check_refund(amount)?;
        self.refunded = Money::new(self.refunded.amount() + amount.amount(), amount.currency());
        self.status = if self.refunded == self.amount {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        };
        self.updated_at = now;
        Ok(Transaction {
            id: TransactionId::new(),
            payment_id: self.id,
            kind: TransactionKind::Refund,
            amount,
            provider_ref: provider_ref.to_owned(),
            reference: reference.map(str::to_owned),
            created_at: now,
        })
    }

    /// The provider refused (or could not be reached in time): nothing was held.
    ///
    /// # Errors
    /// When the payment is no longer pending.
    pub fn decline(&mut self, reason: &str, now: DateTime<Utc>) -> Result<(), PaymentError> {
        if self.status != PaymentStatus::Pending {
            return Err(PaymentError::Transition {
                from: self.status.as_str(),
                to: PaymentStatus::Declined.as_str(),
            });
        }
        self.status = PaymentStatus::Declined;
        self.failure_reason = Some(reason.chars().take(300).collect());
        self.updated_at = now;
        Ok(())
    }

    /// The status that `kind` leads to, to recognise a repeated command.
    pub fn status_after(kind: TransactionKind) -> PaymentStatus {
        kind.moves().1
    }
}
