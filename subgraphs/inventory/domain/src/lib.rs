//! The Inventory context's domain: stock per SKU and time-boxed reservations
//! (reserve → commit → release). Plain Rust; the service crate persists it.
//!
//! Stock never goes negative and never oversells: every change goes through
//! [`StockItem`]'s methods, which refuse what the numbers do not allow.

pub mod error;
pub mod event;
pub mod reservation;
pub mod stock;

pub use error::InventoryError;
pub use event::InventoryEvent;
pub use reservation::{Reservation, ReservationLine, ReservationStatus};
pub use stock::{MovementReason, Quantity, Sku, StockItem, StockMovement};

kernel::typed_id!(ReservationId, "reservation");
