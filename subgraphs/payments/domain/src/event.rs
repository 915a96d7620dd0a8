//! The events Payments publishes.

use kernel::DomainEvent;

use crate::{Payment, Transaction, TransactionKind};

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
        self.payment.order_id().to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let p = &self.payment;
        serde_json::json!({
            "paymentId": p.id(), "orderId": p.order_id(), "userId": p.user_id(), "amount": p.amount(),
            "status": p.status().as_str(), "failureReason": p.failure_reason(),
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
        self.payment.order_id().to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let (p, r) = (&self.payment, &self.refund);
        serde_json::json!({
            "refundId": r.id, "paymentId": p.id(), "orderId": p.order_id(), "userId": p.user_id(),
            "amount": r.amount, "reference": r.reference, "refunded": p.refunded(),
            "status": p.status().as_str(),
        })
    }
}
