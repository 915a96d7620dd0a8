//! The Payments context: payments of orders, the transactions made with the payment
//! provider, and an append-only double-entry ledger in which every transaction's
//! entries sum to zero. Money is never computed from orders: only what the provider
//! confirmed is booked.
//!
//! Here: [`payment`] (a payment and its moves), [`status`], [`ledger`] (transactions
//! and their entries), [`event`], [`error`].

pub mod error;
pub mod event;
pub mod ledger;
pub mod payment;
pub mod status;

pub use error::PaymentError;
pub use event::{PaymentEvent, PaymentEventKind, RefundCompleted};
pub use ledger::{Account, LedgerEntry, Transaction, TransactionKind};
pub use payment::{Payment, StoredPayment};
pub use status::PaymentStatus;

kernel::typed_id!(PaymentId, "payment");
kernel::typed_id!(TransactionId, "transaction");

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use kernel::{Classify, ErrorKind, Money};
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
        assert_eq!(p.status(), PaymentStatus::Refunded);
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
        assert_eq!(p.status(), PaymentStatus::PartiallyRefunded);
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
        assert_eq!(p.refunded(), Money::new(1000, usd));
        // The rest, as a cancellation asks for it.
        let rest = p.apply(TransactionKind::Refund, "r2", Utc::now()).unwrap();
        assert_eq!(rest.amount, Money::new(1500, usd));
        assert_eq!(p.status(), PaymentStatus::Refunded);
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
