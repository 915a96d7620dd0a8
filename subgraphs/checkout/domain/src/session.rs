//! A checkout's process state and its moves.

use chrono::{DateTime, Utc};
use kernel::{Money, TaxCategory, TaxLine};

use crate::{
    CheckoutError, CheckoutId, CheckoutRequest, Delivery, Line, OrderTax, SessionStatus, Step, TaxRates, subtotal,
};

/// A checkout's process state, persisted as its steps are done. Its fields are read
/// through its methods and change only by its moves; one read back from the store is
/// a [`StoredCheckoutSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    id: CheckoutId,
    request: CheckoutRequest,
    lines: Vec<Line>,
    /// Settled from `request.delivery` before the first step.
    delivery: Option<Delivery>,
    /// The rates at the delivery's shipping address, settled with it; none without a
    /// delivery (and for sessions started before tax existed): then no tax is computed.
    tax_rates: Option<TaxRates>,
    status: SessionStatus,
    /// The next step to run (forward or compensation); None once finished.
    step: Option<Step>,
    /// The forward step that was refused, when compensating or failed.
    failed_step: Option<Step>,
    failure: Option<String>,
    /// Ids chosen by the saga before it calls, so a retried call is recognised.
    reservation_id: uuid::Uuid,
    redemption_id: uuid::Uuid,
    order_id: Option<uuid::Uuid>,
    payment_id: Option<uuid::Uuid>,
    discount: Option<Money>,
    total: Option<Money>,
    /// Why the customer canceled the order, once they asked.
    cancel_reason: Option<String>,
    /// The step that was refused when it became STUCK; resuming runs it again.
    stuck_step: Option<Step>,
    /// How staff settled it by hand, when RESOLVED.
    resolution: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A checkout session as it was stored, read back without its rules checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckoutSession {
    pub id: CheckoutId,
    pub request: CheckoutRequest,
    pub lines: Vec<Line>,
    pub delivery: Option<Delivery>,
    pub tax_rates: Option<TaxRates>,
    pub status: SessionStatus,
    pub step: Option<Step>,
    pub failed_step: Option<Step>,
    pub failure: Option<String>,
    pub reservation_id: uuid::Uuid,
    pub redemption_id: uuid::Uuid,
    pub order_id: Option<uuid::Uuid>,
    pub payment_id: Option<uuid::Uuid>,
    pub discount: Option<Money>,
    pub total: Option<Money>,
    pub cancel_reason: Option<String>,
    pub stuck_step: Option<Step>,
    pub resolution: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoredCheckoutSession> for CheckoutSession {
    fn from(stored: StoredCheckoutSession) -> Self {
        Self {
            id: stored.id,
            request: stored.request,
            lines: stored.lines,
            delivery: stored.delivery,
            tax_rates: stored.tax_rates,
            status: stored.status,
            step: stored.step,
            failed_step: stored.failed_step,
            failure: stored.failure,
            reservation_id: stored.reservation_id,
            redemption_id: stored.redemption_id,
            order_id: stored.order_id,
            payment_id: stored.payment_id,
            discount: stored.discount,
            total: stored.total,
            cancel_reason: stored.cancel_reason,
            stuck_step: stored.stuck_step,
            resolution: stored.resolution,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
}

/// For tests, which set up states the moves reach only the long way.
#[cfg(test)]
impl From<CheckoutSession> for StoredCheckoutSession {
    fn from(stored: CheckoutSession) -> Self {
        Self {
            id: stored.id,
            request: stored.request,
            lines: stored.lines,
            delivery: stored.delivery,
            tax_rates: stored.tax_rates,
            status: stored.status,
            step: stored.step,
            failed_step: stored.failed_step,
            failure: stored.failure,
            reservation_id: stored.reservation_id,
            redemption_id: stored.redemption_id,
            order_id: stored.order_id,
            payment_id: stored.payment_id,
            discount: stored.discount,
            total: stored.total,
            cancel_reason: stored.cancel_reason,
            stuck_step: stored.stuck_step,
            resolution: stored.resolution,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
}

/// The most characters a cancellation's reason keeps.
pub const CANCEL_REASON_MAX: usize = 200;

/// What a forward step learned from the context it called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    CouponRedeemed { discount: Money },
    OrderPlaced { order_id: uuid::Uuid, total: Money },
    PaymentAuthorized { payment_id: uuid::Uuid },
}

impl CheckoutSession {
    pub fn id(&self) -> CheckoutId {
        self.id
    }
    pub fn request(&self) -> &CheckoutRequest {
        &self.request
    }
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }
    /// Settled from `request.delivery` before the first step.
    pub fn delivery(&self) -> Option<&Delivery> {
        self.delivery.as_ref()
    }
    /// The rates at the delivery's shipping address, settled with it; none without a
    /// delivery (and for sessions started before tax existed): then no tax is computed.
    pub fn tax_rates(&self) -> Option<&TaxRates> {
        self.tax_rates.as_ref()
    }
    pub fn status(&self) -> SessionStatus {
        self.status
    }
    /// The next step to run (forward or compensation); None once finished.
    pub fn step(&self) -> Option<Step> {
        self.step
    }
    /// The forward step that was refused, when compensating or failed.
    pub fn failed_step(&self) -> Option<Step> {
        self.failed_step
    }
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
    /// Ids chosen by the saga before it calls, so a retried call is recognised.
    pub fn reservation_id(&self) -> uuid::Uuid {
        self.reservation_id
    }
    pub fn redemption_id(&self) -> uuid::Uuid {
        self.redemption_id
    }
    pub fn order_id(&self) -> Option<uuid::Uuid> {
        self.order_id
    }
    pub fn payment_id(&self) -> Option<uuid::Uuid> {
        self.payment_id
    }
    pub fn discount(&self) -> Option<Money> {
        self.discount
    }
    pub fn total(&self) -> Option<Money> {
        self.total
    }
    /// Why the customer canceled the order, once they asked.
    pub fn cancel_reason(&self) -> Option<&str> {
        self.cancel_reason.as_deref()
    }
    /// The step that was refused when it became STUCK; resuming runs it again.
    pub fn stuck_step(&self) -> Option<Step> {
        self.stuck_step
    }
    /// How staff settled it by hand, when RESOLVED.
    pub fn resolution(&self) -> Option<&str> {
        self.resolution.as_deref()
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// A new RUNNING session at its first step.
    ///
    /// # Errors
    /// An invalid request, no lines, or a delivery that does not match the request or
    /// is priced in another currency than the lines.
    pub fn start(
        request: CheckoutRequest,
        lines: Vec<Line>,
        delivery: Option<Delivery>,
        tax_rates: Option<TaxRates>,
        now: DateTime<Utc>,
    ) -> Result<Self, CheckoutError> {
        if lines.is_empty() {
            return Err(CheckoutError::Invalid {
                field: "cartId",
                reason: "the cart is empty".into(),
            });
        }
        if request.delivery.is_some() != delivery.is_some() {
            return Err(CheckoutError::Invalid {
                field: "delivery",
                reason: "a delivery is settled exactly when one is asked for".into(),
            });
        }
        if tax_rates.is_some() && delivery.is_none() {
            return Err(CheckoutError::Invalid {
                field: "delivery",
                reason: "tax rates come from a shipping address".into(),
            });
        }
        if let Some(delivery) = &delivery
            && (delivery.cost.currency() != lines[0].unit_price.currency() || delivery.cost.is_negative())
        {
            return Err(CheckoutError::Invalid {
                field: "delivery",
                reason: format!(
                    "shipping is priced in {}, the cart in another currency",
                    delivery.cost.currency()
                ),
            });
        }
        Ok(Self {
            id: CheckoutId::new(),
            request,
            lines,
            delivery,
            tax_rates,
            status: SessionStatus::Running,
            step: Some(Step::ReserveStock),
            failed_step: None,
            failure: None,
            reservation_id: uuid::Uuid::now_v7(),
            redemption_id: uuid::Uuid::now_v7(),
            order_id: None,
            payment_id: None,
            discount: None,
            total: None,
            cancel_reason: None,
            stuck_step: None,
            resolution: None,
            created_at: now,
            updated_at: now,
        })
    }

    fn has_coupon(&self) -> bool {
        self.request.coupon_code.is_some()
    }

    /// Whether the order is free (a 100 % coupon): no payment steps then.
    fn is_free(&self) -> bool {
        self.total.is_some_and(|t| t.amount() == 0)
    }

    /// Skips the steps that do not apply to this checkout.
    fn applies(&self, step: Step) -> bool {
        match step {
            Step::RedeemCoupon | Step::CommitCoupon | Step::ReleaseCoupon => self.has_coupon(),
            Step::AuthorizePayment | Step::CapturePayment => !self.is_free(),
            Step::VoidPayment | Step::RefundPayment => self.payment_id.is_some(),
            Step::CancelOrder => self.order_id.is_some(),
            Step::GiveBackCoupon => self.has_coupon(),
            _ => true,
        }
    }

    /// The forward step after `step` that applies, if any.
    fn next_forward(&self, step: Step) -> Option<Step> {
        Step::FORWARD
            .iter()
            .skip_while(|s| **s != step)
            .skip(1)
            .copied()
            .find(|s| self.applies(*s))
    }

    /// Records a forward step's success and moves on.
    pub fn complete(&mut self, step: Step, outcome: Outcome, now: DateTime<Utc>) {
        match outcome {
            Outcome::Done => {}
            Outcome::CouponRedeemed { discount } => self.discount = Some(discount),
            Outcome::OrderPlaced { order_id, total } => {
                self.order_id = Some(order_id);
                self.total = Some(total);
            }
            Outcome::PaymentAuthorized { payment_id } => self.payment_id = Some(payment_id),
        }
        self.updated_at = now;
        if self.status == SessionStatus::Canceling {
            self.step = self.next_in_cancellation(step);
            if self.step.is_none() {
                self.status = SessionStatus::Canceled;
            }
            return;
        }
        if step.is_compensation() {
            self.step = self.next_compensation(step);
            if self.step.is_none() {
                self.status = SessionStatus::Failed;
            }
            return;
        }
        self.step = self.next_forward(step);
        if self.step.is_none() {
            self.status = SessionStatus::Completed;
        }
    }

    /// A context refused `step`. Before the point of no return the saga compensates;
    /// after it, or when a compensation itself is refused, it needs an operator.
    pub fn refuse(&mut self, step: Step, reason: &str, now: DateTime<Utc>) {
        self.updated_at = now;
        let reason: String = reason.chars().take(500).collect();
        if self.status == SessionStatus::Canceling && step == Step::StopShipment {
            // The goods are on their way: the purchase stands, as it was.
            self.status = SessionStatus::Completed;
            self.step = None;
            return;
        }
        if self.status == SessionStatus::Canceling || step.is_compensation() || step > Step::MarkOrderPaid {
            self.status = SessionStatus::Stuck;
            self.failure = Some(format!("{}: {reason}", step.as_str()));
            self.stuck_step = Some(step);
            self.step = None;
            return;
        }
        self.failed_step = Some(step);
        self.failure = Some(reason);
        self.status = SessionStatus::Compensating;
        self.step = self.compensations().first().copied();
        if self.step.is_none() {
            self.status = SessionStatus::Failed;
        }
    }

    /// Every compensation owed for the forward steps completed before the refused one,
    /// in the order they run.
    pub fn compensations(&self) -> Vec<Step> {
        let Some(failed) = self.failed_step else {
            return Vec::new();
        };
        let done = |step: Step| step < failed && self.applies(step);
        let mut plan = Vec::new();
        // Past the point of no return (staff compensate a STUCK checkout), Shipping has
        // heard the order was paid: its shipment is stopped before anything else.
        if done(Step::MarkOrderPaid) {
            plan.push(Step::StopShipment);
        }
        if done(Step::AuthorizePayment) && self.payment_id.is_some() {
            plan.push(Step::VoidPayment);
        }
        if done(Step::PlaceOrder) && self.order_id.is_some() {
            plan.push(Step::CancelOrder);
        }
        if done(Step::CommitCoupon) {
            plan.push(Step::GiveBackCoupon);
        } else if done(Step::RedeemCoupon) {
            plan.push(Step::ReleaseCoupon);
        }
        if done(Step::ConfirmStock) {
            plan.push(Step::ReturnStock);
        } else if done(Step::ReserveStock) {
            plan.push(Step::ReleaseStock);
        }
        plan
    }

    fn next_compensation(&self, step: Step) -> Option<Step> {
        self.compensations().into_iter().skip_while(|s| *s != step).nth(1)
    }

    /// The customer asks to cancel the order of a completed checkout: the session
    /// starts its cancellation. Asking again while it runs, or after it is done,
    /// changes nothing.
    ///
    /// # Errors
    /// A checkout that did not complete (CONFLICT), a reason longer than
    /// [`CANCEL_REASON_MAX`] or not printable.
    pub fn request_cancellation(&mut self, reason: &str, now: DateTime<Utc>) -> Result<(), CheckoutError> {
        let reason = kernel::text::printable_line(reason, CANCEL_REASON_MAX).ok_or_else(|| CheckoutError::Invalid {
            field: "reason",
            reason: kernel::text::printable_line_rule(CANCEL_REASON_MAX),
        })?;
        match self.status {
            SessionStatus::Canceling | SessionStatus::Canceled => Ok(()),
            SessionStatus::Completed => {
                self.status = SessionStatus::Canceling;
                self.cancel_reason = Some(reason.to_owned());
                self.step = self.cancellation().first().copied();
                self.updated_at = now;
                Ok(())
            }
            other => Err(CheckoutError::NotCancelable {
                id: self.id,
                status: other.as_str(),
            }),
        }
    }

    /// Staff resume a STUCK session (its cause fixed): the refused step runs again, in
    /// the phase it was refused in (going forward, compensating or canceling). A
    /// session still running is resumed as it is. Returns the step it resumes at.
    ///
    /// # Errors
    /// A finished session that is not STUCK (CONFLICT).
    pub fn resume(&mut self, now: DateTime<Utc>) -> Result<Option<Step>, CheckoutError> {
        match (self.status, self.stuck_step) {
            (SessionStatus::Running | SessionStatus::Compensating | SessionStatus::Canceling, _) => Ok(self.step),
            (SessionStatus::Stuck, Some(step)) => {
                self.status = if !step.is_compensation() {
                    SessionStatus::Running
                } else if self.cancel_reason.is_some() && Step::CANCELLATION.contains(&step) {
                    SessionStatus::Canceling
                } else {
                    SessionStatus::Compensating
                };
                self.step = Some(step);
                self.stuck_step = None;
                self.updated_at = now;
                Ok(Some(step))
            }
            (status, _) => Err(CheckoutError::NotForStaff {
                id: self.id,
                status: status.as_str(),
                action: "only a STUCK or unfinished checkout is resumed",
            }),
        }
    }

    /// Staff undo a checkout STUCK on its way forward (past the point of no return: a
    /// capture the provider refuses for good), saying why: it compensates every step
    /// done, from stopping the shipment to giving the stock back, the payment voided
    /// (it was never captured), and ends FAILED. Returns whether it changed: a
    /// checkout already compensating or FAILED is left as it is.
    ///
    /// # Errors
    /// A session that is neither (CONFLICT: one stuck while undoing is resumed or
    /// resolved), a reason that is not 1 to 500 printable characters.
    pub fn compensate(&mut self, reason: &str, now: DateTime<Utc>) -> Result<bool, CheckoutError> {
        let reason = kernel::text::printable_line(reason, 500).ok_or_else(|| CheckoutError::Invalid {
            field: "reason",
            reason: kernel::text::printable_line_rule(500),
        })?;
        match (self.status, self.stuck_step) {
            (SessionStatus::Stuck, Some(step)) if !step.is_compensation() => {
                let stuck = self.failure.take().unwrap_or_default();
                self.failure = Some(format!("compensated by staff: {reason} (stuck: {stuck})"));
                self.failed_step = Some(step);
                self.stuck_step = None;
                self.status = SessionStatus::Compensating;
                self.step = self.compensations().first().copied();
                if self.step.is_none() {
                    self.status = SessionStatus::Failed;
                }
                self.updated_at = now;
                Ok(true)
            }
            (SessionStatus::Compensating | SessionStatus::Failed, _) => Ok(false),
            (status, _) => Err(CheckoutError::NotForStaff {
                id: self.id,
                status: status.as_str(),
                action: "only a checkout STUCK on its way forward is compensated; one stuck while undoing is resumed or resolved",
            }),
        }
    }

    /// Staff settled a STUCK session by hand (refunded at the provider, shipped
    /// anyway, …) and say how: it is RESOLVED and nobody drives it again.
    ///
    /// # Errors
    /// A session that is not STUCK (CONFLICT), a reason that is not 1 to 500
    /// printable characters.
    pub fn resolve(&mut self, how: &str, now: DateTime<Utc>) -> Result<(), CheckoutError> {
        let how = kernel::text::printable_line(how, 500).ok_or_else(|| CheckoutError::Invalid {
            field: "reason",
            reason: kernel::text::printable_line_rule(500),
        })?;
        if self.status != SessionStatus::Stuck {
            return Err(CheckoutError::NotForStaff {
                id: self.id,
                status: self.status.as_str(),
                action: "only a STUCK checkout is resolved",
            });
        }
        self.status = SessionStatus::Resolved;
        self.resolution = Some(how.to_owned());
        self.updated_at = now;
        Ok(())
    }

    /// The cancellation's steps that apply to this checkout, in order.
    pub fn cancellation(&self) -> Vec<Step> {
        Step::CANCELLATION
            .into_iter()
            .filter(|step| self.applies(*step))
            .collect()
    }

    fn next_in_cancellation(&self, step: Step) -> Option<Step> {
        self.cancellation().into_iter().skip_while(|s| *s != step).nth(1)
    }

    /// What shipping costs; None without a delivery.
    pub fn shipping_cost(&self) -> Option<Money> {
        self.delivery.as_ref().map(|d| d.cost)
    }

    /// Whether the order will cost anything: subtotal − discount + shipping above
    /// zero (unknown sums count as something to pay).
    pub fn has_something_to_pay(&self) -> bool {
        let Some(subtotal) = self.subtotal() else {
            return true;
        };
        let discount = self.discount.map_or(0, |d| d.amount());
        let shipping = self.shipping_cost().map_or(0, |c| c.amount());
        subtotal.amount() - discount + shipping > 0
    }

    /// The order's value before a coupon and shipping: the lines' prices.
    pub fn subtotal(&self) -> Option<Money> {
        subtotal(&self.lines)
    }

    /// The order's tax, by `kernel::tax`'s rules: each line on its amount after its
    /// share of the discount, at its category's rate; the shipping at the standard rate
    /// (shipping follows the goods, and most goods are standard-rated). Only what is
    /// taxed at a rate above zero has a line. None without tax rates (no delivery).
    ///
    /// # Errors
    /// Prices that overflow.
    pub fn tax(&self) -> Result<Option<OrderTax>, CheckoutError> {
        let (Some(rates), Some(delivery)) = (&self.tax_rates, &self.delivery) else {
            return Ok(None);
        };
        let overflow = || CheckoutError::Invalid {
            field: "cartId",
            reason: "the cart's prices do not add up".into(),
        };
        let amounts = self
            .lines
            .iter()
            .map(|line| line.unit_price.checked_mul(line.quantity.get()).map_err(|_| overflow()))
            .collect::<Result<Vec<Money>, _>>()?;
        let weights: Vec<i64> = amounts.iter().map(Money::amount).collect();
        let discount = self.discount.map_or(0, |d| d.amount());
        let shares = kernel::tax::shares(discount, &weights);
        let included = rates.prices_include_tax;
        let mut lines = Vec::new();
        for ((line, amount), share) in self.lines.iter().zip(&amounts).zip(shares) {
            let rate = rates.of(line.tax_category);
            if rate.is_zero() {
                continue;
            }
            let taxable = Money::new(amount.amount() - share, amount.currency());
            lines.push(TaxLine {
                sku: Some(line.sku.clone()),
                rate,
                taxable,
                amount: kernel::tax::tax_on(taxable, rate, included),
            });
        }
        let rate = rates.of(TaxCategory::Standard);
        if !rate.is_zero() && delivery.cost.amount() > 0 {
            lines.push(TaxLine {
                sku: None,
                rate,
                taxable: delivery.cost,
                amount: kernel::tax::tax_on(delivery.cost, rate, included),
            });
        }
        Ok(Some(OrderTax {
            prices_include_tax: included,
            lines,
        }))
    }
}
