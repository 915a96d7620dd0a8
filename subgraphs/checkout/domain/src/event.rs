//! What Checkout announces: how a checkout ended, and what staff did to one.

use kernel::DomainEvent;

use crate::{CheckoutSession, SessionStatus, Step};

/// `checkout.session.completed`, `failed` and `canceled` (contracts, v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutEvent {
    pub session: CheckoutSession,
}

impl CheckoutEvent {
    pub const COMPLETED: &'static str = "ecommerce.checkout.session.completed.v1";
    pub const FAILED: &'static str = "ecommerce.checkout.session.failed.v1";
    pub const CANCELED: &'static str = "ecommerce.checkout.session.canceled.v1";

    /// The event that announces how `session` ended, when it has just ended (it was
    /// `before` at the last save): completed, failed, or canceled. A cancellation that
    /// was refused leaves the checkout COMPLETED as it was announced already, and a
    /// STUCK one waits for an operator: neither is announced.
    pub fn on_finishing(before: SessionStatus, session: &CheckoutSession) -> Option<Self> {
        let announced = match (before, session.status()) {
            (SessionStatus::Canceling, SessionStatus::Completed) => false,
            (_, SessionStatus::Completed | SessionStatus::Failed | SessionStatus::Canceled) => !before.is_finished(),
            _ => false,
        };
        announced.then(|| CheckoutEvent {
            session: session.clone(),
        })
    }
}

impl DomainEvent for CheckoutEvent {
    fn event_type(&self) -> &'static str {
        match self.session.status() {
            SessionStatus::Completed => Self::COMPLETED,
            SessionStatus::Canceled => Self::CANCELED,
            _ => Self::FAILED,
        }
    }

    fn partition_key(&self) -> String {
        self.session.id().to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let s = &self.session;
        if s.status() == SessionStatus::Canceled {
            return serde_json::json!({
                "checkoutId": s.id(), "cartId": s.request().cart_id, "userId": s.request().user_id,
                "orderId": s.order_id(), "paymentId": s.payment_id(), "reason": s.cancel_reason(),
            });
        }
        serde_json::json!({
            "checkoutId": s.id(), "cartId": s.request().cart_id, "userId": s.request().user_id,
            "orderId": s.order_id(), "paymentId": s.payment_id(), "status": s.status().as_str(),
            "failedStep": s.failed_step().map(Step::as_str), "failure": s.failure(),
        })
    }
}

/// What staff did to a checkout, for the audit trail: who, to which checkout and why
/// (the envelope says when). Contracts, v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffAction {
    /// `checkout.session.resumed`: driven again, from `step`.
    Resumed {
        session: CheckoutSession,
        staff: uuid::Uuid,
        step: Option<Step>,
    },
    /// `checkout.session.resolved`: settled by hand, as `session.resolution` says.
    Resolved {
        session: CheckoutSession,
        staff: uuid::Uuid,
    },
    /// `checkout.session.compensated`: undone at staff's word, for `reason`.
    Compensated {
        session: CheckoutSession,
        staff: uuid::Uuid,
        reason: String,
    },
}

impl StaffAction {
    pub const RESUMED: &'static str = "ecommerce.checkout.session.resumed.v1";
    pub const RESOLVED: &'static str = "ecommerce.checkout.session.resolved.v1";
    pub const COMPENSATED: &'static str = "ecommerce.checkout.session.compensated.v1";

    fn session(&self) -> &CheckoutSession {
        match self {
            StaffAction::Resumed { session, .. }
            | StaffAction::Resolved { session, .. }
            | StaffAction::Compensated { session, .. } => session,
        }
    }
}

impl DomainEvent for StaffAction {
    fn event_type(&self) -> &'static str {
        match self {
            StaffAction::Resumed { .. } => Self::RESUMED,
            StaffAction::Resolved { .. } => Self::RESOLVED,
            StaffAction::Compensated { .. } => Self::COMPENSATED,
        }
    }

    fn partition_key(&self) -> String {
        self.session().id().to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let s = self.session();
        match self {
            StaffAction::Resumed { staff, step, .. } => serde_json::json!({
                "checkoutId": s.id(), "orderId": s.order_id(), "userId": s.request().user_id, "staffId": staff,
                "step": step.map(Step::as_str), "status": s.status().as_str(),
            }),
            StaffAction::Resolved { staff, .. } => serde_json::json!({
                "checkoutId": s.id(), "orderId": s.order_id(), "userId": s.request().user_id, "staffId": staff,
                "failure": s.failure(), "reason": s.resolution(),
            }),
            StaffAction::Compensated { staff, reason, .. } => serde_json::json!({
                "checkoutId": s.id(), "orderId": s.order_id(), "userId": s.request().user_id, "staffId": staff,
                "reason": reason, "steps": s.compensations().iter().map(|step| step.as_str()).collect::<Vec<_>>(),
            }),
        }
    }
}
