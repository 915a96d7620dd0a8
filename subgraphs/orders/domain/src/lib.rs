//! The Orders context, the system of record: an order keeps snapshots of what was
//! bought at which price, moves through a state machine that rejects every transition
//! it does not name, and appends each move to its history. [`returns`]: the goods a
//! customer sends back.

pub mod returns;

use chrono::{DateTime, Utc};
use kernel::{
    Address, Classify, Currency, DomainEvent, ErrorKind, Money, MoneyError, Quantity, Sku, TaxLine, typed_id,
};
use serde::{Deserialize, Serialize};

typed_id!(OrderId, "order");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("an order cannot go from {from} to {to}")]
    Transition { from: &'static str, to: &'static str },
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// A return that the order or the return's state does not allow now.
    #[error("{0}")]
    NotReturnable(String),
}

impl OrderError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        OrderError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl Classify for OrderError {
    fn kind(&self) -> ErrorKind {
        match self {
            OrderError::Transition { .. } | OrderError::NotReturnable(_) => ErrorKind::Conflict,
            OrderError::Invalid { .. } | OrderError::Money(_) => ErrorKind::BadUserInput,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    AwaitingPayment,
    Paid,
    Fulfilling,
    Shipped,
    Delivered,
    Canceled,
    /// Delivered, and part of it returned and refunded.
    PartiallyRefunded,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::Pending,
        OrderStatus::AwaitingPayment,
        OrderStatus::Paid,
        OrderStatus::Fulfilling,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Canceled,
        OrderStatus::PartiallyRefunded,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::AwaitingPayment => "AWAITING_PAYMENT",
            OrderStatus::Paid => "PAID",
            OrderStatus::Fulfilling => "FULFILLING",
            OrderStatus::Shipped => "SHIPPED",
            OrderStatus::Delivered => "DELIVERED",
            OrderStatus::Canceled => "CANCELED",
            OrderStatus::PartiallyRefunded => "PARTIALLY_REFUNDED",
            OrderStatus::Refunded => "REFUNDED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// The state machine: every allowed move, and nothing else.
    pub fn can_move_to(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Pending, AwaitingPayment)
                | (Pending | AwaitingPayment, Paid)
                | (Paid, Fulfilling)
                | (Fulfilling, Shipped)
                | (Shipped, Delivered)
                | (Pending | AwaitingPayment, Canceled)
                | (Paid | Fulfilling, Canceled)
                | (
                    Paid | Fulfilling | Shipped | Delivered | Canceled | PartiallyRefunded,
                    Refunded
                )
                | (Delivered, PartiallyRefunded)
        )
    }

    /// The statuses `order.status_changed.v1` names: a move from or to another one is
    /// announced by v2 alone.
    pub fn known_to_v1(self) -> bool {
        self != OrderStatus::PartiallyRefunded
    }

    /// Delivered, and not all of it given back: its goods may be returned.
    pub fn is_returnable(self) -> bool {
        matches!(self, OrderStatus::Delivered | OrderStatus::PartiallyRefunded)
    }

    /// Before payment, when the customer may still cancel.
    pub fn is_unpaid(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::AwaitingPayment)
    }

    /// Paid and not yet handed to the carrier: a cancellation still stops the goods,
    /// and the payment is refunded (the cancellation saga, run by Checkout).
    pub fn is_paid_but_not_shipped(self) -> bool {
        matches!(self, OrderStatus::Paid | OrderStatus::Fulfilling)
    }
}

/// A line of an order: what was bought, as it was described and priced then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub product_id: uuid::Uuid,
    pub sku: Sku,
    pub name: String,
    pub unit_price: Money,
    pub quantity: Quantity,
}

impl OrderItem {
    /// # Errors
    /// On overflow.
    pub fn line_total(&self) -> Result<Money, OrderError> {
        Ok(self.unit_price.checked_mul(self.quantity.get())?)
    }
}

/// The shipping method an order ships with, as it was named when the order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingMethodSnapshot {
    pub id: uuid::Uuid,
    pub name: String,
    pub carrier: String,
}

/// Where and how an order ships, and what that costs: copies made when the order was
/// placed, so a later change to the address book or the method never changes the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub shipping_address: Address,
    pub billing_address: Address,
    pub method: ShippingMethodSnapshot,
    pub cost: Money,
}

impl Delivery {
    /// The delivery with its method's name and carrier trimmed.
    ///
    /// # Errors
    /// A name or carrier that is not 1 to 100 printable characters.
    fn checked(mut self) -> Result<Self, OrderError> {
        for (field, value) in [
            ("delivery.method.name", &mut self.method.name),
            ("delivery.method.carrier", &mut self.method.carrier),
        ] {
            *value = kernel::text::printable_line(value, 100)
                .map(str::to_owned)
                .ok_or_else(|| OrderError::invalid(field, kernel::text::printable_line_rule(100)))?;
        }
        Ok(self)
    }
}

/// An order's tax: a line for each order line and for the shipping taxed at a rate
/// above zero, computed by Checkout with the rates of the shipping address and
/// `kernel::tax`'s rules (per line, after its share of the discount, half to even).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tax {
    /// Whether the prices (and the shipping cost) already include the tax: then the
    /// tax is shown but not added to the total.
    pub prices_include_tax: bool,
    pub lines: Vec<TaxLine>,
}

impl Tax {
    /// The tax, checked against the order it taxes.
    ///
    /// # Errors
    /// A line in another currency or negative, an amount that is not the rule's for its
    /// taxable amount and rate, a SKU the order does not hold or taxed twice, a taxable
    /// amount above what its line or the shipping costs, two shipping lines.
    fn checked(self, items: &[OrderItem], shipping: Money, currency: Currency) -> Result<Self, OrderError> {
        let mut taxed: Vec<&Sku> = Vec::new();
        let mut shipping_taxed = false;
        for line in &self.lines {
            let zero = Money::zero(currency);
            let (taxable, amount) = (zero.checked_add(line.taxable)?, zero.checked_add(line.amount)?);
            if taxable.is_negative() || amount.is_negative() {
                return Err(OrderError::invalid("tax.lines", "amounts cannot be negative"));
            }
            if amount != kernel::tax::tax_on(taxable, line.rate, self.prices_include_tax) {
                return Err(OrderError::invalid(
                    "tax.lines",
                    format!("{amount} is not {} of {taxable}", line.rate),
                ));
            }
            let most = match &line.sku {
                Some(sku) => {
                    if taxed.contains(&sku) {
                        return Err(OrderError::invalid("tax.lines", format!("SKU {sku} is taxed twice")));
                    }
                    taxed.push(sku);
                    items
                        .iter()
                        .find(|item| &item.sku == sku)
                        .ok_or_else(|| OrderError::invalid("tax.lines", format!("the order has no SKU {sku}")))?
                        .line_total()?
                }
                None if shipping_taxed => {
                    return Err(OrderError::invalid("tax.lines", "the shipping is taxed twice"));
                }
                None => {
                    shipping_taxed = true;
                    shipping
                }
            };
            if taxable.amount() > most.amount() {
                return Err(OrderError::invalid(
                    "tax.lines",
                    format!("{taxable} taxed, more than the {most} it is on"),
                ));
            }
        }
        Ok(self)
    }

    /// The sum of the lines.
    ///
    /// # Errors
    /// On overflow.
    pub fn total(&self, currency: Currency) -> Result<Money, OrderError> {
        let mut total = Money::zero(currency);
        for line in &self.lines {
            total = total.checked_add(line.amount)?;
        }
        Ok(total)
    }
}

/// One move of an order's status, kept forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// What a placement asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub user_id: uuid::Uuid,
    pub items: Vec<OrderItem>,
    pub discount: Option<Money>,
    pub coupon_code: Option<String>,
    pub checkout_id: Option<uuid::Uuid>,
    /// Where it ships; none for an order placed without delivery (placed before
    /// delivery existed, or by staff for goods that are not shipped).
    pub delivery: Option<Delivery>,
    /// Its tax; none where no tax is computed (an order without delivery).
    pub tax: Option<Tax>,
    /// The order waits for its payment from the start (a checkout about to pay): it is
    /// placed PENDING and moved to AWAITING_PAYMENT in the same step.
    pub awaiting_payment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub user_id: uuid::Uuid,
    pub status: OrderStatus,
    pub items: Vec<OrderItem>,
    pub currency: Currency,
    pub subtotal: Money,
    pub discount: Money,
    /// subtotal − discount + shipping + tax, or without the tax where prices include it.
    pub total: Money,
    pub coupon_code: Option<String>,
    pub checkout_id: Option<uuid::Uuid>,
    pub delivery: Option<Delivery>,
    pub tax: Option<Tax>,
    pub payment_id: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The most lines an order holds.
pub const MAX_ITEMS: usize = 100;

impl Order {
    /// A new order and its first history entries: PENDING, and then AWAITING_PAYMENT
    /// when the placement awaits its payment.
    ///
    /// # Errors
    /// No items or too many, a quantity below 1, a SKU twice, mixed currencies, a
    /// negative price or discount, a discount above the subtotal, a delivery whose
    /// method has no name or carrier, a negative shipping cost or one in another
    /// currency, a tax that does not match the order (see [`Tax`]).
    pub fn place(placement: Placement, now: DateTime<Utc>) -> Result<(Self, Vec<StatusChange>), OrderError> {
        let items = placement.items;
        if items.is_empty() || items.len() > MAX_ITEMS {
            return Err(OrderError::invalid(
                "items",
                format!("an order has 1 to {MAX_ITEMS} items"),
            ));
        }
        let currency = items[0].unit_price.currency();
        let mut skus: Vec<&Sku> = items.iter().map(|i| &i.sku).collect();
        skus.sort_unstable();
        if skus.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(OrderError::invalid("items", "each SKU appears once"));
        }
        let mut subtotal = Money::zero(currency);
        for item in &items {
            if item.unit_price.is_negative() {
                return Err(OrderError::invalid("unitPrice", "cannot be negative"));
            }
            if item.name.trim().is_empty() {
                return Err(OrderError::invalid("items", "every item has a name"));
            }
            subtotal = subtotal.checked_add(item.line_total()?)?;
        }
        // Adding to zero of the order's currency refuses a discount in another one.
        let discount = Money::zero(currency).checked_add(placement.discount.unwrap_or(Money::zero(currency)))?;
        if discount.is_negative() || discount.amount() > subtotal.amount() {
            return Err(OrderError::invalid("discount", "between zero and the subtotal"));
        }
        let delivery = placement.delivery.map(Delivery::checked).transpose()?;
        let shipping = match &delivery {
            Some(delivery) => Money::zero(currency).checked_add(delivery.cost)?,
            None => Money::zero(currency),
        };
        if shipping.is_negative() {
            return Err(OrderError::invalid("delivery", "the shipping cost cannot be negative"));
        }
        let tax = placement
            .tax
            .map(|tax| tax.checked(&items, shipping, currency))
            .transpose()?;
        let mut total = Money::new(subtotal.amount() - discount.amount(), currency).checked_add(shipping)?;
        if let Some(tax) = tax.as_ref().filter(|tax| !tax.prices_include_tax) {
            total = total.checked_add(tax.total(currency)?)?;
        }
        let mut order = Self {
            id: OrderId::new(),
            user_id: placement.user_id,
            status: OrderStatus::Pending,
            items,
            currency,
            subtotal,
            discount,
            total,
            coupon_code: placement.coupon_code,
            checkout_id: placement.checkout_id,
            delivery,
            tax,
            payment_id: None,
            created_at: now,
            updated_at: now,
        };
        let mut changes = vec![StatusChange {
            from: None,
            to: OrderStatus::Pending,
            reason: "placed".into(),
            at: now,
        }];
        if placement.awaiting_payment {
            changes.push(order.move_to(OrderStatus::AwaitingPayment, "payment requested", now)?);
        }
        Ok((order, changes))
    }

    /// What delivery costs: the delivery's cost, zero without one.
    pub fn shipping(&self) -> Money {
        self.delivery.as_ref().map_or(Money::zero(self.currency), |d| d.cost)
    }

    /// The order's tax in all, zero without any.
    pub fn tax_total(&self) -> Money {
        self.tax
            .as_ref()
            .and_then(|tax| tax.total(self.currency).ok())
            .unwrap_or(Money::zero(self.currency))
    }

    /// Moves to `to`, if the state machine allows it.
    ///
    /// # Errors
    /// Any transition the state machine does not name.
    pub fn move_to(&mut self, to: OrderStatus, reason: &str, now: DateTime<Utc>) -> Result<StatusChange, OrderError> {
        if !self.status.can_move_to(to) {
            return Err(OrderError::Transition {
                from: self.status.as_str(),
                to: to.as_str(),
            });
        }
        let change = StatusChange {
            from: Some(self.status),
            to,
            reason: reason.chars().take(200).collect(),
            at: now,
        };
        self.status = to;
        self.updated_at = now;
        Ok(change)
    }

    /// Whether the event that announces reaching `status` carries the order's items, so
    /// a move there must read them.
    pub fn announced_with_items(status: OrderStatus) -> bool {
        matches!(status, OrderStatus::Pending | OrderStatus::Paid)
    }

    /// The events that announce reaching `change.to`, if that status has any. PAID is
    /// announced twice: `order.paid.v1` as before, for the partners subscribed to it,
    /// and `order.paid.v2` with the charges and the delivery, which Shipping reads.
    pub fn events_for(&self, change: &StatusChange) -> Vec<OrderEvent> {
        let id = self.id;
        let user_id = self.user_id;
        match change.to {
            OrderStatus::Pending => vec![OrderEvent::Created {
                order_id: id,
                user_id,
                items: self.items.clone(),
                total: self.total,
                discount: self.discount,
                coupon_code: self.coupon_code.clone(),
            }],
            OrderStatus::Paid => vec![
                OrderEvent::Paid {
                    order_id: id,
                    user_id,
                    total: self.total,
                    payment_id: self.payment_id,
                    items: self.items.clone(),
                },
                OrderEvent::PaidWithDelivery {
                    order_id: id,
                    user_id,
                    payment_id: self.payment_id,
                    items: self.items.clone(),
                    subtotal: self.subtotal,
                    discount: self.discount,
                    shipping: self.shipping(),
                    total: self.total,
                    delivery: self.delivery.clone().map(Box::new),
                },
            ],
            OrderStatus::Canceled => vec![OrderEvent::Canceled {
                order_id: id,
                user_id,
                reason: change.reason.clone(),
            }],
            OrderStatus::Shipped => vec![OrderEvent::Fulfilled { order_id: id, user_id }],
            OrderStatus::Delivered => vec![OrderEvent::Delivered { order_id: id, user_id }],
            OrderStatus::Refunded => vec![OrderEvent::Refunded {
                order_id: id,
                user_id,
                total: self.total,
            }],
            OrderStatus::AwaitingPayment | OrderStatus::Fulfilling | OrderStatus::PartiallyRefunded => Vec::new(),
        }
    }
}

/// Every status change, for realtime clients and read models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    Created {
        order_id: OrderId,
        user_id: uuid::Uuid,
        items: Vec<OrderItem>,
        total: Money,
        discount: Money,
        coupon_code: Option<String>,
    },
    Paid {
        order_id: OrderId,
        user_id: uuid::Uuid,
        total: Money,
        payment_id: Option<uuid::Uuid>,
        items: Vec<OrderItem>,
    },
    /// `order.paid.v2`: the payment, what it paid for and where the order ships.
    PaidWithDelivery {
        order_id: OrderId,
        user_id: uuid::Uuid,
        payment_id: Option<uuid::Uuid>,
        items: Vec<OrderItem>,
        subtotal: Money,
        discount: Money,
        shipping: Money,
        total: Money,
        /// Boxed: the largest part of any order event.
        delivery: Option<Box<Delivery>>,
    },
    Canceled {
        order_id: OrderId,
        user_id: uuid::Uuid,
        reason: String,
    },
    Fulfilled {
        order_id: OrderId,
        user_id: uuid::Uuid,
    },
    Delivered {
        order_id: OrderId,
        user_id: uuid::Uuid,
    },
    Refunded {
        order_id: OrderId,
        user_id: uuid::Uuid,
        total: Money,
    },
    StatusChanged {
        order_id: OrderId,
        user_id: uuid::Uuid,
        from: Option<OrderStatus>,
        to: OrderStatus,
        reason: String,
    },
    /// `order.status_changed.v2`: a move that v1 cannot name, from or to a status v1's
    /// contract does not list (PARTIALLY_REFUNDED came later).
    StatusChangedV2 {
        order_id: OrderId,
        user_id: uuid::Uuid,
        from: Option<OrderStatus>,
        to: OrderStatus,
        reason: String,
    },
}

impl OrderEvent {
    pub const CREATED: &'static str = "ecommerce.orders.order.created.v1";
    pub const PAID: &'static str = "ecommerce.orders.order.paid.v1";
    pub const PAID_WITH_DELIVERY: &'static str = "ecommerce.orders.order.paid.v2";
    pub const CANCELED: &'static str = "ecommerce.orders.order.canceled.v1";
    pub const FULFILLED: &'static str = "ecommerce.orders.order.fulfilled.v1";
    pub const DELIVERED: &'static str = "ecommerce.orders.order.delivered.v1";
    pub const REFUNDED: &'static str = "ecommerce.orders.order.refunded.v1";
    pub const STATUS_CHANGED: &'static str = "ecommerce.orders.order.status_changed.v1";
    pub const STATUS_CHANGED_V2: &'static str = "ecommerce.orders.order.status_changed.v2";

    /// The announcement of a move: `status_changed.v1` where both statuses are v1's,
    /// else `status_changed.v2`. The two carry disjoint moves, so a consumer of every
    /// move reads both and sees each move once.
    pub fn status_changed(order: &Order, change: &StatusChange) -> Self {
        let (order_id, user_id, from, to, reason) =
            (order.id, order.user_id, change.from, change.to, change.reason.clone());
        if to.known_to_v1() && from.is_none_or(OrderStatus::known_to_v1) {
            OrderEvent::StatusChanged {
                order_id,
                user_id,
                from,
                to,
                reason,
            }
        } else {
            OrderEvent::StatusChangedV2 {
                order_id,
                user_id,
                from,
                to,
                reason,
            }
        }
    }

    fn order_id(&self) -> OrderId {
        match self {
            OrderEvent::Created { order_id, .. }
            | OrderEvent::Paid { order_id, .. }
            | OrderEvent::PaidWithDelivery { order_id, .. }
            | OrderEvent::Canceled { order_id, .. }
            | OrderEvent::Fulfilled { order_id, .. }
            | OrderEvent::Delivered { order_id, .. }
            | OrderEvent::Refunded { order_id, .. }
            | OrderEvent::StatusChanged { order_id, .. }
            | OrderEvent::StatusChangedV2 { order_id, .. } => *order_id,
        }
    }
}

impl DomainEvent for OrderEvent {
    fn event_type(&self) -> &'static str {
        match self {
            OrderEvent::Created { .. } => Self::CREATED,
            OrderEvent::Paid { .. } => Self::PAID,
            OrderEvent::PaidWithDelivery { .. } => Self::PAID_WITH_DELIVERY,
            OrderEvent::Canceled { .. } => Self::CANCELED,
            OrderEvent::Fulfilled { .. } => Self::FULFILLED,
            OrderEvent::Delivered { .. } => Self::DELIVERED,
            OrderEvent::Refunded { .. } => Self::REFUNDED,
            OrderEvent::StatusChanged { .. } => Self::STATUS_CHANGED,
            OrderEvent::StatusChangedV2 { .. } => Self::STATUS_CHANGED_V2,
        }
    }

    fn partition_key(&self) -> String {
        self.order_id().to_string()
    }

    fn payload(&self) -> serde_json::Value {
        match self {
            OrderEvent::Created {
                order_id,
                user_id,
                items,
                total,
                discount,
                coupon_code,
            } => serde_json::json!({
                "orderId": order_id, "userId": user_id, "items": items, "total": total,
                "discount": discount, "couponCode": coupon_code,
            }),
            OrderEvent::Paid {
                order_id,
                user_id,
                total,
                payment_id,
                items,
            } => serde_json::json!({
                "orderId": order_id, "userId": user_id, "total": total, "paymentId": payment_id, "items": items,
            }),
            OrderEvent::PaidWithDelivery {
                order_id,
                user_id,
                payment_id,
                items,
                subtotal,
                discount,
                shipping,
                total,
                delivery,
            } => serde_json::json!({
                "orderId": order_id, "userId": user_id, "paymentId": payment_id, "items": items,
                "subtotal": subtotal, "discount": discount, "shipping": shipping, "total": total,
                "delivery": delivery,
            }),
            OrderEvent::Canceled {
                order_id,
                user_id,
                reason,
            } => serde_json::json!({ "orderId": order_id, "userId": user_id, "reason": reason }),
            OrderEvent::Fulfilled { order_id, user_id } | OrderEvent::Delivered { order_id, user_id } => {
                serde_json::json!({ "orderId": order_id, "userId": user_id })
            }
            OrderEvent::Refunded {
                order_id,
                user_id,
                total,
            } => serde_json::json!({ "orderId": order_id, "userId": user_id, "total": total }),
            OrderEvent::StatusChanged {
                order_id,
                user_id,
                from,
                to,
                reason,
            }
            | OrderEvent::StatusChangedV2 {
                order_id,
                user_id,
                from,
                to,
                reason,
            } => serde_json::json!({
                "orderId": order_id, "userId": user_id, "from": from, "to": to, "reason": reason,
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kernel::EventType;

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").unwrap())
    }

    fn item(sku: &str, price: i64, quantity: i64) -> OrderItem {
        OrderItem {
            product_id: uuid::Uuid::now_v7(),
            sku: Sku::parse(sku).unwrap(),
            name: format!("Item {sku}"),
            unit_price: usd(price),
            quantity: Quantity::new(quantity).unwrap(),
        }
    }

    fn placement(items: Vec<OrderItem>, discount: Option<Money>) -> Placement {
        Placement {
            user_id: uuid::Uuid::now_v7(),
            items,
            discount,
            coupon_code: None,
            checkout_id: None,
            delivery: None,
            tax: None,
            awaiting_payment: false,
        }
    }

    fn tax_line(sku: Option<&str>, percent: &str, taxable: i64, included: bool) -> TaxLine {
        let rate = kernel::TaxRate::parse_percent(percent).unwrap();
        TaxLine {
            sku: sku.map(|s| Sku::parse(s).unwrap()),
            rate,
            taxable: usd(taxable),
            amount: kernel::tax::tax_on(usd(taxable), rate, included),
        }
    }

    #[test]
    fn tax_is_added_to_the_total_unless_the_prices_include_it() {
        let items = vec![item("A-1", 1_000, 2), item("B-1", 999, 1)];
        let mut asked = placement(items.clone(), Some(usd(300)));
        asked.delivery = Some(delivery(usd(500)));
        // 2000 − 200 of the discount, 999 − 100, shipping 500.
        let lines = vec![
            tax_line(Some("A-1"), "19", 1_800, false),
            tax_line(Some("B-1"), "7", 899, false),
            tax_line(None, "19", 500, false),
        ];
        asked.tax = Some(Tax {
            prices_include_tax: false,
            lines,
        });
        let (order, _) = Order::place(asked.clone(), Utc::now()).unwrap();
        // 342 + 62.93 → 63 + 95 = 500.
        assert_eq!(order.tax_total(), usd(500));
        assert_eq!(order.total, usd(2_999 - 300 + 500 + 500));

        let mut included = asked.clone();
        included.tax = Some(Tax {
            prices_include_tax: true,
            lines: vec![tax_line(Some("A-1"), "19", 1_800, true)],
        });
        let (order, _) = Order::place(included, Utc::now()).unwrap();
        assert_eq!(order.tax_total(), usd(287));
        assert_eq!(order.total, usd(2_999 - 300 + 500), "the prices hold the tax already");
    }

    #[test]
    fn a_tax_that_does_not_match_the_order_is_refused() {
        let items = vec![item("A-1", 1_000, 1)];
        let with = |lines: Vec<TaxLine>| {
            let mut asked = placement(items.clone(), None);
            asked.delivery = Some(delivery(usd(500)));
            asked.tax = Some(Tax {
                prices_include_tax: false,
                lines,
            });
            Order::place(asked, Utc::now())
        };
        assert!(with(vec![tax_line(Some("A-1"), "19", 1_000, false)]).is_ok());
        let mut wrong = tax_line(Some("A-1"), "19", 1_000, false);
        wrong.amount = usd(189);
        assert!(with(vec![wrong]).is_err(), "not the rule's amount");
        assert!(
            with(vec![tax_line(Some("Z-9"), "19", 100, false)]).is_err(),
            "a SKU it does not hold"
        );
        assert!(
            with(vec![tax_line(Some("A-1"), "19", 1_001, false)]).is_err(),
            "more than the line"
        );
        assert!(
            with(vec![tax_line(None, "19", 501, false)]).is_err(),
            "more than the shipping"
        );
        assert!(
            with(vec![
                tax_line(Some("A-1"), "19", 500, false),
                tax_line(Some("A-1"), "19", 500, false)
            ])
            .is_err(),
            "a line taxed twice"
        );
        assert!(
            with(vec![tax_line(None, "19", 100, false), tax_line(None, "19", 100, false)]).is_err(),
            "the shipping taxed twice"
        );
        let mut euro = tax_line(Some("A-1"), "19", 1_000, false);
        euro.taxable = Money::new(1_000, Currency::parse("EUR").unwrap());
        assert!(with(vec![euro]).is_err(), "another currency");
    }

    pub(crate) fn delivery(cost: Money) -> Delivery {
        let address = Address::parse(&kernel::AddressInput {
            name: "Ada Lovelace".into(),
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
            method: ShippingMethodSnapshot {
                id: uuid::Uuid::now_v7(),
                name: "Standard".into(),
                carrier: "SimCarrier".into(),
            },
            cost,
        }
    }

    #[test]
    fn only_the_statuses_announced_with_items_put_them_in_their_event() {
        let (order, _) = Order::place(placement(vec![item("A-1", 100, 1)], None), Utc::now()).unwrap();
        for to in OrderStatus::ALL {
            let change = StatusChange {
                from: Some(order.status),
                to,
                reason: String::new(),
                at: Utc::now(),
            };
            let events = order.events_for(&change);
            let carries = events.iter().any(|event| match event {
                OrderEvent::Created { items, .. }
                | OrderEvent::Paid { items, .. }
                | OrderEvent::PaidWithDelivery { items, .. } => !items.is_empty(),
                _ => false,
            });
            assert_eq!(carries, Order::announced_with_items(to), "{to:?}");
        }
    }

    #[test]
    fn totals_come_from_the_snapshots_minus_the_discount() {
        let (order, changes) = Order::place(
            placement(vec![item("A-1", 1999, 2), item("B-1", 500, 1)], Some(usd(450))),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(order.subtotal, usd(4498));
        assert_eq!(order.total, usd(4048));
        let moves: Vec<_> = changes.iter().map(|c| (c.from, c.to)).collect();
        assert_eq!(moves, [(None, OrderStatus::Pending)]);
        assert_eq!(order.status, OrderStatus::Pending);
    }

    #[test]
    fn the_delivery_is_kept_and_its_cost_added_after_the_discount() {
        let mut shipped = placement(vec![item("A-1", 1999, 2)], Some(usd(500)));
        shipped.delivery = Some(delivery(usd(695)));
        let (mut order, _) = Order::place(shipped, Utc::now()).unwrap();
        assert_eq!(order.subtotal, usd(3998));
        assert_eq!(order.shipping(), usd(695));
        assert_eq!(order.total, usd(3998 - 500 + 695));
        assert_eq!(order.delivery.as_ref().unwrap().method.name, "Standard");
        let paid = order.move_to(OrderStatus::Paid, "paid", Utc::now()).unwrap();
        let names: Vec<_> = order.events_for(&paid).iter().map(DomainEvent::event_type).collect();
        assert_eq!(names, [OrderEvent::PAID, OrderEvent::PAID_WITH_DELIVERY]);
        let v2 = order.events_for(&paid)[1].payload();
        assert_eq!(v2["shipping"]["amount"], 695);
        assert_eq!(v2["delivery"]["shippingAddress"]["postalCode"], "12345");
        assert_eq!(v2["delivery"]["method"]["carrier"], "SimCarrier");
        // Without a delivery, shipping is zero and v2 says there is none.
        let (mut bare, _) = Order::place(placement(vec![item("A-1", 100, 1)], None), Utc::now()).unwrap();
        assert_eq!(bare.shipping(), usd(0));
        let paid = bare.move_to(OrderStatus::Paid, "paid", Utc::now()).unwrap();
        assert!(bare.events_for(&paid)[1].payload()["delivery"].is_null());
    }

    #[test]
    fn a_delivery_that_costs_less_than_nothing_or_in_another_currency_is_refused() {
        let now = Utc::now();
        let mut negative = placement(vec![item("A-1", 100, 1)], None);
        negative.delivery = Some(delivery(usd(-1)));
        assert!(matches!(
            Order::place(negative, now),
            Err(OrderError::Invalid { field: "delivery", .. })
        ));
        let mut euro = placement(vec![item("A-1", 100, 1)], None);
        euro.delivery = Some(delivery(Money::new(500, Currency::parse("EUR").unwrap())));
        assert!(matches!(Order::place(euro, now), Err(OrderError::Money(_))));
        let mut unnamed = placement(vec![item("A-1", 100, 1)], None);
        unnamed.delivery = Some(delivery(usd(500)));
        unnamed.delivery.as_mut().unwrap().method.carrier = "  ".into();
        assert!(matches!(
            Order::place(unnamed, now),
            Err(OrderError::Invalid {
                field: "delivery.method.carrier",
                ..
            })
        ));
    }

    #[test]
    fn a_placement_that_awaits_payment_records_both_moves() {
        let mut awaiting = placement(vec![item("A-1", 100, 1)], None);
        awaiting.awaiting_payment = true;
        let (order, changes) = Order::place(awaiting, Utc::now()).unwrap();
        let moves: Vec<_> = changes.iter().map(|c| (c.from, c.to)).collect();
        assert_eq!(
            moves,
            [
                (None, OrderStatus::Pending),
                (Some(OrderStatus::Pending), OrderStatus::AwaitingPayment)
            ]
        );
        assert_eq!(order.status, OrderStatus::AwaitingPayment);
        // The placement is announced as created, whatever status it reached.
        assert!(matches!(
            order.events_for(&changes[0]).as_slice(),
            [OrderEvent::Created { .. }]
        ));
    }

    #[test]
    fn bad_placements_are_refused() {
        let now = Utc::now();
        assert!(Order::place(placement(vec![], None), now).is_err());
        assert!(Order::place(placement(vec![item("A-1", 100, 1), item("A-1", 100, 1)], None), now).is_err());
        assert!(Order::place(placement(vec![item("A-1", 100, 1)], Some(usd(101))), now).is_err());
        let mut euro = item("B-1", 100, 1);
        euro.unit_price = Money::new(100, Currency::parse("EUR").unwrap());
        assert!(matches!(
            Order::place(placement(vec![item("A-1", 100, 1), euro], None), now),
            Err(OrderError::Money(_))
        ));
    }

    #[test]
    fn a_move_that_v1_cannot_name_is_announced_by_v2_alone() {
        let (order, _) = Order::place(placement(vec![item("A-1", 100, 1)], None), Utc::now()).unwrap();
        let change = |from, to| StatusChange {
            from,
            to,
            reason: "test".into(),
            at: Utc::now(),
        };
        let paid = OrderEvent::status_changed(&order, &change(Some(OrderStatus::Pending), OrderStatus::Paid));
        assert_eq!(paid.event_type(), OrderEvent::STATUS_CHANGED);
        let partly = change(Some(OrderStatus::Delivered), OrderStatus::PartiallyRefunded);
        assert_eq!(
            OrderEvent::status_changed(&order, &partly).event_type(),
            OrderEvent::STATUS_CHANGED_V2
        );
        let all = change(Some(OrderStatus::PartiallyRefunded), OrderStatus::Refunded);
        let event = OrderEvent::status_changed(&order, &all);
        assert_eq!(event.event_type(), OrderEvent::STATUS_CHANGED_V2);
        assert_eq!(event.payload()["from"], "PARTIALLY_REFUNDED");
    }

    #[test]
    fn the_state_machine_allows_exactly_its_transitions() {
        use OrderStatus::*;
        let allowed = [
            (Pending, AwaitingPayment),
            (Pending, Paid),
            (AwaitingPayment, Paid),
            (Paid, Fulfilling),
            (Fulfilling, Shipped),
            (Shipped, Delivered),
            (Pending, Canceled),
            (AwaitingPayment, Canceled),
            (Paid, Canceled),
            (Fulfilling, Canceled),
            (Canceled, Refunded),
            (Paid, Refunded),
            (Fulfilling, Refunded),
            (Shipped, Refunded),
            (Delivered, Refunded),
            (Delivered, PartiallyRefunded),
            (PartiallyRefunded, Refunded),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_move_to(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
        let (mut order, _) = Order::place(placement(vec![item("A-1", 100, 1)], None), Utc::now()).unwrap();
        order.move_to(Paid, "paid", Utc::now()).unwrap();
        order.move_to(Fulfilling, "label", Utc::now()).unwrap();
        order.move_to(Shipped, "handed over", Utc::now()).unwrap();
        let err = order.move_to(Canceled, "too late", Utc::now()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(order.status, Shipped);
    }

    #[test]
    fn event_names_follow_the_contract() {
        for name in [
            OrderEvent::CREATED,
            OrderEvent::PAID,
            OrderEvent::CANCELED,
            OrderEvent::FULFILLED,
            OrderEvent::DELIVERED,
            OrderEvent::REFUNDED,
            OrderEvent::STATUS_CHANGED,
        ] {
            assert_eq!(EventType::parse(name).unwrap().version(), 1);
        }
        assert_eq!(EventType::parse(OrderEvent::PAID_WITH_DELIVERY).unwrap().version(), 2);
    }
}
