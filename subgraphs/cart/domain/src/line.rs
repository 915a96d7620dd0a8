//! A cart's line, its capped quantity, and a SKU's price as the cart knows it.

use kernel::{Money, Sku};

use crate::CartError;

/// Units of one SKU in a cart: 1 to [`LineQuantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineQuantity(i64);

impl LineQuantity {
    pub const MAX: i64 = 999;

    /// # Errors
    /// Below 1 or above [`LineQuantity::MAX`].
    pub fn new(value: i64) -> Result<Self, CartError> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(CartError::Invalid {
                field: "quantity",
                reason: format!("between 1 and {}", Self::MAX),
            })
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// These units and `more`, if a line may hold them all.
    pub(crate) fn plus(self, more: LineQuantity) -> Result<Self, CartError> {
        Self::new(self.0 + more.0)
    }
}

/// A line of a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    sku: Sku,
    product_id: uuid::Uuid,
    quantity: LineQuantity,
}

impl CartLine {
    pub fn new(sku: Sku, product_id: uuid::Uuid, quantity: LineQuantity) -> Self {
        Self {
            sku,
            product_id,
            quantity,
        }
    }

    pub fn sku(&self) -> &Sku {
        &self.sku
    }

    pub fn product_id(&self) -> uuid::Uuid {
        self.product_id
    }

    pub fn quantity(&self) -> LineQuantity {
        self.quantity
    }

    pub(crate) fn set_quantity(&mut self, quantity: LineQuantity) {
        self.quantity = quantity;
    }
}

/// A SKU's price as the cart knows it (from Products' events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPrice {
    pub sku: Sku,
    pub product_id: uuid::Uuid,
    pub name: String,
    pub price: Money,
}
