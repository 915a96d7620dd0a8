//! The order state machine.

use serde::{Deserialize, Serialize};

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
