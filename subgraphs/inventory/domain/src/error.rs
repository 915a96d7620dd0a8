//! What Inventory refuses.

use kernel::{Classify, ErrorKind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("SKU {sku}: {requested} requested, {available} available")]
    InsufficientStock {
        sku: String,
        requested: i64,
        available: i64,
    },
    #[error("SKU {sku}: on hand would be {on_hand}, below the {reserved} reserved")]
    BelowReserved { sku: String, on_hand: i64, reserved: i64 },
    #[error("reservation is {status}, it cannot be {action}")]
    ReservationClosed { status: &'static str, action: &'static str },
    #[error("reservation expired at {0}")]
    ReservationExpired(chrono::DateTime<chrono::Utc>),
}

impl InventoryError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<kernel::ValueError> for InventoryError {
    fn from(err: kernel::ValueError) -> Self {
        Self::Invalid {
            field: err.field,
            reason: err.reason,
        }
    }
}

impl Classify for InventoryError {
    fn kind(&self) -> ErrorKind {
        match self {
            InventoryError::Invalid { .. } => ErrorKind::BadUserInput,
            _ => ErrorKind::Conflict,
        }
    }
}
