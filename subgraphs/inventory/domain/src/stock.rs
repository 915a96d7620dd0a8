//! Stock of one SKU: on hand, reserved, and what is left to sell.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{InventoryError, ReservationId};

/// The SKU and quantity rules are the kernel's, shared with every context that moves
/// goods.
pub use kernel::{Quantity, Sku};

/// Why stock moved; recorded with every movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "note", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MovementReason {
    /// A manual or system correction, with its stated reason.
    Adjustment(String),
    Reserved,
    Committed,
    Released,
    Expired,
    /// Sold units given back (a committed reservation returned).
    Returned,
}

impl MovementReason {
    pub fn adjustment(reason: &str) -> Result<Self, InventoryError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(InventoryError::invalid("reason", "must have 1 to 200 characters"));
        }
        Ok(Self::Adjustment(reason.to_owned()))
    }

    pub fn code(&self) -> &'static str {
        match self {
            MovementReason::Adjustment(_) => "ADJUSTMENT",
            MovementReason::Reserved => "RESERVED",
            MovementReason::Committed => "COMMITTED",
            MovementReason::Released => "RELEASED",
            MovementReason::Expired => "EXPIRED",
            MovementReason::Returned => "RETURNED",
        }
    }

    pub fn note(&self) -> Option<&str> {
        match self {
            MovementReason::Adjustment(note) => Some(note),
            _ => None,
        }
    }
}

/// One append-only entry of a SKU's stock ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockMovement {
    pub sku: Sku,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub reason: MovementReason,
    pub reservation_id: Option<ReservationId>,
    pub at: DateTime<Utc>,
}

/// The stock of one SKU. `reserved <= on_hand` and both are never negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockItem {
    sku: Sku,
    product_id: Option<uuid::Uuid>,
    on_hand: i64,
    reserved: i64,
}

impl StockItem {
    /// A new, empty stock item.
    pub fn new(sku: Sku, product_id: Option<uuid::Uuid>) -> Self {
        Self {
            sku,
            product_id,
            on_hand: 0,
            reserved: 0,
        }
    }

    /// Rebuilds a stored item.
    ///
    /// # Errors
    /// When the stored numbers break the invariant.
    pub fn restore(
        sku: Sku,
        product_id: Option<uuid::Uuid>,
        on_hand: i64,
        reserved: i64,
    ) -> Result<Self, InventoryError> {
        if reserved < 0 || on_hand < reserved {
            return Err(InventoryError::BelowReserved {
                sku: String::from(sku),
                on_hand,
                reserved,
            });
        }
        Ok(Self {
            sku,
            product_id,
            on_hand,
            reserved,
        })
    }

    pub fn sku(&self) -> &Sku {
        &self.sku
    }
    pub fn product_id(&self) -> Option<uuid::Uuid> {
        self.product_id
    }
    pub fn on_hand(&self) -> i64 {
        self.on_hand
    }
    pub fn reserved(&self) -> i64 {
        self.reserved
    }
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// Holds `quantity` units for a reservation.
    ///
    /// # Errors
    /// When fewer units are available.
    pub fn reserve(
        &mut self,
        quantity: Quantity,
        reservation: ReservationId,
        at: DateTime<Utc>,
    ) -> Result<StockMovement, InventoryError> {
        if quantity.get() > self.available() {
            return Err(InventoryError::InsufficientStock {
                sku: self.sku.as_str().to_owned(),
                requested: quantity.get(),
                available: self.available(),
            });
        }
        self.reserved += quantity.get();
        Ok(self.movement(0, quantity.get(), MovementReason::Reserved, Some(reservation), at))
    }

    /// The reserved units leave the warehouse: they stop being reserved and on hand.
    pub fn commit(&mut self, quantity: Quantity, reservation: ReservationId, at: DateTime<Utc>) -> StockMovement {
        let units = quantity.get().min(self.reserved);
        self.reserved -= units;
        self.on_hand -= units;
        self.movement(-units, -units, MovementReason::Committed, Some(reservation), at)
    }

    /// The reserved units go back to sale (released by the client, or expired).
    pub fn release(
        &mut self,
        quantity: Quantity,
        reservation: ReservationId,
        expired: bool,
        at: DateTime<Utc>,
    ) -> StockMovement {
        let units = quantity.get().min(self.reserved);
        self.reserved -= units;
        let reason = if expired {
            MovementReason::Expired
        } else {
            MovementReason::Released
        };
        self.movement(0, -units, reason, Some(reservation), at)
    }

    /// Units sold under `reservation` come back on hand.
    pub fn restock(&mut self, quantity: Quantity, reservation: ReservationId, at: DateTime<Utc>) -> StockMovement {
        let units = quantity.get();
        self.on_hand += units;
        self.movement(units, 0, MovementReason::Returned, Some(reservation), at)
    }

    /// Units a customer sent back (a return) come back on hand.
    pub fn take_back(&mut self, quantity: Quantity, at: DateTime<Utc>) -> StockMovement {
        let units = quantity.get();
        self.on_hand += units;
        self.movement(units, 0, MovementReason::Returned, None, at)
    }

    /// Corrects the units on hand by `delta` (a delivery, a count, damage).
    ///
    /// # Errors
    /// A zero or oversized delta, or one that would leave less on hand than reserved.
    pub fn adjust(
        &mut self,
        delta: i64,
        reason: MovementReason,
        at: DateTime<Utc>,
    ) -> Result<StockMovement, InventoryError> {
        if delta == 0 || delta.abs() > Quantity::MAX {
            return Err(InventoryError::invalid(
                "delta",
                format!("must be non-zero and at most {} in size", Quantity::MAX),
            ));
        }
        let on_hand = self.on_hand + delta;
        if on_hand < self.reserved {
            return Err(InventoryError::BelowReserved {
                sku: self.sku.as_str().to_owned(),
                on_hand,
                reserved: self.reserved,
            });
        }
        self.on_hand = on_hand;
        Ok(self.movement(delta, 0, reason, None, at))
    }

    fn movement(
        &self,
        on_hand_delta: i64,
        reserved_delta: i64,
        reason: MovementReason,
        reservation_id: Option<ReservationId>,
        at: DateTime<Utc>,
    ) -> StockMovement {
        StockMovement {
            sku: self.sku.clone(),
            on_hand_delta,
            reserved_delta,
            reason,
            reservation_id,
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(on_hand: i64) -> StockItem {
        StockItem::restore(Sku::parse("SKU-1").unwrap(), None, on_hand, 0).unwrap()
    }

    #[test]
    fn reserving_never_exceeds_what_is_available() {
        let mut stock = item(5);
        let id = ReservationId::new();
        stock.reserve(Quantity::new(3).unwrap(), id, Utc::now()).unwrap();
        let err = stock.reserve(Quantity::new(3).unwrap(), id, Utc::now()).unwrap_err();
        assert_eq!(
            err,
            InventoryError::InsufficientStock {
                sku: "SKU-1".into(),
                requested: 3,
                available: 2
            }
        );
        assert_eq!((stock.on_hand(), stock.reserved(), stock.available()), (5, 3, 2));
    }

    #[test]
    fn commit_takes_units_out_and_release_puts_them_back() {
        let mut stock = item(10);
        let id = ReservationId::new();
        stock.reserve(Quantity::new(4).unwrap(), id, Utc::now()).unwrap();
        let movement = stock.commit(Quantity::new(3).unwrap(), id, Utc::now());
        assert_eq!((movement.on_hand_delta, movement.reserved_delta), (-3, -3));
        stock.release(Quantity::new(1).unwrap(), id, true, Utc::now());
        assert_eq!((stock.on_hand(), stock.reserved(), stock.available()), (7, 0, 7));
    }

    #[test]
    fn adjustments_cannot_go_below_reserved_stock() {
        let mut stock = item(5);
        stock
            .reserve(Quantity::new(4).unwrap(), ReservationId::new(), Utc::now())
            .unwrap();
        let reason = MovementReason::adjustment("count").unwrap();
        assert!(matches!(
            stock.adjust(-2, reason.clone(), Utc::now()),
            Err(InventoryError::BelowReserved { .. })
        ));
        assert!(stock.adjust(0, reason.clone(), Utc::now()).is_err());
        stock.adjust(-1, reason, Utc::now()).unwrap();
        assert_eq!(stock.available(), 0);
    }

    #[test]
    fn quantities_are_positive_and_bounded() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(-1).is_err());
        assert!(Quantity::new(Quantity::MAX + 1).is_err());
        assert_eq!(Quantity::new(7).unwrap().get(), 7);
    }
}
