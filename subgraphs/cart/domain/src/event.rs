//! The events Cart publishes (contracts, v1).

use kernel::DomainEvent;

use crate::{Cart, CartId, CartLine};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartEvent {
    pub kind: CartEventKind,
    pub cart_id: CartId,
    pub user_id: Option<uuid::Uuid>,
    pub lines: Vec<CartLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartEventKind {
    Updated,
    CheckedOut,
    Expired,
}

impl CartEvent {
    pub const UPDATED: &'static str = "ecommerce.cart.cart.updated.v1";
    pub const CHECKED_OUT: &'static str = "ecommerce.cart.cart.checked_out.v1";
    pub const EXPIRED: &'static str = "ecommerce.cart.cart.expired.v1";

    pub fn of(kind: CartEventKind, cart: &Cart) -> Self {
        Self {
            kind,
            cart_id: cart.id(),
            user_id: cart.owner().user_id(),
            lines: cart.lines().to_vec(),
        }
    }
}

impl DomainEvent for CartEvent {
    fn event_type(&self) -> &'static str {
        match self.kind {
            CartEventKind::Updated => Self::UPDATED,
            CartEventKind::CheckedOut => Self::CHECKED_OUT,
            CartEventKind::Expired => Self::EXPIRED,
        }
    }

    fn partition_key(&self) -> String {
        self.cart_id.to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let lines: Vec<serde_json::Value> = self
            .lines
            .iter()
            .map(|l| {
                serde_json::json!({ "sku": l.sku().as_str(), "productId": l.product_id(), "quantity": l.quantity().get() })
            })
            .collect();
        serde_json::json!({ "cartId": self.cart_id, "userId": self.user_id, "lines": lines })
    }
}
