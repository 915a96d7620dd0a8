//! The return saga: once staff have the goods of an approved return in hand, Checkout
//! orchestrates what follows, as it does a purchase and its cancellation.
//!
//! Steps, in order: mark the return received (Orders) → refund the payment for it
//! (Payments, a partial refund named by the return, so a repeat refunds once) → put its
//! units back on hand (Inventory, once per return) → mark the return refunded (Orders,
//! which moves the order to PARTIALLY_REFUNDED or REFUNDED).
//!
//! The refund is the point of no return. A refusal before it ends the process FAILED
//! with nothing changed (the return was not APPROVED); a refusal of the refund itself
//! compensates: the return goes back to APPROVED with the reason, and the process ends
//! FAILED. Past the refund nothing is undone: an outage is retried, a refusal leaves
//! the process STUCK for an operator. Every command carries the return's id, so a
//! step repeated after a crash does not act twice.

use chrono::{DateTime, Utc};
use kernel::{Money, Quantity, Sku};

use crate::SessionStatus;

/// A step of the return saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnStep {
    MarkReceived,
    RefundReturn,
    RestockReturn,
    MarkRefunded,
    /// The compensation of a refused refund.
    ReopenReturn,
}

impl ReturnStep {
    pub const ALL: [ReturnStep; 5] = [
        ReturnStep::MarkReceived,
        ReturnStep::RefundReturn,
        ReturnStep::RestockReturn,
        ReturnStep::MarkRefunded,
        ReturnStep::ReopenReturn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReturnStep::MarkReceived => "MARK_RETURN_RECEIVED",
            ReturnStep::RefundReturn => "REFUND_RETURN",
            ReturnStep::RestockReturn => "RESTOCK_RETURN",
            ReturnStep::MarkRefunded => "MARK_RETURN_REFUNDED",
            ReturnStep::ReopenReturn => "REOPEN_RETURN",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// Units of a return, as Orders listed them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReturnedUnits {
    pub sku: Sku,
    pub quantity: Quantity,
}

/// What Orders answered when the goods were marked received: what the saga needs
/// for the steps that follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedReturn {
    pub order_id: uuid::Uuid,
    /// None for an order that cost nothing (no payment to refund).
    pub payment_id: Option<uuid::Uuid>,
    pub refund: Money,
    pub lines: Vec<ReturnedUnits>,
}

/// What a step's call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnOutcome {
    Done,
    Received(ReceivedReturn),
}

/// The process of one return (its id is the return's). Its state changes only by its moves; one read back from the store is a [`StoredReturnProcess`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnProcess {
    id: uuid::Uuid,
    /// Known once the goods are marked received.
    received: Option<ReceivedReturn>,
    /// RUNNING, COMPENSATING, COMPLETED, FAILED or STUCK.
    status: SessionStatus,
    step: Option<ReturnStep>,
    failed_step: Option<ReturnStep>,
    failure: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A return process as it was stored, read back without its rules checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReturnProcess {
    pub id: uuid::Uuid,
    pub received: Option<ReceivedReturn>,
    pub status: SessionStatus,
    pub step: Option<ReturnStep>,
    pub failed_step: Option<ReturnStep>,
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoredReturnProcess> for ReturnProcess {
    fn from(stored: StoredReturnProcess) -> Self {
        Self {
            id: stored.id,
            received: stored.received,
            status: stored.status,
            step: stored.step,
            failed_step: stored.failed_step,
            failure: stored.failure,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
}

impl ReturnProcess {
    pub fn id(&self) -> uuid::Uuid {
        self.id
    }
    /// Known once the goods are marked received.
    pub fn received(&self) -> Option<&ReceivedReturn> {
        self.received.as_ref()
    }
    /// RUNNING, COMPENSATING, COMPLETED, FAILED or STUCK.
    pub fn status(&self) -> SessionStatus {
        self.status
    }
    pub fn step(&self) -> Option<ReturnStep> {
        self.step
    }
    pub fn failed_step(&self) -> Option<ReturnStep> {
        self.failed_step
    }
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// A process at its first step.
    pub fn start(id: uuid::Uuid, now: DateTime<Utc>) -> Self {
        Self {
            id,
            received: None,
            status: SessionStatus::Running,
            step: Some(ReturnStep::MarkReceived),
            failed_step: None,
            failure: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// A FAILED process run again from its first step (its cause settled), keeping
    /// when it was first started.
    pub fn start_over(&self, now: DateTime<Utc>) -> Self {
        Self {
            created_at: self.created_at,
            ..Self::start(self.id, now)
        }
    }

    /// `step` was done: on to the next one, or finished.
    pub fn complete(&mut self, step: ReturnStep, outcome: ReturnOutcome, now: DateTime<Utc>) {
        if let ReturnOutcome::Received(received) = outcome {
            self.received = Some(received);
        }
        self.step = match step {
            ReturnStep::MarkReceived => Some(ReturnStep::RefundReturn),
            ReturnStep::RefundReturn => Some(ReturnStep::RestockReturn),
            ReturnStep::RestockReturn => Some(ReturnStep::MarkRefunded),
            ReturnStep::MarkRefunded | ReturnStep::ReopenReturn => None,
        };
        if self.step.is_none() {
            self.status = if step == ReturnStep::MarkRefunded {
                SessionStatus::Completed
            } else {
                SessionStatus::Failed
            };
        }
        self.updated_at = now;
    }

    /// `step` was refused: before the refund nothing was changed (FAILED); the refund
    /// refused is compensated (the return reopened); past it, an operator is needed
    /// (STUCK).
    pub fn refuse(&mut self, step: ReturnStep, reason: &str, now: DateTime<Utc>) {
        let reason: String = reason.chars().take(500).collect();
        match step {
            ReturnStep::MarkReceived => {
                self.status = SessionStatus::Failed;
                self.step = None;
            }
            ReturnStep::RefundReturn => {
                self.status = SessionStatus::Compensating;
                self.step = Some(ReturnStep::ReopenReturn);
            }
            ReturnStep::RestockReturn | ReturnStep::MarkRefunded | ReturnStep::ReopenReturn => {
                self.status = SessionStatus::Stuck;
                self.step = None;
            }
        }
        // The first refusal is the failure; a refused compensation keeps it.
        if self.failed_step.is_none() {
            self.failed_step = Some(step);
            self.failure = Some(reason);
        }
        self.updated_at = now;
    }

    /// Why the refund was refused, for the return's record.
    pub fn reopen_reason(&self) -> String {
        format!(
            "the refund was refused: {}",
            self.failure.as_deref().unwrap_or("no reason given")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::Currency;

    fn received() -> ReturnOutcome {
        ReturnOutcome::Received(ReceivedReturn {
            order_id: uuid::Uuid::now_v7(),
            payment_id: Some(uuid::Uuid::now_v7()),
            refund: Money::new(900, Currency::parse("USD").unwrap()),
            lines: vec![ReturnedUnits {
                sku: Sku::parse("RET-1").unwrap(),
                quantity: Quantity::new(1).unwrap(),
            }],
        })
    }

    #[test]
    fn a_return_runs_its_steps_in_order_and_completes() {
        let now = Utc::now();
        let mut process = ReturnProcess::start(uuid::Uuid::now_v7(), now);
        process.complete(ReturnStep::MarkReceived, received(), now);
        assert!(process.received.is_some());
        let mut seen = vec![];
        while let Some(step) = process.step {
            seen.push(step);
            process.complete(step, ReturnOutcome::Done, now);
        }
        assert_eq!(
            seen,
            [
                ReturnStep::RefundReturn,
                ReturnStep::RestockReturn,
                ReturnStep::MarkRefunded
            ]
        );
        assert_eq!(process.status, SessionStatus::Completed);
    }

    #[test]
    fn a_refused_refund_reopens_the_return_and_later_refusals_need_an_operator() {
        let now = Utc::now();
        let mut refused = ReturnProcess::start(uuid::Uuid::now_v7(), now);
        refused.complete(ReturnStep::MarkReceived, received(), now);
        refused.refuse(ReturnStep::RefundReturn, "more than is left to refund", now);
        assert_eq!(
            (refused.status, refused.step),
            (SessionStatus::Compensating, Some(ReturnStep::ReopenReturn))
        );
        assert!(refused.reopen_reason().contains("more than is left"));
        refused.complete(ReturnStep::ReopenReturn, ReturnOutcome::Done, now);
        assert_eq!(refused.status, SessionStatus::Failed);
        assert_eq!(refused.failed_step, Some(ReturnStep::RefundReturn));

        let mut early = ReturnProcess::start(uuid::Uuid::now_v7(), now);
        early.refuse(ReturnStep::MarkReceived, "not approved", now);
        assert_eq!((early.status, early.step), (SessionStatus::Failed, None));

        let mut late = ReturnProcess::start(uuid::Uuid::now_v7(), now);
        late.complete(ReturnStep::MarkReceived, received(), now);
        late.complete(ReturnStep::RefundReturn, ReturnOutcome::Done, now);
        late.refuse(ReturnStep::RestockReturn, "unknown SKU", now);
        assert_eq!((late.status, late.step), (SessionStatus::Stuck, None));
    }

    #[test]
    fn steps_read_their_names() {
        for step in ReturnStep::ALL {
            assert_eq!(ReturnStep::parse(step.as_str()), Some(step));
        }
    }
}
