//! The order: its lines, its placement and its moves.

use chrono::{DateTime, Utc};
use kernel::{Currency, Money, Quantity, Sku};
use serde::{Deserialize, Serialize};

use crate::{Delivery, OrderError, OrderEvent, OrderId, OrderStatus, Tax};

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

/// An order. Its fields are read through its methods and change only by its rules
/// ([`Order::place`], [`Order::move_to`], [`Order::paid_with`]); one read back from the
/// store is a [`StoredOrder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    id: OrderId,
    user_id: uuid::Uuid,
    status: OrderStatus,
    items: Vec<OrderItem>,
    currency: Currency,
    subtotal: Money,
    discount: Money,
    /// subtotal − discount + shipping + tax, or without the tax where prices include it.
    total: Money,
    coupon_code: Option<String>,
    checkout_id: Option<uuid::Uuid>,
    delivery: Option<Delivery>,
    tax: Option<Tax>,
    payment_id: Option<uuid::Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// An order as it was stored, read back without its rules checked again (they were
/// when it was placed and moved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    pub id: OrderId,
    pub user_id: uuid::Uuid,
    pub status: OrderStatus,
    pub items: Vec<OrderItem>,
    pub currency: Currency,
    pub subtotal: Money,
    pub discount: Money,
    pub total: Money,
    pub coupon_code: Option<String>,
    pub checkout_id: Option<uuid::Uuid>,
    pub delivery: Option<Delivery>,
    pub tax: Option<Tax>,
    pub payment_id: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoredOrder> for Order {
    fn from(stored: StoredOrder) -> Self {
        Self {
            id: stored.id,
            user_id: stored.user_id,
            status: stored.status,
            items: stored.items,
            currency: stored.currency,
            subtotal: stored.subtotal,
            discount: stored.discount,
            total: stored.total,
            coupon_code: stored.coupon_code,
            checkout_id: stored.checkout_id,
            delivery: stored.delivery,
            tax: stored.tax,
            payment_id: stored.payment_id,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
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

    pub fn id(&self) -> OrderId {
        self.id
    }
    /// The customer who placed it.
    pub fn user_id(&self) -> uuid::Uuid {
        self.user_id
    }
    pub fn status(&self) -> OrderStatus {
        self.status
    }
    /// Its lines; empty for an order read without them.
    pub fn items(&self) -> &[OrderItem] {
        &self.items
    }
    pub fn currency(&self) -> Currency {
        self.currency
    }
    pub fn subtotal(&self) -> Money {
        self.subtotal
    }
    pub fn discount(&self) -> Money {
        self.discount
    }
    /// subtotal − discount + shipping + tax, or without the tax where prices include it.
    pub fn total(&self) -> Money {
        self.total
    }
    pub fn coupon_code(&self) -> Option<&str> {
        self.coupon_code.as_deref()
    }
    /// The checkout that placed it, if one did.
    pub fn checkout_id(&self) -> Option<uuid::Uuid> {
        self.checkout_id
    }
    pub fn delivery(&self) -> Option<&Delivery> {
        self.delivery.as_ref()
    }
    pub fn tax(&self) -> Option<&Tax> {
        self.tax.as_ref()
    }
    /// The payment that paid it, once paid.
    pub fn payment_id(&self) -> Option<uuid::Uuid> {
        self.payment_id
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// Notes the payment that pays it.
    pub fn paid_with(&mut self, payment_id: uuid::Uuid) {
        self.payment_id = Some(payment_id);
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
