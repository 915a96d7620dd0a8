//! The events an order's moves announce.

use kernel::{DomainEvent, Money};

use crate::{Delivery, Order, OrderId, OrderItem, OrderStatus, StatusChange};

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
        let (order_id, user_id, from, to, reason) = (
            order.id(),
            order.user_id(),
            change.from,
            change.to,
            change.reason.clone(),
        );
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
