//! Returns: a customer sends back units of a delivered order within the return window,
//! staff approve or refuse the request, and once the goods are received the units go
//! back on hand and the payment is refunded for them.
//!
//! What a return refunds is fixed when it is asked for, by these rules:
//! - A line's refundable amount is its total less its share of the order's discount
//!   (split over the lines by largest remainder, as the tax was), plus its tax where
//!   prices do not include tax. Units of it are refunded pro rata, half to even, and
//!   cumulatively: the returns of a line together never refund more than the line, and
//!   all of its units refund exactly the line.
//! - Shipping (and its tax) is refunded with the return that brings the last unit of
//!   the order back: a partly returned order was still delivered, so its shipping was
//!   spent; a wholly returned one refunds everything the customer paid.
//! - A refused return claims nothing: its units may be asked for again.

use chrono::{DateTime, Utc};
use kernel::{DomainEvent, Money, Quantity, Sku, typed_id};
use serde::{Deserialize, Serialize};

use crate::{Order, OrderError, OrderId, OrderStatus};

typed_id!(ReturnId, "return");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnStatus {
    /// Asked for by the customer; staff decide.
    Requested,
    /// Staff agreed: the customer sends the goods.
    Approved,
    /// Staff said no, with a reason.
    Refused,
    /// The goods arrived: the refund and the restock are under way.
    Received,
    /// The payment is refunded for the lines and their units are back on hand.
    Refunded,
}

impl ReturnStatus {
    pub const ALL: [ReturnStatus; 5] = [
        ReturnStatus::Requested,
        ReturnStatus::Approved,
        ReturnStatus::Refused,
        ReturnStatus::Received,
        ReturnStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReturnStatus::Requested => "REQUESTED",
            ReturnStatus::Approved => "APPROVED",
            ReturnStatus::Refused => "REFUSED",
            ReturnStatus::Received => "RECEIVED",
            ReturnStatus::Refunded => "REFUNDED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Whether its units are spoken for: every return but a refused one.
    pub fn claims_units(self) -> bool {
        self != ReturnStatus::Refused
    }
}

/// How long after delivery a return may be asked for: 1 to 365 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnWindow(u32);

impl ReturnWindow {
    pub const DEFAULT: ReturnWindow = ReturnWindow(30);

    /// # Errors
    /// Fewer than 1 day or more than 365.
    pub fn days(days: u32) -> Result<Self, OrderError> {
        if (1..=365).contains(&days) {
            Ok(Self(days))
        } else {
            Err(OrderError::invalid("returnWindowDays", "1 to 365 days"))
        }
    }

    pub fn in_days(self) -> u32 {
        self.0
    }

    /// When the window of an order delivered at `delivered_at` closes.
    pub fn closes(self, delivered_at: DateTime<Utc>) -> DateTime<Utc> {
        delivered_at + chrono::Duration::days(i64::from(self.0))
    }
}

impl Default for ReturnWindow {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Units of one order line sent back, and what they refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub refund: Money,
}

/// The most characters of a reason (the customer's or the staff's).
pub const MAX_REASON: usize = 500;

fn reason_text(field: &'static str, reason: &str) -> Result<String, OrderError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON || reason.chars().any(char::is_control) {
        return Err(OrderError::invalid(
            field,
            format!("1 to {MAX_REASON} characters, no control characters"),
        ));
    }
    Ok(reason.to_owned())
}

/// A return of units of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    id: ReturnId,
    order_id: OrderId,
    user_id: uuid::Uuid,
    status: ReturnStatus,
    reason: String,
    lines: Vec<ReturnLine>,
    shipping_refund: Money,
    /// The lines' refunds and the shipping's, summed when it was asked for.
    refund: Money,
    refusal: Option<String>,
    /// Why its refund was refused the last time the goods were received (the return
    /// went back to APPROVED).
    failure: Option<String>,
    requested_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A return as it was stored, read back without its rules checked again.
#[derive(Debug, Clone)]
pub struct StoredReturn {
    pub id: ReturnId,
    pub order_id: OrderId,
    pub user_id: uuid::Uuid,
    pub status: ReturnStatus,
    pub reason: String,
    pub lines: Vec<ReturnLine>,
    pub shipping_refund: Money,
    pub refund: Money,
    pub refusal: Option<String>,
    pub failure: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoredReturn> for Return {
    fn from(stored: StoredReturn) -> Self {
        Self {
            id: stored.id,
            order_id: stored.order_id,
            user_id: stored.user_id,
            status: stored.status,
            reason: stored.reason,
            lines: stored.lines,
            shipping_refund: stored.shipping_refund,
            refund: stored.refund,
            refusal: stored.refusal,
            failure: stored.failure,
            requested_at: stored.requested_at,
            updated_at: stored.updated_at,
        }
    }
}

/// What a customer asks to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnRequest {
    pub lines: Vec<(Sku, Quantity)>,
    pub reason: String,
}

impl Return {
    /// A return of `request`'s units of `order`, delivered at `delivered_at`, beside
    /// the order's `earlier` returns.
    ///
    /// # Errors
    /// The order not delivered or the window closed (CONFLICT); no lines, a SKU twice
    /// or not in the order, more units than the order holds less those earlier
    /// returns claim, a reason that is empty or too long (BAD_USER_INPUT).
    pub fn request(
        order: &Order,
        delivered_at: DateTime<Utc>,
        earlier: &[Return],
        request: ReturnRequest,
        window: ReturnWindow,
        now: DateTime<Utc>,
    ) -> Result<Self, OrderError> {
        if !order.status().is_returnable() {
            return Err(OrderError::NotReturnable(format!(
                "order {} is {}: only a delivered order's goods can be returned",
                order.id(),
                order.status().as_str()
            )));
        }
        if now > window.closes(delivered_at) {
            return Err(OrderError::NotReturnable(format!(
                "the return window of {} days closed on {}",
                window.in_days(),
                window.closes(delivered_at).format("%Y-%m-%d")
            )));
        }
        let reason = reason_text("reason", &request.reason)?;
        if request.lines.is_empty() || request.lines.len() > order.items().len() {
            return Err(OrderError::invalid(
                "lines",
                "one line or more, each a line of the order",
            ));
        }
        let claims: Vec<&Return> = earlier.iter().filter(|r| r.status.claims_units()).collect();
        let refundable = refundable_per_line(order)?;
        let mut lines = Vec::with_capacity(request.lines.len());
        for (i, (sku, quantity)) in request.lines.iter().enumerate() {
            if request.lines[..i].iter().any(|(other, _)| other == sku) {
                return Err(OrderError::invalid("lines", format!("SKU {sku} appears twice")));
            }
            let (index, item) = order
                .items()
                .iter()
                .enumerate()
                .find(|(_, item)| &item.sku == sku)
                .ok_or_else(|| OrderError::invalid("lines", format!("the order has no SKU {sku}")))?;
            let (claimed, refunded) = claimed_of(&claims, sku, order)?;
            let left = item.quantity.get() - claimed;
            if quantity.get() > left {
                return Err(OrderError::invalid(
                    "lines",
                    format!(
                        "{} of SKU {sku} asked back; {left} of it can still be returned",
                        quantity.get()
                    ),
                ));
            }
            // Cumulatively: what the line's claimed units refund in all, less what the
            // earlier returns of it refund.
            let all = kernel::tax::pro_rata(refundable[index], claimed + quantity.get(), item.quantity.get());
            let refund = Money::new(std::cmp::max(all.amount() - refunded.amount(), 0), order.currency());
            lines.push(ReturnLine {
                sku: sku.clone(),
                quantity: *quantity,
                refund,
            });
        }
        let units_left: i64 = order
            .items()
            .iter()
            .map(|item| {
                let claimed: i64 = claims
                    .iter()
                    .flat_map(|r| &r.lines)
                    .chain(&lines)
                    .filter(|line| line.sku == item.sku)
                    .map(|line| line.quantity.get())
                    .sum();
                item.quantity.get() - claimed
            })
            .sum();
        let shipping_refund = if units_left == 0 {
            shipping_refundable(order)?
        } else {
            Money::zero(order.currency())
        };
        let mut refund = shipping_refund;
        for line in &lines {
            refund = refund.checked_add(line.refund)?;
        }
        Ok(Self {
            id: ReturnId::new(),
            order_id: order.id(),
            user_id: order.user_id(),
            status: ReturnStatus::Requested,
            reason,
            lines,
            shipping_refund,
            refund,
            refusal: None,
            failure: None,
            requested_at: now,
            updated_at: now,
        })
    }

    /// Staff agree to take the goods back. Approving an approved return changes nothing.
    ///
    /// # Errors
    /// CONFLICT unless it is REQUESTED (or already APPROVED).
    pub fn approve(&mut self, now: DateTime<Utc>) -> Result<bool, OrderError> {
        self.decide(ReturnStatus::Approved, None, now)
    }

    /// Staff refuse the return, saying why. Refusing a refused return changes nothing.
    ///
    /// # Errors
    /// CONFLICT unless it is REQUESTED (or already REFUSED); a reason that is empty or
    /// too long.
    pub fn refuse(&mut self, reason: &str, now: DateTime<Utc>) -> Result<bool, OrderError> {
        let reason = reason_text("reason", reason)?;
        self.decide(ReturnStatus::Refused, Some(reason), now)
    }

    /// The goods arrived: the refund and the restock follow (the return saga). `false`
    /// when it was received already (or refunded since).
    ///
    /// # Errors
    /// CONFLICT unless it is APPROVED (or further on).
    pub fn receive(&mut self, now: DateTime<Utc>) -> Result<bool, OrderError> {
        match self.status {
            ReturnStatus::Received | ReturnStatus::Refunded => Ok(false),
            ReturnStatus::Approved => {
                self.status = ReturnStatus::Received;
                self.updated_at = now;
                Ok(true)
            }
            ReturnStatus::Requested | ReturnStatus::Refused => Err(self.not_now("received")),
        }
    }

    /// The payment is refunded for the return and its units are back on hand. `false`
    /// when it was refunded already.
    ///
    /// # Errors
    /// CONFLICT unless it is RECEIVED (or REFUNDED already).
    pub fn complete(&mut self, now: DateTime<Utc>) -> Result<bool, OrderError> {
        match self.status {
            ReturnStatus::Refunded => Ok(false),
            ReturnStatus::Received => {
                self.status = ReturnStatus::Refunded;
                self.failure = None;
                self.updated_at = now;
                Ok(true)
            }
            _ => Err(self.not_now("refunded")),
        }
    }

    /// The refund was refused after the goods were received: the return goes back to
    /// APPROVED, saying why, for staff to settle and receive it again. `false` when it
    /// is APPROVED already.
    ///
    /// # Errors
    /// CONFLICT unless it is RECEIVED (or APPROVED); a reason that is empty or too long.
    pub fn reopen(&mut self, reason: &str, now: DateTime<Utc>) -> Result<bool, OrderError> {
        let reason: String = reason.trim().chars().take(MAX_REASON).collect();
        let reason = reason_text("reason", &reason)?;
        match self.status {
            ReturnStatus::Approved => Ok(false),
            ReturnStatus::Received => {
                self.status = ReturnStatus::Approved;
                self.failure = Some(reason);
                self.updated_at = now;
                Ok(true)
            }
            _ => Err(self.not_now("reopened")),
        }
    }

    fn not_now(&self, what: &str) -> OrderError {
        OrderError::NotReturnable(format!(
            "return {} is {}: it cannot be {what} now",
            self.id,
            self.status.as_str()
        ))
    }

    /// Moves a REQUESTED return to `to`; `false` when it is there already.
    fn decide(&mut self, to: ReturnStatus, refusal: Option<String>, now: DateTime<Utc>) -> Result<bool, OrderError> {
        if self.status == to {
            return Ok(false);
        }
        if self.status != ReturnStatus::Requested {
            return Err(OrderError::NotReturnable(format!(
                "return {} is {}: only a requested return can be {}",
                self.id,
                self.status.as_str(),
                to.as_str().to_ascii_lowercase()
            )));
        }
        self.status = to;
        self.refusal = refusal;
        self.updated_at = now;
        Ok(true)
    }

    /// What the return refunds in all: its lines and the shipping.
    pub fn refund(&self) -> Money {
        self.refund
    }

    /// The event that announces the return's current status.
    pub fn event(&self) -> ReturnEvent {
        ReturnEvent {
            kind: match self.status {
                ReturnStatus::Requested => ReturnEventKind::Requested,
                ReturnStatus::Approved if self.failure.is_some() => ReturnEventKind::Reopened,
                ReturnStatus::Approved => ReturnEventKind::Approved,
                ReturnStatus::Refused => ReturnEventKind::Refused,
                ReturnStatus::Received => ReturnEventKind::Received,
                ReturnStatus::Refunded => ReturnEventKind::Refunded,
            },
            snapshot: self.clone(),
        }
    }

    pub fn id(&self) -> ReturnId {
        self.id
    }
    pub fn order_id(&self) -> OrderId {
        self.order_id
    }
    pub fn user_id(&self) -> uuid::Uuid {
        self.user_id
    }
    pub fn status(&self) -> ReturnStatus {
        self.status
    }
    pub fn reason(&self) -> &str {
        &self.reason
    }
    pub fn lines(&self) -> &[ReturnLine] {
        &self.lines
    }
    pub fn shipping_refund(&self) -> Money {
        self.shipping_refund
    }
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
    pub fn requested_at(&self) -> DateTime<Utc> {
        self.requested_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

/// What the order is once `returns` (all of its returns) are as they are: REFUNDED when
/// refunded returns brought every unit back, else PARTIALLY_REFUNDED.
pub fn status_after_refunds(order: &Order, returns: &[Return]) -> OrderStatus {
    let all_back = order.items().iter().all(|item| {
        let back: i64 = returns
            .iter()
            .filter(|r| r.status == ReturnStatus::Refunded)
            .flat_map(|r| &r.lines)
            .filter(|line| line.sku == item.sku)
            .map(|line| line.quantity.get())
            .sum();
        back >= item.quantity.get()
    });
    if all_back {
        OrderStatus::Refunded
    } else {
        OrderStatus::PartiallyRefunded
    }
}

/// What each line of `order` refunds when all of its units come back: its total less
/// its share of the discount, plus its tax unless prices include it.
fn refundable_per_line(order: &Order) -> Result<Vec<Money>, OrderError> {
    let totals = order
        .items()
        .iter()
        .map(|item| item.line_total().map(|total| total.amount()))
        .collect::<Result<Vec<i64>, _>>()?;
    let discounts = kernel::tax::shares(order.discount().amount(), &totals);
    order
        .items()
        .iter()
        .zip(totals.iter().zip(discounts))
        .map(|(item, (total, discount))| {
            let net = Money::new(total - discount, order.currency());
            Ok(net.checked_add(added_tax(order, Some(&item.sku)))?)
        })
        .collect()
}

/// The shipping cost and, unless prices include it, its tax.
fn shipping_refundable(order: &Order) -> Result<Money, OrderError> {
    Ok(order.shipping().checked_add(added_tax(order, None))?)
}

/// The tax added on top of the prices for the line of `sku` (the shipping for None);
/// zero where prices include tax or nothing was taxed.
fn added_tax(order: &Order, sku: Option<&Sku>) -> Money {
    order
        .tax()
        .as_ref()
        .filter(|tax| !tax.prices_include_tax)
        .and_then(|tax| tax.lines.iter().find(|line| line.sku.as_ref() == sku))
        .map_or(Money::zero(order.currency()), |line| line.amount)
}

/// The units of `sku` that `claims` take back, and what they refund.
fn claimed_of(claims: &[&Return], sku: &Sku, order: &Order) -> Result<(i64, Money), OrderError> {
    let mut units = 0;
    let mut refunded = Money::zero(order.currency());
    for line in claims.iter().flat_map(|r| &r.lines).filter(|line| &line.sku == sku) {
        units += line.quantity.get();
        refunded = refunded.checked_add(line.refund)?;
    }
    Ok((units, refunded))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnEventKind {
    Requested,
    Approved,
    /// Received, then its refund was refused: APPROVED again, with the failure.
    Reopened,
    Refused,
    Received,
    Refunded,
}

/// A return reached a status: `ecommerce.orders.return.<status>.v1`, each carrying the
/// return as it is then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnEvent {
    pub kind: ReturnEventKind,
    pub snapshot: Return,
}

impl ReturnEvent {
    pub const REQUESTED: &'static str = "ecommerce.orders.return.requested.v1";
    pub const APPROVED: &'static str = "ecommerce.orders.return.approved.v1";
    pub const REFUSED: &'static str = "ecommerce.orders.return.refused.v1";
    pub const RECEIVED: &'static str = "ecommerce.orders.return.received.v1";
    pub const REOPENED: &'static str = "ecommerce.orders.return.reopened.v1";
    pub const REFUNDED: &'static str = "ecommerce.orders.return.refunded.v1";
}

impl DomainEvent for ReturnEvent {
    fn event_type(&self) -> &'static str {
        match self.kind {
            ReturnEventKind::Requested => Self::REQUESTED,
            ReturnEventKind::Approved => Self::APPROVED,
            ReturnEventKind::Refused => Self::REFUSED,
            ReturnEventKind::Received => Self::RECEIVED,
            ReturnEventKind::Reopened => Self::REOPENED,
            ReturnEventKind::Refunded => Self::REFUNDED,
        }
    }

    /// The order's: a return's events follow its order's in one stream.
    fn partition_key(&self) -> String {
        self.snapshot.order_id.to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let r = &self.snapshot;
        let mut payload = serde_json::json!({
            "returnId": r.id, "orderId": r.order_id, "userId": r.user_id, "status": r.status.as_str(),
            "reason": r.reason, "lines": r.lines, "shippingRefund": r.shipping_refund,
            "refund": r.refund,
        });
        if let Some(refusal) = &r.refusal {
            payload["refusal"] = refusal.clone().into();
        }
        if self.kind == ReturnEventKind::Reopened {
            payload["failure"] = r.failure.clone().into();
        }
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrderItem, Placement, Tax};
    use kernel::{Currency, TaxLine, TaxRate};

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").unwrap())
    }

    fn sku(value: &str) -> Sku {
        Sku::parse(value).unwrap()
    }

    fn units(n: i64) -> Quantity {
        Quantity::new(n).unwrap()
    }

    /// A delivered order: 3 × A-1 at 1000 and 1 × B-1 at 500, 300 off, shipping 700,
    /// tax at 10 % on top.
    fn delivered(prices_include_tax: bool) -> Order {
        let mut order = placed(prices_include_tax);
        for status in [
            OrderStatus::Paid,
            OrderStatus::Fulfilling,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
        ] {
            order.move_to(status, "test", Utc::now()).unwrap();
        }
        order
    }

    /// The order of [`delivered`], just placed.
    fn placed(prices_include_tax: bool) -> Order {
        let item = |code: &str, price: i64, quantity: i64| OrderItem {
            product_id: uuid::Uuid::now_v7(),
            sku: sku(code),
            name: format!("Item {code}"),
            unit_price: usd(price),
            quantity: units(quantity),
        };
        let rate = TaxRate::parse_percent("10").unwrap();
        let line = |code: Option<&str>, taxable: i64| TaxLine {
            sku: code.map(sku),
            rate,
            taxable: usd(taxable),
            amount: kernel::tax::tax_on(usd(taxable), rate, prices_include_tax),
        };
        // The discount's shares: 3000 → 257 (257.1), 500 → 43 (42.9).
        let placement = Placement {
            user_id: uuid::Uuid::now_v7(),
            items: vec![item("A-1", 1_000, 3), item("B-1", 500, 1)],
            discount: Some(usd(300)),
            coupon_code: None,
            checkout_id: None,
            delivery: Some(crate::tests::delivery(usd(700))),
            tax: Some(Tax {
                prices_include_tax,
                lines: vec![line(Some("A-1"), 2_743), line(Some("B-1"), 457), line(None, 700)],
            }),
            awaiting_payment: false,
        };
        Order::place(placement, Utc::now()).unwrap().0
    }

    fn ask(lines: &[(&str, i64)]) -> ReturnRequest {
        ReturnRequest {
            lines: lines.iter().map(|(code, n)| (sku(code), units(*n))).collect(),
            reason: "too small".into(),
        }
    }

    fn request(order: &Order, earlier: &[Return], lines: &[(&str, i64)]) -> Result<Return, OrderError> {
        let now = Utc::now();
        Return::request(order, now, earlier, ask(lines), ReturnWindow::DEFAULT, now)
    }

    #[test]
    fn units_refund_their_share_of_the_line_after_discount_with_tax() {
        let order = delivered(false);
        // 3000 − 257 = 2743, tax 274 (274.3): 3017 for three units.
        let one = request(&order, &[], &[("A-1", 1)]).unwrap();
        assert_eq!(one.lines()[0].refund, usd(1_006)); // 3017 / 3 = 1005.67
        assert_eq!(one.shipping_refund(), usd(0));
        let two = request(&order, std::slice::from_ref(&one), &[("A-1", 2)]).unwrap();
        assert_eq!(two.lines()[0].refund, usd(3_017 - 1_006));
        // The last unit of the order brings the shipping back, with its tax: 700 + 70.
        let last = request(&order, &[one.clone(), two.clone()], &[("B-1", 1)]).unwrap();
        assert_eq!(last.lines()[0].refund, usd(457 + 46)); // tax 45.7 → 46
        assert_eq!(last.shipping_refund(), usd(770));
        let refunded: i64 = [&one, &two, &last].iter().map(|r| r.refund().amount()).sum();
        assert_eq!(
            usd(refunded),
            order.total(),
            "every unit returned refunds the whole order"
        );
    }

    #[test]
    fn where_prices_include_tax_nothing_is_added() {
        let order = delivered(true);
        let all = request(&order, &[], &[("A-1", 3), ("B-1", 1)]).unwrap();
        assert_eq!(all.refund(), order.total());
        assert_eq!(all.lines()[0].refund, usd(2_743));
        assert_eq!(all.shipping_refund(), usd(700));
    }

    #[test]
    fn a_refused_return_gives_its_units_back_and_refunds_never_exceed_the_line() {
        let order = delivered(false);
        let mut first = request(&order, &[], &[("A-1", 1)]).unwrap();
        let second = request(&order, std::slice::from_ref(&first), &[("A-1", 1)]).unwrap();
        first.refuse("worn", Utc::now()).unwrap();
        let third = request(&order, &[first.clone(), second.clone()], &[("A-1", 2)]).unwrap();
        assert_eq!(
            second.lines()[0].refund.amount() + third.lines()[0].refund.amount(),
            3_017
        );
        let err = request(&order, &[first, second, third], &[("A-1", 1)]).unwrap_err();
        assert!(err.to_string().contains("0 of it can still be returned"), "{err}");
    }

    #[test]
    fn a_return_is_refused_outside_the_window_or_before_delivery_or_for_what_was_not_bought() {
        let order = delivered(false);
        let delivered_at = Utc::now() - chrono::Duration::days(31);
        let late = Return::request(
            &order,
            delivered_at,
            &[],
            ask(&[("A-1", 1)]),
            ReturnWindow::DEFAULT,
            Utc::now(),
        );
        assert!(matches!(late, Err(OrderError::NotReturnable(_))), "{late:?}");
        let longer = ReturnWindow::days(45).unwrap();
        assert!(Return::request(&order, delivered_at, &[], ask(&[("A-1", 1)]), longer, Utc::now()).is_ok());
        assert!(ReturnWindow::days(0).is_err() && ReturnWindow::days(366).is_err());

        let mut paid = placed(false);
        paid.move_to(OrderStatus::Paid, "test", Utc::now()).unwrap();
        assert!(matches!(
            request(&paid, &[], &[("A-1", 1)]),
            Err(OrderError::NotReturnable(_))
        ));
        for lines in [&[][..], &[("Z-9", 1)], &[("A-1", 4)], &[("A-1", 1), ("A-1", 1)]] {
            let err = request(&order, &[], lines).unwrap_err();
            assert!(
                matches!(err, OrderError::Invalid { field: "lines", .. }),
                "{lines:?}: {err}"
            );
        }
        let mut blank = ask(&[("A-1", 1)]);
        blank.reason = "  ".into();
        assert!(Return::request(&order, Utc::now(), &[], blank, ReturnWindow::DEFAULT, Utc::now()).is_err());
    }

    #[test]
    fn an_approved_return_is_received_then_refunded_or_reopened() {
        let order = delivered(false);
        let mut asked = request(&order, &[], &[("A-1", 1)]).unwrap();
        assert!(matches!(asked.receive(Utc::now()), Err(OrderError::NotReturnable(_))));
        asked.approve(Utc::now()).unwrap();
        assert!(asked.receive(Utc::now()).unwrap());
        assert!(!asked.receive(Utc::now()).unwrap());
        assert_eq!(asked.event().event_type(), ReturnEvent::RECEIVED);
        let mut refused = asked.clone();
        assert!(refused.reopen("the payment was refunded by hand", Utc::now()).unwrap());
        assert_eq!(refused.status(), ReturnStatus::Approved);
        assert_eq!(refused.event().event_type(), ReturnEvent::REOPENED);
        assert_eq!(refused.event().payload()["failure"], "the payment was refunded by hand");
        assert!(asked.complete(Utc::now()).unwrap());
        assert!(!asked.complete(Utc::now()).unwrap());
        assert_eq!(
            status_after_refunds(&order, std::slice::from_ref(&asked)),
            OrderStatus::PartiallyRefunded
        );
        let mut rest = request(&order, std::slice::from_ref(&asked), &[("A-1", 2), ("B-1", 1)]).unwrap();
        rest.status = ReturnStatus::Refunded;
        assert_eq!(
            status_after_refunds(&order, &[asked.clone(), rest]),
            OrderStatus::Refunded
        );
        assert!(asked.reopen("late", Utc::now()).is_err());
        assert_eq!(asked.event().event_type(), ReturnEvent::REFUNDED);
    }

    #[test]
    fn only_a_requested_return_is_decided_and_deciding_twice_changes_nothing() {
        let order = delivered(false);
        let mut asked = request(&order, &[], &[("A-1", 1)]).unwrap();
        assert!(asked.approve(Utc::now()).unwrap());
        assert!(!asked.approve(Utc::now()).unwrap());
        assert!(matches!(
            asked.refuse("no", Utc::now()),
            Err(OrderError::NotReturnable(_))
        ));
        assert_eq!(asked.event().event_type(), ReturnEvent::APPROVED);

        let mut other = request(&order, &[], &[("B-1", 1)]).unwrap();
        assert!(other.refuse("", Utc::now()).is_err());
        assert!(other.refuse("worn", Utc::now()).unwrap());
        assert_eq!(other.refusal(), Some("worn"));
        assert_eq!(other.event().payload()["refusal"], "worn");
    }
}
