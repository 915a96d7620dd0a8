//! Where and how an order ships: copies made when it was placed.

use kernel::{Address, Money};
use serde::{Deserialize, Serialize};

use crate::OrderError;

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
    pub(crate) fn checked(mut self) -> Result<Self, OrderError> {
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
