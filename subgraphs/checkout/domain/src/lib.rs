//! The Checkout context: the orchestrated saga that turns a cart into a paid order.
//!
//! Checkout owns process state only — which step a checkout is at, what the other
//! contexts answered, why it failed — never business truth: stock, coupons, orders and
//! payments stay with their contexts, reached by commands.
//!
//! Forward steps, in order:
//! reserve stock → redeem coupon → place order → authorize payment → confirm stock →
//! mark the order paid → commit the coupon → capture the payment.
//!
//! A refusal before the order is marked paid compensates, in reverse, every step that
//! completed: void the payment, cancel the order, release the coupon, release (or,
//! once confirmed, return) the stock. Marking the order paid is the point of no return:
//! the steps after it are only retried, never undone. An outage (a context that cannot
//! be reached) is never a refusal: the step is retried later, by the same process or by
//! the reconciler after a crash, and every command is idempotent so a retry cannot act
//! twice.
//!
//! A completed checkout can be canceled while its goods have not been handed to the
//! carrier: the same session runs the cancellation, with the same driver, lease and
//! reconciler. Its steps, in order: stop the shipment → cancel the order → refund the
//! payment → return the stock → give the coupon use back. Stopping the shipment is the
//! gate: when Shipping refuses (the parcel is on its way) the cancellation is refused
//! and the session stays COMPLETED; once it is stopped, the steps after it are only
//! retried, never undone.
//!
//! [`returns`]: the return saga, run when staff receive a return's goods.

pub mod returns;

use chrono::{DateTime, Utc};
use kernel::{Address, Classify, DomainEvent, ErrorKind, Money, Sku, TaxCategory, TaxLine, TaxRate, typed_id};

typed_id!(CheckoutId, "checkout");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A cancellation of a checkout that did not complete.
    #[error("checkout {id} is {status}: only a completed checkout's order can be canceled")]
    NotCancelable { id: CheckoutId, status: &'static str },
    /// Staff asked to resume or resolve a checkout that is not waiting for them.
    #[error("checkout {id} is {status}: {action}")]
    NotForStaff {
        id: CheckoutId,
        status: &'static str,
        action: &'static str,
    },
}

impl Classify for CheckoutError {
    fn kind(&self) -> ErrorKind {
        match self {
            CheckoutError::Invalid { .. } => ErrorKind::BadUserInput,
            CheckoutError::NotCancelable { .. } | CheckoutError::NotForStaff { .. } => ErrorKind::Conflict,
        }
    }
}

/// A step of the saga: forward steps, then compensations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    ReserveStock,
    RedeemCoupon,
    PlaceOrder,
    AuthorizePayment,
    ConfirmStock,
    MarkOrderPaid,
    CommitCoupon,
    CapturePayment,
    VoidPayment,
    CancelOrder,
    ReleaseCoupon,
    ReleaseStock,
    ReturnStock,
    StopShipment,
    RefundPayment,
    GiveBackCoupon,
}

impl Step {
    pub const FORWARD: [Step; 8] = [
        Step::ReserveStock,
        Step::RedeemCoupon,
        Step::PlaceOrder,
        Step::AuthorizePayment,
        Step::ConfirmStock,
        Step::MarkOrderPaid,
        Step::CommitCoupon,
        Step::CapturePayment,
    ];

    /// A cancellation's steps, in the order they run (those that apply).
    pub const CANCELLATION: [Step; 5] = [
        Step::StopShipment,
        Step::CancelOrder,
        Step::RefundPayment,
        Step::ReturnStock,
        Step::GiveBackCoupon,
    ];

    pub const ALL: [Step; 16] = [
        Step::ReserveStock,
        Step::RedeemCoupon,
        Step::PlaceOrder,
        Step::AuthorizePayment,
        Step::ConfirmStock,
        Step::MarkOrderPaid,
        Step::CommitCoupon,
        Step::CapturePayment,
        Step::VoidPayment,
        Step::CancelOrder,
        Step::ReleaseCoupon,
        Step::ReleaseStock,
        Step::ReturnStock,
        Step::StopShipment,
        Step::RefundPayment,
        Step::GiveBackCoupon,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::ReserveStock => "RESERVE_STOCK",
            Step::RedeemCoupon => "REDEEM_COUPON",
            Step::PlaceOrder => "PLACE_ORDER",
            Step::AuthorizePayment => "AUTHORIZE_PAYMENT",
            Step::ConfirmStock => "CONFIRM_STOCK",
            Step::MarkOrderPaid => "MARK_ORDER_PAID",
            Step::CommitCoupon => "COMMIT_COUPON",
            Step::CapturePayment => "CAPTURE_PAYMENT",
            Step::VoidPayment => "VOID_PAYMENT",
            Step::CancelOrder => "CANCEL_ORDER",
            Step::ReleaseCoupon => "RELEASE_COUPON",
            Step::ReleaseStock => "RELEASE_STOCK",
            Step::ReturnStock => "RETURN_STOCK",
            Step::StopShipment => "STOP_SHIPMENT",
            Step::RefundPayment => "REFUND_PAYMENT",
            Step::GiveBackCoupon => "GIVE_BACK_COUPON",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn is_compensation(self) -> bool {
        !Self::FORWARD.contains(&self)
    }

    /// Whether the session may be saved with a later step instead of right after this
    /// one. After a crash before that save the resumed saga runs this step again, and
    /// the ones after it up to the save: that is safe because every command is
    /// idempotent and the next step acts on another aggregate, so the repeat finds what
    /// the first run left.
    ///
    /// Placing the order (its id is what an operator looks for), marking it paid (the
    /// point of no return, after which nothing is undone: it is on record as soon as it
    /// happened) and every compensation are saved at once.
    pub fn may_defer_save(self) -> bool {
        matches!(
            self,
            Step::ReserveStock | Step::RedeemCoupon | Step::AuthorizePayment | Step::ConfirmStock | Step::CommitCoupon
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Going forward.
    Running,
    /// A step was refused; undoing what was done.
    Compensating,
    /// Every step done: the order is paid.
    Completed,
    /// Refused and fully compensated.
    Failed,
    /// A step after the point of no return was refused: needs an operator.
    Stuck,
    /// Completed, then its order's cancellation was asked for: undoing the purchase.
    Canceling,
    /// The order is canceled, refunded, its stock and coupon use given back.
    Canceled,
    /// Was STUCK; staff settled it by hand and said how.
    Resolved,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Running => "RUNNING",
            SessionStatus::Compensating => "COMPENSATING",
            SessionStatus::Completed => "COMPLETED",
            SessionStatus::Failed => "FAILED",
            SessionStatus::Stuck => "STUCK",
            SessionStatus::Canceling => "CANCELING",
            SessionStatus::Canceled => "CANCELED",
            SessionStatus::Resolved => "RESOLVED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Compensating,
            Self::Completed,
            Self::Failed,
            Self::Stuck,
            Self::Canceling,
            Self::Canceled,
            Self::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            SessionStatus::Completed
                | SessionStatus::Failed
                | SessionStatus::Stuck
                | SessionStatus::Canceled
                | SessionStatus::Resolved
        )
    }

    /// Unfinished: a driver works on it, or the reconciler resumes it.
    pub const UNFINISHED: [SessionStatus; 3] = [
        SessionStatus::Running,
        SessionStatus::Compensating,
        SessionStatus::Canceling,
    ];
}

/// A line to buy, priced from the catalog when the checkout started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub sku: Sku,
    pub product_id: uuid::Uuid,
    pub name: String,
    pub unit_price: Money,
    pub quantity: i64,
    /// STANDARD for the lines of sessions stored before products had a tax category.
    #[serde(default)]
    pub tax_category: TaxCategory,
}

/// An address a customer names at checkout: one of their address book, or one written
/// there and then.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AddressChoice {
    Saved(uuid::Uuid),
    Written(Address),
}

/// Where and how a customer asked for the order to ship.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRequest {
    pub shipping_address: AddressChoice,
    /// The shipping address when none.
    pub billing_address: Option<AddressChoice>,
    pub method_id: uuid::Uuid,
}

/// The shipping method a checkout settled on, as Shipping named it then.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChosenMethod {
    pub id: uuid::Uuid,
    pub name: String,
    pub carrier: String,
}

/// A delivery settled before the saga's first step: the addresses copied (a later
/// change to the book does not reach the order), the method quoted for the cart's
/// value. Serialised in the shape Orders' `OrderDeliveryInput` takes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub shipping_address: Address,
    pub billing_address: Address,
    pub method: ChosenMethod,
    pub cost: Money,
}

/// The tax rates at a checkout's shipping address, as Products answered them when the
/// checkout started: one per category, and whether prices there include tax.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxRates {
    pub prices_include_tax: bool,
    pub rates: Vec<(TaxCategory, TaxRate)>,
}

impl TaxRates {
    /// The rate of `category`; 0 % for one Products did not name.
    pub fn of(&self, category: TaxCategory) -> TaxRate {
        self.rates
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(TaxRate::ZERO, |(_, rate)| *rate)
    }
}

/// An order's tax, serialised in the shape Orders' `OrderTaxInput` takes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderTax {
    pub prices_include_tax: bool,
    pub lines: Vec<TaxLine>,
}

/// The sum of the lines' prices; None for no lines, mixed currencies or an overflow.
pub fn subtotal(lines: &[Line]) -> Option<Money> {
    let mut lines = lines.iter();
    let first = lines.next()?;
    let mut sum = first.unit_price.checked_mul(first.quantity).ok()?;
    for line in lines {
        sum = sum.checked_add(line.unit_price.checked_mul(line.quantity).ok()?).ok()?;
    }
    Some(sum)
}

/// What a customer asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    pub user_id: uuid::Uuid,
    pub cart_id: uuid::Uuid,
    pub coupon_code: Option<String>,
    pub payment_method: String,
    pub idempotency_key: String,
    /// None for goods that are not shipped.
    pub delivery: Option<DeliveryRequest>,
}

impl CheckoutRequest {
    /// # Errors
    /// An empty or over-long idempotency key or payment method.
    pub fn validate(&self) -> Result<(), CheckoutError> {
        if self.idempotency_key.trim().is_empty() || self.idempotency_key.len() > 200 {
            return Err(CheckoutError::Invalid {
                field: "idempotencyKey",
                reason: "1 to 200 characters".into(),
            });
        }
        if self.payment_method.trim().is_empty() || self.payment_method.len() > 64 {
            return Err(CheckoutError::Invalid {
                field: "paymentMethod",
                reason: "1 to 64 characters".into(),
            });
        }
        if self.coupon_code.as_ref().is_some_and(|c| c.len() > 32) {
            return Err(CheckoutError::Invalid {
                field: "couponCode",
                reason: "at most 32 characters".into(),
            });
        }
        Ok(())
    }

    /// What makes two requests with one key the same request. A request without a
    /// delivery keeps the fingerprint it had before deliveries existed.
    pub fn fingerprint(&self) -> String {
        let mut fingerprint = format!(
            "{}|{}|{}",
            self.cart_id,
            self.coupon_code.as_deref().unwrap_or(""),
            self.payment_method
        );
        if let Some(delivery) = &self.delivery {
            fingerprint.push('|');
            fingerprint.push_str(&serde_json::to_string(delivery).unwrap_or_default());
        }
        fingerprint
    }
}

/// A checkout's process state, persisted as its steps are done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: CheckoutId,
    pub request: CheckoutRequest,
    pub lines: Vec<Line>,
    /// Settled from `request.delivery` before the first step.
    pub delivery: Option<Delivery>,
    /// The rates at the delivery's shipping address, settled with it; none without a
    /// delivery (and for sessions started before tax existed): then no tax is computed.
    pub tax_rates: Option<TaxRates>,
    pub status: SessionStatus,
    /// The next step to run (forward or compensation); None once finished.
    pub step: Option<Step>,
    /// The forward step that was refused, when compensating or failed.
    pub failed_step: Option<Step>,
    pub failure: Option<String>,
    /// Ids chosen by the saga before it calls, so a retried call is recognised.
    pub reservation_id: uuid::Uuid,
    pub redemption_id: uuid::Uuid,
    pub order_id: Option<uuid::Uuid>,
    pub payment_id: Option<uuid::Uuid>,
    pub discount: Option<Money>,
    pub total: Option<Money>,
    /// Why the customer canceled the order, once they asked.
    pub cancel_reason: Option<String>,
    /// The step that was refused when it became STUCK; resuming runs it again.
    pub stuck_step: Option<Step>,
    /// How staff settled it by hand, when RESOLVED.
    pub resolution: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
        request.validate()?;
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
        if done(Step::AuthorizePayment) && self.payment_id.is_some() {
            plan.push(Step::VoidPayment);
        }
        if done(Step::PlaceOrder) && self.order_id.is_some() {
            plan.push(Step::CancelOrder);
        }
        if done(Step::RedeemCoupon) {
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
            .map(|line| line.unit_price.checked_mul(line.quantity).map_err(|_| overflow()))
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
        let announced = match (before, session.status) {
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
        match self.session.status {
            SessionStatus::Completed => Self::COMPLETED,
            SessionStatus::Canceled => Self::CANCELED,
            _ => Self::FAILED,
        }
    }

    fn partition_key(&self) -> String {
        self.session.id.to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let s = &self.session;
        if s.status == SessionStatus::Canceled {
            return serde_json::json!({
                "checkoutId": s.id, "cartId": s.request.cart_id, "userId": s.request.user_id,
                "orderId": s.order_id, "paymentId": s.payment_id, "reason": s.cancel_reason,
            });
        }
        serde_json::json!({
            "checkoutId": s.id, "cartId": s.request.cart_id, "userId": s.request.user_id,
            "orderId": s.order_id, "paymentId": s.payment_id, "status": s.status.as_str(),
            "failedStep": s.failed_step.map(Step::as_str), "failure": s.failure,
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
}

impl StaffAction {
    pub const RESUMED: &'static str = "ecommerce.checkout.session.resumed.v1";
    pub const RESOLVED: &'static str = "ecommerce.checkout.session.resolved.v1";

    fn session(&self) -> &CheckoutSession {
        match self {
            StaffAction::Resumed { session, .. } | StaffAction::Resolved { session, .. } => session,
        }
    }
}

impl DomainEvent for StaffAction {
    fn event_type(&self) -> &'static str {
        match self {
            StaffAction::Resumed { .. } => Self::RESUMED,
            StaffAction::Resolved { .. } => Self::RESOLVED,
        }
    }

    fn partition_key(&self) -> String {
        self.session().id.to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let s = self.session();
        match self {
            StaffAction::Resumed { staff, step, .. } => serde_json::json!({
                "checkoutId": s.id, "orderId": s.order_id, "userId": s.request.user_id, "staffId": staff,
                "step": step.map(Step::as_str), "status": s.status.as_str(),
            }),
            StaffAction::Resolved { staff, .. } => serde_json::json!({
                "checkoutId": s.id, "orderId": s.order_id, "userId": s.request.user_id, "staffId": staff,
                "failure": s.failure, "reason": s.resolution,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::{Currency, EventType};

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").unwrap())
    }

    fn session(coupon: bool) -> CheckoutSession {
        let request = CheckoutRequest {
            user_id: uuid::Uuid::now_v7(),
            cart_id: uuid::Uuid::now_v7(),
            coupon_code: coupon.then(|| "SAVE10".into()),
            payment_method: "card".into(),
            idempotency_key: "k1".into(),
            delivery: None,
        };
        let line = Line {
            sku: Sku::parse("A-1").unwrap(),
            product_id: uuid::Uuid::now_v7(),
            name: "A".into(),
            unit_price: usd(1000),
            quantity: 2,
            tax_category: TaxCategory::Standard,
        };
        CheckoutSession::start(request, vec![line], None, None, Utc::now()).unwrap()
    }

    fn delivery(cost: Money) -> Delivery {
        let address = Address::parse(&kernel::AddressInput {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            city: "Springfield".into(),
            postal_code: Some("12345".into()),
            country: "US".into(),
            ..Default::default()
        })
        .unwrap();
        Delivery {
            shipping_address: address.clone(),
            billing_address: address,
            method: ChosenMethod {
                id: uuid::Uuid::now_v7(),
                name: "Standard".into(),
                carrier: "SimCarrier".into(),
            },
            cost,
        }
    }

    #[test]
    fn a_delivery_is_part_of_the_request_and_of_what_is_paid() {
        let mut s = session(false);
        let bare = s.request.fingerprint();
        let mut request = s.request.clone();
        request.delivery = Some(DeliveryRequest {
            shipping_address: AddressChoice::Saved(uuid::Uuid::now_v7()),
            billing_address: None,
            method_id: uuid::Uuid::now_v7(),
        });
        assert_ne!(request.fingerprint(), bare, "another delivery is another request");
        assert!(
            bare.ends_with("|card"),
            "a request without one keeps its old fingerprint"
        );
        // Settled exactly when asked for, and in the cart's currency.
        let lines = s.lines.clone();
        assert!(CheckoutSession::start(request.clone(), lines.clone(), None, None, Utc::now()).is_err());
        assert!(
            CheckoutSession::start(
                s.request.clone(),
                lines.clone(),
                Some(delivery(usd(500))),
                None,
                Utc::now()
            )
            .is_err()
        );
        let euro = Money::new(500, kernel::Currency::parse("EUR").unwrap());
        assert!(
            CheckoutSession::start(request.clone(), lines.clone(), Some(delivery(euro)), None, Utc::now()).is_err()
        );
        let shipped = CheckoutSession::start(request, lines, Some(delivery(usd(500))), None, Utc::now()).unwrap();
        assert_eq!(shipped.shipping_cost(), Some(usd(500)));
        // A coupon worth the whole cart still leaves shipping to pay.
        s.discount = Some(usd(2000));
        assert!(!s.has_something_to_pay());
        let mut free_goods = shipped;
        free_goods.discount = Some(usd(2000));
        assert!(free_goods.has_something_to_pay());
    }

    fn rates(included: bool, standard: &str, reduced: &str) -> TaxRates {
        TaxRates {
            prices_include_tax: included,
            rates: vec![
                (TaxCategory::Standard, TaxRate::parse_percent(standard).unwrap()),
                (TaxCategory::Reduced, TaxRate::parse_percent(reduced).unwrap()),
                (TaxCategory::Zero, TaxRate::ZERO),
            ],
        }
    }

    fn line(sku: &str, unit_price: i64, quantity: i64, tax_category: TaxCategory) -> Line {
        Line {
            sku: Sku::parse(sku).unwrap(),
            product_id: uuid::Uuid::now_v7(),
            name: sku.into(),
            unit_price: usd(unit_price),
            quantity,
            tax_category,
        }
    }

    /// A shipped session of `lines` with `discount`, at `rates`.
    fn taxed(lines: Vec<Line>, discount: i64, shipping: i64, rates: TaxRates) -> CheckoutSession {
        let mut request = session(false).request;
        request.delivery = Some(DeliveryRequest {
            shipping_address: AddressChoice::Saved(uuid::Uuid::now_v7()),
            billing_address: None,
            method_id: uuid::Uuid::now_v7(),
        });
        let mut s =
            CheckoutSession::start(request, lines, Some(delivery(usd(shipping))), Some(rates), Utc::now()).unwrap();
        s.discount = (discount > 0).then(|| usd(discount));
        s
    }

    #[test]
    fn each_line_is_taxed_after_its_share_of_the_discount_and_rounded_half_to_even() {
        // Three lines of 0.50 at 19 %: 9.5 cents each rounds to 10 (half to even).
        // The 0.10 discount splits 4, 3, 3 cents: 46 → 8.74 → 9; 47 → 8.93 → 9.
        let lines = vec![
            line("A-1", 50, 1, TaxCategory::Standard),
            line("B-1", 50, 1, TaxCategory::Standard),
            line("C-1", 50, 1, TaxCategory::Standard),
        ];
        let undiscounted = taxed(lines.clone(), 0, 0, rates(false, "19", "7"))
            .tax()
            .unwrap()
            .unwrap();
        let amounts: Vec<i64> = undiscounted.lines.iter().map(|l| l.amount.amount()).collect();
        assert_eq!(amounts, vec![10, 10, 10]);
        let discounted = taxed(lines, 10, 0, rates(false, "19", "7")).tax().unwrap().unwrap();
        let taxable: Vec<i64> = discounted.lines.iter().map(|l| l.taxable.amount()).collect();
        assert_eq!(taxable, vec![46, 47, 47], "the discount's shares add up to it");
        let amounts: Vec<i64> = discounted.lines.iter().map(|l| l.amount.amount()).collect();
        assert_eq!(amounts, vec![9, 9, 9]);
    }

    #[test]
    fn categories_shipping_and_prices_with_tax_included() {
        let lines = vec![
            line("BOOK-1", 1_999, 3, TaxCategory::Reduced),
            line("LAMP-1", 4_999, 1, TaxCategory::Standard),
            line("GIFT-1", 1_000, 1, TaxCategory::Zero),
        ];
        let tax = taxed(lines.clone(), 0, 495, rates(false, "8.875", "4"))
            .tax()
            .unwrap()
            .unwrap();
        let described: Vec<(Option<&str>, String, i64, i64)> = tax
            .lines
            .iter()
            .map(|l| {
                (
                    l.sku.as_ref().map(Sku::as_str),
                    l.rate.percent(),
                    l.taxable.amount(),
                    l.amount.amount(),
                )
            })
            .collect();
        assert_eq!(
            described,
            vec![
                // 5997 × 4 % = 239.88
                (Some("BOOK-1"), "4".to_owned(), 5_997, 240),
                // 4999 × 8.875 % = 443.66…
                (Some("LAMP-1"), "8.875".to_owned(), 4_999, 444),
                // The zero-rated gift has no line; shipping at the standard rate: 43.93…
                (None, "8.875".to_owned(), 495, 44),
            ]
        );
        assert!(!tax.prices_include_tax);
        // Prices with 20 % in them: the tax is the part of each price that is tax.
        let included = taxed(lines, 0, 600, rates(true, "20", "5")).tax().unwrap().unwrap();
        let amounts: Vec<i64> = included.lines.iter().map(|l| l.amount.amount()).collect();
        // 5997 / 21 = 285.57…; 4999 / 6 = 833.16…; 600 / 6 = 100.
        assert_eq!(amounts, vec![286, 833, 100]);
        assert!(included.prices_include_tax);
        // No rates (no delivery): no tax computed.
        assert_eq!(session(false).tax().unwrap(), None);
        // Orders reads the lines under these names.
        let json = serde_json::to_value(&included).unwrap();
        assert_eq!(json["pricesIncludeTax"], true);
        assert_eq!(json["lines"][0]["sku"], "BOOK-1");
        assert_eq!(json["lines"][0]["percent"], "5");
        assert_eq!(json["lines"][2]["sku"], serde_json::Value::Null);
        assert_eq!(json["lines"][2]["amount"]["amount"], 100);
    }

    #[test]
    fn a_line_stored_before_tax_categories_is_standard_rated() {
        let stored = serde_json::json!({
            "sku": "A-1", "productId": uuid::Uuid::now_v7(), "name": "A",
            "unitPrice": {"amount": 100, "currency": "USD"}, "quantity": 1,
        });
        let line: Line = serde_json::from_value(stored).unwrap();
        assert_eq!(line.tax_category, TaxCategory::Standard);
    }

    fn outcome(step: Step) -> Outcome {
        match step {
            Step::RedeemCoupon => Outcome::CouponRedeemed { discount: usd(200) },
            Step::PlaceOrder => Outcome::OrderPlaced {
                order_id: uuid::Uuid::now_v7(),
                total: usd(1800),
            },
            Step::AuthorizePayment => Outcome::PaymentAuthorized {
                payment_id: uuid::Uuid::now_v7(),
            },
            _ => Outcome::Done,
        }
    }

    /// Completes forward steps until `stop` is next.
    fn run_to(session: &mut CheckoutSession, stop: Step) {
        while let Some(step) = session.step.filter(|s| *s != stop) {
            session.complete(step, outcome(step), Utc::now());
        }
    }

    #[test]
    fn the_happy_path_visits_every_forward_step_once() {
        let mut s = session(true);
        let mut visited = Vec::new();
        while let Some(step) = s.step {
            visited.push(step);
            s.complete(step, outcome(step), Utc::now());
        }
        assert_eq!(s.status, SessionStatus::Completed);
        assert_eq!(visited, Step::FORWARD);
        assert_eq!(s.subtotal(), Some(usd(2000)));
    }

    #[test]
    fn without_a_coupon_the_coupon_steps_are_skipped() {
        let mut s = session(false);
        s.complete(Step::ReserveStock, Outcome::Done, Utc::now());
        assert_eq!(s.step, Some(Step::PlaceOrder));
        run_to(&mut s, Step::ConfirmStock);
        s.refuse(Step::ConfirmStock, "hold expired", Utc::now());
        assert_eq!(
            s.compensations(),
            [Step::VoidPayment, Step::CancelOrder, Step::ReleaseStock]
        );
    }

    #[test]
    fn a_refusal_compensates_exactly_what_was_done_in_reverse() {
        let cases = [
            (Step::ReserveStock, vec![]),
            (Step::RedeemCoupon, vec![Step::ReleaseStock]),
            (Step::PlaceOrder, vec![Step::ReleaseCoupon, Step::ReleaseStock]),
            (
                Step::AuthorizePayment,
                vec![Step::CancelOrder, Step::ReleaseCoupon, Step::ReleaseStock],
            ),
            (
                Step::ConfirmStock,
                vec![
                    Step::VoidPayment,
                    Step::CancelOrder,
                    Step::ReleaseCoupon,
                    Step::ReleaseStock,
                ],
            ),
            (
                Step::MarkOrderPaid,
                vec![
                    Step::VoidPayment,
                    Step::CancelOrder,
                    Step::ReleaseCoupon,
                    Step::ReturnStock,
                ],
            ),
        ];
        for (failing, expected) in cases {
            let mut s = session(true);
            run_to(&mut s, failing);
            s.refuse(failing, "no", Utc::now());
            assert_eq!(s.compensations(), expected, "{failing:?}");
            let mut ran = Vec::new();
            while let Some(step) = s.step {
                ran.push(step);
                s.complete(step, Outcome::Done, Utc::now());
            }
            assert_eq!(ran, expected, "{failing:?}");
            assert_eq!(s.status, SessionStatus::Failed);
            assert_eq!(s.failed_step, Some(failing));
        }
    }

    #[test]
    fn past_the_point_of_no_return_a_refusal_needs_an_operator() {
        let mut s = session(true);
        run_to(&mut s, Step::CapturePayment);
        s.refuse(Step::CapturePayment, "authorization lost", Utc::now());
        assert_eq!(s.status, SessionStatus::Stuck);
        assert!(s.status.is_finished());
    }

    fn completed(coupon: bool) -> CheckoutSession {
        let mut s = session(coupon);
        while let Some(step) = s.step {
            s.complete(step, outcome(step), Utc::now());
        }
        assert_eq!(s.status, SessionStatus::Completed);
        s
    }

    #[test]
    fn a_cancellation_undoes_the_purchase_in_its_order_and_is_announced_once() {
        let mut s = completed(true);
        s.request_cancellation("  changed my mind ", Utc::now()).unwrap();
        assert_eq!(s.status, SessionStatus::Canceling);
        assert_eq!(s.cancel_reason.as_deref(), Some("changed my mind"));
        // Asking again while it runs changes nothing.
        s.request_cancellation("again", Utc::now()).unwrap();
        assert_eq!(s.cancel_reason.as_deref(), Some("changed my mind"));
        let mut ran = Vec::new();
        while let Some(step) = s.step {
            ran.push(step);
            s.complete(step, Outcome::Done, Utc::now());
        }
        assert_eq!(ran, Step::CANCELLATION);
        assert_eq!(s.status, SessionStatus::Canceled);
        assert!(s.status.is_finished());
        let event = CheckoutEvent::on_finishing(SessionStatus::Canceling, &s).unwrap();
        assert_eq!(event.event_type(), CheckoutEvent::CANCELED);
        assert_eq!(event.payload()["reason"], "changed my mind");
        assert!(CheckoutEvent::on_finishing(SessionStatus::Canceled, &s).is_none());
        s.request_cancellation("once more", Utc::now()).unwrap();
        assert_eq!((s.status, s.step), (SessionStatus::Canceled, None));

        // Without a coupon there is no use to give back; a free order has no payment.
        let mut bare = completed(false);
        bare.request_cancellation("no", Utc::now()).unwrap();
        assert_eq!(
            bare.cancellation(),
            [
                Step::StopShipment,
                Step::CancelOrder,
                Step::RefundPayment,
                Step::ReturnStock
            ]
        );
        bare.payment_id = None;
        assert_eq!(
            bare.cancellation(),
            [Step::StopShipment, Step::CancelOrder, Step::ReturnStock]
        );
    }

    #[test]
    fn a_cancellation_is_refused_once_the_goods_are_on_their_way_and_stuck_after() {
        let mut s = completed(true);
        s.request_cancellation("no", Utc::now()).unwrap();
        s.refuse(Step::StopShipment, "already in transit (CONFLICT)", Utc::now());
        assert_eq!((s.status, s.step), (SessionStatus::Completed, None));
        assert!(
            CheckoutEvent::on_finishing(SessionStatus::Canceling, &s).is_none(),
            "the purchase stands, as announced before"
        );
        // Asked again later, it starts again; past the gate a refusal needs an operator.
        s.request_cancellation("no", Utc::now()).unwrap();
        s.complete(Step::StopShipment, Outcome::Done, Utc::now());
        s.refuse(Step::CancelOrder, "order is REFUNDED (CONFLICT)", Utc::now());
        assert_eq!(s.status, SessionStatus::Stuck);
        assert!(CheckoutEvent::on_finishing(SessionStatus::Canceling, &s).is_none());

        // Only a completed checkout is canceled, and the reason is a short line.
        let mut running = session(false);
        let err = running.request_cancellation("no", Utc::now()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(running.status, SessionStatus::Running);
        let mut done = completed(false);
        assert!(
            done.request_cancellation(&"x".repeat(CANCEL_REASON_MAX + 1), Utc::now())
                .is_err()
        );
        assert!(done.request_cancellation("a\nb", Utc::now()).is_err());
        assert_eq!(done.status, SessionStatus::Completed);
    }

    #[test]
    fn staff_resume_a_stuck_checkout_where_it_stopped_or_resolve_it() {
        // Stuck going forward, past the point of no return: resumed forward.
        let mut s = session(true);
        run_to(&mut s, Step::CapturePayment);
        s.refuse(Step::CapturePayment, "authorization lost", Utc::now());
        assert_eq!(s.stuck_step, Some(Step::CapturePayment));
        assert_eq!(s.resume(Utc::now()).unwrap(), Some(Step::CapturePayment));
        assert_eq!(
            (s.status, s.step, s.stuck_step),
            (SessionStatus::Running, Some(Step::CapturePayment), None)
        );
        s.complete(Step::CapturePayment, Outcome::Done, Utc::now());
        assert_eq!(s.status, SessionStatus::Completed);
        // A completed one is not staff's business.
        assert_eq!(s.resume(Utc::now()).unwrap_err().kind(), ErrorKind::Conflict);
        assert_eq!(
            s.clone().resolve("done", Utc::now()).unwrap_err().kind(),
            ErrorKind::Conflict
        );

        // Stuck in its cancellation: resumed canceling.
        s.request_cancellation("no", Utc::now()).unwrap();
        s.complete(Step::StopShipment, Outcome::Done, Utc::now());
        s.refuse(Step::CancelOrder, "order is REFUNDED", Utc::now());
        s.resume(Utc::now()).unwrap();
        assert_eq!((s.status, s.step), (SessionStatus::Canceling, Some(Step::CancelOrder)));

        // Stuck compensating: resumed compensating, then failed as planned.
        let mut c = session(true);
        run_to(&mut c, Step::ConfirmStock);
        c.refuse(Step::ConfirmStock, "hold expired", Utc::now());
        c.complete(Step::VoidPayment, Outcome::Done, Utc::now());
        c.refuse(Step::CancelOrder, "no", Utc::now());
        assert_eq!(c.status, SessionStatus::Stuck);
        c.resume(Utc::now()).unwrap();
        assert_eq!(
            (c.status, c.step),
            (SessionStatus::Compensating, Some(Step::CancelOrder))
        );
        while let Some(step) = c.step {
            c.complete(step, Outcome::Done, Utc::now());
        }
        assert_eq!(c.status, SessionStatus::Failed);

        // Resolved by hand, with a reason that is one short line.
        let mut r = session(false);
        run_to(&mut r, Step::CapturePayment);
        r.refuse(Step::CapturePayment, "authorization lost", Utc::now());
        assert!(r.resolve("  ", Utc::now()).is_err());
        r.resolve("captured by hand at the provider", Utc::now()).unwrap();
        assert_eq!(r.status, SessionStatus::Resolved);
        assert!(r.status.is_finished());
        let event = StaffAction::Resolved {
            session: r.clone(),
            staff: uuid::Uuid::now_v7(),
        };
        assert_eq!(event.payload()["reason"], "captured by hand at the provider");
        assert_eq!(r.resume(Utc::now()).unwrap_err().kind(), ErrorKind::Conflict);
    }

    #[test]
    fn requests_are_validated_and_event_names_follow_the_contract() {
        let mut s = session(false);
        s.request.idempotency_key = String::new();
        assert!(s.request.validate().is_err());
        assert!(CheckoutSession::start(s.request.clone(), vec![], None, None, Utc::now()).is_err());
        for name in [
            CheckoutEvent::COMPLETED,
            CheckoutEvent::FAILED,
            CheckoutEvent::CANCELED,
            StaffAction::RESUMED,
            StaffAction::RESOLVED,
        ] {
            assert_eq!(EventType::parse(name).unwrap().version(), 1);
        }
    }
}
