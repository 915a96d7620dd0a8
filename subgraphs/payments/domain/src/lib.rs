//! The Payments context: payments of orders, the transactions made with the payment
//! provider, and an append-only double-entry ledger in which every transaction's
//! entries sum to zero. Money is never computed from orders: only what the provider
//! confirmed is booked.

use chrono::{DateTime, Utc};
use kernel::{Classify, DomainEvent, ErrorKind, Money, typed_id};

typed_id!(PaymentId, "payment");
typed_id!(TransactionId, "transaction");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("a payment cannot go from {from} to {to}")]
    Transition { from: &'static str, to: &'static str },
}

impl Classify for PaymentError {
    fn kind(&self) -> ErrorKind {
        match self {
            PaymentError::Invalid { .. } => ErrorKind::BadUserInput,
            PaymentError::Transition { .. } => ErrorKind::Conflict,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Created; the provider has not answered yet.
    Pending,
    Authorized,
    Declined,
    Captured,
    Voided,
    /// Part of what was captured was given back; more may follow.
    PartiallyRefunded,
    /// Everything captured was given back.
    Refunded,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 7] = [
        PaymentStatus::Pending,
        PaymentStatus::Authorized,
        PaymentStatus::Declined,
        PaymentStatus::Captured,
        PaymentStatus::Voided,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "PENDING",
            PaymentStatus::Authorized => "AUTHORIZED",
            PaymentStatus::Declined => "DECLINED",
            PaymentStatus::Captured => "CAPTURED",
            PaymentStatus::Voided => "VOIDED",
            PaymentStatus::PartiallyRefunded => "PARTIALLY_REFUNDED",
            PaymentStatus::Refunded => "REFUNDED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// A movement of money with the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionKind {
    Authorize,
    Capture,
    Void,
    Refund,
}

impl TransactionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Authorize => "AUTHORIZE",
            TransactionKind::Capture => "CAPTURE",
            TransactionKind::Void => "VOID",
            TransactionKind::Refund => "REFUND",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Authorize, Self::Capture, Self::Void, Self::Refund]
            .into_iter()
            .find(|k| k.as_str() == value)
    }

    /// The status a payment must have for this transaction, and the one it reaches (a
    /// refund of all that is left to refund).
    fn moves(self) -> (&'static [PaymentStatus], PaymentStatus) {
        match self {
            TransactionKind::Authorize => (&[PaymentStatus::Pending], PaymentStatus::Authorized),
            TransactionKind::Capture => (&[PaymentStatus::Authorized], PaymentStatus::Captured),
            TransactionKind::Void => (&[PaymentStatus::Authorized], PaymentStatus::Voided),
            TransactionKind::Refund => (
                &[PaymentStatus::Captured, PaymentStatus::PartiallyRefunded],
                PaymentStatus::Refunded,
            ),
        }
    }

    /// The ledger accounts it debits and credits.
    fn accounts(self) -> (Account, Account) {
        match self {
            TransactionKind::Authorize => (Account::Authorized, Account::Customer),
            TransactionKind::Capture => (Account::Settled, Account::Authorized),
            TransactionKind::Void => (Account::Customer, Account::Authorized),
            TransactionKind::Refund => (Account::Customer, Account::Settled),
        }
    }
}

/// The ledger's accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Account {
    /// What customers committed to pay (credited when they do).
    Customer,
    /// Funds the provider holds for us, not yet taken.
    Authorized,
    /// Funds taken, owed to us by the provider.
    Settled,
}

impl Account {
    pub fn as_str(self) -> &'static str {
        match self {
            Account::Customer => "CUSTOMER",
            Account::Authorized => "AUTHORIZED",
            Account::Settled => "SETTLED",
        }
    }
}

/// One side of a transaction: a debit is positive, a credit negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub transaction_id: TransactionId,
    pub account: Account,
    pub amount: Money,
}

/// A transaction with the provider and its balanced ledger entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub id: TransactionId,
    pub payment_id: PaymentId,
    pub kind: TransactionKind,
    pub amount: Money,
    pub provider_ref: String,
    /// The caller's name for a refund (e.g. the return it pays back), by which a
    /// repeated request is recognised; none for the other kinds.
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Transaction {
    /// Two entries that sum to zero.
    pub fn entries(&self) -> [LedgerEntry; 2] {
        let (debit, credit) = self.kind.accounts();
        [
            LedgerEntry {
                transaction_id: self.id,
                account: debit,
                amount: self.amount,
            },
            LedgerEntry {
                transaction_id: self.id,
                account: credit,
                amount: Money::new(-self.amount.amount(), self.amount.currency()),
            },
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub order_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub amount: Money,
    /// What refunds gave back so far: zero up to `amount`.
    pub refunded: Money,
    pub method: String,
    pub status: PaymentStatus,
    pub idempotency_key: String,
    pub provider_ref: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Payment {
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

/// The events Payments publishes (contracts, v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentEvent {
    pub kind: PaymentEventKind,
    pub payment: Payment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentEventKind {
    Authorized,
    Declined,
    Captured,
    Voided,
    Refunded,
}

impl PaymentEvent {
    pub const AUTHORIZED: &'static str = "ecommerce.payments.payment.authorized.v1";
    pub const DECLINED: &'static str = "ecommerce.payments.payment.declined.v1";
    pub const CAPTURED: &'static str = "ecommerce.payments.payment.captured.v1";
    pub const VOIDED: &'static str = "ecommerce.payments.payment.voided.v1";
    pub const REFUNDED: &'static str = "ecommerce.payments.payment.refunded.v1";

    pub fn after(kind: TransactionKind, payment: &Payment) -> Self {
        let kind = match kind {
            TransactionKind::Authorize => PaymentEventKind::Authorized,
            TransactionKind::Capture => PaymentEventKind::Captured,
            TransactionKind::Void => PaymentEventKind::Voided,
            TransactionKind::Refund => PaymentEventKind::Refunded,
        };
        Self {
            kind,
            payment: payment.clone(),
        }
    }
}

impl DomainEvent for PaymentEvent {
    fn event_type(&self) -> &'static str {
        match self.kind {
            PaymentEventKind::Authorized => Self::AUTHORIZED,
            PaymentEventKind::Declined => Self::DECLINED,
            PaymentEventKind::Captured => Self::CAPTURED,
            PaymentEventKind::Voided => Self::VOIDED,
            PaymentEventKind::Refunded => Self::REFUNDED,
        }
    }

    fn partition_key(&self) -> String {
        self.payment.order_id.to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let p = &self.payment;
        serde_json::json!({
            "paymentId": p.id, "orderId": p.order_id, "userId": p.user_id, "amount": p.amount,
            "status": p.status.as_str(), "failureReason": p.failure_reason,
        })
    }
}

/// `refund.completed`: one refund of a payment, of all or part of what is left
/// (contracts, v1). Published for every refund; `payment.refunded` follows the one that
/// gives the last of the payment back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundCompleted {
    /// The payment as the refund left it.
    pub payment: Payment,
    pub refund: Transaction,
}

impl RefundCompleted {
    pub const TYPE: &'static str = "ecommerce.payments.refund.completed.v1";
}

impl DomainEvent for RefundCompleted {
    fn event_type(&self) -> &'static str {
        Self::TYPE
    }

    fn partition_key(&self) -> String {
        self.payment.order_id.to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let (p, r) = (&self.payment, &self.refund);
        serde_json::json!({
            "refundId": r.id, "paymentId": p.id, "orderId": p.order_id, "userId": p.user_id,
            "amount": r.amount, "reference": r.reference, "refunded": p.refunded,
            "status": p.status.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::{Currency, EventType};

    fn payment() -> Payment {
        let usd = Currency::parse("USD").unwrap();
        Payment::request(
            "key-1",
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
            Money::new(2500, usd),
            "card",
            Utc::now(),
        )
        .unwrap()
    }

    #[test]
    fn every_transaction_balances() {
        let mut p = payment();
        for kind in [
            TransactionKind::Authorize,
            TransactionKind::Capture,
            TransactionKind::Refund,
        ] {
            let transaction = p.apply(kind, "ref-1", Utc::now()).unwrap();
            let sum: i64 = transaction.entries().iter().map(|e| e.amount.amount()).sum();
            assert_eq!(sum, 0, "{kind:?}");
        }
        assert_eq!(p.status, PaymentStatus::Refunded);
    }

    #[test]
    fn partial_refunds_follow_one_another_until_all_is_given_back() {
        let usd = Currency::parse("USD").unwrap();
        let mut p = payment();
        let early = p.clone().refund(Money::new(100, usd), Some("r-0"), "x", Utc::now());
        assert!(early.is_err(), "nothing captured yet");
        p.apply(TransactionKind::Authorize, "a", Utc::now()).unwrap();
        p.apply(TransactionKind::Capture, "c", Utc::now()).unwrap();
        assert_eq!(p.refundable(), Money::new(2500, usd));
        let first = p
            .refund(Money::new(1000, usd), Some("return-1"), "r1", Utc::now())
            .unwrap();
        assert_eq!(first.amount, Money::new(1000, usd));
        assert_eq!(first.reference.as_deref(), Some("return-1"));
        assert_eq!(first.entries().iter().map(|e| e.amount.amount()).sum::<i64>(), 0);
        assert_eq!(p.status, PaymentStatus::PartiallyRefunded);
        assert_eq!(p.refundable(), Money::new(1500, usd));
        // More than is left, nothing, or another currency: refused, nothing changed.
        for bad in [
            Money::new(1501, usd),
            Money::new(0, usd),
            Money::new(-5, usd),
            Money::new(100, Currency::parse("EUR").unwrap()),
        ] {
            let err = p.check_refund(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BadUserInput, "{bad}");
        }
        assert_eq!(p.refunded, Money::new(1000, usd));
        // The rest, as a cancellation asks for it.
        let rest = p.apply(TransactionKind::Refund, "r2", Utc::now()).unwrap();
        assert_eq!(rest.amount, Money::new(1500, usd));
        assert_eq!(p.status, PaymentStatus::Refunded);
        assert_eq!(p.refundable(), Money::zero(usd));
        assert_eq!(
            p.check_refund(Money::new(1, usd)).unwrap_err().kind(),
            ErrorKind::Conflict,
            "a refunded payment has nothing left"
        );
    }

    #[test]
    fn only_the_named_moves_are_allowed() {
        let mut p = payment();
        assert!(p.apply(TransactionKind::Capture, "r", Utc::now()).is_err());
        p.apply(TransactionKind::Authorize, "r", Utc::now()).unwrap();
        assert!(p.decline("late", Utc::now()).is_err());
        p.apply(TransactionKind::Void, "r", Utc::now()).unwrap();
        let err = p.apply(TransactionKind::Capture, "r", Utc::now()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        let mut declined = payment();
        declined.decline("card declined", Utc::now()).unwrap();
        assert!(declined.apply(TransactionKind::Authorize, "r", Utc::now()).is_err());
    }

    #[test]
    fn payments_need_a_positive_amount_and_event_names_follow_the_contract() {
        let usd = Currency::parse("USD").unwrap();
        let order = uuid::Uuid::now_v7();
        assert!(Payment::request("k", order, order, Money::new(0, usd), "card", Utc::now()).is_err());
        for name in [
            PaymentEvent::AUTHORIZED,
            PaymentEvent::DECLINED,
            PaymentEvent::CAPTURED,
            PaymentEvent::VOIDED,
            PaymentEvent::REFUNDED,
            RefundCompleted::TYPE,
        ] {
            assert_eq!(EventType::parse(name).unwrap().version(), 1);
        }
    }
}
