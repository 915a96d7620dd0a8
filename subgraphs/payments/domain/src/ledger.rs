//! Transactions with the provider and the double-entry ledger they book.

use chrono::{DateTime, Utc};
use kernel::Money;

use crate::{PaymentId, PaymentStatus, TransactionId};

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
    pub(crate) fn moves(self) -> (&'static [PaymentStatus], PaymentStatus) {
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
